import { bytesOf, ptr, textAt } from "./helpers";
import { Table, tableAt } from "../table";
import { hashBytes } from "../text";

// Slots of 16 bytes: [u16 len = 4][u32 key][pad][u32 hash at 8][u32 value at 12].
const CAP = 64;
const slots = new ArrayBuffer(CAP * 16);
const index = new ArrayBuffer(CAP * 2 * 2);
const head = new ArrayBuffer(64);
const probe = new ArrayBuffer(16);

function key(k: u32): u32 {
  store<u16>(ptr(probe), 4);
  store<u32>(ptr(probe) + 2, k);
  return hashBytes(7, ptr(probe) + 2, 4);
}

function find(t: Table, k: u32): i64 {
  const s = t.find(ptr(probe), key(k));
  return s == 0 ? -1 : <i64>load<u32>(s + 12);
}

function insert(t: Table, k: u32, v: u32): void {
  const h = key(k);
  const s = t.full ? t.replaceOldest() : t.append();
  memory.copy(s, ptr(probe), 6);
  store<u32>(s + 8, h);
  store<u32>(s + 12, v);
  t.link(s);
}

describe("Table", () => {
  it("finds what was inserted and nothing else", () => {
    const t = tableAt(ptr(head), ptr(slots), 16, 8, CAP, ptr(index), CAP * 2);
    for (let i: u32 = 0; i < 50; i++) insert(t, i * 7919, i);
    for (let i: u32 = 0; i < 50; i++) expect(find(t, i * 7919)).toBe(<i64>i);
    expect(find(t, 3)).toBe(-1);
    expect(t.count).toBe(50);
  });

  it("replaces the oldest when full and keeps every probe chain intact", () => {
    const t = tableAt(ptr(head), ptr(slots), 16, 8, CAP, ptr(index), CAP * 2);
    for (let i: u32 = 0; i < 1000; i++) {
      insert(t, i, i);
      // The newest CAP keys are all present; the one just evicted is gone.
      if (i >= <u32>CAP) expect(find(t, i - CAP)).toBe(-1);
    }
    for (let i: u32 = 1000 - CAP; i < 1000; i++) expect(find(t, i)).toBe(<i64>i);
    expect(load<u32>(t.at(0) + 12)).toBe(1000 - CAP);
    expect(load<u32>(t.at(CAP - 1) + 12)).toBe(999);
  });

  it("honours a configured limit below capacity, and clear empties it", () => {
    const t = tableAt(ptr(head), ptr(slots), 16, 8, CAP, ptr(index), CAP * 2);
    t.limit = 3;
    for (let i: u32 = 0; i < 5; i++) insert(t, i, i);
    expect(t.count).toBe(3);
    expect(find(t, 1)).toBe(-1);
    expect(find(t, 4)).toBe(4);
    t.clear();
    expect(t.count).toBe(0);
    expect(find(t, 4)).toBe(-1);
  });

  it("findNext meets records with equal keys in insertion order, also after evictions shifted the chain", () => {
    const t = tableAt(ptr(head), ptr(slots), 16, 8, CAP, ptr(index), CAP * 2);
    t.limit = 8;
    for (let i: u32 = 0; i < 4; i++) { insert(t, 5, 100 + i); insert(t, 6, i); }
    // 8 inserted; 4 more push out the 4 oldest (5→100, 6→0, 5→101, 6→1).
    for (let i: u32 = 0; i < 4; i++) insert(t, i == 1 ? 5 : 7 + i, 200 + i);
    const h = key(5);
    const seen: u32[] = [];
    let s = t.find(ptr(probe), h);
    while (s != 0) { seen.push(load<u32>(s + 12)); s = t.findNext(ptr(probe), h); }
    expect(seen.length).toBe(3);
    expect(seen[0]).toBe(102);
    expect(seen[1]).toBe(103);
    expect(seen[2]).toBe(201);
  });

  it("indexes nothing when aggregation is off", () => {
    const t = tableAt(ptr(head), ptr(slots), 16, 8, CAP, ptr(index), CAP * 2);
    t.indexed = false;
    insert(t, 1, 1);
    insert(t, 1, 2);
    expect(t.count).toBe(2);
    expect(find(t, 1)).toBe(-1);
  });
});
