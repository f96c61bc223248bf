// Baseline collector (SPEC R4): the latest result per check within the window; only
// `fail` and `error` are sent; disabled groups and checks are not kept.

import * as L from "./words";
import * as P from "./profile";
import { Table, tableAt } from "./table";
import { ev, checkId, group, errorText, description, remediation, Text, RESULT_PASS, RESULT_FAIL } from "./event";
import { storeText, storedLen, storedTruncated, hashBytes } from "./text";
import { Writer } from "./writer";
import { current, groupDisabled, checkDisabled } from "./config";
import * as S from "./stats";
import * as Lf from "./linefields";
import * as Fm from "./format";

const O_ID = 2;
const F = (O_ID + P.CHECK_ID_CAP + 7) & ~7;
const O_HASH = F, O_RESULT = F + 4, O_SEV = F + 5, O_TRUNC = F + 6;
const O_GROUPLEN = F + 8, O_ERRLEN = F + 10, O_DESCLEN = F + 12, O_REMLEN = F + 14;
const O_GROUP = F + 16, O_ERR = O_GROUP + P.GROUP_CAP, O_DESC = O_ERR + P.ERROR_TEXT_CAP;
const O_REM = O_DESC + P.DESCRIPTION_CAP;
const SLOT = (O_REM + P.REMEDIATION_CAP + 7) & ~7;
const INDEX_ENTRIES = P.BASELINE_CAP * 2;

const PROBE_BYTES = O_ID + P.CHECK_ID_CAP + 8;
const GROUP_PROBE_BYTES = P.GROUP_CAP + 8;
/** The table, its index and the probes a new result is prepared in (for mt_regions). */
export const BYTES = P.BASELINE_CAP * SLOT + INDEX_ENTRIES * 2 + PROBE_BYTES + GROUP_PROBE_BYTES;
const probe = memory.data(PROBE_BYTES, 8);
const groupProbe = memory.data(GROUP_PROBE_BYTES, 8);
export const table: Table = tableAt(
  memory.data(offsetof<Table>(), 8), memory.data(P.BASELINE_CAP * SLOT, 8), SLOT, O_HASH, P.BASELINE_CAP,
  memory.data(INDEX_ENTRIES * 2, 8), INDEX_ENTRIES);

export function reset(): void { table.clear(); }

function put(s: usize, lenAt: i32, at: i32, cap: i32, t: Text): bool {
  const len = t.len > 0 ? t.len : 0;
  storeText(s + at, cap, t.ptr, len);
  store<u16>(s + lenAt, <u16>storedLen);
  return storedTruncated;
}

// Counted (stats.ts, C_BASELINE): every result is received; one of a disabled collector,
// group or check is ignored; one of a check new to the window that finds the table full is
// dropped; the rest are kept (a check's latest result replaces its earlier one).
export function add(seed: u32, enabled: bool): void {
  S.received(S.C_BASELINE);
  if (!enabled) { S.ignored(S.C_BASELINE); return; }
  storeText(probe + O_ID, P.CHECK_ID_CAP, checkId.ptr, checkId.len);
  const idTruncated = storedTruncated;
  const idLen = storedLen;
  store<u16>(probe, <u16>idLen);
  if (checkDisabled(probe + O_ID, idLen)) { S.ignored(S.C_BASELINE); return; }
  storeText(groupProbe, P.GROUP_CAP, group.ptr, group.len);
  if (groupDisabled(groupProbe, storedLen)) { S.ignored(S.C_BASELINE); return; }
  const hash = hashBytes(seed, probe + 2, idLen);
  let s = table.find(probe, hash);
  if (s == 0) {
    if (table.full) { S.dropped(S.C_BASELINE); return; }
    s = table.append();
    memory.copy(s, probe, 2 + idLen);
    store<u32>(s + O_HASH, hash);
    table.link(s);
  }
  // The latest result of a check replaces the earlier one, all fields together.
  store<u8>(s + O_RESULT, <u8>ev.result);
  store<u8>(s + O_SEV, <u8>ev.severity);
  let truncated = idTruncated;
  truncated = put(s, O_GROUPLEN, O_GROUP, P.GROUP_CAP, group) || truncated;
  truncated = put(s, O_ERRLEN, O_ERR, P.ERROR_TEXT_CAP, errorText) || truncated;
  truncated = put(s, O_DESCLEN, O_DESC, P.DESCRIPTION_CAP, description) || truncated;
  truncated = put(s, O_REMLEN, O_REM, P.REMEDIATION_CAP, remediation) || truncated;
  store<u8>(s + O_TRUNC, truncated ? 1 : 0);
}

// ---- the collector interface (collectors.ts) --------------------------------------------

/** Reads a baseline line's fields (trace.ts has read its kind and time). */
export function fromLine(): void {
  Lf.str(L.id, true, checkId);
  Lf.str(L.group, true, group);
  ev.result = Lf.choice(L.result, L.pass, L.fail, L.error, L.empty);
  ev.severity = Lf.choice(L.severity, L.critical, L.important, L.warning, L.informational);
  Lf.str(L.description, true, description);
  Lf.str(L.remediation, true, remediation);
  Lf.str(L.error, false, errorText);
}

export function configure(): void { table.clear(); }
export function enabled(): bool { return current.baseEnabled; }
export function priority(): i32 { return current.baseInterval; }
export function ingest(seed: u32): void { add(seed, current.baseEnabled); }
export function clear(): void { table.clear(); }
export function count(): i32 { return table.count; }
/** Only fail and error results are sent. */
export function sendable(k: i32): bool { return load<u8>(table.at(k) + O_RESULT) != RESULT_PASS; }

/** The k-th record as a Baseline payload (docs/FORMATS.md; member names and keys: format.ts). */
export function write(w: Writer, k: i32, base: i64): void {
  const s = table.at(k);
  const result = load<u8>(s + O_RESULT);
  const sev = load<u8>(s + O_SEV);
  Fm.recordBegin(w);
  Fm.text(w, L.CheckId, 0, s + O_ID, load<u16>(s));
  Fm.shared(w, L.Group, 1, s + O_GROUP, load<u16>(s + O_GROUPLEN));
  Fm.word(w, L.Result, result == RESULT_FAIL ? L.jsonFail : L.jsonError, 2, result, Fm.NO_DEFAULT);
  Fm.text(w, L.Error, 3, s + O_ERR, load<u16>(s + O_ERRLEN));
  Fm.text(w, L.Description, 4, s + O_DESC, load<u16>(s + O_DESCLEN));
  Fm.text(w, L.Remediation, 5, s + O_REM, load<u16>(s + O_REMLEN));
  Fm.word(w, L.Severity, sev == 0 ? L.jsonCritical : sev == 1 ? L.jsonImportant : sev == 2 ? L.jsonWarning : L.jsonInformational,
    6, sev, Fm.NO_DEFAULT);
  Fm.flag(w, L.Truncated, 12, load<u8>(s + O_TRUNC) != 0);
  Fm.recordEnd(w);
}

export const MAX_RECORD: i32 = 200 + P.CHECK_ID_CAP + P.GROUP_CAP + P.ERROR_TEXT_CAP + P.DESCRIPTION_CAP + P.REMEDIATION_CAP;
