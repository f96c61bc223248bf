// A fixed-capacity table of records kept in insertion order (a ring over preallocated
// slots), with an open-addressing hash index so that finding an identical record costs
// O(1) expected, not a scan of the cache. Records looked up with `find` start with their
// key, [u16 len][bytes], and keep its hash at an offset the owner chooses; an owner that
// probes its own index (network.ts) stores no hash and gives `rehash` to recompute it.

import { bytesEqual } from "./text";

@unmanaged export class Table {
  slots: usize;      // capacity * slotSize bytes
  slotSize: i32;
  hashOffset: i32;   // where a slot stores its u32 hash; < 0: none stored, `rehash` computes it
  rehash: (s: usize) => u32;
  capacity: i32;     // built
  limit: i32;        // configured cacheSize (<= capacity)
  head: i32;         // ring position of the oldest record
  count: i32;
  index: usize;      // (mask + 1) u16 entries: slot + 1, or 0 for empty
  mask: i32;
  indexed: bool;     // false when aggregation is off: every event is its own record
  probed: i32;       // index position of the last record `find` or `findNext` returned

  // @ts-ignore: decorator
  @inline slot(i: i32): usize { return this.slots + <usize>i * <usize>this.slotSize; }

  /** Slot of the k-th oldest record. */
  // @ts-ignore: decorator
  @inline at(k: i32): usize {
    let i = this.head + k;
    if (i >= this.limit) i -= this.limit;
    return this.slot(i);
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    memory.fill(this.index, 0, (<usize>this.mask + 1) << 1);
  }

  /** Slot holding the record whose key equals the key at `key`, or 0. */
  find(key: usize, hash: u32): usize {
    if (!this.indexed) return 0;
    return this.probeFrom(key, hash, <i32>hash & this.mask);
  }

  /** The next record, in insertion order, whose key equals the one `find` last matched; or 0. */
  findNext(key: usize, hash: u32): usize {
    return this.probeFrom(key, hash, (this.probed + 1) & this.mask);
  }

  private probeFrom(key: usize, hash: u32, start: i32): usize {
    const keyBytes = <i32>load<u16>(key) + 2;
    let h = start;
    while (true) {
      const e = <i32>load<u16>(this.index + (<usize>h << 1));
      if (e == 0) return 0;
      const s = this.slot(e - 1);
      if (load<u32>(s + this.hashOffset) == hash && bytesEqual(s, key, keyBytes)) { this.probed = h; return s; }
      h = (h + 1) & this.mask;
    }
  }

  get full(): bool { return this.count >= this.limit; }

  /** Appends a record (caller checked `full`); returns its slot, key and hash to be filled by the caller then `link`ed. */
  append(): usize {
    let i = this.head + this.count;
    if (i >= this.limit) i -= this.limit;
    this.count++;
    return this.slot(i);
  }

  /** Removes the oldest record and returns its slot, which now belongs to the newest. */
  replaceOldest(): usize {
    const i = this.head;
    const s = this.slot(i);
    if (this.indexed) this.unlink(i, this.hashOf(s));
    this.head = i + 1 == this.limit ? 0 : i + 1;
    return s;
  }

  /** The hash of the key in slot s. */
  hashOf(s: usize): u32 { return this.hashOffset >= 0 ? load<u32>(s + this.hashOffset) : this.rehash(s); }

  /** Enters a filled slot into the index. */
  link(s: usize): void { if (this.indexed) this.linkHashed(s, this.hashOf(s)); }

  /** Enters a filled slot whose key hashes to `hash` into the index. */
  linkHashed(s: usize, hash: u32): void {
    if (!this.indexed) return;
    const i = <i32>((s - this.slots) / <usize>this.slotSize);
    let h = <i32>hash & this.mask;
    while (load<u16>(this.index + (<usize>h << 1)) != 0) h = (h + 1) & this.mask;
    store<u16>(this.index + (<usize>h << 1), <u16>(i + 1));
  }

  /** Deletes slot i from the index, shifting later entries back so probes stay unbroken. */
  private unlink(i: i32, hash: u32): void {
    let h = <i32>hash & this.mask;
    while (<i32>load<u16>(this.index + (<usize>h << 1)) != i + 1) h = (h + 1) & this.mask;
    let hole = h;
    let j = h;
    while (true) {
      j = (j + 1) & this.mask;
      const e = <i32>load<u16>(this.index + (<usize>j << 1));
      if (e == 0) break;
      const home = <i32>this.hashOf(this.slot(e - 1)) & this.mask;
      // Move e into the hole when its home is not cyclically within (hole, j].
      const between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!between) {
        store<u16>(this.index + (<usize>hole << 1), <u16>e);
        hole = j;
      }
    }
    store<u16>(this.index + (<usize>hole << 1), 0);
  }
}

function noRehash(s: usize): u32 { return 0; }

/** Sets up a table over static storage. `indexEntries` is a power of two >= 2 * capacity. */
export function tableAt(t: usize, slots: usize, slotSize: i32, hashOffset: i32, capacity: i32, index: usize, indexEntries: i32): Table {
  const tb = changetype<Table>(t);
  tb.slots = slots;
  tb.slotSize = slotSize;
  tb.hashOffset = hashOffset;
  tb.capacity = capacity;
  tb.limit = capacity;
  tb.index = index;
  tb.mask = indexEntries - 1;
  tb.indexed = true;
  tb.rehash = noRehash;
  tb.clear();
  return tb;
}
