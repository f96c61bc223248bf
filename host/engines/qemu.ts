// The QEMU engines: the blob on an emulated Cortex-M3 board (ports/qemu), under wasm3
// (`qemu`) or translated to C ahead of time (`qemu-aot`, see qemu-aot.ts). The firmware reads
// the trace through semihosting and prints exactly what `replay` prints, so this class only
// builds the image when needed, runs QEMU and passes its output on as it comes.

import { execFile } from 'node:child_process';
import { closeSync, constants, existsSync, open, openSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Socket } from 'node:net';
import { EngineUnavailable, type BenchResult, type Engine, type EngineName, type Profile, type ReplayOptions, type ReplayResult } from '../engine.js';
import { collect, IoError, type ReplayOutput, type TraceInput } from '../io.js';
import { buildOnce, feed, root, runProgram, type ChildIo, type Exit } from './native.js';
import { boardArgs, selfTestPath, updateLimitError } from './update-args.js';

/** Which engine runs the blob inside the image. */
export type BoardEngine = 'wasm3' | 'aot';

/** The image for a profile, as scripts/build-firmware.sh writes it. */
export function firmwarePath(profile: Profile, engine: BoardEngine = 'wasm3'): string {
  return join(root, 'build', 'firmware', `microtally-qemu-${engine === 'aot' ? 'aot-' : ''}${profile}.elf`);
}

/** The wasm3 image with `replay --update-at` (scripts/build-update-firmware.sh), for a board. */
export function updateFirmwarePath(board: 'qemu' | 'threadx', profile: Profile): string {
  return join(root, 'build', 'firmware', `microtally-${board}-update-${profile}.elf`);
}

/**
 * QEMU's deterministic mode: one instruction per virtual ns, no sleeping, no realignment,
 * so every run of an image on a trace executes the same way (TOOLCHAIN.md).
 */
export const QEMU_ARGS = [
  '-M', 'mps2-an385', '-nographic', '-monitor', 'none', '-serial', 'none',
  '-icount', 'shift=0,align=off,sleep=off',
];

/** Exit statuses of the firmware beyond replay's 0/1/2 (ports/mps2-an385/board.h). */
function firmwareFailure(code: number, engine: BoardEngine): string | undefined {
  const label = engine === 'aot' ? 'the translated blob' : 'wasm3';
  return ({
    70: `the core trapped under ${label}`, 71: `${label} could not load or run the blob`, 74: 'semihosting I/O failed',
    76: 'CPU fault',
  } as Record<number, string>)[code];
}

function timeoutMs(): number {
  const v = Number(process.env.MICROTALLY_QEMU_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 10 * 60_000;
}

export class QemuEngine implements Engine {
  readonly name: EngineName = 'qemu';
  protected readonly board: BoardEngine = 'wasm3';

  async replay(trace: Uint8Array, options: ReplayOptions): Promise<ReplayResult> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const stderr = () => Buffer.concat(err).toString('utf8');
    let exit: Exit;
    try {
      exit = await this.runReplay(options, collect(out, err), timeoutMs(),
        (dir) => writeFile(join(dir, 'trace.jsonl'), trace));
    } catch (e) {
      if (e instanceof EngineUnavailable) throw e; // what the machine lacks, in one line: callers skip on it
      throw new Error(`${(e as Error).message}\n${stderr()}`);
    }
    const failure = firmwareFailure(exit.code, this.board);
    if (failure) throw new Error(`firmware: ${failure}\n${stderr()}`);
    const stdoutBytes = Buffer.concat(out);
    return { stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: stderr(), exitCode: exit.code };
  }

  /**
   * QEMU opens a trace file itself (a symbolic link to it beside QEMU); stdin reaches the board
   * through a named pipe fed with backpressure. Output passes on as QEMU writes it. No time
   * limit here unless MICROTALLY_QEMU_TIMEOUT_MS is set: a long trace takes what it takes.
   * The firmware's own failure codes pass through (70, 71, 74, 76), reported in one line.
   */
  async replayStream(input: TraceInput, options: ReplayOptions, output: ReplayOutput): Promise<number> {
    const limit = process.env.MICROTALLY_QEMU_TIMEOUT_MS ? timeoutMs() : undefined;
    let fifo: string | undefined;
    const exit = await this.runReplay(options, output, limit, async (dir) => {
      const at = join(dir, 'trace.jsonl');
      if (input.path !== undefined) return symlink(resolve(input.path), at);
      fifo = at;
      await new Promise<void>((ok, ko) => execFile('mkfifo', ['-m', '600', at], (e) => (e ? ko(e) : ok())));
    }, input.path !== undefined ? undefined : (child, fail, stopped) => {
      // Opening the pipe for writing waits for QEMU to open it for reading, so no byte is
      // written (and our end closed) before the board has it open. Should QEMU end without
      // opening it, a reader of our own releases that wait.
      let opened = false;
      let exited = false;
      child.on('close', () => {
        exited = true;
        if (!opened) try { closeSync(openSync(fifo!, constants.O_RDONLY | constants.O_NONBLOCK)); } catch { /* gone */ }
      });
      open(fifo!, constants.O_WRONLY, (e, fd) => {
        opened = true;
        if (e) { fail(IoError.from(e, 'write', 'the pipe to QEMU')); return; }
        if (exited) { closeSync(fd); return; }
        const pipe = new Socket({ fd, readable: false, writable: true });
        pipe.on('error', () => {});                // QEMU stopped reading: its exit status says why
        pipe.on('finish', () => pipe.destroy());   // closing our end is the board's end of input
        child.on('close', () => pipe.destroy());
        feed(input.chunks(), pipe, stopped).catch(fail);
      });
    });
    const failure = firmwareFailure(exit.code, this.board);
    if (failure && exit.stderrEnd === undefined) output.err(`microtally: ${this.name}: ${failure}\n`);
    return exit.code;
  }

  /** Runs the image on a trace that `prepare` puts at trace.jsonl in QEMU's working directory. */
  protected async runReplay(options: ReplayOptions, output: ReplayOutput, limit: number | undefined,
    prepare: (dir: string) => Promise<void>, started?: ChildIo['started']): Promise<Exit> {
    const updates = !!options.updates?.length;
    const tooMany = updateLimitError(this.name, options); // the CLI says so first, as a usage error
    if (tooMany) throw new Error(tooMany);
    const image = updates ? await this.updateImage(options.profile) : await this.image(options.profile);
    const dir = await mkdtemp(join(tmpdir(), 'microtally-qemu-'));
    try {
      await prepare(dir);
      // The packages and the self-test beside the trace, under names without spaces (arguments
      // are split at them); the board reads them through semihosting.
      if (updates) {
        await Promise.all([...options.updates!.map((u, i) => symlink(resolve(u.path), join(dir, `update-${i}.pkg`))),
          symlink(selfTestPath(), join(dir, 'selftest.jsonl'))]);
      }
      // Semihosting arguments: the firmware opens trace.jsonl relative to QEMU's working
      // directory; the agent id travels as hex so no byte of it can upset QEMU's option parser.
      const args = boardArgs(options);
      const semihosting = ['enable=on', 'target=native', ...args.map((a) => `arg=${a}`)].join(',');
      return await runProgram(qemuProgram(), [...QEMU_ARGS, '-semihosting-config', semihosting, '-kernel', image],
        { name: 'qemu', cwd: dir, output, timeoutMs: limit, started });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * The rtos image's bench mode: the records go through mt_ingest_connection_records on the
   * emulated Cortex-M3; the counts are instructions (QEMU's -icount clock read through
   * SysTick), not time. `repeat` is ignored: the count is the same on every run.
   */
  async benchConnections(recordsFile: string, _repeat: number): Promise<BenchResult> {
    const image = await this.image('rtos');
    const dir = await mkdtemp(join(tmpdir(), 'microtally-qemu-'));
    try {
      // A fixed name beside QEMU: semihosting arguments are split at spaces.
      await symlink(resolve(recordsFile), join(dir, 'records.bin'));
      const semihosting = 'enable=on,target=native,arg=microtally,arg=--bench-connections=records.bin';
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const { code } = await runProgram(qemuProgram(), [...QEMU_ARGS, '-semihosting-config', semihosting, '-kernel', image],
        { name: 'qemu', cwd: dir, output: collect(out, err), timeoutMs: timeoutMs() });
      if (code !== 0) throw new Error(`qemu bench failed (exit ${code}): ${Buffer.concat(err).toString('utf8')}`);
      return JSON.parse(Buffer.concat(out).toString('utf8')) as BenchResult;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** The update image (wasm3) for a profile, built first unless MICROTALLY_QEMU_NO_BUILD=1. */
  protected async updateImage(profile: Profile): Promise<string> {
    const board = this.name === 'qemu-threadx' ? 'threadx' : 'qemu';
    if (process.env.MICROTALLY_QEMU_NO_BUILD !== '1') await buildOnce(this.name, 'build-update-firmware.sh', [this.name, '--profile', profile]);
    const path = updateFirmwarePath(board, profile);
    if (!existsSync(path)) throw new Error(`no firmware image at ${path}`);
    return path;
  }

  /** The image for a profile, built first unless MICROTALLY_QEMU_NO_BUILD=1 (a runner with QEMU but no compiler). */
  protected async image(profile: Profile): Promise<string> {
    if (process.env.MICROTALLY_QEMU_NO_BUILD !== '1') await buildOnce(this.name, 'build-firmware.sh', ['--profile', profile, '--engine', this.board]);
    const path = firmwarePath(profile, this.board);
    if (!existsSync(path)) throw new Error(`no firmware image at ${path}`);
    return path;
  }
}

function qemuProgram(): string {
  return process.env.MICROTALLY_QEMU ?? 'qemu-system-arm';
}
