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
    sink: { type: 'string', value: 'sink', help: 'stdout (default), file:<path>, mqtt://host:port or mqtts://host:port' },
    'device-id': { type: 'string', value: 'id', help: 'the device id (MQTT client id) for an MQTT sink' },
    'connection-string-file': { type: 'string', value: 'path', help: 'a file holding the IoT Hub device connection string' },
    'connection-string': { type: 'string', value: 'cs', help: 'the connection string itself (every local user can read a command line)' },
    'allow-readable-secret': { type: 'boolean', help: 'accept a --connection-string-file that group or others may read (refused otherwise)' },
    'agent-id': { type: 'string', value: 'uuid', help: 'the AgentId of the messages (default: from /etc/machine-id)' },
    'log-level': { type: 'string', value: 'level', choices: LOG_LEVELS, help: 'the least severe log line printed' },
    heartbeat: { type: 'string', value: 'seconds', help: 'after this long without a message, send a Heartbeat (uptime, events seen, outbox depth); default 3600, 0 never' },
    'log-format': { type: 'string', value: 'format', choices: LOG_FORMATS, help: 'log lines as text (default) or one JSON object each; with journald priorities (<3>…<7>) when stderr is the journal' },
    source: { type: 'string', value: 'source', choices: ['auto', 'kernel', 'poll'], help: 'process and connection events from the kernel (an eBPF exec probe, the process connector, socket-destroy notifications: root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN), from polling /proc, or auto (the kernel when possible)' },
  },
  notes: `The connection string comes from --connection-string-file, or the environment variable
MICROTALLY_CONNECTION_STRING, or --connection-string; its key is never printed. A
--connection-string-file that group or others may read is refused unless --allow-readable-secret.
Under systemd (Type=notify) it sends READY=1, STOPPING=1 and WATCHDOG=1 to NOTIFY_SOCKET.
exit status: 0 stopped with everything sent, 1 messages left unsent or the core could not load, 2 usage error`,
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

/** The parsed options as the agent's values; throws UsageError for a combination it refuses. */
export function runOptions(values: Values): RunOptions {
  const text = (name: string) => values[name] as string | undefined;
  if (text('connection-string') !== undefined && text('connection-string-file') !== undefined) {
    throw new UsageError('--connection-string and --connection-string-file: give one');
  }
  const heartbeat = text('heartbeat');
  if (heartbeat !== undefined && !/^\d{1,9}$/.test(heartbeat)) {
    throw new UsageError(`--heartbeat must be a whole number of seconds up to 999999999 (0: never), got "${heartbeat}"`);
  }
  return {
    config: text('config'), sink: text('sink'), deviceId: text('device-id'),
    connectionString: text('connection-string'), connectionStringFile: text('connection-string-file'),
    allowReadableSecret: values['allow-readable-secret'] === true,
    agentId: text('agent-id'), logLevel: text('log-level') as LogLevel | undefined,
    logFormat: text('log-format') as LogFormat | undefined,
    heartbeatSeconds: heartbeat === undefined ? undefined : Number(heartbeat), source: text('source') as SourceChoice | undefined,
  };
}
