#!/usr/bin/env node
// Merges neighbouring data segments of blobs in place:
//   node scripts/pack-data-segments.mjs build/microtally-rtos.wasm …
// asc writes one active segment per static object (hundreds of a few bytes each). Memory
// starts zeroed, so two segments a few bytes apart can become one with zeros between them:
// the same memory image, so every engine still runs the same blob. Fewer segments make a
// smaller blob (each costs ~7 bytes of header) and far less code in the ahead-of-time
// translation (each becomes its own array and copy at instantiation).

import { readFileSync, writeFileSync } from 'node:fs';

/** Largest run of zeros written out to join two segments: asc leaves 11-12 zero bytes of object
 * header before each static string, and a few dozen bytes of blob buy hundreds of segments. */
const MAX_GAP = 12;

function readU32(buf, at) {
  let v = 0, shift = 0, b;
  do { b = buf[at++]; v += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
  return [v, at];
}

function readI32(buf, at) {
  let v = 0, shift = 0, b;
  do { b = buf[at++]; v |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
  if (shift < 32 && (b & 0x40)) v |= -1 << shift;
  return [v, at];
}

function u32(v) {
  const out = [];
  do { let b = v & 0x7f; v = Math.floor(v / 128); if (v) b |= 0x80; out.push(b); } while (v);
  return Buffer.from(out);
}

function i32(v) {
  const out = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && (b & 0x40))) { out.push(b); return Buffer.from(out); }
    out.push(b | 0x80);
  }
}

/** Active segments of memory 0 at constant offsets, or null when the section has anything else. */
function parseData(body) {
  let [count, at] = readU32(body, 0);
  const segs = [];
  for (let i = 0; i < count; i++) {
    if (body[at] !== 0 || body[at + 1] !== 0x41) return null; // only `(data (i32.const N) …)`
    let offset;
    [offset, at] = readI32(body, at + 2);
    if (body[at++] !== 0x0b) return null;
    let size;
    [size, at] = readU32(body, at);
    segs.push({ offset: offset >>> 0, bytes: body.subarray(at, at + size) });
    at += size;
  }
  return segs;
}

function merge(segs) {
  const out = [];
  for (const s of segs) {
    const prev = out[out.length - 1];
    const end = prev ? prev.offset + prev.bytes.length : -1;
    if (prev && s.offset >= end && s.offset - end <= MAX_GAP) {
      prev.bytes = Buffer.concat([prev.bytes, Buffer.alloc(s.offset - end), s.bytes]);
    } else {
      out.push({ offset: s.offset, bytes: Buffer.from(s.bytes) });
    }
  }
  return out;
}

function encodeData(segs) {
  const parts = [u32(segs.length)];
  for (const s of segs) parts.push(Buffer.from([0, 0x41]), i32(s.offset | 0), Buffer.from([0x0b]), u32(s.bytes.length), s.bytes);
  return Buffer.concat(parts);
}

for (const file of process.argv.slice(2)) {
  const wasm = readFileSync(file);
  const sections = [];
  let at = 8;
  while (at < wasm.length) {
    const id = wasm[at];
    const [size, body] = readU32(wasm, at + 1);
    sections.push({ id, body: wasm.subarray(body, body + size) });
    at = body + size;
  }
  const data = sections.find((s) => s.id === 11);
  const segs = data && parseData(data.body);
  if (!segs) { console.error(`pack-data-segments: ${file}: left as is (no plain data section)`); continue; }
  const merged = merge(segs);
  data.body = encodeData(merged);
  const count = sections.find((s) => s.id === 12); // data count, present with bulk memory
  if (count) count.body = u32(merged.length);
  const out = Buffer.concat([wasm.subarray(0, 8), ...sections.flatMap((s) => [Buffer.from([s.id]), u32(s.body.length), s.body])]);
  new WebAssembly.Module(out); // still a valid module
  writeFileSync(file, out);
  console.error(`pack-data-segments: ${file}: ${segs.length} -> ${merged.length} segments, ${wasm.length} -> ${out.length} bytes`);
}
