// Process collector (SPEC R1, linux profile): identical = same command line and user id and,
// where both the event and the entry name their executable, the same executable (a copied
// binary under a trusted command line gets its own entry); the first occurrence's pid, ppid and
// type are kept; a full cache cycles (oldest out). The index hashes user id and command line
// only, so entries that differ by executable share a probe chain, met in insertion order.

import * as L from "./words";
import * as P from "./profile";
import { Table, tableAt } from "./table";
import { ev, cmd, exe, user, Text, TYPE_FORK, TYPE_EXEC } from "./event";
import { storeText, storedLen, storedTruncated, hashBytes, bytesEqual } from "./text";
import { Writer } from "./writer";
import * as S from "./stats";
import * as Lf from "./linefields";
import { current } from "./config";
import * as Fm from "./format";

// Slot: [u16 keyLen][u32 uid][cmd bytes] then the fields.
const O_UID = 2, O_CMD = 6;
const F = (O_CMD + P.CMD_CAP + 7) & ~7;
const O_HASH = F, O_PID = F + 4, O_PPID = F + 8, O_TYPE = F + 12, O_TRUNC = F + 13;
const O_EXELEN = F + 14, O_USERLEN = F + 16, O_HITS = F + 24, O_FIRST = F + 32, O_LAST = F + 40;
const O_EXE = F + 48, O_USER = O_EXE + P.EXE_CAP;
const SLOT = (O_USER + P.USER_CAP + 7) & ~7;
const ABSENT: u16 = 0xffff;
// rtos builds no process table at all; one dummy slot keeps the code uniform.
const CAP = P.PROC_CAP > 0 ? P.PROC_CAP : 1;
const INDEX_ENTRIES = CAP * 2;

const PROBE_BYTES = O_CMD + P.CMD_CAP + 8;
const PROBE_EXE_BYTES = (P.EXE_CAP + 7) & ~7;
/** The table, its index and the probe a new event is prepared in (for mt_regions). */
export const BYTES = CAP * SLOT + INDEX_ENTRIES * 2 + PROBE_BYTES + PROBE_EXE_BYTES;
const probe = memory.data(PROBE_BYTES, 8);
/** The event's executable as an entry stores it (truncated alike), to compare with entries'. */
const probeExe = memory.data(PROBE_EXE_BYTES, 8);
export const table: Table = tableAt(
  memory.data(offsetof<Table>(), 8), memory.data(CAP * SLOT, 8), SLOT, O_HASH, CAP,
  memory.data(INDEX_ENTRIES * 2, 8), INDEX_ENTRIES);

export function reset(limit: i32, aggregation: bool): void {
  table.limit = limit < CAP ? limit : CAP;
  table.indexed = aggregation;
  table.clear();
}

function fillOptional(s: usize, lenAt: i32, at: i32, cap: i32, t: Text): void {
  if (t.len <= 0 || load<u16>(s + lenAt) != ABSENT) return;
  storeText(s + at, cap, t.ptr, t.len);
  store<u16>(s + lenAt, <u16>storedLen);
  if (storedTruncated) store<u8>(s + O_TRUNC, 1);
}

/** True unless both the entry in slot s and the event (exeLen >= 0, in probeExe) name different executables. */
function sameExecutable(s: usize, exeLen: i32): bool {
  const stored = load<u16>(s + O_EXELEN);
  if (exeLen < 0 || stored == ABSENT) return true;
  return <i32>stored == exeLen && bytesEqual(s + O_EXE, probeExe, exeLen);
}

export function add(seed: u32, enabled: bool): void {
  S.received(S.C_PROCESS);
  // The rtos profile has no process collector: its events are ignored, and counted.
  if (!enabled || P.PROC_CAP == 0) { S.ignored(S.C_PROCESS); return; }
  store<u32>(probe + O_UID, ev.uid);
  storeText(probe + O_CMD, P.CMD_CAP, cmd.ptr, cmd.len);
  const cmdTruncated = storedTruncated;
  const keyLen = 4 + storedLen;
  store<u16>(probe, <u16>keyLen);
  const hash = hashBytes(seed, probe + 2, keyLen);
  let exeLen = -1;
  if (exe.len > 0) { storeText(probeExe, P.EXE_CAP, exe.ptr, exe.len); exeLen = storedLen; }
  let s = table.find(probe, hash);
  while (s != 0 && !sameExecutable(s, exeLen)) s = table.findNext(probe, hash);
  if (s != 0) {
    store<u64>(s + O_HITS, load<u64>(s + O_HITS) + 1);
    store<i64>(s + O_LAST, ev.t);
    fillOptional(s, O_EXELEN, O_EXE, P.EXE_CAP, exe);
    fillOptional(s, O_USERLEN, O_USER, P.USER_CAP, user);
    return;
  }
  if (table.full) {
    s = table.replaceOldest();
    S.discarded(S.C_PROCESS, load<u64>(s + O_HITS));
  } else s = table.append();
  memory.copy(s, probe, 2 + keyLen);
  store<u32>(s + O_HASH, hash);
  store<u32>(s + O_PID, ev.pid);
  store<u32>(s + O_PPID, ev.ppid);
  store<u8>(s + O_TYPE, <u8>ev.ptype);
  store<u8>(s + O_TRUNC, cmdTruncated ? 1 : 0);
  store<u16>(s + O_EXELEN, ABSENT);
  store<u16>(s + O_USERLEN, ABSENT);
  store<u64>(s + O_HITS, 1);
  store<i64>(s + O_FIRST, ev.t);
  store<i64>(s + O_LAST, ev.t);
  fillOptional(s, O_EXELEN, O_EXE, P.EXE_CAP, exe);
  fillOptional(s, O_USERLEN, O_USER, P.USER_CAP, user);
  table.link(s);
}

// ---- the collector interface (collectors.ts) --------------------------------------------

/** Reads a process line's fields (trace.ts has read its kind and time). */
export function fromLine(): void {
  ev.pid = <u32>Lf.int(L.pid, 0, 4294967295);
  ev.ppid = <u32>Lf.int(L.ppid, 0, 4294967295);
  ev.uid = <u32>Lf.int(L.uid, 0, 4294967295);
  ev.ptype = Lf.choice(L.type, L.fork, L.exec, L.empty, L.empty);
  Lf.str(L.cmd, true, cmd);
  Lf.str(L.exe, false, exe);
  Lf.str(L.user, false, user);
}

/** Applies the configuration: a new cache size or aggregation empties the cache. */
export function configure(): void { reset(current.procCacheSize, current.procAggregation); }
export function enabled(): bool { return current.procEnabled && P.PROC_CAP > 0; }
export function priority(): i32 { return current.procPriority; }
export function ingest(seed: u32): void { add(seed, current.procEnabled); }
/** Ends a window. */
export function clear(): void { table.clear(); }
export function count(): i32 { return table.count; }
/** Counts record k's hits as sent, once it is in a message. */
export function sent(k: i32): void { S.sent(S.C_PROCESS, load<u64>(table.at(k) + O_HITS)); }

/** The k-th oldest record as a ProcessCreate payload (docs/FORMATS.md; member names and keys: format.ts). */
export function write(w: Writer, k: i32, base: i64): void {
  // rtos has no process table (it never has records): the writer is left out of the build.
  if (P.PROC_CAP == 0) return;
  const s = table.at(k);
  const type = load<u8>(s + O_TYPE);
  Fm.recordBegin(w);
  Fm.uint(w, L.ProcessId, 0, load<u32>(s + O_PID));
  Fm.uint(w, L.ParentProcessId, 1, load<u32>(s + O_PPID));
  Fm.uint(w, L.UserId, 2, load<u32>(s + O_UID));
  Fm.shared(w, L.CommandLine, 3, s + O_CMD, <i32>load<u16>(s) - 4);
  Fm.word(w, L.Type, type == TYPE_FORK ? L.jsonFork : L.jsonExec, 4, type, TYPE_EXEC);
  Fm.seen(w, load<u64>(s + O_HITS), load<i64>(s + O_FIRST), load<i64>(s + O_LAST), base);
  const exeLen = load<u16>(s + O_EXELEN);
  if (exeLen != ABSENT) Fm.shared(w, L.Executable, 10, s + O_EXE, exeLen);
  const userLen = load<u16>(s + O_USERLEN);
  if (userLen != ABSENT) Fm.shared(w, L.UserName, 11, s + O_USER, userLen);
  Fm.flag(w, L.Truncated, 12, load<u8>(s + O_TRUNC) != 0);
  Fm.recordEnd(w);
}

export const MAX_RECORD: i32 = 320 + P.CMD_CAP + P.EXE_CAP + P.USER_CAP;
