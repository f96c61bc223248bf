// The host API of the `microtally` package (`import { Core } from 'microtally'`): the core on V8,
// the engines behind one interface, and the typed records the core ingests.

export {
  Core, Status, blobPath, encodeConnection,
  type BaselineRecord, type BatchTiming, type CallResult, type ConnectionRecord, type ProcessRecord, type SysinfoRecord,
} from './core.js';
export { DecodeError, SequenceDecoder, decode } from './decode.js';
export type { BenchResult, Engine, EngineName, Profile, ReplayOptions, ReplayResult } from './engine.js';
export { ENGINE_NAMES, engineByName } from './engines/index.js';
export { V8Engine } from './engines/v8.js';
export { IoError, type TraceInput, type ReplayOutput } from './io.js';
export { VERSION } from './version.js';
