// The input gate every ingest call goes through: time order, the pending input that waits
// behind a send, and the run's input counts. The calls themselves are index.ts (lines,
// configuration, ticks) and typed.ts (typed records).

import * as L from "./words";
import { Lit } from "./literal";
import * as P from "./profile";
import * as E from "./event";
import * as C from "./config";
import * as Col from "./collectors";
import * as F from "./flush";
import * as T from "./trace";
import { Writer, writerAt } from "./writer";
import { errorArea } from "./areas";
import { minMessageBytes } from "./limits";

export const err: Writer = writerAt(memory.data(offsetof<Writer>(), 8), errorArea, P.ERROR_CAP);

export const MT_OK = 0, MT_SKIPPED = 1, MT_BLANK = 2, MT_BUSY = 3;

export const HASH_SEED: u32 = 0x6d74616c;

export let started = false;
export let lastT: i64 = 0;
export let pendingKind = E.K_NONE;
let pendingT: i64 = 0;
/** The connection record a pending input refers to (in the input area or the parsed line's). */
export let pendingRecord: usize = 0;
export let lines: u64 = 0;
export let accepted: u64 = 0;
export let skipped: u64 = 0;
export let blank: u64 = 0;

function applyWindows(): void {
  for (let c = 0; c < Col.WINDOWED; c++) F.setWindow(c, F.windowStart(c), C.intervalMs(C.current, Col.priority(c)));
}

function restartWindows(t: i64): void {
  for (let c = 0; c < F.COLLECTORS; c++) F.setWindow(c, t, F.windowLength(c));
}

/** Names a field out of its range in the error area; returns -1 (typed records, loss reports). */
export function badField(name: Lit): i32 {
  err.pos = 0;
  err.lit(L.fieldQuote); err.lit(name); err.lit(L.jsonColonOutOfRange);
  return -1;
}

/** A swap's carry-over (state.ts): the previous core's time and input counts. */
export function carryOver(s: bool, t: i64, l: u64, a: u64, sk: u64, b: u64): void {
  started = s; lastT = t; lines = l; accepted = a; skipped = sk; blank = b;
}

/** Forgets the inputs of a run (mt_init). */
export function reset(): void {
  // Windows wait for the first input time; until then nothing is due.
  for (let c = 0; c < F.COLLECTORS; c++) F.setWindow(c, i64.MAX_VALUE / 2, 0);
  applyWindows();
  started = false;
  lastT = 0;
  pendingKind = E.K_NONE;
  lines = 0; accepted = 0; skipped = 0; blank = 0;
  err.pos = 0;
}

export function reject(): i32 { skipped++; return MT_SKIPPED; }

/** Time checks and flush set-up shared by every input; applies at once when nothing is due. */
export function accept(kind: i32, t: i64): i32 {
  if (started && t < lastT) {
    err.pos = 0;
    err.lit(L.time); err.i64(t); err.lit(L.isEarlierThanThePreviousInputAposSTime); err.i64(lastT);
    return reject();
  }
  if (kind == E.K_CONFIG && !C.stage(T.configFirst, T.configCount, T.configId, err, minMessageBytes())) return reject();
  if (!started) {
    started = true;
    restartWindows(t);
  }
  lastT = t;
  accepted++;
  pendingKind = kind;
  pendingT = t;
  if (!F.begin(t, kind == E.K_CONFIG, kind == E.K_HEARTBEAT)) apply();
  // Deferred behind a send: the strings it needs leave the input area, which is the host's again.
  else if (Col.keepsTexts(kind)) E.keepTexts(C.pendingInput);
  return MT_OK;
}

/** Applies the pending input once the windows it closed have been sent. */
export function apply(): void {
  const kind = pendingKind;
  pendingKind = E.K_NONE;
  if (kind == E.K_CONFIG) {
    C.commit();
    Col.configureAll();
    applyWindows();
    restartWindows(pendingT);
  } else Col.ingest(kind, pendingRecord, HASH_SEED);
}

export function timeOk(t: i64): bool {
  if (t >= 0 && t <= E.MAX_TIME) return true;
  err.pos = 0;
  err.lit(L.timeMustBeAnIntegerFrom0To); err.i64(E.MAX_TIME);
  return false;
}

/** The end of input: everything still open is sent, then nothing is pending. */
export function finish(): void {
  pendingKind = E.K_NONE;
  if (!F.begin(lastT, true, false)) apply();
}
