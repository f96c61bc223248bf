// Static byte strings: `utf8("…")` in the source is the address of [length][UTF-8 bytes]
// in static data (the build's transform, build/utf8-literals.mjs, writes them), so keys,
// words and messages cost one byte per character.

/** The address of a length-prefixed UTF-8 literal. */
export type Lit = usize;

// @ts-ignore: decorator
@inline export function litLength(s: Lit): i32 { return <i32>load<u8>(s); }

// @ts-ignore: decorator
@inline export function litBytes(s: Lit): usize { return s + 1; }

/** Whether len bytes at p are the literal's. */
export function isLit(p: usize, len: i32, s: Lit): bool {
  if (len != litLength(s)) return false;
  for (let i = 0; i < len; i++) if (load<u8>(p + i) != load<u8>(s + 1 + i)) return false;
  return true;
}
