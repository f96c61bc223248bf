// `microtally run`: the live Linux agent (host/agent/run.ts). The options are checked here, like
// every command's; the agent gets them back as a canonical argument list.

import { runAgent } from '../agent/run.js';
import type { Command, Values } from './command.js';

export const run: Command = {
  name: 'run',
  summary: 'Runs the Linux agent: live collectors → core → sink, until SIGINT or SIGTERM (then sends what is pending).',
  options: {
    config: { type: 'string', value: 'file', help: 'a JSON configuration update applied at start (SPEC R6)' },
    sink: { type: 'string', value: 'sink', help: 'stdout (default), file:<path>, mqtt://host:port or mqtts://host:port' },
    'device-id': { type: 'string', value: 'id', help: 'the device id (MQTT client id) for an MQTT sink' },
    'connection-string-file': { type: 'string', value: 'path', help: 'a file holding the IoT Hub device connection string' },
    'connection-string': { type: 'string', value: 'cs', help: 'the connection string itself (every local user can read a command line)' },
    'agent-id': { type: 'string', value: 'uuid', help: 'the AgentId of the messages (default: from /etc/machine-id)' },
    'log-level': { type: 'string', value: 'level', choices: ['debug', 'info', 'warn', 'error'], help: 'the least severe log line printed' },
    source: { type: 'string', value: 'source', choices: ['auto', 'kernel', 'poll'], help: 'process and connection events from kernel notifications (root or CAP_NET_ADMIN), from polling /proc, or auto (kernel when possible)' },
  },
  notes: `The connection string comes from --connection-string-file, or the environment variable
MICROTALLY_CONNECTION_STRING, or --connection-string; its key is never printed.
exit status: 0 stopped with everything sent, 1 messages left unsent or the core could not load, 2 usage error`,
  run: (values: Values) => runAgent(agentArgs(run, values)),
};

/** The parsed options as `--name value` pairs, the form runAgent reads. */
function agentArgs(c: Command, values: Values): string[] {
  const argv: string[] = [];
  for (const [name, o] of Object.entries(c.options)) {
    const v = values[name];
    if (v === undefined || v === false) continue;
    argv.push(`--${name}`, ...(o.type === 'string' ? [String(v)] : []));
  }
  return argv;
}
