// CBOR (RFC 8949) items for the compact message format (docs/CBOR.md): heads in their shortest
// form, and the per-message dictionary that lets a repeated address, host name, application
// protocol or command line be written once and then referred to by its number, as the
// registered stringref tags do it (http://cbor.schmorp.de/stringref: tag 256, tag 25).

import { Writer } from "./writer";
import { bytesEqual } from "./text";
import * as P from "./profile";
import { output, OUTPUT_BYTES } from "./areas";

/**
 * The message's dictionary takes the output area's last bytes: a CBOR chunk stops short of
 * them, and what else uses the area (the parser's member table, the stats and regions lines)
 * ends below them (test/cbor.test.ts checks the parser's table).
 */
const DICTIONARY_BYTES: i32 = P.LINUX ? 4096 : 480;
const dictionary: usize = output + OUTPUT_BYTES - DICTIONARY_BYTES;
/** The most a CBOR chunk holds. */
export const CHUNK_CAP: i32 = P.OUTPUT_CAP - DICTIONARY_BYTES;

export const MAJOR_UINT: u32 = 0, MAJOR_NEG: u32 = 1, MAJOR_BYTES: u32 = 2, MAJOR_TEXT: u32 = 3;
export const MAJOR_ARRAY: u32 = 4, MAJOR_MAP: u32 = 5, MAJOR_TAG: u32 = 6;
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

export function text(w: Writer, p: usize, len: i32): void { head(w, MAJOR_TEXT, <u64>len); w.bytes(p, len); entered(len); }

/** 16 bytes, big-endian: a UUID given as two 64-bit halves. */
export function uuid(w: Writer, hi: u64, lo: u64): void {
  entered(16);
  w.byte(0x50);
  store<u64>(w.base + w.pos, bswap<u64>(hi));
  store<u64>(w.base + w.pos + 8, bswap<u64>(lo));
  w.pos += 16;
}

// ---- the message's dictionary ----------------------------------------------------------
// A stringref namespace (tag 256) numbers every string written in full in it, byte or text,
// in the order written, when it is long enough for the table's size (enteredLength); a
// reference is tag 25 and that number, and stands for the string with its major type.
// Entries [u16 number][u16 length | TEXT_ENTRY][bytes] in the dictionary area (the output
// area's unused tail, areas.ts) keep the referable strings that got a number while there is
// room; one that is not kept is simply written in full again later (and numbered again).

let defined = 0;   // strings the namespace's table holds so far
let top = 0;       // bytes of the area in use
const TEXT_ENTRY = 0x8000;   // a text string's entry (the area is far smaller than 32 KiB)
const TAG_NAMESPACE: u32 = 256, TAG_REFERENCE: u32 = 25;

export function dictionaryReset(): void { defined = 0; top = 0; }

/**
 * The shortest string the stringref table takes when it holds n strings (no reference is longer
 * than it); 7 from 65,536 strings on, which a message of at most 256 KiB never holds.
 */
// @ts-ignore: decorator
@inline function enteredLength(n: i32): i32 { return n < 24 ? 3 : n < 256 ? 4 : 5; }

/** Counts a string just written in full; returns whether the table took it. */
function entered(len: i32): bool {
  if (len < enteredLength(defined)) return false;
  defined++;
  return true;
}

/** Writes `len` bytes at p as major type `major` the first time in a message, then as a reference. */
export function referable(w: Writer, major: u32, p: usize, len: i32): void {
  const tag = len | (major == MAJOR_TEXT ? TEXT_ENTRY : 0);
  let at = 0;
  while (at < top) {
    const e = dictionary + <usize>at;
    const n = <i32>load<u16>(e + 2);
    if (n == tag && bytesEqual(e + 4, p, len)) {
      head(w, MAJOR_TAG, TAG_REFERENCE);
      head(w, MAJOR_UINT, <u64>load<u16>(e));
      return;
    }
    at += 4 + (n & ~TEXT_ENTRY);
  }
  head(w, major, <u64>len);
  w.bytes(p, len);
  const number = defined;
  if (entered(len) && top + 4 + len <= DICTIONARY_BYTES) {
    const e = dictionary + <usize>top;
    store<u16>(e, <u16>number);
    store<u16>(e + 2, <u16>tag);
    memory.copy(e + 4, p, len);
    top += 4 + len;
  }
}


// ---- the CBOR form of the record writer (format.ts) ------------------------------------
// Members by key number (docs/CBOR.md); a value equal to the layout's default is left out;
// times are relative to the message's; addresses are bytes; members the JSON form spells
// another way (JSON_ONLY keys) are not written.

/** A member with no CBOR form of its own. */
export const JSON_ONLY: u32 = 0xff;
/** The default of a member the compact form always writes. */
export const NO_DEFAULT: u64 = u64.MAX_VALUE;

export function recordBegin(w: Writer): void { mapBegin(w); }
export function recordEnd(w: Writer): void { mapEnd(w); }

export function memberUint(w: Writer, k: u32, v: u64, dflt: u64): void {
  if (k != JSON_ONLY && (dflt == NO_DEFAULT || v != dflt)) keyUint(w, k, v);
}

export function memberText(w: Writer, k: u32, p: usize, len: i32): void { keyText(w, k, p, len); }

/** A string that recurs (a group, a host name, a command line): written once per message. */
export function memberShared(w: Writer, k: u32, p: usize, len: i32): void { keyRef(w, k, MAJOR_TEXT, p, len); }

export function memberAddress(w: Writer, k: u32, p: usize, v6: bool): void { keyRef(w, k, MAJOR_BYTES, p, v6 ? 16 : 4); }

export function memberQuoted(w: Writer, k: u32, p: usize, len: i32): void { if (k != JSON_ONLY) keyText(w, k, p, len); }

/** Hits (default 1), first seen relative to `base`, and how long it was seen (default 0). */
// @ts-ignore: decorator
@inline export function memberSeen(w: Writer, hits: u64, first: i64, last: i64, base: i64): void {
  optUint(w, 7, hits, 1);
  key(w, 8); int(w, first - base);
  optUint(w, 9, <u64>(last - first), 0);
}

export function memberFlag(w: Writer, k: u32, on: bool): void { if (k != JSON_ONLY) optTrue(w, k, on); }

// The text an embedded member's writer puts down is written after a 3-byte head, then moved
// up if a shorter head fits.
export function embedBegin(w: Writer, k: u32): i32 {
  key(w, k);
  const at = w.pos;
  w.pos += 3;
  return at;
}

export function embedEnd(w: Writer, at: i32): void {
  const len = w.pos - at - 3;
  const p = w.base + at;
  const h = len < 24 ? 1 : len < 256 ? 2 : 3;
  if (h == 1) store<u8>(p, 0x60 | len);
  else if (h == 2) { store<u8>(p, 0x78); store<u8>(p + 1, <u8>len); }
  else { store<u8>(p, 0x79); store<u16>(p + 1, bswap<u16>(<u16>len)); }
  if (h < 3) { memory.copy(p + h, p + 3, len); w.pos -= 3 - h; }
  entered(len);
}

// ---- message framing -------------------------------------------------------------------

// @ts-ignore: decorator
@inline export function envelope(w: Writer, version: usize, versionLen: i32, hi: u64, lo: u64, t: i64, maxMessage: i32): void {
  dictionaryReset();
  // The whole message is one stringref namespace.
  head(w, MAJOR_TAG, TAG_NAMESPACE);
  w.byte(0xa6);
  w.byte(0); text(w, version, versionLen);
  w.byte(1); uuid(w, hi, lo);
  keyUint(w, 2, <u64>t);
  keyUint(w, 3, <u64>maxMessage);
  w.byte(4); w.byte(ARRAY_OPEN);
}

/** An event's members up to its payload (a sized map: an empty window's event has none). */
// @ts-ignore: decorator
@inline export function eventHeader(w: Writer, type: i32, empty: bool, run: i64, idHi: u64, idLo: u64, dt: i64, offsetMin: i32): void {
  w.byte(0xa4 + (offsetMin != 0 ? 1 : 0) + (empty && run > 1 ? 1 : 0));
  keyUint(w, 0, <u64>type);
  w.byte(1); uuid(w, idHi, idLo);
  w.byte(2); int(w, dt);
  if (offsetMin != 0) { w.byte(3); int(w, offsetMin); }
  if (empty) { w.byte(4); w.byte(TRUE); if (run > 1) keyUint(w, 5, <u64>run); }
  else { w.byte(6); w.byte(ARRAY_OPEN); }
}

/** Ends the open event's payload (the event map is sized); returns the bytes written. */
export function eventEnd(w: Writer): i32 { w.byte(BREAK); return 1; }

/** The events' break, then key 5, how the packing run goes on (1 byte: below 24). */
export function messageEnd(w: Writer, how: i32): i32 { w.byte(BREAK); w.byte(5); w.byte(how); return 3; }
