// Windows and sending (SPEC R5, R8). When an input reaches the end of one or more windows
// (or is a configuration change, or the end of input), the due windows are turned into
// messages lazily: each `nextChunk` writes whole records into the output area until it is
// full or a message reaches maxMessageBytes, so a message may be larger than the area.

import * as P from "./profile";
import * as S from "./stats";
import * as C from "./collectors";
import * as Fm from "./format";
import { Writer } from "./writer";
import { current } from "./config";
import { splitmix64 } from "./text";
import { ENVELOPE_MAX, EVENT_HEADER_MAX, CLOSING } from "./limits";

export { COLLECTORS, windowStart, windowLength, setWindow } from "./window";
import * as W from "./window";
import { COLLECTORS, windowStart, windowLength, setWindowStart, recomputeDue, emptyRun, setEmptyRun } from "./window";

// Agent identity for the envelope and event ids.
export let agentHi: u64 = 0;
export let agentLo: u64 = 0;
let eventSeq: u64 = 0;

// Run totals for mt_stats.
export let messages: u64 = 0;
export let events: u64 = 0;
export let bytes: u64 = 0;

// ---- flush state -----------------------------------------------------------------------

const PHASE_IDLE = 0, PHASE_DUE = 1, PHASE_FORCED = 2, PHASE_DONE = 3, PHASE_DIAG = 4;
let phase = PHASE_IDLE;
let until: i64 = 0;       // the input's time: windows ending at or before it are due
let forced = false;       // then send everything at `until`
let diag = false;         // a heartbeat: a message now for the agent's diagnostics (update.ts)
let groupActive = false;
let groupTs: i64 = 0;
let members = 0;          // bit per collector
let natural = false;      // a window's own end (not a forced send)
let unit = 0;             // the kind of record being sent: a collector or C.STATS (collectors.ts)
let k = 0;
let msgOpen = false;
let evOpen = false;
let msgBytes = 0;
let endsMessage = false;
// The open message's time (its first event's); its format is the configured one (format.ts:
// a configuration change sends first, then applies). A packing run is the messages sent together: one, or
// several when it outgrew maxMessageBytes; its start and whether it holds an event of a
// high-priority collector decide when it ends, the same way in both formats (whose messages
// fill up at other places), so `decode` can give back the JSON run's lines.
let msgTime: i64 = 0;
let runStart: i64 = 0;
let runHigh = false;
/** The open message continues the run of one that outgrew maxMessageBytes. */
let continuing = false;
/** Why the last message closed: CONT_* (its compact form says so, for `decode`). */
const CONT_END = 0, CONT_EVENT = 1, CONT_NEXT = 2;

export function busy(): bool { return phase != PHASE_IDLE; }

// What a core carries over to the next one at a swap (state.ts): the event number (Ids never
// repeat) and the run's totals.
export function eventNumber(): u64 { return eventSeq; }
export function carryOver(seq: u64, m: u64, e: u64, b: u64): void { eventSeq = seq; messages = m; events = e; bytes = b; }
export function lastChunkEndsMessage(): bool { return endsMessage; }

export function resetAll(): void {
  phase = PHASE_IDLE;
  groupActive = false;
  msgOpen = false;
  evOpen = false;
  eventSeq = 0;
  messages = 0; events = 0; bytes = 0;
  endsMessage = false;
  runHigh = false;
  continuing = false;
}

/**
 * Prepares the sends an input at time t needs first; false when there are none. `diagnostics`
 * (a heartbeat) makes a message at t for what waits without a window, even when none is due.
 */
export function begin(t: i64, force: bool, diagnostics: bool): bool {
  if (!force && !diagnostics && t < W.nextDue) return false;
  until = t;
  forced = force;
  diag = diagnostics;
  Fm.choose();
  phase = PHASE_DUE;
  groupActive = false;
  return true;
}

/**
 * Whether collector c's current window holds nothing to send, counters included. Baseline's
 * counters are left out: a window whose results all pass is empty and may start a run of empty
 * windows (one IsEmpty event), whose CollectorStats record then counts the run's results.
 */
function windowEmpty(c: i32): bool {
  return !unitHasRecords(c) && (c >= S.EVENT_COLLECTORS || !S.any(c));
}

/**
 * An empty window followed by more elapsed empty windows becomes the run's last window,
 * standing for all of them: one IsEmpty event with "Windows": N, so output stays bounded
 * whatever the jump in time (SPEC R5).
 */
function foldEmptyRuns(): void {
  if (!current.sendEmptyWindows) return;
  for (let c = 0; c < COLLECTORS; c++) {
    if (emptyRun(c) != 0 || !C.enabled(c)) continue;
    const len = windowLength(c);
    const start = windowStart(c);
    if (start + 2 * len > until || !windowEmpty(c)) continue;
    const windows = (until - start) / len;
    setWindowStart(c, start + (windows - 1) * len);
    setEmptyRun(c, windows);
  }
}

function nextGroup(): bool {
  if (phase == PHASE_DUE) {
    foldEmptyRuns();
    let min = i64.MAX_VALUE;
    for (let c = 0; c < COLLECTORS; c++) {
      const end = windowStart(c) + windowLength(c);
      if (end <= until && end < min) min = end;
    }
    if (min != i64.MAX_VALUE) {
      groupTs = min;
      members = 0;
      for (let c = 0; c < COLLECTORS; c++) if (windowStart(c) + windowLength(c) == min) members |= 1 << c;
      natural = true;
      return true;
    }
    phase = forced ? PHASE_FORCED : diag ? PHASE_DIAG : PHASE_DONE;
  }
  if (phase == PHASE_DIAG) {
    // No collector's window: only the records that wait for any message (units past WINDOWED).
    phase = PHASE_DONE;
    groupTs = until;
    members = 0;
    natural = false;
    return true;
  }
  if (phase == PHASE_FORCED) {
    phase = PHASE_DONE;
    groupTs = until;
    members = (1 << COLLECTORS) - 1;
    natural = false;
    return true;
  }
  return false;
}

function endGroup(): void {
  for (let c = 0; c < COLLECTORS; c++) {
    if ((members & (1 << c)) == 0) continue;
    C.clear(c);
    if (!natural) continue;
    const len = windowLength(c);
    let start = windowStart(c) + len;
    setEmptyRun(c, 0);
    // Elapsed windows with nothing in them are skipped, unless empty windows are reported
    // (then nextGroup folds a run of them into one event).
    if (!(current.sendEmptyWindows && C.enabled(c)) && start + len <= until) start += ((until - start) / len) * len;
    setWindowStart(c, start);
  }
  recomputeDue();
}

// ---- records ---------------------------------------------------------------------------

function unitHasRecords(u: i32): bool {
  const n = C.count(u);
  for (let i = 0; i < n; i++) if (C.sendable(u, i, members)) return true;
  return false;
}

/** An empty window that is reported as such (IsEmpty), when configured. */
function wantsEmpty(u: i32): bool {
  return u < C.WINDOWED && natural && current.sendEmptyWindows && C.enabled(u) && !unitHasRecords(u);
}

/** Moves k to the next record of the current unit to send; false when the unit is done. */
function seekRecord(): bool {
  if ((unit < C.WINDOWED && (members & (1 << unit)) == 0)) return false;
  if (wantsEmpty(unit)) return k == 0;
  const n = C.count(unit);
  while (k < n && !C.sendable(unit, k, members)) k++;
  return k < n;
}

// ---- message framing -------------------------------------------------------------------

function writeEnvelope(w: Writer): void {
  msgTime = groupTs;
  if (!continuing) { runStart = groupTs; runHigh = false; }
  Fm.envelope(w, P.AGENT_VERSION, agentHi, agentLo, groupTs);
}

/** Ids are derived from the agent id and a running event number (SPEC R9: no randomness). */
function eventIdHi(): u64 { return (splitmix64(agentHi ^ (eventSeq * 0x9e3779b97f4a7c15)) & ~(<u64>0xf000)) | 0x8000; }
function eventIdLo(): u64 { return (splitmix64(agentLo + eventSeq) & 0x3fffffffffffffff) | 0x8000000000000000; }

function writeEventHeader(w: Writer, empty: bool): void {
  if (C.high(unit)) runHigh = true;
  Fm.eventHeader(w, unit, C.eventName(unit), C.diagnostic(unit), C.triggered(unit), empty, empty ? emptyRun(unit) : 0,
    eventIdHi(), eventIdLo(), groupTs, groupTs - msgTime);
}

/** Ends the open event's payload. */
function closeEvent(w: Writer): void {
  msgBytes += Fm.eventEnd(w);
  evOpen = false;
}

/** Closes the open message: `how` (CONT_*) says whether its packing run goes on in the next one. */
function closeMessage(w: Writer, how: i32): void {
  if (evOpen) closeEvent(w);
  msgBytes += Fm.messageEnd(w, how);
  continuing = how != CONT_END;
  messages++;
  bytes += <u64>msgBytes;
  msgOpen = false;
  evOpen = false;
  endsMessage = true;
}

/** The most bytes record k of unit u can add to a chunk, with what it may open and close. */
function worstCase(u: i32): i32 {
  return (msgOpen ? 0 : ENVELOPE_MAX) + 1 + (evOpen ? 0 : EVENT_HEADER_MAX) + C.maxRecord(u, k) + CLOSING;
}

/**
 * Writes the next chunk into w, at most `chunkCap` bytes: a record is only attempted where
 * its largest form fits (so the area needs no room beyond the chunk), and rolled back when
 * it would take its message past maxMessageBytes. Returns false when the flush is over and
 * the pending input may be applied.
 */
/** A record with the envelope and event header it needs first, in the open message's format. */
// @ts-ignore: decorator
@inline function writeItem(w: Writer, empty: bool, wasOpen: bool): void {
  if (!msgOpen) writeEnvelope(w);
  if (!evOpen) {
    if (wasOpen) Fm.separator(w);
    writeEventHeader(w, empty);
  } else Fm.separator(w);
  if (!empty) C.write(unit, w, k, groupTs);
}

/**
 * Block packing (SPEC R8): whether the open message may wait for the next window. Only while
 * that window ends within maxPackingDelay of the message's first event, never after a forced
 * send (configuration change, stop) and never once it holds a high-priority collector's event.
 */
function hold(): bool {
  const delay = current.packingDelayS;
  return delay > 0 && !forced && !diag && !runHigh && W.nextDue <= runStart + <i64>delay * 1000;
}

export function nextChunk(w: Writer, chunkCap: i32): bool {
  endsMessage = false;
  w.pos = 0;
  if (phase == PHASE_IDLE) return false;
  const maxMsg = current.maxMessageBytes;
  // The compact format leaves the area's tail to the message's dictionary.
  chunkCap = Fm.chunkCap(chunkCap);
  while (true) {
    if (!groupActive) {
      if (!nextGroup()) {
        if (msgOpen && !hold()) { closeMessage(w, CONT_END); return true; }
        // A held message stays open: what was written goes out now, its end comes later.
        if (w.pos > 0) return true;
        phase = PHASE_IDLE;
        return false;
      }
      groupActive = true;
      unit = 0;
      k = 0;
      // A window ending past the open message's packing delay starts a message of its own.
      if (msgOpen && current.packingDelayS > 0 && groupTs > runStart + <i64>current.packingDelayS * 1000) {
        closeMessage(w, CONT_END);
        return true;
      }
    }
    if (!seekRecord()) {
      if (evOpen) closeEvent(w);
      unit++;
      k = 0;
      if (unit >= C.UNITS) { endGroup(); groupActive = false; }
      continue;
    }
    const mark = w.pos;
    // An empty chunk always has room for one record (OUTPUT_CAP >= MIN_MESSAGE_BYTES, limits.ts).
    if (mark > 0 && mark + worstCase(unit) > chunkCap) return true;
    const empty = wantsEmpty(unit);
    const wasOpen = msgOpen;
    const wasEvOpen = evOpen;
    writeItem(w, empty, wasOpen);
    const need = w.pos - mark;
    // A message that already holds a record closes when the next one would not fit; a new
    // message always fits one record (maxMessageBytes >= MIN_MESSAGE_BYTES, see limits.ts).
    if (wasOpen && msgBytes + need + CLOSING > maxMsg) {
      // The record opens the next message; this one is full. What writing it changed is moot:
      // the packing run's start (only an envelope sets it, and this message had one), its
      // high-priority mark (set again when the record is written next) and the dictionary
      // (the next message starts its own).
      w.pos = mark;
      closeMessage(w, wasEvOpen ? CONT_EVENT : CONT_NEXT);
      return true;
    }
    if (!wasOpen) { msgOpen = true; msgBytes = 0; }
    msgBytes += need;
    if (!wasEvOpen) { eventSeq++; events++; }
    evOpen = !empty;
    // An empty window's event carries no record: nothing to count (slot k is stale data).
    if (!empty) C.sent(unit, k);
    k++;
  }
}

