// The blob's exports: the numeric ABI of docs/ABI.md. Everything the core needs is reserved
// statically (memory.data); nothing here allocates, and memory never grows (SPEC R7).

import * as L from "./words";
import { Lit } from "./literal";
import * as P from "./profile";
import * as E from "./event";
import { ev } from "./event";
import * as S from "./stats";
import * as C from "./config";
import * as N from "./network";
import * as Pr from "./process";
import * as B from "./baseline";
import * as Si from "./sysinfo";
import * as F from "./flush";
import * as W from "./window";
import * as T from "./trace";
import * as R from "./layout";
import { Writer, writerAt } from "./writer";
import { splitmix64 } from "./text";
import { writeRegions } from "./regions";
import { input, output, errorArea } from "./areas";

const err: Writer = writerAt(memory.data(offsetof<Writer>(), 8), errorArea, P.ERROR_CAP);
const out: Writer = writerAt(memory.data(offsetof<Writer>(), 8), output, P.OUTPUT_CAP);

export const MT_OK = 0, MT_SKIPPED = 1, MT_BLANK = 2, MT_BUSY = 3;

const HASH_SEED: u32 = 0x6d74616c;
const DEFAULT_AGENT: u64 = 0x6d6963726f74616c;

let started = false;
let lastT: i64 = 0;
let pendingKind = E.K_NONE;
let pendingT: i64 = 0;
let lines: u64 = 0;
let accepted: u64 = 0;
let skipped: u64 = 0;
let blank: u64 = 0;

export function mt_abi_version(): i32 { return 3; }
/** First byte the core never touches: an engine may limit linear memory to this (wasm3 memoryLimit). */
/** Bytes one cached connection takes: its slot plus its share of the hash index. */
export function mt_network_bytes_per_entry(): i32 { return N.SLOT + N.INDEX_ENTRIES * 2 / P.NET_CAP; }
export function mt_memory_end(): usize { return (__heap_base + 15) & ~15; }
export function mt_input_ptr(): usize { return input; }
export function mt_input_capacity(): i32 { return P.INPUT_CAP; }
export function mt_output_ptr(): usize { return output; }
export function mt_output_capacity(): i32 { return P.OUTPUT_CAP; }
export function mt_error_ptr(): usize { return errorArea; }
export function mt_error_length(): i32 { return err.pos; }

function applyWindows(): void {
  const c = C.current;
  F.setWindow(S.C_PROCESS, F.windowStart(S.C_PROCESS), C.intervalMs(c, c.procPriority));
  F.setWindow(S.C_NETWORK, F.windowStart(S.C_NETWORK), C.intervalMs(c, c.netPriority));
  F.setWindow(S.C_BASELINE, F.windowStart(S.C_BASELINE), C.intervalMs(c, c.baseInterval));
  F.setWindow(S.C_SYSINFO, F.windowStart(S.C_SYSINFO), C.intervalMs(c, c.sysInterval));
}

function restartWindows(t: i64): void {
  for (let c = 0; c < F.COLLECTORS; c++) F.setWindow(c, t, F.windowLength(c));
}

function applyTables(): void {
  const c = C.current;
  Pr.reset(c.procCacheSize, c.procAggregation);
  N.reset(c.netCacheSize, c.netAggregation, c.netEnabled);
  B.reset();
  Si.reset();
}

export function mt_init(): i32 {
  B.reset();
  C.setDefaults(C.current);
  S.clearAll();
  F.resetAll();
  F.agentHi = splitmix64(DEFAULT_AGENT);
  F.agentLo = splitmix64(F.agentHi);
  applyTables();
  // Windows wait for the first input time; until then nothing is due.
  for (let c = 0; c < F.COLLECTORS; c++) F.setWindow(c, i64.MAX_VALUE / 2, 0);
  applyWindows();
  started = false;
  lastT = 0;
  pendingKind = E.K_NONE;
  lines = 0; accepted = 0; skipped = 0; blank = 0;
  err.pos = 0;
  return 0;
}

function hexDigit(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  if (c >= 0x61 && c <= 0x66) return <i32>(c - 0x57);
  if (c >= 0x41 && c <= 0x46) return <i32>(c - 0x37);
  return -1;
}

export function mt_set_agent_id(len: i32): i32 {
  err.pos = 0;
  if (started) { err.lit(L.theAgentIdMustBeSetBeforeTheFirstInput); return MT_SKIPPED; }
  let hi: u64 = 0, lo: u64 = 0, n = 0;
  let ok = len == 36;
  for (let i = 0; ok && i < 36; i++) {
    const c = <u32>load<u8>(input + i);
    if (i == 8 || i == 13 || i == 18 || i == 23) { ok = c == 0x2d; continue; }
    const d = hexDigit(c);
    if (d < 0) { ok = false; break; }
    if (n < 16) hi = (hi << 4) | <u64>d; else lo = (lo << 4) | <u64>d;
    n++;
  }
  if (!ok) { err.lit(L.agentIdMustBeAUUIDOpen8Dash4Dash4Dash4Dash12Hexa); return MT_SKIPPED; }
  F.agentHi = hi;
  F.agentLo = lo;
  return MT_OK;
}

/**
 * The message format a run starts with (0 JSON, 1 CBOR): the default of `messageFormat`, which a
 * configuration update may still change. Only before the first input, like the agent id.
 */
export function mt_set_format(format: i32): i32 {
  err.pos = 0;
  if (started) { err.lit(L.onlyBeforeTheFirstInput); return MT_SKIPPED; }
  if (format != 0 && format != 1) { err.lit(L.expectedQuoteJsonQuoteOrQuoteCborQuote); return MT_SKIPPED; }
  C.current.cbor = format == 1;
  return MT_OK;
}

function reject(): i32 { skipped++; return MT_SKIPPED; }

/** Time checks and flush set-up shared by every input; applies at once when nothing is due. */
function accept(kind: i32, t: i64): i32 {
  if (started && t < lastT) {
    err.pos = 0;
    err.lit(L.time); err.i64(t); err.lit(L.isEarlierThanThePreviousInputAposSTime); err.i64(lastT);
    return reject();
  }
  if (kind == E.K_CONFIG && !C.stage(T.configFirst, T.configCount, T.configId, err)) return reject();
  if (!started) {
    started = true;
    restartWindows(t);
  }
  lastT = t;
  accepted++;
  pendingKind = kind;
  pendingT = t;
  if (!F.begin(t, kind == E.K_CONFIG)) apply();
  // Deferred behind a send: the strings it needs leave the input area, which is the host's again.
  else if (kind == E.K_PROCESS || kind == E.K_BASELINE || kind == E.K_SYSINFO) E.keepTexts(C.pendingInput);
  return MT_OK;
}

/** Applies the pending input once the windows it closed have been sent. */
function apply(): void {
  const c = C.current;
  const kind = pendingKind;
  pendingKind = E.K_NONE;
  if (kind == E.K_CONNECTION) N.add(pendingRecord, HASH_SEED);
  else if (kind == E.K_PROCESS) Pr.add(HASH_SEED, c.procEnabled);
  else if (kind == E.K_BASELINE) B.add(HASH_SEED, c.baseEnabled);
  else if (kind == E.K_SYSINFO) Si.add(c.sysEnabled);
  else if (kind == E.K_CONFIG) {
    C.commit();
    applyTables();
    applyWindows();
    restartWindows(pendingT);
  }
}

export function mt_ingest_line(len: i32): i32 {
  if (F.busy()) return MT_BUSY;
  lines++;
  err.pos = 0;
  if (len < 0 || len > P.INPUT_CAP) { err.lit(L.lineLongerThanTheInputArea); return reject(); }
  const r = T.parseLine(input, len, err);
  if (r == 2) { blank++; return MT_BLANK; }
  if (r == 1) return reject();
  if (ev.kind == E.K_CONNECTION) pendingRecord = T.lineRecord;
  return accept(ev.kind, ev.t);
}

/** A line of `len` bytes (64 bits: a host may read lines past 4 GiB) that the host did not copy in. */
export function mt_oversized_line(len: u64): i32 {
  if (F.busy()) return MT_BUSY;
  lines++;
  err.pos = 0;
  err.lit(L.lineTooLongOpen); err.u64(len); err.lit(L.bytesSemiTheLimitIs); err.i64(P.INPUT_CAP); err.lit(L.Close);
  return reject();
}

export function mt_configure(t: i64, len: i32): i32 {
  if (F.busy()) return MT_BUSY;
  err.pos = 0;
  if (len < 0 || len > P.INPUT_CAP) { err.lit(L.configurationLongerThanTheInputArea); return reject(); }
  if (!timeOk(t)) return reject();
  if (!T.parseConfigObject(input, len, err)) return reject();
  return accept(E.K_CONFIG, t);
}

function timeOk(t: i64): bool {
  if (t >= 0 && t <= E.MAX_TIME) return true;
  err.pos = 0;
  err.lit(L.timeMustBeAnIntegerFrom0To); err.i64(E.MAX_TIME);
  return false;
}

export function mt_tick(t: i64): i32 {
  if (F.busy()) return MT_BUSY;
  err.pos = 0;
  if (!timeOk(t)) return reject();
  return accept(E.K_TICK, t);
}

export function mt_finish(): i32 {
  if (F.busy()) return MT_BUSY;
  if (!started) return MT_OK;
  pendingKind = E.K_NONE;
  if (!F.begin(lastT, true)) apply();
  return MT_OK;
}

export function mt_next_chunk(): i32 {
  if (F.nextChunk(out, P.OUTPUT_CAP)) return out.pos;
  if (pendingKind != E.K_NONE) apply();
  return 0;
}

/** 1 while chunks are pending (ingest calls would answer MT_BUSY). */
export function mt_pending(): i32 { return F.busy() ? 1 : 0; }

export function mt_chunk_ends_message(): i32 { return F.lastChunkEndsMessage() ? 1 : 0; }

// ---- typed ingest ----------------------------------------------------------------------

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

function badField(name: Lit): i32 {
  err.pos = 0;
  err.lit(L.fieldQuote); err.lit(name); err.lit(L.jsonColonOutOfRange);
  return -1;
}

export function mt_ingest_connection(): i32 { return ingestConnectionAt(0); }

/** The connection record a pending input refers to (in the input area or the parsed line's). */
let pendingRecord: usize = 0;

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
  if (started && t >= lastT && t < W.nextDue) {
    lastT = t;
    accepted++;
    // A build for speed (-O3) saves an interpreter call per event; one for size keeps one copy,
    // handed the fields loaded above rather than loading them again.
    if (ASC_SHRINK_LEVEL == 0) N.addInline(rec, HASH_SEED, t, bytesIn, bytesOut, lens, kinds);
    else N.addFields(rec, HASH_SEED, t, bytesIn, bytesOut, lens, kinds);
    return MT_OK;
  }
  err.pos = 0;
  pendingRecord = rec;
  const r = accept(E.K_CONNECTION, t);
  // Deferred behind a send: keep a copy, so the host may reuse the input area meanwhile.
  if (pendingKind == E.K_CONNECTION) pendingRecord = T.keepRecord(rec);
  return r;
}

let batchSkipped = 0;
let batchEnd = 0;

/**
 * Ingests the typed connection records laid back to back in the input area from `off` up to
 * `end` (one call for many events: what live collectors and the benchmark use). It stops
 * before a record that does not end by `end`, and after a record that left chunks pending.
 * Returns, packed into one i32 so an interpreter host needs one call per batch:
 * bits 0–16 the offset just past the last record consumed, bits 17–27 how many records were
 * rejected (the last reason stays in the error area), bit 28 whether chunks are pending.
 */
export function mt_ingest_batch(off: i32, end: i32): i32 {
  batchSkipped = 0;
  batchEnd = off;
  if (F.busy() || off < 0 || end > P.INPUT_CAP) return batchResult();
  while (off + R.CONN_HEADER <= end) {
    // Both string lengths in one access (application's in the low half, host's in the high).
    const lens = load<u32>(input + off + R.CONN_APP_LEN);
    const size = R.CONN_HEADER + <i32>(lens & 0xffff) + <i32>(lens >>> 16);
    if (off + size > end) break;
    // The loop has checked what ingestConnectionAt checks: inside the area, nothing pending.
    if (ingestConnectionFields(input + off, lens) == MT_SKIPPED) batchSkipped++;
    off += size;
    if (F.busy()) break;
  }
  batchEnd = off;
  return batchResult();
}

function batchResult(): i32 { return batchEnd | (batchSkipped << 17) | (F.busy() ? 1 << 28 : 0); }

/** Offset in the input area just past the last record `mt_ingest_batch` consumed. */
export function mt_batch_end(): i32 { return batchEnd; }

export function mt_batch_skipped(): i32 { return batchSkipped; }

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
  return typedEnd(at, E.K_PROCESS);
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
  return typedEnd(at, E.K_BASELINE);
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
  return typedEnd(at, E.K_SYSINFO);
}

// ---- losses the core did not see ---------------------------------------------------------

/** `mt_report_loss`'s `what`: the collector, plus this flag when the value is a downtime in ms. */
const DOWNTIME = 0x100;

/**
 * A loss the core did not see. `what` names the collector: the transport (3) lost `value`
 * messages from its outbox, or (linux profile) the host lost `value` events of collector 0 or 1
 * before they reached the core (a kernel queue overflowed; -1: a loss whose number the source
 * could not tell). With `what` + 0x100 (linux), `value` is the time in ms the host's source of
 * collector 0 or 1 was down (e.g. a helper that was restarted). The open window's counters carry
 * it (events as Received and Dropped, so the counters still add up), with a warning naming the
 * number; the transport's go out with the next message that leaves. Not an input: no time
 * passes, no window moves. One export for both, so a device's core pays for one.
 */
export function mt_report_loss(value: i64, what: i32): i32 {
  if (F.busy()) return MT_BUSY;
  err.pos = 0;
  const collector = what & ~DOWNTIME;
  // Baseline results are the platform's own checks: nothing to lose on the way. The rtos profile
  // counts only the transport's losses (a device's kernel queues are the Linux agent's concern).
  const events = P.LINUX && (collector == S.C_PROCESS || collector == S.C_NETWORK);
  if ((what & DOWNTIME) != 0 ? !events : !events && what != S.TRANSPORT) {
    badField(L.Collector);
    return MT_SKIPPED;
  }
  // A number unknown (-1): the Linux agent's kernel queues; the transport always knows its own.
  if (value < (events && what == collector ? -1 : 0) || value > E.MAX_SAFE) {
    // (rtos: the downtime's word is never laid out, as no downtime gets this far)
    if (P.LINUX) badField((what & DOWNTIME) != 0 ? L.ms : L.Dropped);
    else badField(L.Dropped);
    return MT_SKIPPED;
  }
  if (P.LINUX && what != collector) S.down(collector, <u64>value);
  else if (P.LINUX && value < 0) S.lostUnknown(collector);
  else S.lost(collector, <u64>value);
  return MT_OK;
}

// ---- run summary -----------------------------------------------------------------------

function counters(w: Writer, name: Lit, c: i32): void {
  w.field(name); w.byte(0x7b);
  w.key(L.received); w.u64(S.runTotal(c, offsetof<S.Counters>("received")));
  w.field(L.sent); w.u64(S.runTotal(c, offsetof<S.Counters>("sent")));
  w.field(L.discarded); w.u64(S.runTotal(c, offsetof<S.Counters>("discarded")));
  w.field(L.dropped); w.u64(S.runTotal(c, offsetof<S.Counters>("dropped")));
  w.field(L.ignored); w.u64(S.runTotal(c, offsetof<S.Counters>("ignored")));
  w.byte(0x7d);
}

export function mt_stats(): i32 {
  const w = out;
  w.pos = 0;
  w.byte(0x7b);
  w.key(L.lines); w.u64(lines);
  w.field(L.accepted); w.u64(accepted);
  w.field(L.skipped); w.u64(skipped);
  w.field(L.blank); w.u64(blank);
  w.field(L.messages); w.u64(F.messages);
  w.field(L.events); w.u64(F.events);
  w.field(L.bytes); w.u64(F.bytes);
  counters(w, L.process, S.C_PROCESS);
  counters(w, L.network, S.C_NETWORK);
  w.field(L.baseline); w.byte(0x7b); w.key(L.dropped); w.u64(S.runTotal(S.C_BASELINE, offsetof<S.Counters>("dropped"))); w.byte(0x7d);
  w.byte(0x7d);
  return w.pos;
}

/** Writes the core's linear memory as named regions (docs/ABI.md) into the output area; returns the length. */
export function mt_regions(): i32 {
  out.pos = 0;
  writeRegions(out, <i32>mt_memory_end());
  return out.pos;
}

/** Replaces AssemblyScript's abort import: a failed check traps, and the host sees the trap. */
function onAbort(message: usize, file: usize, line: u32, column: u32): void {
  unreachable();
}
