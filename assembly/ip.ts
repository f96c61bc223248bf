// IP addresses as 16 bytes: parsed from text, compared as bytes, printed canonically
// (IPv4 dotted quad; IPv6 per RFC 5952, IPv4-mapped as ::ffff:a.b.c.d).

function hexVal(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  c |= 0x20;
  if (c >= 0x61 && c <= 0x66) return <i32>(c - 0x61 + 10);
  return -1;
}

/** Parses a dotted quad at p..p+len into 4 bytes at dst; false if not exactly one. */
export function parseIPv4(p: usize, len: i32, dst: usize): bool {
  let part = 0;
  let i = 0;
  while (part < 4) {
    let v = 0;
    let digits = 0;
    const start = i;
    while (i < len) {
      const c = <u32>load<u8>(p + i);
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + <i32>(c - 0x30);
      digits++;
      i++;
      if (digits > 3) return false;
    }
    // No empty parts, no leading zeros (they read as octal in some parsers), no values above 255.
    if (digits == 0 || v > 255 || (digits > 1 && load<u8>(p + start) == 0x30)) return false;
    store<u8>(dst + part, <u8>v);
    part++;
    if (part < 4) {
      if (i >= len || load<u8>(p + i) != 0x2e) return false;
      i++;
    }
  }
  return i == len;
}

/** Parses RFC 4291 text (with `::` and an optional trailing dotted quad) into 16 bytes. */
export function parseIPv6(p: usize, len: i32, dst: usize): bool {
  if (len < 2 || len > 45) return false;
  memory.fill(dst, 0, 16);
  let groups = 0;      // 16-bit groups written
  let gap = -1;        // group index where `::` stands
  let i = 0;
  if (load<u8>(p) == 0x3a) {
    if (load<u8>(p + 1) != 0x3a) return false;
    gap = 0;
    i = 2;
    if (i == len) return true;
  }
  while (i < len) {
    if (groups >= 8) return false;
    // A dotted quad may end the address, in place of the last two groups.
    let j = i;
    while (j < len && load<u8>(p + j) != 0x3a && load<u8>(p + j) != 0x2e) j++;
    if (j < len && load<u8>(p + j) == 0x2e) {
      if (groups > 6) return false;
      if (!parseIPv4(p + i, len - i, dst + groups * 2)) return false;
      groups += 2;
      i = len;
      break;
    }
    let v = 0;
    let digits = 0;
    while (i < len) {
      const h = hexVal(<u32>load<u8>(p + i));
      if (h < 0) break;
      v = (v << 4) | h;
      digits++;
      i++;
      if (digits > 4) return false;
    }
    if (digits == 0) return false;
    store<u8>(dst + groups * 2, <u8>(v >> 8));
    store<u8>(dst + groups * 2 + 1, <u8>v);
    groups++;
    if (i == len) break;
    if (load<u8>(p + i) != 0x3a) return false;
    i++;
    if (i < len && load<u8>(p + i) == 0x3a) {
      if (gap >= 0) return false;
      gap = groups;
      i++;
      if (i == len) break;
    } else if (i == len) return false;
  }
  if (gap < 0) return groups == 8;
  if (groups >= 8) return false;
  // Move the groups after `::` to the end.
  const tail = groups - gap;
  for (let k = tail - 1; k >= 0; k--) {
    const from = dst + (gap + k) * 2;
    const to = dst + (8 - tail + k) * 2;
    store<u16>(to, load<u16>(from));
    if (to != from) store<u16>(from, 0);
  }
  return true;
}

function isV4Mapped(a: usize): bool {
  return load<u64>(a) == 0 && load<u16>(a + 8) == 0 && load<u16>(a + 10) == 0xffff;
}

/** Writes the canonical text of an address to dst; returns its length (at most 39). */
export function formatIP(a: usize, v6: bool, dst: usize): i32 {
  if (!v6) return formatV4(a, dst);
  let o = 0;
  if (isV4Mapped(a)) {
    // "::ffff:" then the dotted quad.
    store<u8>(dst, 0x3a); store<u8>(dst + 1, 0x3a);
    for (let k = 0; k < 4; k++) store<u8>(dst + 2 + k, 0x66);
    store<u8>(dst + 6, 0x3a);
    return 7 + formatV4(a + 12, dst + 7);
  }
  // Longest run of two or more zero groups; the first one wins a tie (RFC 5952 4.2).
  let bestAt = -1, bestLen = 1, runAt = -1, runLen = 0;
  for (let g = 0; g < 8; g++) {
    if (load<u16>(a + g * 2) == 0) {
      if (runLen == 0) runAt = g;
      runLen++;
      if (runLen > bestLen) { bestLen = runLen; bestAt = runAt; }
    } else runLen = 0;
  }
  for (let g = 0; g < 8; g++) {
    if (g == bestAt) {
      store<u8>(dst + o++, 0x3a);
      if (g == 0) store<u8>(dst + o++, 0x3a);
      g += bestLen - 1;
      if (g == 7) { /* ends with "::" */ }
      continue;
    }
    const v = (<u32>load<u8>(a + g * 2) << 8) | <u32>load<u8>(a + g * 2 + 1);
    let started = false;
    for (let s = 12; s >= 0; s -= 4) {
      const nib = (v >> <u32>s) & 0xf;
      if (nib != 0 || started || s == 0) {
        store<u8>(dst + o++, <u8>(nib < 10 ? 0x30 + nib : 0x57 + nib));
        started = true;
      }
    }
    if (g < 7) store<u8>(dst + o++, 0x3a);
  }
  return o;
}

function formatV4(a: usize, dst: usize): i32 {
  let o = 0;
  for (let k = 0; k < 4; k++) {
    const v = <u32>load<u8>(a + k);
    if (v >= 100) store<u8>(dst + o++, <u8>(0x30 + v / 100));
    if (v >= 10) store<u8>(dst + o++, <u8>(0x30 + (v / 10) % 10));
    store<u8>(dst + o++, <u8>(0x30 + v % 10));
    if (k < 3) store<u8>(dst + o++, 0x2e);
  }
  return o;
}
