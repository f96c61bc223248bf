// mt_regions: the core's linear memory as named regions, one JSON line whose values add up
// to mt_memory_end(), so a firmware size report can account for every byte (SPEC R7).

import * as P from "./profile";
import * as L from "./words";
import * as C from "./collectors";
import { CONFIG_BYTES, PENDING_BYTES } from "./config";
import { Writer } from "./writer";
import { Lit } from "./literal";
import { INPUT_BYTES, OUTPUT_BYTES, ERROR_BYTES } from "./areas";

let total = 0;
let writer: Writer | null = null;

function region(name: Lit, bytes: i32): void {
  total += bytes;
  const w = writer;
  if (w) { w.field(name); w.u64(<u64>bytes); }
}

/** Every region but staticData; with a writer, written as `,"name":bytes` members. */
function named(): void {
  total = 0;
  for (let i = 0; i < C.REGIONS; i++) region(C.regionName(i), C.regionBytes(i));
  region(L.input, INPUT_BYTES);
  region(L.output, OUTPUT_BYTES);
  region(L.error, ERROR_BYTES);
  region(L.config, CONFIG_BYTES);
  region(L.pendingInput, PENDING_BYTES);
}

/**
 * Writes `{"staticData":…,"networkCache":…,…}`. staticData is what no other region names:
 * the words of messages, counters, windows, table headers, small buffers, alignment, and
 * the 16 bytes below the first area (address 0 stays unused).
 */
export function writeRegions(w: Writer, memoryEnd: i32): void {
  writer = null;
  named();
  w.byte(0x7b);
  w.key(L.staticData); w.u64(<u64>(memoryEnd - total));
  writer = w;
  named();
  w.byte(0x7d);
}
