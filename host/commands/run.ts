// `microtally run`: the live Linux agent (host/agent/run.ts, loaded only when the command runs).
// The options are parsed and checked here, once, like every command's; the agent gets them as
// values (RunOptions).

import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../agent/log.js';
import type { AgentIo, RunOptions, SourceChoice } from '../agent/run.js';
import { UsageError, type Command, type Values } from './command.js';

/** `microtally run`'s options, summary and notes, written once: parsed and documented from here. */
const RUN_COMMAND: Omit<Command, 'run'> = {
  name: 'run',
  summary: 'Runs the Linux agent: live collectors → core → sink, until SIGINT or SIGTERM (then sends what is pending); SIGHUP re-reads --config and reopens the file sink.',
  options: {
    config: { type: 'string', value: 'file', help: 'a JSON configuration update applied at start (SPEC R6)' },
    sink: { type: 'string', value: 'sink', help: 'stdout (default), file:<path>, mqtt://host:port, mqtts://host:port, or MQTT over WebSockets: ws://host:port/path, wss://host:port/path' },
    'device-id': { type: 'string', value: 'id', help: 'the device id (MQTT client id) for an MQTT sink' },
    'connection-string-file': { type: 'string', value: 'path', help: 'a file holding the IoT Hub device connection string' },
    'connection-string': { type: 'string', value: 'cs', help: 'the connection string itself (every local user can read a command line)' },
    'allow-readable-secret': { type: 'boolean', help: 'accept a --connection-string-file that group or others may read (refused otherwise); the same for --x509-key, --dps-key-file and --dps-group-key-file' },
    'x509-cert': { type: 'string', value: 'pem', help: 'a client certificate (PEM, chain after it) for X.509 authentication: IoT Hub (x509=true in the connection string), DPS, or an mqtts:// or wss:// broker' },
    'x509-key': { type: 'string', value: 'pem', help: "the certificate's private key (PEM, unencrypted; mode 0600)" },
    'ca-file': { type: 'string', value: 'pem', help: "CA certificates (PEM) trusted besides the system's: a private hub, a gateway, a local broker" },
    'state-dir': { type: 'string', value: 'dir', help: "the agent's state directory (made 0700; default /var/lib/microtally): the MQTT outbox, the DPS assignment and the installed core are kept there" },
    'dps-scope': { type: 'string', value: 'id-scope', help: 'register with the Device Provisioning Service (this ID scope) instead of a connection string' },
    'dps-registration-id': { type: 'string', value: 'id', help: "the DPS registration id (default with --x509-cert: the certificate's common name)" },
    'dps-endpoint': { type: 'string', value: 'host', help: 'the DPS endpoint, host or mqtts://host:port (default global.azure-devices-provisioning.net)' },
    'dps-key-file': { type: 'string', value: 'path', help: "a file holding the individual enrollment's symmetric key (mode 0600)" },
    'dps-group-key-file': { type: 'string', value: 'path', help: "a file holding the group enrollment's symmetric key; the device key is derived from it (mode 0600)" },
    'agent-id': { type: 'string', value: 'uuid', help: 'the AgentId of the messages (default: from /etc/machine-id)' },
    'log-level': { type: 'string', value: 'level', choices: LOG_LEVELS, help: 'the least severe log line printed' },
    'log-format': { type: 'string', value: 'format', choices: LOG_FORMATS, help: 'log lines as text (default) or one JSON object each; with journald priorities (<3>…<7>) when stderr is the journal' },
    heartbeat: { type: 'string', value: 'seconds', help: 'after this long without a message, send a Heartbeat (uptime, events seen, outbox depth); default 3600, 0 never' },
    'outbox-max-bytes': { type: 'string', value: 'n', help: 'the MQTT outbox\'s size limit in bytes (suffix k, M or G: 1024s; default 16M on disk, 4M in memory)' },
    proxy: { type: 'string', value: 'url', help: 'an HTTP(S) proxy, http://[user:password@]host:port, for MQTT over WebSockets (default: HTTPS_PROXY)' },
    source: { type: 'string', value: 'source', choices: ['auto', 'kernel', 'poll'], help: 'process and connection events from the kernel (an eBPF exec probe, the process connector, socket-destroy notifications: root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN), from polling /proc, or auto (the kernel when possible)' },
    'update-key': { type: 'string', value: 'pem', help: 'the public key core update packages must be signed with: turns core updates on (docs/UPDATE.md)' },
    update: { type: 'string', value: 'package', help: 'a core update package installed at start (with --update-key)' },
    'update-dir': { type: 'string', value: 'dir', help: 'a drop-in folder watched for *.pkg update packages (default <state-dir>/incoming)' },
  },
  notes: `The connection string comes from --connection-string-file, or the environment variable
MICROTALLY_CONNECTION_STRING, or --connection-string; its key is never printed. A
--connection-string-file that group or others may read is refused unless --allow-readable-secret,
as are --x509-key, --dps-key-file and --dps-group-key-file. With --dps-scope the agent registers
with DPS at start and connects to the hub it assigns (kept in --state-dir for when DPS is down).
An MQTT sink keeps unsent messages in <state-dir>/outbox.log and sends them first at the next start.
With --update-key, core update packages (docs/UPDATE.md) come from --update, the drop-in folder and
the IoT Hub direct method microtally-update, and are swapped at a window boundary.
Under systemd (Type=notify) it sends READY=1, STOPPING=1 and WATCHDOG=1 to NOTIFY_SOCKET.
exit status: 0 stopped with everything sent or kept on disk, 1 messages lost (unsent and not kept) or the core could not load, 2 usage error`,
};

/** The command with the agent's streams, signal and environment (embedding, tests); `run` uses the process's. */
export function runCommandWith(io: AgentIo): Command {
  return {
    ...RUN_COMMAND,
    run: async (values: Values) => {
      const options = runOptions(values);
      return (await import('../agent/run.js')).runAgent(options, io);
    },
  };
}

export const run: Command = runCommandWith({});

/** `123`, `64k`, `16M`, `1G` (1024s) as bytes; at least 4096. */
function byteCount(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)([kMG]?)$/.exec(v);
  const n = m ? Number(m[1]) * 1024 ** ' kMG'.indexOf(m[2] || ' ') : NaN;
  if (!Number.isSafeInteger(n) || n < 4096) throw new UsageError(`--${name}: expected a size in bytes of at least 4096 (suffix k, M or G), got "${v}"`);
  return n;
}

/** The parsed options as the agent's values; throws UsageError for a combination it refuses. */
export function runOptions(values: Values): RunOptions {
  const text = (name: string) => values[name] as string | undefined;
  if (text('connection-string') !== undefined && text('connection-string-file') !== undefined) {
    throw new UsageError('--connection-string and --connection-string-file: give one');
  }
  if ((text('update') !== undefined || text('update-dir') !== undefined) && text('update-key') === undefined) {
    throw new UsageError(`--${text('update') !== undefined ? 'update' : 'update-dir'} needs --update-key <pem>, the key packages must be signed with`);
  }
  const heartbeat = text('heartbeat');
  if (heartbeat !== undefined && !/^\d{1,9}$/.test(heartbeat)) {
    throw new UsageError(`--heartbeat must be a whole number of seconds up to 999999999 (0: never), got "${heartbeat}"`);
  }
  return {
    updateKey: text('update-key'), update: text('update'), updateDir: text('update-dir'),
    config: text('config'), sink: text('sink'), deviceId: text('device-id'),
    connectionString: text('connection-string'), connectionStringFile: text('connection-string-file'),
    allowReadableSecret: values['allow-readable-secret'] === true,
    agentId: text('agent-id'), logLevel: text('log-level') as LogLevel | undefined,
    logFormat: text('log-format') as LogFormat | undefined,
    heartbeatSeconds: heartbeat === undefined ? undefined : Number(heartbeat), source: text('source') as SourceChoice | undefined,
    stateDir: text('state-dir'), outboxMaxBytes: byteCount('outbox-max-bytes', text('outbox-max-bytes')), proxy: text('proxy'),
    x509Cert: text('x509-cert'), x509Key: text('x509-key'), caFile: text('ca-file'),
    dpsScope: text('dps-scope'), dpsRegistrationId: text('dps-registration-id'), dpsEndpoint: text('dps-endpoint'),
    dpsKeyFile: text('dps-key-file'), dpsGroupKeyFile: text('dps-group-key-file'),
  };
}
