// Typed records (docs/ABI.md layouts, assembly/layout.ts): checked field by field, then handed
// to the input gate. The connection record has the per-event fast path.

import * as L from "./words";
import { Lit } from "./literal";
import * as P from "./profile";
import * as E from "./event";
import { ev } from "./event";
import * as N from "./network";
import * as F from "./flush";
import * as W from "./window";
import * as T from "./trace";
import * as R from "./layout";
import * as I from "./input";
import * as Col from "./collectors";
import { err, reject, accept, timeOk, badField, HASH_SEED, MT_OK, MT_SKIPPED, MT_BUSY } from "./input";
import { input } from "./areas";


/** Points t at `len` bytes of the typed record (at the input area's start) at offset `at`; returns the next offset. */
function typedText(t: E.Text, at: i32, len: i32): i32 {
  t.ptr = input + at;
  t.len = len;
  return at + len;
}

function typedBegin(off: i32, header: i32, lens: i32, count: i32): i32 {
  if (F.busy()) return -MT_BUSY;
  err.pos = 0;
  let total = header;
  for (let i = 0; i < count; i++) total += <i32>load<u16>(input + off + lens + (i << 1));
  if (off + total > P.INPUT_CAP) { err.lit(L.typedRecordLongerThanTheInputArea); return -1; }
  E.clearTexts();
  ev.t = load<i64>(input + off);
  if (!timeOk(ev.t)) return -1;
  return header;
}

function typedEnd(at: i32, kind: i32): i32 {
  if (at == -MT_BUSY) return MT_BUSY;
  if (at < 0) return reject();
  return accept(kind, ev.t);
}

export function mt_ingest_connection(): i32 { return ingestConnectionAt(0); }

/** Whether a typed connection record's fields are in range (a few word tests, one branch). */
// @ts-ignore: decorator
@inline function connectionValid(t: i64, bytesIn: u64, bytesOut: u64, pd: u32, lf: u32, rf: u32): bool {
  // Byte counts: both <= 2^53 - 1, an all-ones mask, so their OR is too.
  const bytesOk = (bytesIn | bytesOut) <= <u64>E.MAX_SAFE;
  // proto 0..2 and dir 0..1 in one halfword; local family 4|6 and remote 0|4|6.
  return (<u64>t <= <u64>E.MAX_TIME) & bytesOk & ((pd & 0xfefc) == 0) & ((pd & 0xff) != 3)
    & ((lf | 2) == 6) & ((rf == 0) | ((rf | 2) == 6));
}

/** Names the first out-of-range field of a typed connection record. */
function rejectConnection(rec: usize): i32 {
  const t = load<i64>(rec);
  const family = load<u8>(rec + R.CONN_FAMILY);
  const remoteFamily = load<u8>(rec + R.CONN_REMOTE_FAMILY);
  if (t < 0 || t > E.MAX_TIME) badField(L.t);
  else if (load<u64>(rec + R.CONN_BYTES_IN) > <u64>E.MAX_SAFE) badField(L.bytesIn);
  else if (load<u64>(rec + R.CONN_BYTES_OUT) > <u64>E.MAX_SAFE) badField(L.bytesOut);
  else if (load<u8>(rec + R.CONN_PROTO) > 2) badField(L.proto);
  else if (load<u8>(rec + R.CONN_DIR) > 1) badField(L.dir);
  else if (family != 4 && family != 6) badField(L.family);
  else badField(L.remoteFamily);
  return reject();
}


/** Ingests the typed connection record at `off` in the input area. */
// @ts-ignore: decorator
@inline function ingestConnectionAt(off: i32): i32 {
  if (F.busy()) return MT_BUSY;
  const rec = input + off;
  if (off < 0 || off + R.CONN_HEADER > P.INPUT_CAP || off + R.CONN_HEADER + <i32>load<u16>(rec + R.CONN_APP_LEN) + <i32>load<u16>(rec + R.CONN_HOST_LEN) > P.INPUT_CAP) {
    err.pos = 0;
    err.lit(L.typedRecordLongerThanTheInputArea);
    return reject();
  }
  return ingestConnectionRecord(rec);
}

/** A record known to lie inside the input area, with no chunks pending. */
// @ts-ignore: decorator
@inline function ingestConnectionRecord(rec: usize): i32 {
  return ingestConnectionFields(rec, load<u32>(rec + R.CONN_APP_LEN));
}

/** The same, with the string lengths already read (the batch loop needs them for the size):
 *  `lens` is their word, the application's in the low half and the host's in the high. */
// @ts-ignore: decorator
@inline function ingestConnectionFields(rec: usize, lens: u32): i32 {
  // Every scalar field is loaded once, here, then checked and handed on.
  const t = load<i64>(rec);
  const bytesIn = load<u64>(rec + R.CONN_BYTES_IN);
  const bytesOut = load<u64>(rec + R.CONN_BYTES_OUT);
  // proto, dir, family and remote family are one word: one (bounds-checked) access, not three.
  const kinds = load<u32>(rec + R.CONN_PROTO);
  const pd = kinds & 0xffff;
  const lf = (kinds >>> 16) & 0xff;
  const rf = kinds >>> 24;
  if (!connectionValid(t, bytesIn, bytesOut, pd, lf, rf)) return rejectConnection(rec);
  // The common case, kept short for interpreters: in order, inside every window.
  if (I.started && t >= I.lastT && t < W.nextDue) {
    I.lastT = t;
    I.accepted++;
    // A build for speed (-O3) saves an interpreter call per event; one for size keeps one copy,
    // handed the fields loaded above rather than loading them again.
    if (ASC_SHRINK_LEVEL == 0) N.addInline(rec, HASH_SEED, t, bytesIn, bytesOut, lens, kinds);
    else N.addFields(rec, HASH_SEED, t, bytesIn, bytesOut, lens, kinds);
    return MT_OK;
  }
  err.pos = 0;
  I.pendingRecord = rec;
  const r = accept(Col.K_CONNECTION, t);
  // Deferred behind a send: keep a copy, so the host may reuse the input area meanwhile.
  if (I.pendingKind == Col.K_CONNECTION) I.pendingRecord = T.keepRecord(rec);
  return r;
}

/**
 * Ingests the typed connection records laid back to back in the input area from `off` up to
 * `end` (one call for many events: what live collectors and the benchmark use). It stops
 * before a record that does not end by `end`, and after a record that left chunks pending.
 * Returns, packed into one i32 so an interpreter host needs one call per batch:
 * bits 0–16 the offset just past the last record consumed, bits 17–27 how many records were
 * rejected (the last reason stays in the error area), bit 28 whether chunks are pending.
 */
export function mt_ingest_batch(off: i32, end: i32): i32 {
  // Rejected records are counted by the gate (I.skipped): the loop keeps no count of its own.
  const skippedBefore = I.skipped;
  if (F.busy() || off < 0 || end > P.INPUT_CAP) return batchResult(off, 0);
  while (off + R.CONN_HEADER <= end) {
    // Both string lengths in one access (application's in the low half, host's in the high).
    const lens = load<u32>(input + off + R.CONN_APP_LEN);
    const size = R.CONN_HEADER + <i32>(lens & 0xffff) + <i32>(lens >>> 16);
    if (off + size > end) break;
    // The loop has checked what ingestConnectionAt checks: inside the area, nothing pending.
    ingestConnectionFields(input + off, lens);
    off += size;
    if (F.busy()) break;
  }
  return batchResult(off, <i32>(I.skipped - skippedBefore));
}

function batchResult(end: i32, skipped: i32): i32 { return end | (skipped << 17) | (F.busy() ? 1 << 28 : 0); }

export function mt_ingest_process(): i32 {
  let at = typedBegin(0, R.PROC_HEADER, R.PROC_CMD_LEN, 3);
  if (at > 0) {
    ev.pid = load<u32>(input + R.PROC_PID);
    ev.ppid = load<u32>(input + R.PROC_PPID);
    ev.uid = load<u32>(input + R.PROC_UID);
    ev.ptype = load<u8>(input + R.PROC_TYPE);
    if (ev.ptype > 1) at = badField(L.type);
    else {
      at = typedText(E.cmd, at, load<u16>(input + R.PROC_CMD_LEN));
      at = typedText(E.exe, at, load<u16>(input + R.PROC_EXE_LEN));
      at = typedText(E.user, at, load<u16>(input + R.PROC_USER_LEN));
    }
  }
  return typedEnd(at, Col.K_PROCESS);
}

export function mt_ingest_baseline(): i32 {
  let at = typedBegin(0, R.BASE_HEADER, R.BASE_ID_LEN, 5);
  if (at > 0) {
    ev.result = load<u8>(input + R.BASE_RESULT);
    ev.severity = load<u8>(input + R.BASE_SEVERITY);
    if (ev.result > 2) at = badField(L.result);
    else if (ev.severity > 3) at = badField(L.severity);
    else {
      at = typedText(E.checkId, at, load<u16>(input + R.BASE_ID_LEN));
      at = typedText(E.group, at, load<u16>(input + R.BASE_GROUP_LEN));
      at = typedText(E.errorText, at, load<u16>(input + R.BASE_ERROR_LEN));
      at = typedText(E.description, at, load<u16>(input + R.BASE_DESCRIPTION_LEN));
      at = typedText(E.remediation, at, load<u16>(input + R.BASE_REMEDIATION_LEN));
    }
  }
  return typedEnd(at, Col.K_BASELINE);
}

export function mt_ingest_sysinfo(): i32 {
  let at = typedBegin(0, R.SYS_HEADER, R.SYS_OS_LEN, 4);
  if (at > 0) {
    ev.memTotal = load<u64>(input + R.SYS_MEM_TOTAL);
    if (ev.memTotal > <u64>E.MAX_SAFE) at = badField(L.memTotal);
    else {
      at = typedText(E.os, at, load<u16>(input + R.SYS_OS_LEN));
      at = typedText(E.osVersion, at, load<u16>(input + R.SYS_OS_VERSION_LEN));
      at = typedText(E.kernel, at, load<u16>(input + R.SYS_KERNEL_LEN));
      at = typedText(E.hw, at, load<u16>(input + R.SYS_HW_LEN));
    }
  }
  return typedEnd(at, Col.K_SYSINFO);
}
