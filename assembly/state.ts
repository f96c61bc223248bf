// The carry-over record of a core swap (docs/ABI.md, "Swapping cores"): what a new core needs
// to continue where the old one stopped once everything was sent. Windows hold nothing then,
// so the record is the run's position: event number (Ids never repeat), time, window starts
// and the totals mt_stats reports. Little-endian, fixed layout, versioned.

import * as L from "./words";
import * as P from "./profile";
import * as S from "./stats";
import * as F from "./flush";
import * as I from "./input";
import * as W from "./window";
import * as C from "./collectors";
import * as U from "./update";
import * as E from "./event";
import { Writer } from "./writer";

const MAGIC: u32 = 0x7473746d; // "mtst"
const VERSION: u32 = 1;
// Offsets of the record (docs/ABI.md).
const O_VERSION = 4, O_PROFILE = 6, O_STARTED = 7, O_AGENT_HI = 8, O_AGENT_LO = 16, O_EVENT = 24, O_LAST_T = 32;
const O_STARTS = 40, O_RUNS = 72, O_LINES = 104, O_ACCEPTED = 112, O_SKIPPED = 120, O_BLANK = 128;
const O_MESSAGES = 136, O_EVENTS = 144, O_BYTES = 152, O_TOTALS = 160;
/** Where input.ts puts the windows before the first input. */
const UNSTARTED: i64 = i64.MAX_VALUE / 2;
export const RECORD_BYTES: i32 = O_TOTALS + S.TOTALS_BYTES;

/** Whether anything waits to be sent: chunks, a window's records or counters, a diagnostic. */
function holdsData(): bool {
  if (F.busy() || U.updatePending || U.heartbeatPending) return true;
  for (let c = 0; c < C.WINDOWED; c++) if (C.count(c) > 0) return true;
  for (let c = 0; c <= S.TRANSPORT; c++) if (S.any(c)) return true;
  return false;
}

/** Writes the record at `dst`; its length, or 0 with the reason in `err` while anything waits to be sent. */
export function save(dst: usize, err: Writer): i32 {
  if (holdsData()) { err.lit(L.dataWaitsToBeSentOpenMtFinishClose); return 0; }
  store<u32>(dst, MAGIC);
  store<u16>(dst + O_VERSION, <u16>VERSION);
  store<u8>(dst + O_PROFILE, P.LINUX ? 1 : 0);
  store<u8>(dst + O_STARTED, I.started ? 1 : 0);
  store<u64>(dst + O_AGENT_HI, F.agentHi);
  store<u64>(dst + O_AGENT_LO, F.agentLo);
  store<u64>(dst + O_EVENT, F.eventNumber());
  store<i64>(dst + O_LAST_T, I.lastT);
  for (let c = 0; c < W.COLLECTORS; c++) {
    store<i64>(dst + O_STARTS + (<usize>c << 3), W.windowStart(c));
    store<i64>(dst + O_RUNS + (<usize>c << 3), W.emptyRun(c));
  }
  store<u64>(dst + O_LINES, I.lines);
  store<u64>(dst + O_ACCEPTED, I.accepted);
  store<u64>(dst + O_SKIPPED, I.skipped);
  store<u64>(dst + O_BLANK, I.blank);
  store<u64>(dst + O_MESSAGES, F.messages);
  store<u64>(dst + O_EVENTS, F.events);
  store<u64>(dst + O_BYTES, F.bytes);
  S.saveTotals(dst + O_TOTALS);
  return RECORD_BYTES;
}

/**
 * Continues the run of the record at `src` (`len` bytes): false with the reason in `err` when it
 * is not one this core wrote for this profile and agent id, or anything waits to be sent here.
 * Window lengths stay this core's (its configuration, re-applied by the host first).
 */
export function restore(src: usize, len: i32, err: Writer): bool {
  if (holdsData()) { err.lit(L.dataWaitsToBeSentOpenMtFinishClose); return false; }
  if (len < 8 || load<u32>(src) != MAGIC) { err.lit(L.stateRecordMalformed); return false; }
  const version = <u32>load<u16>(src + O_VERSION);
  if (version != VERSION) { err.lit(L.unknownStateRecordVersion); err.u64(version); return false; }
  if (len != RECORD_BYTES || load<u8>(src + O_STARTED) > 1) { err.lit(L.stateRecordMalformed); return false; }
  if (load<u8>(src + O_PROFILE) != (P.LINUX ? 1 : 0) || load<u64>(src + O_AGENT_HI) != F.agentHi
    || load<u64>(src + O_AGENT_LO) != F.agentLo) {
    err.lit(L.stateRecordOfAnotherAgentOrProfile);
    return false;
  }
  const started = load<u8>(src + O_STARTED) != 0;
  const lastT = load<i64>(src + O_LAST_T);
  let ok = lastT >= 0 && lastT <= E.MAX_TIME;
  for (let c = 0; ok && c < W.COLLECTORS; c++) {
    const start = load<i64>(src + O_STARTS + (<usize>c << 3));
    const run = load<i64>(src + O_RUNS + (<usize>c << 3));
    // A window starts at or before the last input once the run started (unstarted: far ahead).
    ok = (started ? start >= 0 && start <= lastT : start == UNSTARTED) && run >= 0 && run <= E.MAX_TIME;
  }
  if (!ok) { err.lit(L.stateRecordMalformed); return false; }
  I.carryOver(started, lastT, load<u64>(src + O_LINES),
    load<u64>(src + O_ACCEPTED), load<u64>(src + O_SKIPPED), load<u64>(src + O_BLANK));
  F.carryOver(load<u64>(src + O_EVENT), load<u64>(src + O_MESSAGES), load<u64>(src + O_EVENTS), load<u64>(src + O_BYTES));
  for (let c = 0; c < W.COLLECTORS; c++) {
    W.setWindowStart(c, load<i64>(src + O_STARTS + (<usize>c << 3)));
    W.setEmptyRun(c, load<i64>(src + O_RUNS + (<usize>c << 3)));
  }
  W.recomputeDue();
  S.restoreTotals(src + O_TOTALS);
  return true;
}
