#!/usr/bin/env node
// The core's linear memory by region, as the blob itself reports it (mt_regions, docs/ABI.md):
//   node scripts/blob-regions.mjs build/microtally-rtos-small.wasm
// prints {"bytes": <mt_memory_end>, "regions": {…}} (regions empty for a blob without mt_regions).
import { readFileSync } from 'node:fs';

const { instance } = await WebAssembly.instantiate(readFileSync(process.argv[2]), {});
const x = instance.exports;
const bytes = x.mt_memory_end() >>> 0;
let regions = {};
if (typeof x.mt_regions === 'function') {
  x.mt_init();
  const n = x.mt_regions();
  regions = JSON.parse(Buffer.from(x.memory.buffer, x.mt_output_ptr(), n).toString('utf8'));
  const sum = Object.values(regions).reduce((a, b) => a + b, 0);
  if (sum !== bytes) throw new Error(`mt_regions adds up to ${sum} B, mt_memory_end is ${bytes} B`);
}
process.stdout.write(JSON.stringify({ bytes, regions }) + '\n');
