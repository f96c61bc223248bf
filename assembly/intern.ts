// Small shared tables of byte strings (host names, application protocols, local addresses):
// a cached connection keeps a one-byte reference instead of its own copy, since a device
// talks to few hosts from few local addresses. Entries are counted references, so a
// replaced record (linux replace-oldest) frees its names; a window's end empties them all.

import { bytesEqual } from "./text";

/** Entry layout: [u16 references][u16 length][bytes, up to the table's string bound]. */
const O_REFS = 0, O_LEN = 2;
export const O_BYTES = 4;
/** Returned by `intern` when the table is full. */
export const FULL = -1;

@unmanaged export class Names {
  base: usize;
  stride: i32;   // O_BYTES + the string bound
  capacity: i32; // at most 256: references are one byte
  top: i32;      // entries ever used since the last clear (free ones below it have 0 references)

  // @ts-ignore: decorator
  @inline entry(i: i32): usize { return this.base + <usize>i * <usize>this.stride; }

  clear(): void { this.top = 0; }

  /** Index of an entry holding these bytes, taking one reference; FULL when there is no room. */
  intern(p: usize, len: i32): i32 {
    let free = -1;
    for (let i = 0; i < this.top; i++) {
      const e = this.entry(i);
      if (load<u16>(e + O_REFS) == 0) { if (free < 0) free = i; continue; }
      if (<i32>load<u16>(e + O_LEN) == len && bytesEqual(e + O_BYTES, p, len)) {
        store<u16>(e + O_REFS, load<u16>(e + O_REFS) + 1);
        return i;
      }
    }
    if (free < 0) {
      if (this.top >= this.capacity) return FULL;
      free = this.top++;
    }
    const e = this.entry(free);
    store<u16>(e + O_REFS, 1);
    store<u16>(e + O_LEN, <u16>len);
    memory.copy(e + O_BYTES, p, len);
    return free;
  }

  release(i: i32): void {
    const e = this.entry(i);
    store<u16>(e + O_REFS, load<u16>(e + O_REFS) - 1);
  }

  // @ts-ignore: decorator
  @inline bytes(i: i32): usize { return this.entry(i) + O_BYTES; }
  // @ts-ignore: decorator
  @inline length(i: i32): i32 { return <i32>load<u16>(this.entry(i) + O_LEN); }
}

/** A table over static storage of capacity * (O_BYTES + bound) bytes. */
export function namesAt(header: usize, base: usize, capacity: i32, bound: i32): Names {
  const t = changetype<Names>(header);
  t.base = base;
  t.stride = O_BYTES + bound;
  t.capacity = capacity;
  t.top = 0;
  return t;
}
