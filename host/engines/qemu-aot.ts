// The `qemu-aot` engine: the Cortex-M3 board image with the blob translated to C ahead of time
// (wasm2c) instead of interpreted by wasm3; same port, same bindings, same output.

import type { EngineName } from '../engine.js';
import { QemuEngine, type BoardEngine } from './qemu.js';

export class QemuAotEngine extends QemuEngine {
  override readonly name: EngineName = 'qemu-aot';
  protected override readonly board: BoardEngine = 'aot';
}
