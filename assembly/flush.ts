// Windows and sending (SPEC R5, R8). When an input reaches the end of one or more windows
// (or is a configuration change, or the end of input), the due windows are turned into
// messages lazily: each `nextChunk` writes whole records into the output area until it is
// full or a message reaches maxMessageBytes, so a message may be larger than the area.

import * as L from "./words";
import * as P from "./profile";
import * as S from "./stats";
import * as N from "./network";
import * as Pr from "./process";
import * as B from "./baseline";
import * as Si from "./sysinfo";
import { Writer } from "./writer";
import { current } from "./config";
import { splitmix64 } from "./text";
import { ENVELOPE_MAX, EVENT_HEADER_MAX, CLOSING, STATS_MAX_RECORD, STATS_PLAIN_MAX_RECORD } from "./limits";
import { litBytes, litLength } from "./literal";
import { PRIO_HIGH } from "./config";
import { CBOR_CHUNK_CAP } from "./areas";
import * as X from "./cbor";

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

const PHASE_IDLE = 0, PHASE_DUE = 1, PHASE_FORCED = 2, PHASE_DONE = 3;
let phase = PHASE_IDLE;
let until: i64 = 0;       // the input's time: windows ending at or before it are due
let forced = false;       // then send everything at `until`
let groupActive = false;
let groupTs: i64 = 0;
let members = 0;          // bit per collector
let natural = false;      // a window's own end (not a forced send)
let unit = 0;             // 0 process, 1 network, 2 baseline, 3 sysinfo, 4 stats
let k = 0;
let msgOpen = false;
let evOpen = false;
let msgBytes = 0;
let endsMessage = false;
// The open message: its format (set when a send begins; a configuration change sends first)
// and its time (its first event's). A packing run is the messages sent together: one, or
// several when it outgrew maxMessageBytes; its start and whether it holds an event of a
// high-priority collector decide when it ends, the same way in JSON and CBOR (whose messages
// fill up at other places), so `decode` can give back the JSON run's lines.
let cbor = false;
let msgTime: i64 = 0;
let runStart: i64 = 0;
let runHigh = false;
/** The open message continues the run of one that outgrew maxMessageBytes. */
let continuing = false;
/** Why the last message closed: CONT_* (its CBOR form says so, for `decode`). */
const CONT_END = 0, CONT_EVENT = 1, CONT_NEXT = 2;

export function busy(): bool { return phase != PHASE_IDLE; }
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

/** Prepares the sends an input at time t needs first; false when there are none. */
export function begin(t: i64, force: bool): bool {
  if (!force && t < W.nextDue) return false;
  until = t;
  forced = force;
  cbor = current.cbor;
  phase = PHASE_DUE;
  groupActive = false;
  return true;
}

function enabled(c: i32): bool {
  if (c == S.C_PROCESS) return current.procEnabled && P.PROC_CAP > 0;
  if (c == S.C_NETWORK) return current.netEnabled;
  if (c == S.C_BASELINE) return current.baseEnabled;
  return current.sysEnabled;
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
    if (emptyRun(c) != 0 || !enabled(c)) continue;
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
    phase = forced ? PHASE_FORCED : PHASE_DONE;
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

function clearCollector(c: i32): void {
  if (c == S.C_PROCESS) Pr.table.clear();
  else if (c == S.C_NETWORK) N.clear();
  else if (c == S.C_BASELINE) B.reset();
  else Si.reset();
  if (c < S.COUNTED) S.clearWindow(c);
}

function endGroup(): void {
  for (let c = 0; c < COLLECTORS; c++) {
    if ((members & (1 << c)) == 0) continue;
    clearCollector(c);
    if (!natural) continue;
    const len = windowLength(c);
    let start = windowStart(c) + len;
    setEmptyRun(c, 0);
    // Elapsed windows with nothing in them are skipped, unless empty windows are reported
    // (then nextGroup folds a run of them into one event).
    if (!(current.sendEmptyWindows && enabled(c)) && start + len <= until) start += ((until - start) / len) * len;
    setWindowStart(c, start);
  }
  recomputeDue();
}

// ---- records ---------------------------------------------------------------------------

function unitCount(u: i32): i32 {
  if (u == 0) return Pr.table.count;
  if (u == 1) return N.table.count;
  if (u == 2) return B.table.count;
  if (u == 3) return Si.count();
  return S.COUNTED + 1; // the collectors' CollectorStats, then the transport's
}

/**
 * Whether record k of unit u goes out (baseline passes and zero stats do not). The transport's
 * record has no window: it goes out with the next message that leaves, whichever window ended.
 */
function sendable(u: i32, i: i32): bool {
  if (u == 2) return B.sendable(i);
  if (u == 4) return (i == S.TRANSPORT || (members & (1 << i)) != 0) && S.any(i);
  return true;
}

function unitHasRecords(u: i32): bool {
  const n = unitCount(u);
  for (let i = 0; i < n; i++) if (sendable(u, i)) return true;
  return false;
}

/** An empty window that is reported as such (IsEmpty), when configured. */
function wantsEmpty(u: i32): bool {
  return u < 4 && natural && current.sendEmptyWindows && enabled(u) && !unitHasRecords(u);
}

/** Moves k to the next record of the current unit to send; false when the unit is done. */
function seekRecord(): bool {
  if ((unit < 4 && (members & (1 << unit)) == 0)) return false;
  if (wantsEmpty(unit)) return k == 0;
  const n = unitCount(unit);
  while (k < n && !sendable(unit, k)) k++;
  return k < n;
}

function writeRecord(w: Writer): void {
  // rtos has no process table (unit 0 never has records): its writers are left out of the build.
  if (cbor) {
    if (unit == 0) { if (P.PROC_CAP > 0) Pr.writeCbor(w, k, groupTs); }
    else if (unit == 1) N.writeCbor(w, k, groupTs);
    else if (unit == 2) B.writeCbor(w, k);
    else if (unit == 3) Si.writeCbor(w);
    else writeStatsCbor(w, k);
    return;
  }
  if (unit == 0) { if (P.PROC_CAP > 0) Pr.write(w, k); }
  else if (unit == 1) N.write(w, k);
  else if (unit == 2) B.write(w, k);
  else if (unit == 3) Si.write(w);
  else writeStats(w, k);
}

function commitRecord(): void {
  if (unit == 0) S.sent(S.C_PROCESS, Pr.hits(k));
  else if (unit == 1) S.sent(S.C_NETWORK, N.hits(k));
  // The transport's losses are in a message now: its counters start again.
  else if (unit == 4 && k == S.TRANSPORT) S.clearWindow(S.TRANSPORT);
}

function writeStats(w: Writer, c: i32): void {
  const s = S.win(c);
  w.byte(0x7b);
  w.key(L.Collector);
  if (c == S.C_BASELINE) { w.byte(0x22); w.lit(L.baseline); w.byte(0x22); }
  else w.lit(c == S.C_PROCESS ? L.jsonProcess : c == S.C_NETWORK ? L.jsonNetwork : L.jsonTransport);
  w.field(L.Received); w.u64(s.received);
  w.field(L.Discarded); w.u64(s.discarded);
  w.field(L.Dropped); w.u64(s.dropped);
  w.field(L.Ignored); w.u64(s.ignored);
  w.field(L.Warnings);
  writeWarnings(w, c);
  w.byte(0x7d);
}

/** CollectorStats in CBOR: the counters, then the warnings as the JSON array's text. */
function writeStatsCbor(w: Writer, c: i32): void {
  const s = S.win(c);
  w.byte(0xa6);
  X.keyUint(w, 0, <u64>c);
  X.keyUint(w, 1, s.received);
  X.keyUint(w, 2, s.discarded);
  X.keyUint(w, 3, s.dropped);
  X.keyUint(w, 4, s.ignored);
  w.byte(5);
  // The text is written after a 3-byte head, then moved up if a shorter head fits.
  const at = w.pos;
  w.pos += 3;
  writeWarnings(w, c);
  const len = w.pos - at - 3;
  const p = w.base + at;
  const h = len < 24 ? 1 : len < 256 ? 2 : 3;
  if (h == 1) store<u8>(p, 0x60 | len);
  else if (h == 2) { store<u8>(p, 0x78); store<u8>(p + 1, <u8>len); }
  else { store<u8>(p, 0x79); store<u16>(p + 1, bswap<u16>(<u16>len)); }
  if (h < 3) { memory.copy(p + h, p + 3, len); w.pos -= 3 - h; }
}

/** Warnings for the losses the host reported: the transport's; on linux also events lost, unknown numbers, a source's downtime. */
// @ts-ignore: decorator
@inline function writeLossWarnings(w: Writer, c: i32, first: bool): bool {
  const lost = S.lostOf(c);
  if (lost > 0) {
    if (!first) w.byte(0x2c);
    w.byte(0x22); w.u64(lost);
    // rtos: only the transport reports losses (the word for events is linux's alone).
    w.lit(!P.LINUX || c == S.TRANSPORT ? L.messagesDroppedByTheOutboxQuote : L.eventsLostAtTheSourceQuote);
    first = false;
  }
  if (!P.LINUX) return first;
  const unknown = S.unknownOf(c);
  if (unknown > 0) {
    if (!first) w.byte(0x2c);
    w.byte(0x22); w.u64(unknown); w.lit(L.lossesOfUnknownSizeAtTheSourceQuote);
    first = false;
  }
  const ms = S.downOf(c);
  if (ms > 0) {
    if (!first) w.byte(0x2c);
    // Tenths of a second, rounded up: a short gap never reads as 0.0 s.
    const tenths = ms / 100 + (ms % 100 != 0 ? 1 : 0);
    w.lit(L.jsonEventSourceDown); w.u64(tenths / 10); w.byte(0x2e); w.byte(<u8>(0x30 + tenths % 10));
    w.lit(L.sColonEventsOfThatTimeMayBeMissingQuote);
    first = false;
  }
  return first;
}

/** The Warnings list of collector c's window, as a JSON array. */
function writeWarnings(w: Writer, c: i32): void {
  const s = S.win(c);
  w.byte(0x5b);
  let first = true;
  const base = c == S.C_BASELINE;
  // Only network (rtos) and baseline drop when full; only process and network evict or lose names.
  const limit = base ? P.BASELINE_CAP : c == S.C_PROCESS ? Pr.table.limit : N.table.limit;
  const full = s.dropped - S.lostOf(c);
  if (full > 0) {
    w.lit(base ? L.jsonBaselineTableFullOpen : L.jsonNetworkCacheFullOpen); w.u64(<u64>limit); w.lit(L.entriesCloseColon);
    w.u64(full); w.lit(base ? L.resultsOfNewChecksDroppedQuote : L.newConnectionsDroppedSemiIncreaseNetworkDotCache);
    first = false;
  }
  first = writeLossWarnings(w, c, first);
  if (s.namesLost > 0) {
    if (!first) w.byte(0x2c);
    w.lit(L.jsonNameTableFullColon); w.u64(s.namesLost);
    w.lit(L.hostNamesOrApplicationProtocolsNotKeptCommaRecor);
    first = false;
  }
  if (s.evicted > 0) {
    if (!first) w.byte(0x2c);
    w.lit(c == S.C_PROCESS ? L.jsonProcessCacheFullOpen : L.jsonNetworkCacheFullOpen);
    w.u64(<u64>limit); w.lit(L.entriesCloseColon); w.u64(s.evicted);
    w.lit(L.oldestReplacedComma); w.u64(s.discarded);
    w.lit(c == S.C_PROCESS ? L.hitsDiscardedSemiIncreaseProcessDotCacheSizeQuot : L.hitsDiscardedSemiIncreaseNetworkDotCacheSizeQuot);
    first = false;
  }
  if (s.ignored > 0) {
    if (!first) w.byte(0x2c);
    w.byte(0x22); w.u64(s.ignored);
    if (c == S.C_PROCESS && P.PROC_CAP == 0) w.lit(L.processEventsIgnoredColonNotSupportedByTheRtosPr);
    else w.lit(c == S.C_PROCESS ? L.processEventsIgnoredColonCollectorDisabledQuote
      : base ? L.baselineResultsIgnoredColonCollectorCommaGroupOr : L.connectionEventsIgnoredColonCollectorDisabledQuo);
  }
  w.byte(0x5d);
}

// ---- message framing -------------------------------------------------------------------

function writeEnvelope(w: Writer): void {
  msgTime = groupTs;
  if (!continuing) { runStart = groupTs; runHigh = false; }
  if (cbor) {
    X.dictionaryReset();
    w.byte(0xa6);
    w.byte(0); X.text(w, litBytes(P.AGENT_VERSION), litLength(P.AGENT_VERSION));
    w.byte(1); X.uuid(w, agentHi, agentLo);
    X.keyUint(w, 2, <u64>groupTs);
    X.keyUint(w, 3, <u64>current.maxMessageBytes);
    w.byte(4); w.byte(X.ARRAY_OPEN);
    return;
  }
  w.byte(0x7b);
  w.key(L.AgentVersion); w.byte(0x22); w.lit(P.AGENT_VERSION); w.byte(0x22);
  w.field(L.AgentId); w.byte(0x22); w.uuid(agentHi, agentLo); w.byte(0x22);
  w.field(L.MessageSchemaVersion); w.lit(L.json1Dot0);
  w.field(L.Events); w.byte(0x5b);
}

/** Whether collector c sends at its window's end, never held for packing (SPEC R8). */
function high(c: i32): bool {
  const cfg = current;
  const prio = c == S.C_PROCESS ? cfg.procPriority : c == S.C_NETWORK ? cfg.netPriority
    : c == S.C_BASELINE ? cfg.baseInterval : cfg.sysInterval;
  return prio == PRIO_HIGH;
}

/** Ids are derived from the agent id and a running event number (SPEC R9: no randomness). */
function eventIdHi(): u64 { return (splitmix64(agentHi ^ (eventSeq * 0x9e3779b97f4a7c15)) & ~(<u64>0xf000)) | 0x8000; }
function eventIdLo(): u64 { return (splitmix64(agentLo + eventSeq) & 0x3fffffffffffffff) | 0x8000000000000000; }

function writeEventHeader(w: Writer, empty: bool): void {
  if (unit < 4 && high(unit)) runHigh = true;
  if (cbor) {
    const offset = current.utcOffsetMin;
    const run = empty ? emptyRun(unit) : 0;
    w.byte(0xa4 + (offset != 0 ? 1 : 0) + (run > 1 ? 1 : 0));
    X.keyUint(w, 0, <u64>unit);
    w.byte(1); X.uuid(w, eventIdHi(), eventIdLo());
    w.byte(2); X.int(w, groupTs - msgTime);
    if (offset != 0) { w.byte(3); X.int(w, offset); }
    if (empty) { w.byte(4); w.byte(X.TRUE); if (run > 1) X.keyUint(w, 5, <u64>run); }
    else { w.byte(6); w.byte(X.ARRAY_OPEN); }
    return;
  }
  w.byte(0x7b);
  w.key(L.EventType); w.lit(unit == 4 ? L.jsonDiagnostic : L.jsonSecurity);
  w.field(L.Category); w.lit(unit <= 1 ? L.jsonTriggered : L.jsonPeriodic);
  w.field(L.Name);
  w.lit(unit == 0 ? L.jsonProcessCreate : unit == 1 ? L.jsonConnectionCreate : unit == 2 ? L.jsonBaseline
    : unit == 3 ? L.jsonSystemInformation : L.jsonCollectorStats);
  w.field(L.IsEmpty); w.lit(empty ? L.trueWord : L.falseWord);
  if (empty && emptyRun(unit) > 1) { w.field(L.Windows); w.u64(<u64>emptyRun(unit)); }
  w.field(L.PayloadSchemaVersion); w.lit(L.json1Dot0);
  w.field(L.Id); w.byte(0x22); w.uuid(eventIdHi(), eventIdLo()); w.byte(0x22);
  w.field(L.TimestampLocal); w.byte(0x22); w.isoTime(groupTs, current.utcOffsetMin); w.byte(0x22);
  w.field(L.TimestampUTC); w.byte(0x22); w.isoTime(groupTs, 0); w.byte(0x22);
  w.field(L.Payload); w.byte(0x5b);
}

/** Ends the open event's payload: `]}` in JSON, a break in CBOR (the event map is sized). */
function closeEvent(w: Writer): void {
  if (cbor) { w.byte(X.BREAK); msgBytes += 1; }
  else { w.byte(0x5d); w.byte(0x7d); msgBytes += 2; }
  evOpen = false;
}

/** Closes the open message: `how` (CONT_*) says whether its packing run goes on in the next one. */
function closeMessage(w: Writer, how: i32): void {
  if (evOpen) closeEvent(w);
  // CBOR: the events' break, then key 5, how the run goes on (1 byte: CONT_* < 24).
  if (cbor) { w.byte(X.BREAK); w.byte(5); w.byte(how); msgBytes += 3; }
  else { w.byte(0x5d); w.byte(0x7d); msgBytes += 2; }
  continuing = how != CONT_END;
  messages++;
  bytes += <u64>msgBytes;
  msgOpen = false;
  evOpen = false;
  endsMessage = true;
}

/** The most bytes the next record of unit u can add to a chunk, with what it may open and close. */
function worstCase(u: i32): i32 {
  const record = u == 0 ? Pr.MAX_RECORD : u == 1 ? N.MAX_RECORD : u == 2 ? B.MAX_RECORD : u == 3 ? Si.MAX_RECORD
    : P.LINUX && S.reported(k) ? STATS_MAX_RECORD : STATS_PLAIN_MAX_RECORD;
  return (msgOpen ? 0 : ENVELOPE_MAX) + 1 + (evOpen ? 0 : EVENT_HEADER_MAX) + record + CLOSING;
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
    if (wasOpen && !cbor) w.byte(0x2c);
    writeEventHeader(w, empty);
    if (empty && !cbor) { w.byte(0x5d); w.byte(0x7d); }
  } else if (!cbor) w.byte(0x2c);
  if (!empty) writeRecord(w);
}

/**
 * Block packing (SPEC R8): whether the open message may wait for the next window. Only while
 * that window ends within maxPackingDelay of the message's first event, never after a forced
 * send (configuration change, stop) and never once it holds a high-priority collector's event.
 */
function hold(): bool {
  const delay = current.packingDelayS;
  return delay > 0 && !forced && !runHigh && W.nextDue <= runStart + <i64>delay * 1000;
}

export function nextChunk(w: Writer, chunkCap: i32): bool {
  endsMessage = false;
  w.pos = 0;
  if (phase == PHASE_IDLE) return false;
  const maxMsg = current.maxMessageBytes;
  // A CBOR chunk leaves the area's tail to the message's dictionary (cbor.ts).
  if (cbor && chunkCap > CBOR_CHUNK_CAP) chunkCap = CBOR_CHUNK_CAP;
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
      if (unit > 4) { endGroup(); groupActive = false; }
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
    if (!empty) commitRecord();
    k++;
  }
}

