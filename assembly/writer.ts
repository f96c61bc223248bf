// Writes bytes into a fixed buffer: literals, decimal numbers, ISO 8601 times, UUIDs and
// JSON strings. Never allocates; callers check room before writing (see flush.ts).

import { escapedSize } from "./text";
import { Lit, litLength, litBytes } from "./literal";

/** Two ASCII digits of v (0..99) as a little-endian u16, ready to store. */
// @ts-ignore: decorator
@inline function twoDigits(v: u32): u32 {
  const hi = v / 10;
  return (0x30 + hi) | ((0x30 + v - hi * 10) << 8);
}

/** Copies a static byte string (see literal.ts) to dst; returns its length. */
// @ts-ignore: decorator
@inline function copyLit(dst: usize, s: Lit): i32 {
  const n = litLength(s);
  memory.copy(dst, litBytes(s), n);
  return n;
}

/** Writes `"k":` at dst; returns its length. */
// @ts-ignore: decorator
@inline function quotedKey(dst: usize, k: Lit): i32 {
  store<u8>(dst, 0x22);
  const n = copyLit(dst + 1, k);
  store<u16>(dst + 1 + n, 0x3a22); // `":`
  return n + 3;
}

// Scratch for a number's digits, written from the end (a u64 has at most 20).
const DIGITS_END: usize = memory.data(24, 8) + 24;
// The last calendar day isoTime printed, as its 11 bytes "YYYY-MM-DDT": a message's records
// mostly share a day, and the civil-date arithmetic is the costly part for an interpreter.
const DAY_TEXT = memory.data(16, 8);
let dayCached: i64 = i64.MIN_VALUE;

@unmanaged export class Writer {
  base: usize;
  cap: i32;
  pos: i32;

  // @ts-ignore: decorator
  @inline byte(b: u32): void { store<u8>(this.base + this.pos, <u8>b); this.pos++; }

  /** Copies a static byte string: a key, a JSON fragment, words of a message. */
  lit(s: Lit): void { this.pos += copyLit(this.base + this.pos, s); }

  bytes(p: usize, len: i32): void {
    memory.copy(this.base + this.pos, p, len);
    this.pos += len;
  }

  /** Decimal, two digits per division, into scratch and then copied (one pass). */
  u64(v: u64): void {
    let at = DIGITS_END;
    let x = v;
    while (x >= 100) {
      const r = <u32>(x % 100);
      x /= 100;
      at -= 2;
      store<u16>(at, <u16>twoDigits(r));
    }
    if (x >= 10) { at -= 2; store<u16>(at, <u16>twoDigits(<u32>x)); }
    else { at--; store<u8>(at, <u8>(0x30 + <u32>x)); }
    const n = <i32>(DIGITS_END - at);
    memory.copy(this.base + this.pos, at, n);
    this.pos += n;
  }

  i64(v: i64): void {
    if (v < 0) { this.byte(0x2d); this.u64(<u64>(-v)); } else this.u64(<u64>v);
  }

  /** Zero-padded decimal of `width` digits. */
  pad(v: u32, width: i32): void {
    for (let k = width - 1; k >= 0; k--) { store<u8>(this.base + this.pos + k, <u8>(0x30 + v % 10)); v /= 10; }
    this.pos += width;
  }

  /** v (0..99) as exactly two digits. */
  // @ts-ignore: decorator
  @inline pad2(v: u32): void { store<u16>(this.base + this.pos, <u16>twoDigits(v)); this.pos += 2; }

  hex(v: u32, nibbles: i32): void {
    for (let k = nibbles - 1; k >= 0; k--) {
      const n = v & 0xf;
      store<u8>(this.base + this.pos + k, <u8>(n < 10 ? 0x30 + n : 0x57 + n));
      v >>= 4;
    }
    this.pos += nibbles;
  }

  /**
   * `YYYY-MM-DDTHH:MM:SS.mmm` then `Z`, or `±HH:MM` when offsetMin != 0 (the local time then
   * being t + offset). Days to civil date by the proleptic Gregorian 400-year cycle.
   */
  isoTime(tMs: i64, offsetMin: i32): void {
    const t = tMs + <i64>offsetMin * 60000;
    let days = t / 86400000;
    let ms = t % 86400000;
    if (ms < 0) { ms += 86400000; days--; }
    if (days != dayCached) this.cacheDay(days);
    memory.copy(this.base + this.pos, DAY_TEXT, 11);
    this.pos += 11;
    const s = <u32>(ms / 1000);
    this.pad2(s / 3600); this.byte(0x3a);
    this.pad2((s / 60) % 60); this.byte(0x3a);
    this.pad2(s % 60); this.byte(0x2e);
    this.pad(<u32>(ms % 1000), 3);
    if (offsetMin == 0) { this.byte(0x5a); return; }
    const a = offsetMin < 0 ? -offsetMin : offsetMin;
    this.byte(offsetMin < 0 ? 0x2d : 0x2b);
    this.pad2(<u32>(a / 60)); this.byte(0x3a); this.pad2(<u32>(a % 60));
  }

  /** Writes day `days` since 1970-01-01 as "YYYY-MM-DDT" into DAY_TEXT (proleptic Gregorian). */
  private cacheDay(days: i64): void {
    const z = days + 719468;
    const era = (z >= 0 ? z : z - 146096) / 146097;
    const doe = z - era * 146097;
    const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const mp = (5 * doy + 2) / 153;
    const d = doy - (153 * mp + 2) / 5 + 1;
    const m = mp < 10 ? mp + 3 : mp - 9;
    // Four digits, as always printed (a local time past 9999-12-31 wraps like a 4-digit pad).
    const y = <u32>(yoe + era * 400 + (m <= 2 ? 1 : 0)) % 10000;
    store<u16>(DAY_TEXT, <u16>twoDigits(y / 100));
    store<u16>(DAY_TEXT + 2, <u16>twoDigits(y % 100));
    store<u8>(DAY_TEXT + 4, 0x2d);
    store<u16>(DAY_TEXT + 5, <u16>twoDigits(<u32>m));
    store<u8>(DAY_TEXT + 7, 0x2d);
    store<u16>(DAY_TEXT + 8, <u16>twoDigits(<u32>d));
    store<u8>(DAY_TEXT + 10, 0x54);
    dayCached = days;
  }

  /** 8-4-4-4-12 lowercase hex of two 64-bit halves. */
  uuid(hi: u64, lo: u64): void {
    this.hex(<u32>(hi >> 32), 8); this.byte(0x2d);
    this.hex(<u32>(hi >> 16) & 0xffff, 4); this.byte(0x2d);
    this.hex(<u32>hi & 0xffff, 4); this.byte(0x2d);
    this.hex(<u32>(lo >> 48), 4); this.byte(0x2d);
    this.hex(<u32>(lo >> 32) & 0xffff, 4);
    this.hex(<u32>lo, 8);
  }

  /** A JSON string from sanitised UTF-8 (see storeText), quotes included. */
  jsonString(p: usize, len: i32): void {
    this.byte(0x22);
    for (let i = 0; i < len; i++) {
      const c = <u32>load<u8>(p + i);
      const e = c < 0x80 ? escapedSize(c, 1) : 1;
      if (e == 1) { this.byte(c); continue; }
      this.byte(0x5c);
      if (c == 0x22 || c == 0x5c) this.byte(c);
      else if (c == 8) this.byte(0x62);
      else if (c == 9) this.byte(0x74);
      else if (c == 10) this.byte(0x6e);
      else if (c == 12) this.byte(0x66);
      else if (c == 13) this.byte(0x72);
      else { store<u16>(this.base + this.pos, 0x3075); store<u8>(this.base + this.pos + 2, 0x30); this.pos += 3; this.hex(c, 2); } // `u00`
    }
    this.byte(0x22);
  }

  /** `"key":` */
  key(k: Lit): void { this.pos += quotedKey(this.base + this.pos, k); }

  /** `,"key":` — the start of every member after the first, in one step. */
  field(k: Lit): void {
    const dst = this.base + this.pos;
    store<u8>(dst, 0x2c);
    this.pos += 1 + quotedKey(dst + 1, k);
  }
}

/** A Writer over static storage. */
export function writerAt(slot: usize, base: usize, cap: i32): Writer {
  const w = changetype<Writer>(slot);
  w.base = base;
  w.cap = cap;
  w.pos = 0;
  return w;
}
