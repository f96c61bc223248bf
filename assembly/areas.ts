// The three areas the host reads and writes (docs/ABI.md): input, output and error.

import * as P from "./profile";

/** Bytes of the input and output areas (each followed by 8 spare bytes) and the error area. */
export const INPUT_BYTES = P.INPUT_CAP + 8;
export const OUTPUT_BYTES = P.OUTPUT_CAP + 8;
export const ERROR_BYTES = P.ERROR_CAP;

export const input = memory.data(INPUT_BYTES, 8);
/**
 * Holds what the last call wrote there (a chunk, the stats, the regions) until the next
 * call. While a call parses a line nothing is pending (else it answers MT_BUSY), so the
 * parser keeps its member table here (json.ts); a compact message's dictionary takes its tail.
 */
export const output = memory.data(OUTPUT_BYTES, 8);
export const errorArea = memory.data(ERROR_BYTES, 8);
