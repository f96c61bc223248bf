// Writes bytes into a fixed buffer: literals, decimal numbers, ISO 8601 times, UUIDs and
// JSON strings. Never allocates; callers check room before writing (see flush.ts).

import { escapedSize } from "./text";

@unmanaged export class Writer {
  base: usize;
  cap: i32;
  pos: i32;

  // @ts-ignore: decorator
  @inline byte(b: u32): void { store<u8>(this.base + this.pos, <u8>b); this.pos++; }

  /** ASCII literal (AssemblyScript literals are UTF-16 in static data). */
  lit(s: string): void {
    const n = s.length;
    const src = changetype<usize>(s);
    const dst = this.base + this.pos;
    for (let i = 0; i < n; i++) store<u8>(dst + i, <u8>load<u16>(src + (<usize>i << 1)));
    this.pos += n;
  }

  bytes(p: usize, len: i32): void {
    memory.copy(this.base + this.pos, p, len);
    this.pos += len;
  }

  u64(v: u64): void {
    let digits = 1;
    for (let x = v; x >= 10; x /= 10) digits++;
    let at = this.base + this.pos + digits;
    let x = v;
    do { at--; store<u8>(at, <u8>(0x30 + x % 10)); x /= 10; } while (x != 0);
    this.pos += digits;
  }

  i64(v: i64): void {
    if (v < 0) { this.byte(0x2d); this.u64(<u64>(-v)); } else this.u64(<u64>v);
  }

  /** Zero-padded decimal of `width` digits. */
  pad(v: u32, width: i32): void {
    for (let k = width - 1; k >= 0; k--) { store<u8>(this.base + this.pos + k, <u8>(0x30 + v % 10)); v /= 10; }
    this.pos += width;
  }

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
    const z = days + 719468;
    const era = (z >= 0 ? z : z - 146096) / 146097;
    const doe = z - era * 146097;
    const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const mp = (5 * doy + 2) / 153;
    const d = doy - (153 * mp + 2) / 5 + 1;
    const m = mp < 10 ? mp + 3 : mp - 9;
    const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
    this.pad(<u32>y, 4); this.byte(0x2d);
    this.pad(<u32>m, 2); this.byte(0x2d);
    this.pad(<u32>d, 2); this.byte(0x54);
    const s = <u32>(ms / 1000);
    this.pad(s / 3600, 2); this.byte(0x3a);
    this.pad((s / 60) % 60, 2); this.byte(0x3a);
    this.pad(s % 60, 2); this.byte(0x2e);
    this.pad(<u32>(ms % 1000), 3);
    if (offsetMin == 0) { this.byte(0x5a); return; }
    const a = offsetMin < 0 ? -offsetMin : offsetMin;
    this.byte(offsetMin < 0 ? 0x2d : 0x2b);
    this.pad(<u32>(a / 60), 2); this.byte(0x3a); this.pad(<u32>(a % 60), 2);
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
      else { this.lit("u00"); this.hex(c, 2); }
    }
    this.byte(0x22);
  }

  /** `,"HitCount":n,"FirstSeenUTC":"…","LastSeenUTC":"…"`: the aggregation fields of a record. */
  seen(hits: u64, first: i64, last: i64): void {
    this.byte(0x2c); this.key("HitCount"); this.u64(hits);
    this.byte(0x2c); this.key("FirstSeenUTC"); this.byte(0x22); this.isoTime(first, 0); this.byte(0x22);
    this.byte(0x2c); this.key("LastSeenUTC"); this.byte(0x22); this.isoTime(last, 0); this.byte(0x22);
  }

  /** `,"Truncated":true` when a string of the record was cut. */
  truncated(flag: bool): void { if (flag) { this.byte(0x2c); this.key("Truncated"); this.lit("true"); } }

  /** `"key":` */
  key(k: string): void { this.byte(0x22); this.lit(k); this.byte(0x22); this.byte(0x3a); }
}

/** A Writer over static storage. */
export function writerAt(slot: usize, base: usize, cap: i32): Writer {
  const w = changetype<Writer>(slot);
  w.base = base;
  w.cap = cap;
  w.pos = 0;
  return w;
}
