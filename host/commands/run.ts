// `microtally run`: the live Linux agent (host/agent/run.ts, which holds the options' table). The
// options are checked here, like every command's; the agent gets them back as a canonical
// argument list.

import { RUN_COMMAND, runAgent } from '../agent/run.js';
import type { Command, Values } from './command.js';

export const run: Command = { ...RUN_COMMAND, run: (values: Values) => runAgent(agentArgs(run, values)) };

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
