// `microtally run <args>` in this process: the command layer's parsing (host/commands/run.ts),
// then the agent with the test's streams, stop signal and environment.

import { PassThrough } from 'node:stream';
import { runCommand } from '../../../host/commands/command.js';
import { runCommandWith } from '../../../host/commands/run.js';
import type { AgentIo } from '../../../host/agent/run.js';

export interface RunOutcome { code: number; stdout: string; stderr: string }

/** Runs the command on `args` (those after `run`); aborts it after `stopAfterMs` when given. */
export async function runInProcess(args: string[], opts: { stopAfterMs?: number } & Omit<AgentIo, 'stdout' | 'stderr' | 'signal'> = {}): Promise<RunOutcome> {
  const out = new PassThrough();
  let stdout = '';
  out.on('data', (d) => { stdout += d; });
  const lines: string[] = [];
  const ac = new AbortController();
  const timer = opts.stopAfterMs === undefined ? undefined : setTimeout(() => ac.abort(), opts.stopAfterMs);
  const { stopAfterMs: _, ...io } = opts;
  const command = runCommandWith({ ...io, stdout: out, stderr: (l) => lines.push(l), signal: ac.signal });
  const code = await runCommand(command, args, { out: (s) => { stdout += s; }, err: (s) => lines.push(s) });
  clearTimeout(timer);
  return { code, stdout, stderr: lines.join('') };
}
