// Loss accounting (SPEC R5): per event collector, per window and over the run,
// received = sent hits + discarded by eviction + dropped when full + ignored. Baseline has
// counters too: received = results kept + dropped when full + ignored (docs/FORMATS.md).

export const C_PROCESS = 0, C_NETWORK = 1, C_BASELINE = 2;
export const EVENT_COLLECTORS = 2;
/** Collectors with counters and a CollectorStats record: the event collectors and baseline. */
export const COUNTED = 3;

@unmanaged export class Counters {
  received: u64;
  sent: u64;        // hits handed to messages
  discarded: u64;   // hits of evicted records
  dropped: u64;     // events not cached because the cache was full
  ignored: u64;     // events of a disabled or unsupported collector
  evicted: u64;     // records replaced (for the warning)
  namesLost: u64;   // host names and application protocols not kept: their table was full
}

const SIZE: i32 = <i32>offsetof<Counters>();
const windows = memory.data(SIZE * COUNTED, 8);
const totals = memory.data(SIZE * COUNTED, 8);

// Inlined: every caller names its collector by a constant, so each counter is a fixed address
// (one access) instead of two calls computing it.
// @ts-ignore: decorator
@inline export function win(c: i32): Counters { return changetype<Counters>(windows + <usize>c * SIZE); }

export function any(c: Counters): bool {
  return c.received != 0 || c.discarded != 0 || c.dropped != 0 || c.ignored != 0;
}

const running = memory.data(SIZE, 8);

/** Ends a collector's window: its counters join the run totals and start again at zero. */
export function clearWindow(c: i32): void {
  const w = windows + <usize>c * SIZE;
  const t = totals + <usize>c * SIZE;
  for (let i = 0; i < SIZE; i += 8) store<u64>(t + i, load<u64>(t + i) + load<u64>(w + i));
  memory.fill(w, 0, SIZE);
}
export function clearAll(): void { memory.fill(windows, 0, SIZE * COUNTED); memory.fill(totals, 0, SIZE * COUNTED); }

/** Run totals so far: closed windows plus the open one. */
export function runTotal(c: i32): Counters {
  const w = windows + <usize>c * SIZE;
  const t = totals + <usize>c * SIZE;
  for (let i = 0; i < SIZE; i += 8) store<u64>(running + i, load<u64>(t + i) + load<u64>(w + i));
  return changetype<Counters>(running);
}

// Per event only the open window's counters move (the run totals follow at its end).
// @ts-ignore: decorator
@inline export function received(c: i32): void { win(c).received++; }
export function ignored(c: i32): void { win(c).ignored++; }
export function dropped(c: i32): void { win(c).dropped++; }
export function discarded(c: i32, hits: u64): void { win(c).discarded += hits; win(c).evicted++; }
export function nameLost(c: i32): void { win(c).namesLost++; }
export function sent(c: i32, hits: u64): void { win(c).sent += hits; }
