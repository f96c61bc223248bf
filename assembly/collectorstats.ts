// CollectorStats records (SPEC R5): one per counted collector whose window counted something,
// sent with that window, saying what was received, discarded, dropped and ignored, and why.

import * as L from "./words";
import * as P from "./profile";
import * as S from "./stats";
import * as Fm from "./format";
import { Writer } from "./writer";

/** Records: one per counted collector (the ones a group's window closes are sent). */
export function count(): i32 { return S.COUNTED; }

/** Whether collector c's record goes out: its window closed (`members`, a bit per collector) and counted something. */
export function sendable(c: i32, members: i32): bool { return (members & (1 << c)) != 0 && S.any(S.win(c)); }

/** Collector c's record; `limit` is the size of its cache or table (for the warnings). */
export function write(w: Writer, c: i32, limit: i32): void {
  const s = S.win(c);
  Fm.recordBegin(w);
  if (c == S.C_BASELINE) Fm.quotedWord(w, L.Collector, L.baseline, 0, <u64>c);
  else Fm.word(w, L.Collector, c == S.C_PROCESS ? L.jsonProcess : L.jsonNetwork, 0, <u64>c, Fm.NO_DEFAULT);
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
  // Only network (rtos) and baseline drop; only process and network evict or lose names.
  if (s.dropped > 0) {
    w.lit(base ? L.jsonBaselineTableFullOpen : L.jsonNetworkCacheFullOpen); w.u64(<u64>limit); w.lit(L.entriesCloseColon);
    w.u64(s.dropped); w.lit(base ? L.resultsOfNewChecksDroppedQuote : L.newConnectionsDroppedSemiIncreaseNetworkDotCache);
    first = false;
  }
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

/** A CollectorStats record: five counters and at most two short warnings. */
export const MAX_RECORD = 480;
