// The trace line parser (SPEC R10), shared by every engine: one JSON object per line,
// checked field by field into the pending event. A bad line is rejected with a reason.

import * as L from "./words";
import * as J from "./json";
import * as E from "./event";
import { ev } from "./event";
import * as Col from "./collectors";
import * as Lf from "./linefields";
import { member, int, str, is, choice, address, fieldError } from "./linefields";
import { Writer } from "./writer";
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

/**
 * Parses one trace line (without newline) into the pending event.
 * Returns 0 when valid, 1 when rejected (reason in `errors`), 2 when blank.
 */
export function parseLine(p: usize, len: i32, errors: Writer): i32 {
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
  Lf.begin(errors);
  E.clearTexts();
  ev.kind = E.K_NONE;
  const ki = member(L.kind, true);
  if (ki < 0) return 1;
  if (J.memberType(ki) != J.T_STRING) { fieldError(L.kind).lit(L.expectedAString); return 1; }
  J.stringOf(ki);
  let kind = E.K_NONE;
  for (let c = 0; c < Col.WINDOWED; c++) if (is(Col.inputName(c))) kind = E.K_INPUT + c;
  if (kind == E.K_NONE) {
    if (is(L.config)) kind = E.K_CONFIG;
    else if (is(L.tick)) kind = E.K_TICK;
    else {
      fieldError(L.kind).lit(L.expectedOneOfConnectionCommaProcessCommaBaseline);
      return 1;
    }
  }
  ev.t = int(L.t, 0, E.MAX_TIME);
  if (kind == Col.K_CONNECTION) {
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
  } else if (kind == E.K_CONFIG) {
    const ci = member(L.config, true);
    if (ci >= 0 && J.memberType(ci) != J.T_OBJECT) fieldError(L.config).lit(L.expectedAnObject);
    else if (ci >= 0) { J.objectOf(ci); configFirst = J.firstMember; configCount = J.memberCount; configId = J.objectId; }
  } else Col.fromLine(kind);
  if (Lf.bad) return 1;
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
