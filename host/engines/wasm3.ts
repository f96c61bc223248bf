// The wasm3 engine: the blob under the wasm3 interpreter through the C bindings (bindings/),
// as the native program ports/posix builds. It prints exactly what `replay` prints, so this
// class only builds the program when needed, feeds it the trace on stdin and collects output.

import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult, Engine, ReplayOptions, ReplayResult } from '../engine.js';

const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/dist\/$/, '/');

/** The native replay program, as scripts/build-wasm3.sh writes it (both profiles inside). */
export const replayProgram = join(root, 'build', 'posix', 'microtally-replay');

/** Exit statuses of the program beyond replay's 0/1/2 (ports/posix/microtally_replay.c). */
const PROGRAM_FAILURES: Record<number, string> = {
  70: 'the core trapped under wasm3', 71: 'wasm3 could not load or run the blob', 74: 'I/O error',
};

let building: Promise<void> | undefined;

/** Runs scripts/build-wasm3.sh once per process: it fetches wasm3 once, then make skips what is current. */
function build(): Promise<void> {
  building ??= new Promise<void>((resolve, reject) => {
    execFile('bash', [join(root, 'scripts', 'build-wasm3.sh')], { cwd: root, maxBuffer: 16 << 20 },
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`wasm3 build failed:\n${stderr}`));
        else resolve();
      });
  });
  return building;
}

export class Wasm3Engine implements Engine {
  readonly name = 'wasm3' as const;

  async replay(trace: Uint8Array, options: ReplayOptions): Promise<ReplayResult> {
    // MICROTALLY_WASM3_NO_BUILD=1 runs a prebuilt program (e.g. a runner without a compiler).
    if (process.env.MICROTALLY_WASM3_NO_BUILD !== '1') await build();
    if (!existsSync(replayProgram)) throw new Error(`no wasm3 replay program at ${replayProgram}`);
    const args = ['--profile', options.profile];
    if (options.agentId !== undefined) args.push(`--agent-id=${options.agentId}`);
    if (options.stats) args.push('--stats');
    args.push('-');
    return run(args, trace);
  }

  /** The rtos blob on the native program's batch path (mt_ingest_connection_records). */
  async benchConnections(recordsFile: string, repeat: number): Promise<BenchResult> {
    if (process.env.MICROTALLY_WASM3_NO_BUILD !== '1') await build();
    const r = await run(['--bench-connections', recordsFile, String(repeat)], new Uint8Array());
    if (r.exitCode !== 0) throw new Error(`wasm3 bench failed (exit ${r.exitCode}): ${r.stderr}`);
    return JSON.parse(r.stdout) as BenchResult;
  }
}

function run(args: string[], input: Uint8Array): Promise<ReplayResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(replayProgram, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new Error(`cannot run ${replayProgram}: ${e.message}`)));
    // The program may stop reading early (usage error); that is not a failure of ours.
    child.stdin.on('error', () => {});
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (signal !== null) return reject(new Error(`wasm3 replay killed by ${signal}\n${stderr}`));
      const exitCode = code ?? 2;
      if (PROGRAM_FAILURES[exitCode]) return reject(new Error(`wasm3: ${PROGRAM_FAILURES[exitCode]}\n${stderr}`));
      resolve({ stdout, stderr, exitCode });
    });
    child.stdin.end(input);
  });
}
