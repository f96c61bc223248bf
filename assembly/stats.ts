// Loss accounting (SPEC R5): per event collector, per window and over the run,
// received = sent hits + discarded by eviction + dropped when full + ignored. Baseline has
// counters too: received = results kept + dropped when full + ignored (docs/FORMATS.md).
// Losses the core did not see (a kernel queue, the transport's outbox) are reported by the host
// and counted here the same way (`mt_report_loss`, `mt_report_gap`).

import * as P from "./profile";

export const C_PROCESS = 0, C_NETWORK = 1, C_BASELINE = 2;
export const EVENT_COLLECTORS = 2;
/** Collectors with counters and a CollectorStats record: the event collectors and baseline. */
export const COUNTED = 3;
/** The transport's window counters sit after the collectors': Dropped, the messages its outbox could not keep. */
export const TRANSPORT = COUNTED;
const SLOTS = COUNTED + 1;

@unmanaged export class Counters {
  received: u64;
  sent: u64;        // hits handed to messages
  discarded: u64;   // hits of evicted records
  dropped: u64;     // events not cached because the cache was full, or lost before the core
  ignored: u64;     // events of a disabled or unsupported collector
  evicted: u64;     // records replaced (for the warning)
  namesLost: u64;   // host names and application protocols not kept: their table was full
}

const SIZE: i32 = <i32>offsetof<Counters>();
/** The counters the run summary reads (received … ignored): the only ones kept as run totals. */
const TOTAL: i32 = <i32>offsetof<Counters>("evicted");
const windows = memory.data(SIZE * SLOTS, 8);
const totals = memory.data(TOTAL * COUNTED, 8);
// The Linux agent's own losses, per event collector and window: of Dropped, the events it lost
// before the core (their warning is not the cache's), the losses it could not number, and the
// time its event source was down. The rtos profile counts only the transport's (its RAM is the
// device's): these are laid out only when used.
// @ts-ignore: decorator
@lazy const lostAt = memory.data(8 * EVENT_COLLECTORS, 8);
// @ts-ignore: decorator
@lazy const unknownAt = memory.data(8 * EVENT_COLLECTORS, 8);
// @ts-ignore: decorator
@lazy const downAt = memory.data(8 * EVENT_COLLECTORS, 8);

// Inlined: every caller names its collector by a constant, so each counter is a fixed address
// (one access) instead of two calls computing it.
// @ts-ignore: decorator
@inline export function win(c: i32): Counters { return changetype<Counters>(windows + <usize>c * SIZE); }

/** Events of c lost before the core (the transport: messages), in the open window. */
// @ts-ignore: decorator
@inline export function lostOf(c: i32): u64 { return c == TRANSPORT ? win(c).dropped : P.LINUX && c < EVENT_COLLECTORS ? load<u64>(lostAt + <usize>c * 8) : 0; }
export function unknownOf(c: i32): u64 { return P.LINUX && c < EVENT_COLLECTORS ? load<u64>(unknownAt + <usize>c * 8) : 0; }
export function downOf(c: i32): u64 { return P.LINUX && c < EVENT_COLLECTORS ? load<u64>(downAt + <usize>c * 8) : 0; }

/** Whether c's window has anything to report (a CollectorStats record). */
export function any(c: i32): bool {
  const s = win(c);
  return s.received != 0 || s.discarded != 0 || s.dropped != 0 || s.ignored != 0 || unknownOf(c) != 0 || downOf(c) != 0;
}

/** Ends a window: its counters join the run totals (the transport keeps none) and start again at zero. */
export function clearWindow(c: i32): void {
  const w = windows + <usize>c * SIZE;
  if (c < COUNTED) {
    const t = totals + <usize>c * TOTAL;
    for (let i = 0; i < TOTAL; i += 8) store<u64>(t + i, load<u64>(t + i) + load<u64>(w + i));
  }
  memory.fill(w, 0, SIZE);
  if (P.LINUX && c < EVENT_COLLECTORS) {
    store<u64>(lostAt + <usize>c * 8, 0); store<u64>(unknownAt + <usize>c * 8, 0); store<u64>(downAt + <usize>c * 8, 0);
  }
}
export function clearAll(): void {
  memory.fill(windows, 0, SIZE * SLOTS);
  memory.fill(totals, 0, TOTAL * COUNTED);
  if (P.LINUX) {
    memory.fill(lostAt, 0, 8 * EVENT_COLLECTORS); memory.fill(unknownAt, 0, 8 * EVENT_COLLECTORS); memory.fill(downAt, 0, 8 * EVENT_COLLECTORS);
  }
}

/** The run totals, carried over at a core swap (state.ts). */
export const TOTALS_BYTES: i32 = TOTAL * COUNTED;
export function saveTotals(dst: usize): void { memory.copy(dst, totals, TOTALS_BYTES); }
export function restoreTotals(src: usize): void { memory.copy(totals, src, TOTALS_BYTES); }

/** The run total of one counter (its offset in Counters, below TOTAL): closed windows plus the open one. */
export function runTotal(c: i32, field: usize): u64 {
  return load<u64>(totals + <usize>c * TOTAL + field) + load<u64>(windows + <usize>c * SIZE + field);
}

// Per event only the open window's counters move (the run totals follow at its end).
// @ts-ignore: decorator
@inline export function received(c: i32): void { win(c).received++; }
export function ignored(c: i32): void { win(c).ignored++; }
export function dropped(c: i32): void { win(c).dropped++; }
export function discarded(c: i32, hits: u64): void { win(c).discarded += hits; win(c).evicted++; }
export function nameLost(c: i32): void { win(c).namesLost++; }
export function sent(c: i32, hits: u64): void { win(c).sent += hits; }
/** Events lost before the core (Received and Dropped, so the counters still add up), or the transport's messages (Dropped). */
export function lost(c: i32, n: u64): void {
  const s = win(c);
  s.dropped += n;
  if (!P.LINUX || c == TRANSPORT) return;
  s.received += n;
  store<u64>(lostAt + <usize>c * 8, load<u64>(lostAt + <usize>c * 8) + n);
}
/** Whether the host reported losses into c's window (their warnings make the record longer). */
export function reported(c: i32): bool { return lostOf(c) != 0 || unknownOf(c) != 0 || downOf(c) != 0; }
export function lostUnknown(c: i32): void { if (P.LINUX) store<u64>(unknownAt + <usize>c * 8, load<u64>(unknownAt + <usize>c * 8) + 1); }
export function down(c: i32, ms: u64): void { if (P.LINUX) store<u64>(downAt + <usize>c * 8, load<u64>(downAt + <usize>c * 8) + ms); }
