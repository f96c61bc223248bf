// The ahead-of-time engine: the same blob translated to C by wasm2c and compiled into the
// native replay program behind the same C API (bindings/mt_engine_aot.c, scripts/build-aot.sh).

import { join } from 'node:path';
import { NativeEngine, root } from './native.js';

/** The native replay program with the translated blobs, as scripts/build-aot.sh writes it. */
export const aotReplayProgram = join(root, 'build', 'posix-aot', 'microtally-replay');

export class AotEngine extends NativeEngine {
  constructor() {
    super({ name: 'aot', program: aotReplayProgram, buildScript: 'build-aot.sh',
      noBuildVariable: 'MICROTALLY_AOT_NO_BUILD', label: 'the translated blob' });
  }
}
