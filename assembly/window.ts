// Each windowed collector's current window (collectors.ts numbers them): start and length in
// ms, and the earliest end among them, which the per-event path checks.

export const COLLECTORS = 4;
const starts = memory.data(8 * COLLECTORS, 8);
const lengths = memory.data(8 * COLLECTORS, 8);
// How many elapsed empty windows the window due next stands for (SPEC R5: a run of them is one
// IsEmpty event with "Windows": N); 0 or 1 for a plain window.
const emptyRuns = memory.data(8 * COLLECTORS, 8);

// Inlined: the network module reads its window's start once per event (times are offsets).
// @ts-ignore: decorator
@inline export function windowStart(c: i32): i64 { return load<i64>(starts + (<usize>c << 3)); }
// @ts-ignore: decorator
@inline export function windowLength(c: i32): i64 { return load<i64>(lengths + (<usize>c << 3)); }

export function setWindow(c: i32, start: i64, length: i64): void {
  store<i64>(starts + (<usize>c << 3), start);
  store<i64>(emptyRuns + (<usize>c << 3), 0);
  store<i64>(lengths + (<usize>c << 3), length);
  recomputeDue();
}

export function emptyRun(c: i32): i64 { return load<i64>(emptyRuns + (<usize>c << 3)); }
export function setEmptyRun(c: i32, windows: i64): void { store<i64>(emptyRuns + (<usize>c << 3), windows); }

/** Moves a window on (its length stays); the caller recomputes nextDue once all have moved. */
export function setWindowStart(c: i32, start: i64): void { store<i64>(starts + (<usize>c << 3), start); }

/** Earliest window end: inputs before it need no flush (checked once per event). */
export let nextDue: i64 = 0;

export function recomputeDue(): void {
  let min = i64.MAX_VALUE;
  for (let c = 0; c < COLLECTORS; c++) {
    const end = windowStart(c) + windowLength(c);
    if (end < min) min = end;
  }
  nextDue = min;
}
