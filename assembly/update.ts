// The agent's own diagnostics (SPEC R8): the AgentUpdate record (one per core-update attempt,
// mt_report_update) and the Heartbeat (linux, mt_heartbeat). Each waits in one static slot and
// goes out with the next message that leaves, like the transport's losses (collectorstats.ts).

import * as L from "./words";
import * as P from "./profile";
import * as E from "./event";
import * as J from "./json";
import * as Lf from "./linefields";
import * as Fm from "./format";
import { Text } from "./event";
import { Writer } from "./writer";
import { Lit } from "./literal";
import { storeText, storedLen, storedTruncated } from "./text";

/** Bounds of the record's texts, in bytes of their JSON-escaped form (longer ones are cut, `Truncated`). */
export const VERSION_CAP: i32 = P.LINUX ? 64 : 16;
export const REASON_CAP: i32 = P.LINUX ? 256 : 64;

export const RESULT_APPLIED = 0, RESULT_REJECTED = 1, RESULT_ROLLED_BACK = 2;

// The one AgentUpdate waiting for a message: its texts, then its numbers.
const fromVersion = memory.data(VERSION_CAP, 1);
const toVersion = memory.data(VERSION_CAP, 1);
const reason = memory.data(REASON_CAP, 1);
let fromLen = 0, toLen = 0, reasonLen = -1;
let fromSeq: u64 = 0, toSeq: u64 = 0;
let result = 0;
let truncated = false;
export let updatePending = false;

// The Heartbeat waiting for its message (linux).
let uptime: u64 = 0, seen: u64 = 0, outboxMessages: u64 = 0, outboxBytes: u64 = 0;
export let heartbeatPending = false;

const version = changetype<Text>(memory.data(offsetof<Text>(), 8));

/** Parses the input area's JSON object and reads its members by name; false with the reason in `err`. */
function object(p: usize, len: i32, err: Writer): bool {
  J.begin(p, len, err);
  if (!J.object(0)) return false;
  J.trailing();
  if (J.failed) return false;
  Lf.begin(err);
  return true;
}

function keep(dst: usize, name: Lit, err: Writer): i32 {
  Lf.str(name, true, version);
  if (Lf.bad) return 0;
  storeText(dst, VERSION_CAP, version.ptr, version.len);
  truncated = truncated || storedTruncated;
  return storedLen;
}

/** mt_report_update: the attempt described by the input area's object waits for the next message. */
export function report(p: usize, len: i32, err: Writer): bool {
  if (updatePending) { err.lit(L.anAgentUpdateRecordWaits); return false; }
  if (!object(p, len, err)) return false;
  truncated = false;
  // Results are read first: they decide whether Reason belongs.
  const r = Lf.choice(L.Result, L.applied, L.rejected, L.rolledBack, L.empty);
  const f = Lf.int(L.FromSequence, 0, E.MAX_SAFE);
  const t = Lf.int(L.ToSequence, 0, E.MAX_SAFE);
  const fl = keep(fromVersion, L.FromVersion, err);
  const tl = keep(toVersion, L.ToVersion, err);
  const ri = Lf.member(L.Reason, r != RESULT_APPLIED);
  if (Lf.bad) return false;
  let rl = -1;
  if (ri >= 0) {
    // Only a failed attempt has a reason (SPEC R8).
    if (r == RESULT_APPLIED) { err.pos = 0; err.lit(L.fieldQuote); err.lit(L.Reason); err.lit(L.jsonColonOutOfRange); return false; }
    if (J.memberType(ri) != J.T_STRING) { Lf.fieldError(L.Reason).lit(L.expectedAString); return false; }
    J.stringOf(ri);
    storeText(reason, REASON_CAP, J.strPtr, J.strLen);
    truncated = truncated || storedTruncated;
    rl = storedLen;
  }
  fromLen = fl; toLen = tl; reasonLen = rl;
  fromSeq = <u64>f; toSeq = <u64>t; result = r;
  updatePending = true;
  return true;
}

/** mt_heartbeat's object: the host's counters, which go out in a message made now. */
export function heartbeat(p: usize, len: i32, err: Writer): bool {
  if (!P.LINUX) { err.lit(L.theHeartbeatIsLinuxOnly); return false; }
  if (!object(p, len, err)) return false;
  const u = Lf.int(L.UptimeSeconds, 0, E.MAX_SAFE);
  const s = Lf.int(L.EventsSeen, 0, E.MAX_SAFE);
  const m = Lf.int(L.OutboxMessages, 0, E.MAX_SAFE);
  const b = Lf.int(L.OutboxBytes, 0, E.MAX_SAFE);
  if (Lf.bad) return false;
  uptime = <u64>u; seen = <u64>s; outboxMessages = <u64>m; outboxBytes = <u64>b;
  heartbeatPending = true;
  return true;
}

export function cancelHeartbeat(): void { heartbeatPending = false; }

export function reset(): void { updatePending = false; heartbeatPending = false; }

/** The AgentUpdate record (docs/FORMATS.md; CBOR keys: docs/CBOR.md). */
export function writeUpdate(w: Writer): void {
  Fm.recordBegin(w);
  Fm.text(w, L.FromVersion, 0, fromVersion, fromLen);
  Fm.text(w, L.ToVersion, 1, toVersion, toLen);
  Fm.uint(w, L.FromSequence, 2, fromSeq);
  Fm.uint(w, L.ToSequence, 3, toSeq);
  Fm.quotedWord(w, L.Result, result == RESULT_APPLIED ? L.applied : result == RESULT_REJECTED ? L.rejected : L.rolledBack,
    4, <u64>result);
  if (reasonLen >= 0) Fm.text(w, L.Reason, 5, reason, reasonLen);
  Fm.flag(w, L.Truncated, 12, truncated);
  Fm.recordEnd(w);
}

/** The Heartbeat record (linux). */
export function writeHeartbeat(w: Writer): void {
  if (!P.LINUX) return;
  Fm.recordBegin(w);
  Fm.uint(w, L.UptimeSeconds, 0, uptime);
  Fm.uint(w, L.EventsSeen, 1, seen);
  Fm.uint(w, L.OutboxMessages, 2, outboxMessages);
  Fm.uint(w, L.OutboxBytes, 3, outboxBytes);
  Fm.recordEnd(w);
}

/** The largest records: texts, numbers of 16 digits (2^53), the JSON names and punctuation. */
export const UPDATE_MAX_RECORD: i32 = 2 * VERSION_CAP + REASON_CAP + 160;
export const HEARTBEAT_MAX_RECORD: i32 = 140;
