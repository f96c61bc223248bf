// Engines whose replay is a native program built from the C bindings (ports/posix): wasm3
// interprets the blob, aot runs it translated to C. The program prints exactly what `replay`
// prints, so this class only builds it when needed, feeds it the trace on stdin and collects
// its output.

import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult, Engine, EngineName, ReplayOptions, ReplayResult } from '../engine.js';

export const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/dist\/$/, '/');

export interface NativeProgram {
  name: EngineName;
  /** The replay program, as `buildScript` writes it (both profiles inside). */
  program: string;
  /** scripts/<buildScript>: builds the program; make skips what is current. */
  buildScript: string;
  /** Set to 1 to run a prebuilt program (e.g. a runner without a compiler). */
  noBuildVariable: string;
  /** What the engine is, for failure messages ("wasm3", "the translated blob"). */
  label: string;
}

const builds = new Map<string, Promise<void>>();

/** Runs a build script once per process. */
function build(p: NativeProgram): Promise<void> {
  let b = builds.get(p.buildScript);
  if (!b) {
    b = new Promise<void>((resolve, reject) => {
      execFile('bash', [join(root, 'scripts', p.buildScript)], { cwd: root, maxBuffer: 16 << 20 },
        (err, _stdout, stderr) => {
          if (err) reject(new Error(`${p.name} build failed:\n${stderr}`));
          else resolve();
        });
    });
    builds.set(p.buildScript, b);
  }
  return b;
}

export class NativeEngine implements Engine {
  readonly name: EngineName;

  constructor(private readonly p: NativeProgram) {
    this.name = p.name;
  }

  private async ready(): Promise<void> {
    if (process.env[this.p.noBuildVariable] !== '1') await build(this.p);
    if (!existsSync(this.p.program)) throw new Error(`no ${this.p.name} replay program at ${this.p.program}`);
  }

  async replay(trace: Uint8Array, options: ReplayOptions): Promise<ReplayResult> {
    await this.ready();
    const args = ['--profile', options.profile];
    if (options.agentId !== undefined) args.push(`--agent-id=${options.agentId}`);
    if (options.stats) args.push('--stats');
    args.push('-');
    return this.run(args, trace);
  }

  /** The rtos blob on the native program's batch path (mt_ingest_connection_records). */
  async benchConnections(recordsFile: string, repeat: number): Promise<BenchResult> {
    await this.ready();
    const r = await this.run(['--bench-connections', recordsFile, String(repeat)], new Uint8Array());
    if (r.exitCode !== 0) throw new Error(`${this.p.name} bench failed (exit ${r.exitCode}): ${r.stderr}`);
    return JSON.parse(r.stdout) as BenchResult;
  }

  private run(args: string[], input: Uint8Array): Promise<ReplayResult> {
    const { program, label, name } = this.p;
    // Exit statuses of the program beyond replay's 0/1/2 (ports/posix/microtally_replay.c).
    const failures: Record<number, string> = {
      70: `the core trapped under ${label}`, 71: `${label} could not load or run the blob`, 74: 'I/O error',
    };
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e) => reject(new Error(`cannot run ${program}: ${e.message}`)));
      // The program may stop reading early (usage error); that is not a failure of ours.
      child.stdin.on('error', () => {});
      child.on('close', (code, signal) => {
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = Buffer.concat(err).toString('utf8');
        if (signal !== null) return reject(new Error(`${name} replay killed by ${signal}\n${stderr}`));
        const exitCode = code ?? 2;
        if (failures[exitCode]) return reject(new Error(`${name}: ${failures[exitCode]}\n${stderr}`));
        resolve({ stdout, stderr, exitCode });
      });
      child.stdin.end(input);
    });
  }
}
