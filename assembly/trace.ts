// The trace line parser (SPEC R10), shared by every engine: one JSON object per line,
// checked field by field into the pending event. A bad line is rejected with a reason.

import * as L from "./words";
import { Lit, litLength, isLit } from "./literal";
import * as J from "./json";
import * as E from "./event";
import { ev, Text } from "./event";
import { Writer } from "./writer";
import { parseIPv4, parseIPv6 } from "./ip";
import { APP_CAP, HOST_CAP } from "./profile";
import { pendingInput } from "./config";
import * as R from "./layout";

// A connection line becomes a typed record (docs/ABI.md layout), so lines and typed ingest
// share one path. Optional strings are cut 4 bytes past their bound (profile.ts,
// LINE_RECORD_BYTES). The record is the pending input's while it waits (config.ts).
const APP_KEEP = APP_CAP + 4;
const HOST_KEEP = HOST_CAP + 4;
export const lineRecord = pendingInput;

/** Copies a typed connection record into lineRecord, strings cut as for a line. */
export function keepRecord(rec: usize): usize {
  const r = lineRecord;
  const appIn = <i32>load<u16>(rec + R.CONN_APP_LEN);
  const hostIn = <i32>load<u16>(rec + R.CONN_HOST_LEN);
  const appLen = appIn > APP_KEEP ? APP_KEEP : appIn;
  const hostLen = hostIn > HOST_KEEP ? HOST_KEEP : hostIn;
  memory.copy(r, rec, R.CONN_APP_LEN);
  memory.copy(r + R.CONN_HEADER, rec + R.CONN_HEADER, appLen);
  memory.copy(r + R.CONN_HEADER + appLen, rec + R.CONN_HEADER + appIn, hostLen);
  store<u16>(r + R.CONN_APP_LEN, <u16>appLen);
  store<u16>(r + R.CONN_HOST_LEN, <u16>hostLen);
  return r;
}

let err: Writer = changetype<Writer>(0);
let bad = false;
let first = 0;
let count = 0;
let objId = 0;

function fieldError(name: Lit): Writer {
  bad = true;
  err.pos = 0;
  err.lit(L.fieldQuote);
  err.lit(name);
  err.lit(L.jsonColon);
  return err;
}

function missing(name: Lit): void {
  bad = true;
  err.pos = 0;
  err.lit(L.missingFieldQuote);
  err.lit(name);
  err.byte(0x22);
}

function member(name: Lit, required: bool): i32 {
  if (bad) return -1;
  const i = J.find(first, count, objId, name);
  if (i < 0 && required) missing(name);
  return i;
}

function int(name: Lit, min: i64, max: i64): i64 {
  const i = member(name, true);
  if (i < 0) return 0;
  if (J.memberType(i) == J.T_NUMBER) {
    J.numberOf(i);
    if (J.numKind == J.N_INT && J.numValue >= min && J.numValue <= max) return J.numValue;
  }
  const w = fieldError(name);
  w.lit(L.expectedAnIntegerFrom); w.i64(min); w.lit(L.to); w.i64(max);
  return 0;
}

/** A string field into t (absent: len -1); false if present with another type. */
function str(name: Lit, required: bool, t: Text): void {
  t.len = -1;
  const i = member(name, required);
  if (i < 0) return;
  if (J.memberType(i) != J.T_STRING) { fieldError(name).lit(L.expectedAString); return; }
  J.stringOf(i);
  t.ptr = J.strPtr;
  t.len = J.strLen;
}

function is(s: Lit): bool { return isLit(J.strPtr, J.strLen, s); }

/** A string field that must be one of the listed words; returns its index. */
function choice(name: Lit, a: Lit, b: Lit, c: Lit, d: Lit): i32 {
  const i = member(name, true);
  if (i < 0) return 0;
  if (J.memberType(i) == J.T_STRING) {
    J.stringOf(i);
    if (is(a)) return 0;
    if (is(b)) return 1;
    if (litLength(c) > 0 && is(c)) return 2;
    if (litLength(d) > 0 && is(d)) return 3;
  }
  const w = fieldError(name);
  w.lit(L.expectedQuote); w.lit(a); w.lit(L.Quote);
  if (litLength(c) > 0) { w.lit(L.CommaQuote); w.lit(b); w.lit(L.Quote); } else { w.lit(L.orQuote); w.lit(b); w.lit(L.Quote); }
  if (litLength(c) > 0) { w.lit(litLength(d) > 0 ? L.CommaQuote : L.orQuote); w.lit(c); w.lit(L.Quote); }
  if (litLength(d) > 0) { w.lit(L.orQuote); w.lit(d); w.lit(L.Quote); }
  return 0;
}

/** An address field into dst; returns whether it is IPv6. */
function address(name: Lit, dst: usize): bool {
  const i = member(name, true);
  if (i < 0) return false;
  if (J.memberType(i) == J.T_STRING) {
    J.stringOf(i);
    memory.fill(dst, 0, 16);
    if (parseIPv4(J.strPtr, J.strLen, dst)) return false;
    if (parseIPv6(J.strPtr, J.strLen, dst)) return true;
  }
  fieldError(name).lit(L.expectedAnIPv4OrIPv6Address);
  return false;
}

/**
 * Parses one trace line (without newline) into the pending event.
 * Returns 0 when valid, 1 when rejected (reason in `errors`), 2 when blank.
 */
export function parseLine(p: usize, len: i32, errors: Writer): i32 {
  err = errors;
  bad = false;
  if (len > 0 && load<u8>(p + len - 1) == 0x0d) len--;
  let blank = true;
  for (let k = 0; k < len; k++) {
    const c = load<u8>(p + k);
    if (c != 0x20 && c != 0x09) { blank = false; break; }
  }
  if (blank) return 2;
  J.begin(p, len, errors);
  if (!J.object(0)) return 1;
  J.trailing();
  if (J.failed) return 1;
  first = J.firstMember;
  count = J.memberCount;
  objId = J.objectId;
  E.clearTexts();
  ev.kind = E.K_NONE;
  const ki = member(L.kind, true);
  if (ki < 0) return 1;
  if (J.memberType(ki) != J.T_STRING) { fieldError(L.kind).lit(L.expectedAString); return 1; }
  J.stringOf(ki);
  let kind = E.K_NONE;
  if (is(L.connection)) kind = E.K_CONNECTION;
  else if (is(L.process)) kind = E.K_PROCESS;
  else if (is(L.baseline)) kind = E.K_BASELINE;
  else if (is(L.sysinfo)) kind = E.K_SYSINFO;
  else if (is(L.config)) kind = E.K_CONFIG;
  else if (is(L.tick)) kind = E.K_TICK;
  else {
    fieldError(L.kind).lit(L.expectedOneOfConnectionCommaProcessCommaBaseline);
    return 1;
  }
  ev.t = int(L.t, 0, E.MAX_TIME);
  if (kind == E.K_CONNECTION) {
    const r = lineRecord;
    store<u8>(r + R.CONN_PROTO, <u8>choice(L.proto, L.tcp, L.udp, L.icmp, L.empty));
    store<u8>(r + R.CONN_DIR, <u8>choice(L.dir, L.inWord, L.out, L.empty, L.empty));
    store<u8>(r + R.CONN_FAMILY, address(L.local, r + R.CONN_LOCAL) ? 6 : 4);
    store<u16>(r + R.CONN_LPORT, <u16>int(L.lport, 0, 65535));
    store<u8>(r + R.CONN_REMOTE_FAMILY, address(L.remote, r + R.CONN_REMOTE) ? 6 : 4);
    store<u16>(r + R.CONN_RPORT, <u16>int(L.rport, 0, 65535));
    store<u64>(r + R.CONN_BYTES_IN, <u64>int(L.bytesIn, 0, E.MAX_SAFE));
    store<u64>(r + R.CONN_BYTES_OUT, <u64>int(L.bytesOut, 0, E.MAX_SAFE));
    str(L.app, false, E.app);
    str(L.host, false, E.host);
    store<i64>(r, ev.t);
    const appLen = E.app.len > APP_KEEP ? APP_KEEP : (E.app.len > 0 ? E.app.len : 0);
    const hostLen = E.host.len > HOST_KEEP ? HOST_KEEP : (E.host.len > 0 ? E.host.len : 0);
    if (appLen > 0) memory.copy(r + R.CONN_HEADER, E.app.ptr, appLen);
    if (hostLen > 0) memory.copy(r + R.CONN_HEADER + appLen, E.host.ptr, hostLen);
    store<u16>(r + R.CONN_APP_LEN, <u16>appLen);
    store<u16>(r + R.CONN_HOST_LEN, <u16>hostLen);
  } else if (kind == E.K_PROCESS) {
    ev.pid = <u32>int(L.pid, 0, 4294967295);
    ev.ppid = <u32>int(L.ppid, 0, 4294967295);
    ev.uid = <u32>int(L.uid, 0, 4294967295);
    ev.ptype = choice(L.type, L.fork, L.exec, L.empty, L.empty);
    str(L.cmd, true, E.cmd);
    str(L.exe, false, E.exe);
    str(L.user, false, E.user);
  } else if (kind == E.K_BASELINE) {
    str(L.id, true, E.checkId);
    str(L.group, true, E.group);
    ev.result = choice(L.result, L.pass, L.fail, L.error, L.empty);
    ev.severity = choice(L.severity, L.critical, L.important, L.warning, L.informational);
    str(L.description, true, E.description);
    str(L.remediation, true, E.remediation);
    str(L.error, false, E.errorText);
  } else if (kind == E.K_SYSINFO) {
    str(L.os, true, E.os);
    str(L.osVersion, true, E.osVersion);
    str(L.kernel, true, E.kernel);
    str(L.hw, true, E.hw);
    ev.memTotal = <u64>int(L.memTotal, 0, E.MAX_SAFE);
  } else if (kind == E.K_CONFIG) {
    const ci = member(L.config, true);
    if (ci >= 0 && J.memberType(ci) != J.T_OBJECT) fieldError(L.config).lit(L.expectedAnObject);
    else if (ci >= 0) { J.objectOf(ci); configFirst = J.firstMember; configCount = J.memberCount; configId = J.objectId; }
  }
  if (bad) return 1;
  ev.kind = kind;
  return 0;
}

/** Members of a config line's `config` object (for config.stage). */
export let configFirst = 0;
export let configCount = 0;
export let configId = 0;

/** Parses a bare configuration object (mt_configure). */
export function parseConfigObject(p: usize, len: i32, errors: Writer): bool {
  J.begin(p, len, errors);
  if (!J.object(0)) return false;
  J.trailing();
  if (J.failed) return false;
  configFirst = J.firstMember;
  configCount = J.memberCount;
  configId = J.objectId;
  return true;
}
