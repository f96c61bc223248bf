// The few CBOR items an update package is made of (RFC 8949): unsigned and negative integers,
// byte and text strings, arrays, maps with integer keys, tags. host/ has no CBOR writer (the core
// writes messages itself; decode.ts only reads the message layout), and a signed manifest must be
// encoded the one deterministic way (RFC 8949 section 4.2.1: shortest heads, map keys sorted), which
// this small encoder does by construction; the reader is as strict, so a package reads one way only.

/** Deterministic key order for integer keys (by encoded bytes): 0, 1, 2, …, then -1, -2, … */
export function keyOrder(a: number, b: number): number {
  return (a < 0) !== (b < 0) ? (a < 0 ? 1 : -1) : Math.abs(a) - Math.abs(b);
}

export type Item = number | Uint8Array | string | Item[] | IntMap | Tagged;
export type IntMap = Map<number, Item>;
export class Tagged { constructor(readonly tag: number, readonly value: Item) {} }

/** A package that cannot be read as CBOR (or not as the subset above): the reason, one line. */
export class CborError extends Error {}

function head(major: number, n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`CBOR argument ${n} is not a non-negative safe integer`);
  const m = major << 5;
  if (n < 24) return [m | n];
  if (n < 0x100) return [m | 24, n];
  if (n < 0x10000) return [m | 25, n >> 8, n & 0xff];
  if (n < 0x100000000) return [m | 26, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  const hi = Math.floor(n / 0x100000000);
  return [m | 27, hi >>> 24, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** The deterministic encoding of `item` (integer map keys in ascending encoded order). */
export function encode(item: Item): Uint8Array {
  const out: number[] = [];
  const chunks: Uint8Array[] = [];
  const flush = () => { if (out.length) { chunks.push(Uint8Array.from(out)); out.length = 0; } };
  const put = (x: Item): void => {
    if (typeof x === 'number') {
      if (x >= 0) out.push(...head(0, x)); else out.push(...head(1, -1 - x));
    } else if (typeof x === 'string') {
      const b = new TextEncoder().encode(x);
      out.push(...head(3, b.length)); flush(); chunks.push(b);
    } else if (x instanceof Uint8Array) {
      out.push(...head(2, x.length)); flush(); chunks.push(x);
    } else if (Array.isArray(x)) {
      out.push(...head(4, x.length)); for (const e of x) put(e);
    } else if (x instanceof Tagged) {
      out.push(...head(6, x.tag)); put(x.value);
    } else {
      const keys = [...x.keys()].sort(keyOrder);
      out.push(...head(5, keys.length));
      for (const k of keys) { put(k); put(x.get(k)!); }
    }
  };
  put(item);
  flush();
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { all.set(c, at); at += c.length; }
  return all;
}

/**
 * Reads one item at `at` of `b`; returns it and where it ends. Refuses what encode() never writes
 * (indefinite lengths, floats, simple values, non-integer map keys, duplicate keys, heads longer
 * than needed) and anything cut short ("truncated").
 */
export function decodeItem(b: Uint8Array, at: number, depth = 0): { item: Item; end: number } {
  if (depth > 8) throw new CborError(`byte ${at}: nested deeper than 8 levels`);
  if (at >= b.length) throw new CborError(`truncated: an item expected at byte ${at}, the package ends`);
  const ib = b[at];
  const major = ib >> 5;
  const info = ib & 0x1f;
  let pos = at + 1;
  let n: number;
  if (info < 24) n = info;
  else if (info <= 27) {
    const len = 1 << (info - 24);
    if (pos + len > b.length) throw new CborError(`truncated: a head at byte ${at} needs ${len} more bytes`);
    n = 0;
    for (let i = 0; i < len; i++) n = n * 256 + b[pos + i];
    if (!Number.isSafeInteger(n)) throw new CborError(`byte ${at}: integer past 2^53`);
    if (n < (info === 24 ? 24 : 2 ** (8 * (len >> 1)))) throw new CborError(`byte ${at}: integer head longer than needed`);
    pos += len;
  } else throw new CborError(`byte ${at}: head 0x${ib.toString(16)} (indefinite length or reserved) not used by a package`);
  switch (major) {
    case 0: return { item: n, end: pos };
    case 1: return { item: -1 - n, end: pos };
    case 2: case 3: {
      if (pos + n > b.length) throw new CborError(`truncated: a string of ${n} bytes at byte ${at}, the package ends after ${b.length - pos}`);
      const bytes = b.subarray(pos, pos + n);
      let item: Item = bytes;
      if (major === 3) {
        try { item = new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch { throw new CborError(`byte ${at}: text string is not UTF-8`); }
      }
      return { item, end: pos + n };
    }
    case 4: {
      const items: Item[] = [];
      for (let i = 0; i < n; i++) { const r = decodeItem(b, pos, depth + 1); items.push(r.item); pos = r.end; }
      return { item: items, end: pos };
    }
    case 5: {
      const map: IntMap = new Map();
      let last: number | undefined;
      for (let i = 0; i < n; i++) {
        const k = decodeItem(b, pos, depth + 1);
        if (typeof k.item !== 'number') throw new CborError(`byte ${pos}: map key is not an integer`);
        if (map.has(k.item)) throw new CborError(`byte ${pos}: map key ${k.item} given twice`);
        if (last !== undefined && keyOrder(last, k.item) > 0) throw new CborError(`byte ${pos}: map key ${k.item} out of the deterministic order`);
        last = k.item;
        const v = decodeItem(b, k.end, depth + 1);
        map.set(k.item, v.item);
        pos = v.end;
      }
      return { item: map, end: pos };
    }
    case 6: {
      const r = decodeItem(b, pos, depth + 1);
      return { item: new Tagged(n, r.item), end: r.end };
    }
    default: throw new CborError(`byte ${at}: a float or simple value, not used by a package`);
  }
}
