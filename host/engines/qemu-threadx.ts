// The `qemu-threadx` engine: the agent thread of ports/threadx on the real ThreadX Cortex-M3
// kernel, on the same emulated board (ports/qemu-threadx). A feeder thread hands the trace's
// lines to the agent through its public calls; the output is replay's, byte for byte. The
// ThreadX tree is the one the port's tests use: THREADX_DIR, else ../shared/third_party/threadx.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EngineUnavailable, type EngineName, type Profile } from '../engine.js';
import { buildOnce, root } from './native.js';
import { QemuEngine, type BoardEngine } from './qemu.js';

/** Why the engine cannot run here (no ThreadX tree where it looks), in one line; undefined when it can. */
function threadxMissing(): string | undefined {
  const dir = process.env.THREADX_DIR || resolve(root, '..', 'shared', 'third_party', 'threadx');
  if (existsSync(join(dir, 'common', 'inc', 'tx_api.h'))) return undefined;
  return `engine qemu-threadx: no ThreadX tree at ${dir}: set THREADX_DIR to a checkout of eclipse-threadx/threadx`;
}

/** The image for a profile, as scripts/build-threadx-firmware.sh writes it. */
function threadxFirmwarePath(profile: Profile, engine: BoardEngine = 'wasm3'): string {
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
    if (missing) throw new EngineUnavailable(missing);
    if (process.env.MICROTALLY_QEMU_NO_BUILD !== '1') await buildOnce(this.name, 'build-threadx-firmware.sh', ['--profile', profile, '--engine', this.board]);
    const path = threadxFirmwarePath(profile, this.board);
    if (!existsSync(path)) throw new Error(`no firmware image at ${path}`);
    return path;
  }

  protected override async updateImage(profile: Profile): Promise<string> {
    const missing = threadxMissing();
    if (missing) throw new EngineUnavailable(missing);
    if (profile !== 'rtos') {
      throw new EngineUnavailable('engine qemu-threadx swaps cores on the rtos profile only (--update-at): the ThreadX update layer is the rtos device\'s');
    }
    if (this.board === 'aot') {
      throw new EngineUnavailable('engine qemu-threadx with MICROTALLY_THREADX_ENGINE=aot runs its core ahead of time: it cannot swap cores (--update-at)');
    }
    return super.updateImage(profile);
  }

  /** The bench measures the core per event (engines qemu and qemu-aot); this image has no bench mode. */
  override async benchConnections(): Promise<never> {
    throw new Error('qemu-threadx has no bench mode: `microtally bench` measures the core on qemu and qemu-aot');
  }
}
