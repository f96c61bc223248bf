// CBOR (RFC 8949) items for the compact message format (docs/CBOR.md): heads in their shortest
// form, and the per-message dictionary that lets a repeated address, host name, application
// protocol or command line be written once and then referred to by its number.

import { Writer } from "./writer";
import { bytesEqual } from "./text";
import { dictionary, DICTIONARY_BYTES } from "./areas";

export const MAJOR_UINT: u32 = 0, MAJOR_NEG: u32 = 1, MAJOR_BYTES: u32 = 2, MAJOR_TEXT: u32 = 3;
export const MAJOR_ARRAY: u32 = 4, MAJOR_MAP: u32 = 5;
export const TRUE: u32 = 0xf5, BREAK: u32 = 0xff, ARRAY_OPEN: u32 = 0x9f;

/** A head: major type and argument, in the fewest bytes (RFC 8949 §4.2.1). */
export function head(w: Writer, major: u32, v: u64): void {
  const m = major << 5;
  if (v < 24) { w.byte(m | <u32>v); return; }
  const p = w.base + w.pos;
  if (v < 0x100) { store<u8>(p, m | 24); store<u8>(p + 1, <u8>v); w.pos += 2; return; }
  if (v < 0x10000) { store<u8>(p, m | 25); store<u16>(p + 1, bswap<u16>(<u16>v)); w.pos += 3; return; }
  if (v < 0x100000000) { store<u8>(p, m | 26); store<u32>(p + 1, bswap<u32>(<u32>v)); w.pos += 5; return; }
  store<u8>(p, m | 27); store<u64>(p + 1, bswap<u64>(v)); w.pos += 9;
}

export function uint(w: Writer, v: u64): void { head(w, MAJOR_UINT, v); }

export function int(w: Writer, v: i64): void {
  if (v >= 0) head(w, MAJOR_UINT, <u64>v); else head(w, MAJOR_NEG, <u64>(-1 - v));
}

// A record's map is written before its size is known: one byte is kept for its head (a record
// has fewer than 24 members) and filled in by mapEnd, from the members the helpers counted.
let mapAt = 0;
let members = 0;

export function mapBegin(w: Writer): void { mapAt = w.pos; members = 0; w.pos++; }
export function mapEnd(w: Writer): void { store<u8>(w.base + mapAt, 0xa0 | members); }

/** A member's key (all keys of the format are below 24: one byte), counted. */
export function key(w: Writer, k: u32): void { w.byte(k); members++; }

/** A key and an unsigned value. */
export function keyUint(w: Writer, k: u32, v: u64): void { key(w, k); head(w, MAJOR_UINT, v); }

/** The same, left out when the value is the layout's default. */
export function optUint(w: Writer, k: u32, v: u64, dflt: u64): void { if (v != dflt) keyUint(w, k, v); }

/** `true` under key k when flag is set (Truncated and the like; absent means false). */
export function optTrue(w: Writer, k: u32, flag: bool): void { if (flag) { key(w, k); w.byte(TRUE); } }

/** A key and a referable string (see referable). */
export function keyRef(w: Writer, k: u32, major: u32, p: usize, len: i32): void { key(w, k); referable(w, major, p, len); }

/** A key and a text string. */
export function keyText(w: Writer, k: u32, p: usize, len: i32): void { key(w, k); text(w, p, len); }

export function text(w: Writer, p: usize, len: i32): void { head(w, MAJOR_TEXT, <u64>len); w.bytes(p, len); }

/** 16 bytes, big-endian: a UUID given as two 64-bit halves. */
export function uuid(w: Writer, hi: u64, lo: u64): void {
  w.byte(0x50);
  store<u64>(w.base + w.pos, bswap<u64>(hi));
  store<u64>(w.base + w.pos + 8, bswap<u64>(lo));
  w.pos += 16;
}

// ---- the message's dictionary ----------------------------------------------------------
// Entries [u16 number][u16 length | TEXT_ENTRY][bytes] in the dictionary area (the output
// area's unused tail, areas.ts). Every string written in full in a referable place is the next
// number, whether or not it found room here; one that is not kept is simply written again later.
// A reference stands for a string of the same major type only: an IPv4 address and a four-letter
// host name may have the same bytes.

let defined = 0;   // strings written in full in this message
let top = 0;       // bytes of the area in use
const TEXT_ENTRY = 0x8000;   // a text string's entry (the area is far smaller than 32 KiB)

export function dictionaryReset(): void { defined = 0; top = 0; }

/** Writes `len` bytes at p as major type `major` the first time in a message, then as its number. */
export function referable(w: Writer, major: u32, p: usize, len: i32): void {
  const tag = len | (major == MAJOR_TEXT ? TEXT_ENTRY : 0);
  let at = 0;
  while (at < top) {
    const e = dictionary + <usize>at;
    const n = <i32>load<u16>(e + 2);
    if (n == tag && bytesEqual(e + 4, p, len)) { head(w, MAJOR_UINT, <u64>load<u16>(e)); return; }
    at += 4 + (n & ~TEXT_ENTRY);
  }
  head(w, major, <u64>len);
  w.bytes(p, len);
  if (defined < 0xffff && top + 4 + len <= DICTIONARY_BYTES) {
    const e = dictionary + <usize>top;
    store<u16>(e, <u16>defined);
    store<u16>(e + 2, <u16>tag);
    memory.copy(e + 4, p, len);
    top += 4 + len;
  }
  defined++;
}

