// The blob's exports: the numeric ABI of docs/ABI.md. Everything the core needs is reserved
// statically (memory.data); nothing here allocates, and memory never grows (SPEC R7).

import * as L from "./words";
import * as P from "./profile";
import * as E from "./event";
import { ev } from "./event";
import * as S from "./stats";
import * as C from "./config";
import * as N from "./network";
import * as Col from "./collectors";
import * as F from "./flush";
import * as T from "./trace";
import * as I from "./input";
import { err, reject, accept, timeOk, MT_OK, MT_SKIPPED, MT_BLANK, MT_BUSY } from "./input";
import { writeSummary } from "./summary";
import { Writer, writerAt } from "./writer";
import { splitmix64 } from "./text";
import { writeRegions } from "./regions";
import { input, output, errorArea } from "./areas";
import * as U from "./update";
import * as St from "./state";

export { MT_OK, MT_SKIPPED, MT_BLANK, MT_BUSY } from "./input";

const out: Writer = writerAt(memory.data(offsetof<Writer>(), 8), output, P.OUTPUT_CAP);

const DEFAULT_AGENT: u64 = 0x6d6963726f74616c;

export function mt_abi_version(): i32 { return 5; }
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

export function mt_init(): i32 {
  C.setDefaults(C.current);
  S.clearAll();
  F.resetAll();
  F.agentHi = splitmix64(DEFAULT_AGENT);
  F.agentLo = splitmix64(F.agentHi);
  Col.configureAll();
  I.reset();
  U.reset();
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
  if (I.started) { err.lit(L.theAgentIdMustBeSetBeforeTheFirstInput); return MT_SKIPPED; }
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
 * The message format a run starts with (docs/ABI.md): the default of `messageFormat`, which a
 * configuration update may still change. Only before the first input, like the agent id.
 */
export function mt_set_format(format: i32): i32 {
  err.pos = 0;
  if (I.started) { err.lit(L.onlyBeforeTheFirstInput); return MT_SKIPPED; }
  return C.setFormat(format, err) ? MT_OK : MT_SKIPPED;
}

export function mt_ingest_line(len: i32): i32 {
  if (F.busy()) return MT_BUSY;
  I.lines++;
  err.pos = 0;
  if (len < 0 || len > P.INPUT_CAP) { err.lit(L.lineLongerThanTheInputArea); return reject(); }
  const r = T.parseLine(input, len, err);
  if (r == 2) { I.blank++; return MT_BLANK; }
  if (r == 1) return reject();
  if (ev.kind == Col.K_CONNECTION) I.pendingRecord = T.lineRecord;
  return accept(ev.kind, ev.t);
}

/** A line of `len` bytes (64 bits: a host may read lines past 4 GiB) that the host did not copy in. */
export function mt_oversized_line(len: u64): i32 {
  if (F.busy()) return MT_BUSY;
  I.lines++;
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

export function mt_tick(t: i64): i32 {
  if (F.busy()) return MT_BUSY;
  err.pos = 0;
  if (!timeOk(t)) return reject();
  return accept(E.K_TICK, t);
}

export function mt_finish(): i32 {
  if (F.busy()) return MT_BUSY;
  if (!I.started) return MT_OK;
  I.finish();
  return MT_OK;
}

export function mt_next_chunk(): i32 {
  if (F.nextChunk(out, P.OUTPUT_CAP)) return out.pos;
  if (I.pendingKind != E.K_NONE) I.apply();
  return 0;
}

/** 1 while chunks are pending (ingest calls would answer MT_BUSY). */
export function mt_pending(): i32 { return F.busy() ? 1 : 0; }

export function mt_chunk_ends_message(): i32 { return F.lastChunkEndsMessage() ? 1 : 0; }

/**
 * A core swap (docs/ABI.md): once everything was sent (mt_finish, drained), writes the run's
 * carry-over record into the output area; its length, or 0 with the reason while anything waits.
 */
export function mt_state_save(): i32 {
  err.pos = 0;
  return St.save(output, err);
}

/** The new core continues the record the host wrote into the input area (after agent id, format and configuration). */
export function mt_state_restore(len: i32): i32 {
  if (F.busy()) return MT_BUSY;
  err.pos = 0;
  if (len < 0 || len > P.INPUT_CAP) { err.lit(L.stateRecordMalformed); return MT_SKIPPED; }
  return St.restore(input, len, err) ? MT_OK : MT_SKIPPED;
}

/** An AgentUpdate record (input: one JSON object) that goes out with the next message that leaves. Not an input. */
export function mt_report_update(len: i32): i32 {
  if (F.busy()) return MT_BUSY;
  err.pos = 0;
  if (len < 0 || len > P.INPUT_CAP) { err.lit(L.lineLongerThanTheInputArea); return MT_SKIPPED; }
  return U.report(input, len, err) ? MT_OK : MT_SKIPPED;
}

/** A Heartbeat (input: one JSON object) at time t: due windows are sent, then a message holding it (linux). */
export function mt_heartbeat(t: i64, len: i32): i32 {
  if (F.busy()) return MT_BUSY;
  err.pos = 0;
  if (len < 0 || len > P.INPUT_CAP) { err.lit(L.lineLongerThanTheInputArea); return reject(); }
  if (!timeOk(t)) return reject();
  if (!U.heartbeat(input, len, err)) return reject();
  const rc = accept(E.K_HEARTBEAT, t);
  if (rc != MT_OK) U.cancelHeartbeat();
  return rc;
}

export * from "./typed";
export * from "./losses";

/** The run's totals as one JSON line in the output area (docs/ABI.md); returns the length. */
export function mt_stats(): i32 { return writeSummary(out); }

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
