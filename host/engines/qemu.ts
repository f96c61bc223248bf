// The QEMU engines: the blob on an emulated Cortex-M3 board (ports/qemu), under wasm3
// (`qemu`) or translated to C ahead of time (`qemu-aot`, see qemu-aot.ts). The firmware reads
// the trace through semihosting and prints exactly what `replay` prints, so this class only
// builds the image when needed, runs QEMU and hands back its output.

import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult, Engine, EngineName, Profile, ReplayOptions, ReplayResult } from '../engine.js';

const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/dist\/$/, '/');

/** Which engine runs the blob inside the image. */
export type BoardEngine = 'wasm3' | 'aot';

/** The image for a profile, as scripts/build-firmware.sh writes it. */
export function firmwarePath(profile: Profile, engine: BoardEngine = 'wasm3'): string {
  return join(root, 'build', 'firmware', `microtally-qemu-${engine === 'aot' ? 'aot-' : ''}${profile}.elf`);
}

/**
 * QEMU's deterministic mode: one instruction per virtual ns, no sleeping, no realignment,
 * so every run of an image on a trace executes the same way (TOOLCHAIN.md).
 */
export const QEMU_ARGS = [
  '-M', 'mps2-an385', '-nographic', '-monitor', 'none', '-serial', 'none',
  '-icount', 'shift=0,align=off,sleep=off',
];

/** Exit statuses of the firmware beyond replay's 0/1/2 (ports/qemu/board.h). */
function firmwareFailure(code: number, engine: BoardEngine): string | undefined {
  const label = engine === 'aot' ? 'the translated blob' : 'wasm3';
  return ({
    70: `the core trapped under ${label}`, 71: `${label} could not load or run the blob`, 74: 'semihosting I/O failed',
    76: 'CPU fault',
  } as Record<number, string>)[code];
}

const builds = new Map<string, Promise<void>>();

/** Runs scripts/build-firmware.sh once per process, profile and engine; make skips what is current. */
function build(profile: Profile, engine: BoardEngine): Promise<void> {
  let b = builds.get(`${engine}-${profile}`);
  if (!b) {
    b = new Promise<void>((resolve, reject) => {
      execFile('bash', [join(root, 'scripts', 'build-firmware.sh'), '--profile', profile, '--engine', engine],
        { cwd: root, maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
          if (err) reject(new Error(`firmware build failed:\n${stderr}`));
          else resolve();
        });
    });
    builds.set(`${engine}-${profile}`, b);
  }
  return b;
}

function timeoutMs(): number {
  const v = Number(process.env.MICROTALLY_QEMU_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 10 * 60_000;
}

export class QemuEngine implements Engine {
  readonly name: EngineName = 'qemu';
  protected readonly board: BoardEngine = 'wasm3';

  async replay(trace: Uint8Array, options: ReplayOptions): Promise<ReplayResult> {
    const image = await this.image(options.profile);
    const dir = await mkdtemp(join(tmpdir(), 'microtally-qemu-'));
    try {
      await writeFile(join(dir, 'trace.jsonl'), trace);
      // Semihosting arguments: the firmware opens trace.jsonl relative to QEMU's working
      // directory; the agent id travels as hex so no byte of it can upset QEMU's option parser.
      const args = ['microtally'];
      if (options.stats) args.push('--stats');
      // Only a 36-byte id can be valid; a longer one is cut to the board's 64-byte buffer, where
      // it is still invalid and refused with the same reason.
      if (options.agentId !== undefined) {
        args.push(`--agent-id-hex=${Buffer.from(options.agentId).subarray(0, 64).toString('hex')}`);
      }
      args.push('trace.jsonl');
      const semihosting = ['enable=on', 'target=native', ...args.map((a) => `arg=${a}`)].join(',');
      return await run([...QEMU_ARGS, '-semihosting-config', semihosting, '-kernel', image], dir, this.board);
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
      const r = await run([...QEMU_ARGS, '-semihosting-config', semihosting, '-kernel', image], dir, this.board);
      if (r.exitCode !== 0) throw new Error(`qemu bench failed (exit ${r.exitCode}): ${r.stderr}`);
      return JSON.parse(r.stdout) as BenchResult;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** The image for a profile, built first unless MICROTALLY_QEMU_NO_BUILD=1 (a runner with QEMU but no compiler). */
  private async image(profile: Profile): Promise<string> {
    if (process.env.MICROTALLY_QEMU_NO_BUILD !== '1') await build(profile, this.board);
    const path = firmwarePath(profile, this.board);
    if (!existsSync(path)) throw new Error(`no firmware image at ${path}`);
    return path;
  }
}

function run(args: string[], cwd: string, engine: BoardEngine): Promise<ReplayResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.MICROTALLY_QEMU ?? 'qemu-system-arm', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs());
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot run qemu-system-arm: ${e.message}`)); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (signal !== null) return reject(new Error(`qemu killed by ${signal} (timeout ${timeoutMs()} ms)\n${stderr}`));
      const exitCode = code ?? 2;
      const failure = firmwareFailure(exitCode, engine);
      if (failure) return reject(new Error(`firmware: ${failure}\n${stderr}`));
      resolve({ stdout, stderr, exitCode });
    });
  });
}
