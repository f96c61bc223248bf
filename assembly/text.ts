// Byte strings in fixed storage: sanitising UTF-8, bounding by escaped JSON size, hashing.

/** Bytes a character takes once escaped inside a JSON string. */
// @ts-ignore: decorator
@inline export function escapedSize(c: u32, utf8Len: i32): i32 {
  if (c == 0x22 || c == 0x5c) return 2;
  if (c < 0x20) return (c == 8 || c == 9 || c == 10 || c == 12 || c == 13) ? 2 : 6;
  return utf8Len;
}

/** Result of the last `storeText`: stored byte length and whether input was cut. */
export let storedLen: i32 = 0;
export let storedTruncated: bool = false;

/**
 * Copies `len` bytes of (possibly invalid) UTF-8 from `src` to `dst`, replacing each invalid
 * sequence by U+FFFD, and stops before the escaped JSON form would exceed `cap` bytes.
 * The stored text is valid UTF-8, never cut inside a character, and at most `cap` bytes.
 */
export function storeText(dst: usize, cap: i32, src: usize, len: i32): void {
  let i = 0;
  let out = 0;
  let esc = 0;
  storedTruncated = false;
  while (i < len) {
    const b0 = <u32>load<u8>(src + i);
    // Decode one character; an ill-formed sequence is replaced by one U+FFFD per maximal
    // subpart (as the WHATWG decoder does), so every engine and host agree on the result.
    let need = 0;
    let lo: u32 = 0x80, hi: u32 = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) need = 1;
    else if (b0 >= 0xe0 && b0 <= 0xef) { need = 2; if (b0 == 0xe0) lo = 0xa0; else if (b0 == 0xed) hi = 0x9f; }
    else if (b0 >= 0xf0 && b0 <= 0xf4) { need = 3; if (b0 == 0xf0) lo = 0x90; else if (b0 == 0xf4) hi = 0x8f; }
    let n = 1;
    let valid = b0 < 0x80;
    if (need > 0) {
      while (n <= need && i + n < len) {
        const b = <u32>load<u8>(src + i + n);
        if (n == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80) break;
        n++;
      }
      valid = n == need + 1;
    }
    const c: u32 = valid ? b0 : 0xfffd;
    const outLen = valid ? n : 3;
    const e = valid ? escapedSize(c, n) : 3;
    if (esc + e > cap) { storedTruncated = true; break; }
    if (valid) memory.copy(dst + out, src + i, n);
    else { store<u8>(dst + out, 0xef); store<u8>(dst + out + 1, 0xbf); store<u8>(dst + out + 2, 0xbd); }
    out += outLen;
    esc += e;
    i += n;
  }
  storedLen = out;
}

export function bytesEqual(a: usize, b: usize, len: i32): bool {
  let i = 0;
  for (; i + 8 <= len; i += 8) if (load<u64>(a + i) != load<u64>(b + i)) return false;
  for (; i < len; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

/**
 * A 32-bit hash of bytes (MurmurHash3's x86_32 mixing, four bytes per step), seeded so that
 * crafted traffic cannot aim at known collisions. The native benchmark reference mirrors it.
 */
export function hashBytes(seed: u32, p: usize, len: i32): u32 {
  let h: u32 = seed;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    let k = load<u32>(p + i);
    k *= 0xcc9e2d51; k = rotl<u32>(k, 15); k *= 0x1b873593;
    h ^= k; h = rotl<u32>(h, 13); h = h * 5 + 0xe6546b64;
  }
  let k: u32 = 0;
  for (let j = len - 1; j >= i; j--) k = (k << 8) | <u32>load<u8>(p + j);
  if (i < len) { k *= 0xcc9e2d51; k = rotl<u32>(k, 15); k *= 0x1b873593; h ^= k; }
  h ^= <u32>len;
  h ^= h >> 16; h *= 0x85ebca6b; h ^= h >> 13; h *= 0xc2b2ae35; h ^= h >> 16;
  return h;
}

export function splitmix64(x: u64): u64 {
  let z = x + 0x9e3779b97f4a7c15;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}
