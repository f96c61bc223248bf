// The `qemu-threadx` engine: the agent thread of ports/threadx on the real ThreadX Cortex-M3
// kernel, on the same emulated board (ports/qemu-threadx). A feeder thread hands the trace's
// lines to the agent through its public calls; the output is replay's, byte for byte. The
// ThreadX tree is the one the port's tests use: THREADX_DIR, else ../shared/third_party/threadx.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EngineName, Profile, ReplayOptions } from '../engine.js';
import { build, QemuEngine, type BoardEngine } from './qemu.js';
import type { ReplayOutput, TraceInput } from './v8.js';

const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/dist\/$/, '/');

/** The ThreadX tree the image is built from, or undefined when there is none. */
export function threadxDir(): string | undefined {
  const dir = process.env.THREADX_DIR || resolve(root, '..', 'shared', 'third_party', 'threadx');
  return existsSync(join(dir, 'common', 'inc', 'tx_api.h')) ? dir : undefined;
}

/** Why the engine cannot run here, in one line; undefined when it can. */
export function threadxMissing(): string | undefined {
  if (threadxDir()) return undefined;
  const where = process.env.THREADX_DIR || resolve(root, '..', 'shared', 'third_party', 'threadx');
  return `no ThreadX tree at ${where}: set THREADX_DIR to a checkout of eclipse-threadx/threadx`;
}

class NoThreadxTree extends Error {}

/** The image for a profile, as scripts/build-threadx-firmware.sh writes it. */
export function threadxFirmwarePath(profile: Profile, engine: BoardEngine = 'wasm3'): string {
  return join(root, 'build', 'firmware', `microtally-threadx-${engine === 'aot' ? 'aot-' : ''}${profile}.elf`);
}

export class QemuThreadxEngine extends QemuEngine {
  override readonly name: EngineName = 'qemu-threadx';
  protected override readonly board: BoardEngine;

  /** wasm3 by default; MICROTALLY_THREADX_ENGINE=aot runs the ahead-of-time image instead. */
  constructor(board?: BoardEngine) {
    super();
    this.board = board ?? (process.env.MICROTALLY_THREADX_ENGINE === 'aot' ? 'aot' : 'wasm3');
  }

  protected override async image(profile: Profile): Promise<string> {
    const missing = threadxMissing();
    if (missing) throw new NoThreadxTree(missing);
    if (process.env.MICROTALLY_QEMU_NO_BUILD !== '1') await build(profile, this.board, 'build-threadx-firmware.sh');
    const path = threadxFirmwarePath(profile, this.board);
    if (!existsSync(path)) throw new Error(`no firmware image at ${path}`);
    return path;
  }

  /** The bench measures the core per event (engines qemu and qemu-aot); this image has no bench mode. */
  override async benchConnections(): Promise<never> {
    throw new Error('qemu-threadx has no bench mode: `microtally bench` measures the core on qemu and qemu-aot');
  }

  /** Without a ThreadX tree: one line saying how to point at one, exit status 2 (usage). */
  override async replayStream(input: TraceInput, options: ReplayOptions, output: ReplayOutput): Promise<number> {
    try {
      return await super.replayStream(input, options, output);
    } catch (e) {
      if (!(e instanceof NoThreadxTree)) throw e;
      output.err(`microtally: --engine qemu-threadx: ${e.message}\n`);
      return 2;
    }
  }
}
