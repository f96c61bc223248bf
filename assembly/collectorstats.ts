// CollectorStats records (SPEC R5): one per counted collector whose window counted something,
// sent with that window, saying what was received, discarded, dropped and ignored, and why; then
// the transport's (messages its outbox dropped, reported by the host: mt_report_loss), which has
// no window and goes out with the next message that leaves.

import * as L from "./words";
import * as P from "./profile";
import * as S from "./stats";
import * as Fm from "./format";
import { Writer } from "./writer";

/** Records: one per counted collector (the ones a group's window closes are sent), then the transport's. */
export function count(): i32 { return S.COUNTED + 1; }

/**
 * Whether record c goes out: its collector's window closed (`members`, a bit per collector) or
 * it is the transport's, and it counted something.
 */
export function sendable(c: i32, members: i32): bool { return (c == S.TRANSPORT || (members & (1 << c)) != 0) && S.any(c); }

/** Record c is in a message: the transport's losses start again (a collector's go with its window). */
export function sent(c: i32): void { if (c == S.TRANSPORT) S.clearWindow(S.TRANSPORT); }

/** The largest record c can be now (the host's loss reports add warnings on linux). */
export function maxRecord(c: i32): i32 { return P.LINUX && S.reported(c) ? MAX_RECORD : PLAIN_MAX_RECORD; }

/** Collector c's record; `limit` is the size of its cache or table (for the warnings). */
export function write(w: Writer, c: i32, limit: i32): void {
  const s = S.win(c);
  Fm.recordBegin(w);
  if (c == S.C_BASELINE) Fm.quotedWord(w, L.Collector, L.baseline, 0, <u64>c);
  else Fm.word(w, L.Collector, c == S.C_PROCESS ? L.jsonProcess : c == S.C_NETWORK ? L.jsonNetwork : L.jsonTransport,
    0, <u64>c, Fm.NO_DEFAULT);
  Fm.uint(w, L.Received, 1, s.received);
  Fm.uint(w, L.Discarded, 2, s.discarded);
  Fm.uint(w, L.Dropped, 3, s.dropped);
  Fm.uint(w, L.Ignored, 4, s.ignored);
  // The warnings are a JSON array in both forms (the compact one as its text).
  const mark = Fm.embedBegin(w, L.Warnings, 5);
  writeWarnings(w, c, limit);
  Fm.embedEnd(w, mark);
  Fm.recordEnd(w);
}

/** The Warnings list of collector c's window, as a JSON array. */
function writeWarnings(w: Writer, c: i32, limit: i32): void {
  const s = S.win(c);
  w.byte(0x5b);
  let first = true;
  const base = c == S.C_BASELINE;
  // Only network (rtos) and baseline drop when full; only process and network evict or lose names.
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

/**
 * A CollectorStats record of the linux profile: its counters (20 digits each) and the warnings
 * one window can carry together: network, 597 bytes: replaced entries, names not kept, and the
 * losses a host reported (events lost, losses of unknown size, downtime). At most the profile's
 * largest record, so the minimum maxMessageBytes stays as SPEC R6 says.
 */
export const MAX_RECORD = 600;
/**
 * The same without linux's reported losses: five counters and at most three warnings (rtos
 * network: cache full, names not kept, events lost at the source: 434 bytes).
 */
export const PLAIN_MAX_RECORD = 480;
