// Prints each blob's file size, declared linear memory and the end of its static data:
// the numbers quoted in the README (`node scripts/blob-sizes.mjs`).
import { readFileSync } from 'node:fs';
import binaryen from 'binaryen';

const rows = [];
for (const profile of ['rtos', 'linux']) {
  const bytes = readFileSync(`build/microtally-${profile}.wasm`);
  const mod = binaryen.readBinary(bytes);
  let end = 0;
  for (let i = 0; i < mod.getNumMemorySegments(); i++) {
    const s = mod.getMemorySegmentInfoByIndex(i);
    end = Math.max(end, Number(s.offset) + s.data.byteLength);
  }
  const mem = mod.getMemoryInfo();
  mod.dispose();
  rows.push({ profile, blobBytes: bytes.length, memoryPages: mem.initial, maxPages: mem.max, staticDataEnd: end });
}
if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
else console.table(rows);
