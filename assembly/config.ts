// The configuration (SPEC R6): defaults per profile, and updates that are validated whole
// against a staged copy, so a rejected update changes nothing.

import * as L from "./words";
import { Lit, litLength, isLit } from "./literal";
import * as P from "./profile";
import * as J from "./json";
import * as S from "./stats";
import { Writer } from "./writer";
import { storeText, storedLen, bytesEqual } from "./text";

// The message format's words live with the one module that reads them (the rest: words.ts).
@lazy const cbor: Lit = memory.data<u8>([4, 99, 98, 111, 114], 1); // "cbor"
@lazy const expectedQuoteJsonQuoteOrQuoteCborQuote: Lit = memory.data<u8>([25, 101, 120, 112, 101, 99, 116, 101, 100, 32, 34, 106, 115, 111, 110, 34, 32, 111, 114, 32, 34, 99, 98, 111, 114, 34], 1); // "expected \"json\" or \"cbor\""

export const PRIO_HIGH = 0, PRIO_MEDIUM = 1, PRIO_LOW = 2;
export const MAX_INTERVAL_S: i64 = 2678400;
export const MAX_MESSAGE_LIMIT = 262144;
export const MAX_UTC_OFFSET_MIN = 1080;
export const MAX_PACKING_DELAY_S: i64 = 86400;

const GROUP_ENTRY = P.GROUP_CAP + 2;
const CHECK_ENTRY = P.CHECK_ID_CAP + 2;

@unmanaged export class Config {
  procEnabled: bool;
  procAggregation: bool;
  procPriority: i32;
  procCacheSize: i32;
  netEnabled: bool;
  netAggregation: bool;
  netPriority: i32;
  netCacheSize: i32;
  sysEnabled: bool;
  sysInterval: i32;
  baseEnabled: bool;
  baseInterval: i32;
  highS: i64;
  mediumS: i64;
  lowS: i64;
  maxMessageBytes: i32;
  sendEmptyWindows: bool;
  /** messageFormat: false JSON, true CBOR (SPEC R8). In sendEmptyWindows' padding: no RAM. */
  cbor: bool;
  utcOffsetMin: i32;
  groupCount: i32;
  checkCount: i32;
  /** maxPackingDelay in seconds (0: every window in its own message). In the head's padding. */
  packingDelayS: i32;
}

const HEAD: i32 = <i32>offsetof<Config>();
const GROUPS_AT = (HEAD + 7) & ~7;
const CHECKS_AT = GROUPS_AT + P.DISABLED_GROUPS_CAP * GROUP_ENTRY;
export const CONFIG_BYTES = CHECKS_AT + P.DISABLED_CHECKS_CAP * CHECK_ENTRY;

export const current = changetype<Config>(memory.data(CONFIG_BYTES, 8));

// Only one input is in flight at a time (others get MT_BUSY), so what it keeps while it waits
// behind a send shares one area: a staged configuration, a connection record (trace.ts) or
// the strings of a process, baseline or system information input (event.ts).
const PR: i32 = P.LINE_RECORD_BYTES > P.KEPT_TEXT_BYTES ? P.LINE_RECORD_BYTES : P.KEPT_TEXT_BYTES;
export const PENDING_BYTES: i32 = CONFIG_BYTES > PR ? CONFIG_BYTES : PR;
export const pendingInput = memory.data(PENDING_BYTES, 8);
const staged = changetype<Config>(pendingInput);

export function setDefaults(c: Config): void {
  memory.fill(changetype<usize>(c), 0, CONFIG_BYTES);
  c.procEnabled = true; c.procAggregation = true; c.procPriority = PRIO_MEDIUM; c.procCacheSize = 256;
  c.netEnabled = true; c.netAggregation = true; c.netPriority = PRIO_MEDIUM; c.netCacheSize = 256;
  c.sysEnabled = true; c.sysInterval = PRIO_LOW;
  c.baseEnabled = true; c.baseInterval = PRIO_LOW;
  c.highS = P.DEFAULT_HIGH_S; c.mediumS = P.DEFAULT_MEDIUM_S; c.lowS = P.DEFAULT_LOW_S;
  c.maxMessageBytes = P.DEFAULT_MAX_MESSAGE;
  c.sendEmptyWindows = false;
  c.utcOffsetMin = 0;
  c.cbor = false;
  c.packingDelayS = 0;
}

/** Window length in ms for a priority of configuration c. */
export function intervalMs(c: Config, prio: i32): i64 {
  const s = prio == PRIO_HIGH ? c.highS : prio == PRIO_MEDIUM ? c.mediumS : c.lowS;
  return s * 1000;
}

// ---- disabled groups / checks --------------------------------------------------------

function groupEntry(c: Config, i: i32): usize { return changetype<usize>(c) + GROUPS_AT + <usize>i * GROUP_ENTRY; }
function checkEntry(c: Config, i: i32): usize { return changetype<usize>(c) + CHECKS_AT + <usize>i * CHECK_ENTRY; }

/** Whether a (stored, sanitised) group name is disabled. */
export function groupDisabled(p: usize, len: i32): bool {
  for (let i = 0; i < current.groupCount; i++) {
    const e = groupEntry(current, i);
    if (<i32>load<u16>(e) == len && bytesEqual(e + 2, p, len)) return true;
  }
  return false;
}

export function checkDisabled(p: usize, len: i32): bool {
  for (let i = 0; i < current.checkCount; i++) {
    const e = checkEntry(current, i);
    if (<i32>load<u16>(e) == len && bytesEqual(e + 2, p, len)) return true;
  }
  return false;
}

// ---- updates -------------------------------------------------------------------------

let err: Writer = changetype<Writer>(0);
let bad = false;

/** Starts `config.<path>.<key>: ` in the error area; false when a reason is already there. */
function rejectAt(path: Lit, key: i32): bool {
  if (bad) return false;
  bad = true;
  err.pos = 0;
  err.lit(L.config);
  if (litLength(path) > 0) { err.byte(0x2e); err.lit(path); }
  if (key >= 0) {
    err.byte(0x2e);
    const n = J.memberKeyLen(key);
    const p = J.memberKeyPtr(key);
    // Key names are echoed safely: printable ASCII only, at most 64 bytes.
    for (let i = 0; i < n && i < 64; i++) {
      const c = <u32>load<u8>(p + i);
      err.byte(c >= 0x20 && c < 0x7f ? c : 0x3f);
    }
  }
  err.lit(L.Colon);
  return true;
}

function reject(path: Lit, key: i32, what: Lit): void {
  if (rejectAt(path, key)) err.lit(what);
}

function isKey(i: i32, name: Lit): bool { return isLit(J.memberKeyPtr(i), J.memberKeyLen(i), name); }

function bool_(path: Lit, i: i32): bool {
  const t = J.memberType(i);
  if (t != J.T_TRUE && t != J.T_FALSE) reject(path, i, L.expectedTrueOrFalse);
  return t == J.T_TRUE;
}

function int_(path: Lit, i: i32, min: i64, max: i64): i64 {
  if (J.memberType(i) == J.T_NUMBER) {
    J.numberOf(i);
    if (J.numKind == J.N_INT && J.numValue >= min && J.numValue <= max) return J.numValue;
  }
  if (rejectAt(path, i)) {
    err.lit(L.expectedAnIntegerFrom); err.i64(min); err.lit(L.to); err.i64(max);
  }
  return min;
}

function priority_(path: Lit, i: i32): i32 {
  if (J.memberType(i) == J.T_STRING) {
    J.stringOf(i);
    if (eq(L.high)) return PRIO_HIGH;
    if (eq(L.medium)) return PRIO_MEDIUM;
    if (eq(L.low)) return PRIO_LOW;
  }
  reject(path, i, L.expectedQuoteHighQuoteCommaQuoteMediumQuoteOrQuo);
  return PRIO_MEDIUM;
}

function eq(s: Lit): bool { return isLit(J.strPtr, J.strLen, s); }

function tooMany(path: Lit, i: i32, cap: i32): void {
  if (rejectAt(path, i)) { err.lit(L.expectedAnArrayOfAtMost); err.i64(cap); err.lit(L.strings); }
}

/** Replaces a list of names; rejects anything but an array of at most `cap` strings. */
function names_(path: Lit, i: i32, c: Config, checks: bool): void {
  const cap = checks ? P.DISABLED_CHECKS_CAP : P.DISABLED_GROUPS_CAP;
  if (J.memberType(i) != J.T_ARRAY) { tooMany(path, i, cap); return; }
  J.arrayBegin(i);
  let n = 0;
  while (true) {
    const t = J.arrayNext();
    if (t == J.T_NONE) break;
    if (t != J.T_STRING || n >= cap) { tooMany(path, i, cap); return; }
    const e = checks ? checkEntry(c, n) : groupEntry(c, n);
    storeText(e + 2, checks ? P.CHECK_ID_CAP : P.GROUP_CAP, J.strPtr, J.strLen);
    store<u16>(e, <u16>storedLen);
    n++;
  }
  if (checks) c.checkCount = n; else c.groupCount = n;
}

// The collectors' settings are named by the table's numbers (stats.ts); system information's is 3.
const SYSTEM_INFORMATION = 3;

function collector(path: Lit, key: i32, c: Config, which: i32): void {
  const events = which == S.C_PROCESS || which == S.C_NETWORK;
  if (J.memberType(key) != J.T_OBJECT) { reject(L.empty, key, L.expectedAnObject); return; }
  J.objectOf(key);
  const first = J.firstMember, count = J.memberCount, id = J.objectId;
  for (let i = first; i < first + count && !bad; i++) {
    if (!J.isMemberOf(i, id)) continue;
    if (isKey(i, L.enabled)) {
      const v = bool_(path, i);
      if (which == S.C_PROCESS) c.procEnabled = v; else if (which == S.C_NETWORK) c.netEnabled = v;
      else if (which == SYSTEM_INFORMATION) c.sysEnabled = v; else c.baseEnabled = v;
    } else if (events && isKey(i, L.priority)) {
      const v = priority_(path, i);
      if (which == S.C_PROCESS) c.procPriority = v; else c.netPriority = v;
    } else if (events && isKey(i, L.aggregation)) {
      const v = bool_(path, i);
      if (which == S.C_PROCESS) c.procAggregation = v; else c.netAggregation = v;
    } else if (events && isKey(i, L.cacheSize)) {
      if (which == S.C_PROCESS) c.procCacheSize = <i32>int_(path, i, 1, P.PROC_CONFIG_CAP);
      else c.netCacheSize = <i32>int_(path, i, 1, P.NET_CAP);
    } else if (!events && isKey(i, L.interval)) {
      const v = priority_(path, i);
      if (which == SYSTEM_INFORMATION) c.sysInterval = v; else c.baseInterval = v;
    } else if (which == S.C_BASELINE && isKey(i, L.disabledGroups)) {
      names_(path, i, c, false);
    } else if (which == S.C_BASELINE && isKey(i, L.disabledChecks)) {
      names_(path, i, c, true);
    } else reject(path, i, L.unknownKey);
  }
}

/**
 * Validates the update object at member range of the current JSON scan into the staged copy;
 * `minMessage` is the least maxMessageBytes the collectors allow (limits.ts, which imports them).
 * Returns false (reason written to `errors`) and leaves `current` untouched on any problem.
 */
export function stage(first: i32, count: i32, id: i32, errors: Writer, minMessage: i32): bool {
  err = errors;
  bad = false;
  memory.copy(changetype<usize>(staged), changetype<usize>(current), CONFIG_BYTES);
  const c = staged;
  for (let i = first; i < first + count && !bad; i++) {
    if (!J.isMemberOf(i, id)) continue;
    if (isKey(i, L.process)) collector(L.process, i, c, S.C_PROCESS);
    else if (isKey(i, L.network)) collector(L.network, i, c, S.C_NETWORK);
    else if (isKey(i, L.systemInformation)) collector(L.systemInformation, i, c, SYSTEM_INFORMATION);
    else if (isKey(i, L.baseline)) collector(L.baseline, i, c, S.C_BASELINE);
    else if (isKey(i, L.priorityIntervals)) {
      if (J.memberType(i) != J.T_OBJECT) { reject(L.empty, i, L.expectedAnObject); break; }
      J.objectOf(i);
      const f = J.firstMember, n = J.memberCount, pid = J.objectId;
      for (let k = f; k < f + n && !bad; k++) {
        if (!J.isMemberOf(k, pid)) continue;
        if (isKey(k, L.high)) c.highS = int_(L.priorityIntervals, k, 1, MAX_INTERVAL_S);
        else if (isKey(k, L.medium)) c.mediumS = int_(L.priorityIntervals, k, 1, MAX_INTERVAL_S);
        else if (isKey(k, L.low)) c.lowS = int_(L.priorityIntervals, k, 1, MAX_INTERVAL_S);
        else reject(L.priorityIntervals, k, L.unknownKey);
      }
    } else if (isKey(i, L.maxMessageBytes)) {
      c.maxMessageBytes = <i32>int_(L.empty, i, minMessage, MAX_MESSAGE_LIMIT);
    } else if (isKey(i, L.sendEmptyWindows)) c.sendEmptyWindows = bool_(L.empty, i);
    else if (isKey(i, L.messageFormat)) {
      let ok = J.memberType(i) == J.T_STRING;
      if (ok) { J.stringOf(i); ok = eq(L.json) || eq(cbor); }
      if (ok) c.cbor = eq(cbor); else reject(L.empty, i, expectedQuoteJsonQuoteOrQuoteCborQuote);
    } else if (isKey(i, L.maxPackingDelay)) {
      c.packingDelayS = <i32>int_(L.empty, i, 0, MAX_PACKING_DELAY_S);
    } else if (isKey(i, L.utcOffsetMinutes)) {
      c.utcOffsetMin = <i32>int_(L.empty, i, -MAX_UTC_OFFSET_MIN, MAX_UTC_OFFSET_MIN);
    } else reject(L.empty, i, L.unknownKey);
  }
  return !bad;
}

/** The format a run starts with (mt_set_format: 0 JSON, 1 CBOR); false, with the reason, for another number. */
export function setFormat(format: i32, errors: Writer): bool {
  if (format != 0 && format != 1) { errors.lit(expectedQuoteJsonQuoteOrQuoteCborQuote); return false; }
  current.cbor = format == 1;
  return true;
}

/** Makes the staged configuration current. */
export function commit(): void {
  memory.copy(changetype<usize>(current), changetype<usize>(staged), CONFIG_BYTES);
}

