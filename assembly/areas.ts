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
 * parser keeps its member table here (json.ts).
 */
export const output = memory.data(OUTPUT_BYTES, 8);
export const errorArea = memory.data(ERROR_BYTES, 8);

/**
 * The CBOR dictionary (cbor.ts) takes the output area's last bytes: a CBOR chunk stops short
 * of them, and what else uses the area (the parser's member table, the stats and regions
 * lines) ends below them (test/cbor.test.ts checks the parser's table).
 */
export const DICTIONARY_BYTES: i32 = P.LINUX ? 4096 : 480;
export const dictionary: usize = output + OUTPUT_BYTES - DICTIONARY_BYTES;
export const CBOR_CHUNK_CAP: i32 = P.OUTPUT_CAP - DICTIONARY_BYTES;
