// `microtally` command line (SPEC R11). It only parses arguments and wires parts together.

import { readFileSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { EngineName, Profile } from './engine.js';
import { ENGINE_NAMES, engineByName } from './engines/index.js';
import { Core } from './core.js';
import { replayWith } from './engines/v8.js';

const USAGE = `usage:
  microtally replay <trace.jsonl> [--engine v8|wasm3|aot|qemu|qemu-aot] [--profile rtos|linux] [--agent-id <uuid>] [--stats]
  microtally run [--config <file>] [--sink stdout|file:<path>|mqtt://host:port|mqtts://host:port] [--device-id <id>]
                 [--connection-string <cs>] [--agent-id <uuid>]
  microtally bench [--json]
`;

function usage(message: string): number {
  process.stderr.write(`microtally: ${message}\n${USAGE}`);
  return 2;
}

/** Writes everything, even to a pipe that is slow to drain. */
function writeAll(fd: number, s: string): void {
  const buf = Buffer.from(s);
  let off = 0;
  while (off < buf.length) {
    try { off += writeSync(fd, buf, off); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A reader that went away (`| head`) ends the run quietly, as with any Unix filter.
      if (code === 'EPIPE') process.exit(0);
      if (code !== 'EAGAIN') throw e;
    }
  }
}

async function replay(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        engine: { type: 'string', default: 'v8' },
        profile: { type: 'string', default: 'rtos' },
        'agent-id': { type: 'string' },
        stats: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    return usage((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return usage('replay takes exactly one trace file');
  if (!ENGINE_NAMES.includes(values.engine as EngineName)) return usage(`unknown engine "${values.engine}"`);
  if (values.profile !== 'rtos' && values.profile !== 'linux') return usage(`unknown profile "${values.profile}"`);
  let trace: Buffer;
  try {
    trace = readFileSync(positionals[0] === '-' ? 0 : positionals[0]);
  } catch (e) {
    return usage(`cannot read ${positionals[0]}: ${(e as Error).message}`);
  }
  const options = { profile: values.profile as Profile, agentId: values['agent-id'], stats: values.stats };
  if (values.engine === 'v8') {
    // Stream straight to stdout so a long trace does not wait for its end to print.
    return replayWith(new Core(options.profile), trace, options, (s) => writeAll(1, s), (s) => writeAll(2, s));
  }
  const engine = await engineByName(values.engine as EngineName);
  const result = await engine.replay(trace, options);
  writeAll(1, result.stdout);
  writeAll(2, result.stderr);
  return result.exitCode;
}

/** Loads a command's module only when that command runs. */
function modulePath(p: string): string { return p; }

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'replay': return replay(rest);
    case 'run': {
      const m = await import(modulePath('./agent/run.js'));
      return m.runAgent(rest);
    }
    case 'bench': {
      const m = await import('./bench/bench.js');
      return m.runBench(rest);
    }
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      return usage(`unknown command "${command}"`);
  }
}
