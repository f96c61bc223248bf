// The wasm3 engine: the blob under the wasm3 interpreter through the C bindings (bindings/),
// as the native program ports/posix builds (scripts/build-wasm3.sh).

import { join } from 'node:path';
import { NativeEngine, root } from './native.js';

/** The native replay program on wasm3, as scripts/build-wasm3.sh writes it. */
export const replayProgram = join(root, 'build', 'posix', 'microtally-replay');
/** The same with `replay --update-at` (`build-wasm3.sh --update`: needs the NetX Duo tree's crypto). */
export const updateProgram = join(root, 'build', 'posix', 'microtally-replay-update');

export class Wasm3Engine extends NativeEngine {
  constructor() {
    super({ name: 'wasm3', program: replayProgram, buildScript: 'build-wasm3.sh',
      noBuildVariable: 'MICROTALLY_WASM3_NO_BUILD', label: 'wasm3', updateProgram });
  }
}
