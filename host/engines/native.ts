// Engines whose replay is a native program built from the C bindings (ports/posix): wasm3
// interprets the blob, aot runs it translated to C. The program prints exactly what `replay`
// prints, so this class only builds it when needed, pipes the trace into its stdin and passes
// its output on as it comes.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { buildFailure, EngineUnavailable, missingBuildScript, type BenchResult, type Engine, type EngineName, type ReplayOptions, type ReplayResult } from '../engine.js';
import { bytesInput, collect, type ReplayOutput, type TraceInput } from '../io.js';
import { selfTestPath, updateArgs, updateLimitError } from './update-args.js';

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
  /** The program with `replay --update-at` (the agent and mt_update.c), built by `buildScript --update`. */
  updateProgram?: string;
}

const builds = new Map<string, Promise<void>>();

/**
 * Runs scripts/<script> with `args` once per process (make skips what is current); rejects with
 * EngineUnavailable when the script is not in this copy or fails (its last line says why).
 */
export function buildOnce(engine: EngineName, script: string, args: string[] = []): Promise<void> {
  const key = [script, ...args].join(' ');
  let b = builds.get(key);
  if (!b) {
    b = new Promise<void>((resolve, reject) => {
      const path = join(root, 'scripts', script);
      const missing = missingBuildScript(engine, path);
      if (missing) { reject(missing); return; }
      execFile('bash', [path, ...args], { cwd: root, maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
        if (err) reject(buildFailure(engine, stderr));
        else resolve();
      });
    });
    builds.set(key, b);
  }
  return b;
}

export class NativeEngine implements Engine {
  readonly name: EngineName;

  constructor(private readonly p: NativeProgram) {
    this.name = p.name;
  }

  private async ready(updates = false): Promise<string> {
    const program = updates ? this.p.updateProgram : this.p.program;
    if (program === undefined) throw new Error(`engine ${this.p.name} cannot swap cores (--update-at)`);
    if (process.env[this.p.noBuildVariable] !== '1') await buildOnce(this.p.name, this.p.buildScript, updates ? ['--update'] : []);
    if (!existsSync(program)) throw new Error(`no ${this.p.name} replay program at ${program}`);
    return program;
  }

  async replay(trace: Uint8Array, options: ReplayOptions): Promise<ReplayResult> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let code: number;
    try {
      ({ code } = await this.stream(bytesInput(trace), options, collect(out, err)));
    } catch (e) {
      if (e instanceof EngineUnavailable) throw e; // what the machine lacks, in one line: callers skip on it
      throw new Error(`${(e as Error).message}\n${Buffer.concat(err).toString('utf8')}`);
    }
    const stdoutBytes = Buffer.concat(out);
    const stdout = stdoutBytes.toString('utf8');
    const stderr = Buffer.concat(err).toString('utf8');
    const failure = this.failures()[code];
    if (failure) throw new Error(`${this.p.name}: ${failure}\n${stderr}`);
    return { stdout, stdoutBytes, stderr, exitCode: code };
  }

  /**
   * The trace is piped into the program's stdin as it is read and its stdout and stderr are
   * passed on as they arrive (backpressure both ways: nothing is held whole in Node). The
   * program's own failure codes pass through after its one-line report: 70 the core trapped,
   * 71 the engine failed, 74 an I/O error of its own.
   */
  async replayStream(input: TraceInput, options: ReplayOptions, output: ReplayOutput): Promise<number> {
    const { code, stderrEnd } = await this.stream(input, options, output);
    if (code === 70 || code === 71 || code === 74) {
      // The program reported the failure itself; say which engine when it printed nothing.
      if (stderrEnd === undefined) output.err(`microtally: ${this.p.name}: ${this.failures()[code]}\n`);
    }
    return code;
  }

  /** The rtos blob on the native program's batch path (mt_ingest_connection_records). */
  async benchConnections(recordsFile: string, repeat: number): Promise<BenchResult> {
    await this.ready();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const { code } = await this.run(['--bench-connections', recordsFile, String(repeat)], bytesInput(new Uint8Array()), collect(out, err));
    const stderr = Buffer.concat(err).toString('utf8');
    if (code !== 0) throw new Error(`${this.p.name} bench failed (exit ${code}): ${stderr}`);
    return JSON.parse(Buffer.concat(out).toString('utf8')) as BenchResult;
  }

  /** Exit statuses of the program beyond replay's 0/1/2 (ports/posix/microtally_replay.c). */
  private failures(): Record<number, string> {
    const { label } = this.p;
    return { 70: `the core trapped under ${label}`, 71: `${label} could not load or run the blob`, 74: 'I/O error' };
  }

  private async stream(input: TraceInput, options: ReplayOptions, output: ReplayOutput): Promise<Exit> {
    const tooMany = updateLimitError(this.p.name, options); // the CLI says so first, as a usage error
    if (tooMany) throw new Error(tooMany);
    const program = await this.ready(!!options.updates?.length);
    const args = ['--profile', options.profile];
    if (options.agentId !== undefined) args.push(`--agent-id=${options.agentId}`);
    if (options.format !== undefined) args.push(`--format=${options.format}`);
    if (options.stats) args.push('--stats');
    args.push(...updateArgs(options, (_i, path) => resolve(path), selfTestPath()));
    args.push('-');
    return this.run(args, input, output, program);
  }

  private run(args: string[], input: TraceInput, output: ReplayOutput, program = this.p.program): Promise<Exit> {
    return runProgram(program, args, { name: `${this.p.name} replay`, input, output });
  }
}

/** How a child program ended: its status, and the last byte it wrote to stderr (undefined: nothing). */
export interface Exit { code: number; stderrEnd?: number }

/** Resolves when `w` can take more, or can take nothing any more. */
function writable(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { w.off('drain', done); w.off('close', done); w.off('error', done); resolve(); };
    w.on('drain', done); w.on('close', done); w.on('error', done);
  });
}

/**
 * Feeds `chunks` into `w` with backpressure and ends it. Resolves when done or when `w` went
 * away (a program that stopped reading early, e.g. on a usage error, is not a failure of
 * ours); rejects with the input's read error.
 */
export async function feed(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, w: Writable,
  stopped: () => boolean): Promise<void> {
  for await (const c of chunks) {
    if (stopped() || w.destroyed || !w.writable) return;
    if (!w.write(c)) await writable(w);
  }
  if (!w.destroyed) w.end();
}

export interface ChildIo {
  /** For failure messages. */
  name: string;
  /** Piped into the child's stdin; absent: the child's stdin is /dev/null. */
  input?: TraceInput;
  output: ReplayOutput;
  /** Where the child runs. */
  cwd?: string;
  /** Kills the child after this long (ms). */
  timeoutMs?: number;
  /** Called once the child is running (e.g. to feed it through another path than stdin). */
  started?: (child: ChildProcess, fail: (e: unknown) => void, stopped: () => boolean) => void;
}

/**
 * Runs a program, streaming its stdout and stderr through `io.output` as they arrive. An
 * output callback that throws (the CLI's stdout is full or gone) or a read error of the input
 * kills the program and rejects with that error; a signal (timeout) rejects too. Otherwise
 * resolves to its exit status.
 */
export function runProgram(program: string, args: string[], io: ChildIo): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: io.cwd, stdio: [io.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let failure: { e: unknown } | undefined;
    let stderrEnd: number | undefined;
    const fail = (e: unknown) => {
      if (failure) return;
      failure = { e };
      child.kill('SIGKILL');
    };
    const stopped = () => failure !== undefined;
    const timer = io.timeoutMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), io.timeoutMs) : undefined;
    child.stdout!.on('data', (b: Buffer) => {
      if (failure) return;
      try { io.output.out(b); } catch (e) { fail(e); }
    });
    child.stderr!.on('data', (b: Buffer) => {
      if (failure) return;
      stderrEnd = b[b.length - 1];
      try { io.output.err(b); } catch (e) { fail(e); }
    });
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot run ${program}: ${e.message}`)); });
    if (io.input && child.stdin) {
      child.stdin.on('error', () => {});
      feed(io.input.chunks(), child.stdin, stopped).catch(fail);
    }
    io.started?.(child, fail, stopped);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure.e);
      if (signal !== null) return reject(new Error(`${io.name} killed by ${signal}${io.timeoutMs !== undefined ? ` (timeout ${io.timeoutMs} ms)` : ''}`));
      resolve({ code: code ?? 2, stderrEnd });
    });
  });
}
