// `microtally run`: the live Linux agent (host/agent/run.ts, loaded only when the command runs).
// The options are checked here, like every command's; the agent gets them back as a canonical
// argument list.

import { LOG_LEVELS } from '../agent/log.js';
import type { Command, Values } from './command.js';

/**
 * `microtally run`'s options, summary and notes, written once: the command layer parses and
 * documents them (host/commands/run.ts), and runAgent's own parser, for callers that hand it an
 * argument list, reads the same table. Kept apart from the agent, which only `run` loads.
 */
export const RUN_COMMAND: Omit<Command, 'run'> = {
  name: 'run',
  summary: 'Runs the Linux agent: live collectors → core → sink, until SIGINT or SIGTERM (then sends what is pending).',
  options: {
    config: { type: 'string', value: 'file', help: 'a JSON configuration update applied at start (SPEC R6)' },
    sink: { type: 'string', value: 'sink', help: 'stdout (default), file:<path>, mqtt://host:port or mqtts://host:port' },
    'device-id': { type: 'string', value: 'id', help: 'the device id (MQTT client id) for an MQTT sink' },
    'connection-string-file': { type: 'string', value: 'path', help: 'a file holding the IoT Hub device connection string' },
    'connection-string': { type: 'string', value: 'cs', help: 'the connection string itself (every local user can read a command line)' },
    'allow-readable-secret': { type: 'boolean', help: 'accept a --connection-string-file that group or others may read (refused otherwise)' },
    'agent-id': { type: 'string', value: 'uuid', help: 'the AgentId of the messages (default: from /etc/machine-id)' },
    'log-level': { type: 'string', value: 'level', choices: LOG_LEVELS, help: 'the least severe log line printed' },
    source: { type: 'string', value: 'source', choices: ['auto', 'kernel', 'poll'], help: 'process and connection events from the kernel (an eBPF exec probe, the process connector, socket-destroy notifications: root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN), from polling /proc, or auto (the kernel when possible)' },
  },
  notes: `The connection string comes from --connection-string-file, or the environment variable
MICROTALLY_CONNECTION_STRING, or --connection-string; its key is never printed. A
--connection-string-file that group or others may read is refused unless --allow-readable-secret.
exit status: 0 stopped with everything sent, 1 messages left unsent or the core could not load, 2 usage error`,
};

export const run: Command = {
  ...RUN_COMMAND,
  run: async (values: Values) => (await import('../agent/run.js')).runAgent(agentArgs(RUN_COMMAND, values)),
};

/** The parsed options as `--name value` pairs, the form runAgent reads. */
function agentArgs(c: Omit<Command, 'run'>, values: Values): string[] {
  const argv: string[] = [];
  for (const [name, o] of Object.entries(c.options)) {
    const v = values[name];
    if (v === undefined || v === false) continue;
    argv.push(`--${name}`, ...(o.type === 'string' ? [String(v)] : []));
  }
  return argv;
}
