// Network connection collector (SPEC R2): identical = same local/remote address and port
// and protocol; hits and bytes add up; overflow by profile policy.

import * as P from "./profile";
import { Table, tableAt } from "./table";
import { ev, local, remote, app, host, Text, PROTO_TCP, PROTO_UDP, DIR_IN } from "./event";
import { storeText, storedLen, storedTruncated, hashBytes } from "./text";
import { Writer } from "./writer";
import { formatIP } from "./ip";
import * as S from "./stats";

// Slot layout: key first (see table.ts), then the aggregated fields.
const KEY_BYTES = 38;            // families, proto, lport, rport, local[16], remote[16]
const O_FAMILIES = 2, O_PROTO = 3, O_LPORT = 4, O_RPORT = 6, O_LOCAL = 8, O_REMOTE = 24;
const O_HASH = 40, O_DIR = 44, O_TRUNC = 45, O_APPLEN = 46, O_HOSTLEN = 48;
const O_HITS = 56, O_IN = 64, O_OUT = 72, O_FIRST = 80, O_LAST = 88, O_APP = 96;
const O_HOST = O_APP + P.APP_CAP;
export const SLOT = (O_HOST + P.HOST_CAP + 7) & ~7;
const ABSENT: u16 = 0xffff;
const INDEX_ENTRIES = P.NET_CAP * 2;

const probe = memory.data(48, 8);
export const table: Table = tableAt(
  memory.data(offsetof<Table>(), 8), memory.data(P.NET_CAP * SLOT, 8), SLOT, O_HASH, P.NET_CAP,
  memory.data(INDEX_ENTRIES * 2, 8), INDEX_ENTRIES);

export function reset(limit: i32, aggregation: bool): void {
  table.limit = limit;
  table.indexed = aggregation;
  table.clear();
}

function satAdd(s: usize, off: i32, v: u64): void {
  const a = load<u64>(s + off);
  const r = a + v;
  store<u64>(s + off, r < a ? u64.MAX_VALUE : r);
}

/** Fills an optional string the first time an occurrence has it (SPEC R5). */
function fillOptional(s: usize, lenAt: i32, at: i32, cap: i32, t: Text): void {
  if (t.len <= 0 || load<u16>(s + lenAt) != ABSENT) return;
  storeText(s + at, cap, t.ptr, t.len);
  store<u16>(s + lenAt, <u16>storedLen);
  if (storedTruncated) store<u8>(s + O_TRUNC, 1);
}

/** Adds the pending connection event; `enabled` and `replaceOldest` come from config and profile. */
export function add(seed: u32, enabled: bool, replaceOldest: bool): void {
  S.received(S.C_NETWORK);
  if (!enabled) { S.ignored(S.C_NETWORK); return; }
  store<u16>(probe, KEY_BYTES);
  store<u8>(probe + O_FAMILIES, (ev.localV6 ? 1 : 0) | (ev.remoteV6 ? 2 : 0));
  store<u8>(probe + O_PROTO, <u8>ev.proto);
  store<u16>(probe + O_LPORT, <u16>ev.lport);
  store<u16>(probe + O_RPORT, <u16>ev.rport);
  memory.copy(probe + O_LOCAL, local, 16);
  memory.copy(probe + O_REMOTE, remote, 16);
  const hash = hashBytes(seed, probe + 2, KEY_BYTES);
  let s = table.find(probe, hash);
  if (s != 0) {
    store<u64>(s + O_HITS, load<u64>(s + O_HITS) + 1);
    satAdd(s, O_IN, ev.bytesIn);
    satAdd(s, O_OUT, ev.bytesOut);
    store<i64>(s + O_LAST, ev.t);
    fillOptional(s, O_APPLEN, O_APP, P.APP_CAP, app);
    fillOptional(s, O_HOSTLEN, O_HOST, P.HOST_CAP, host);
    return;
  }
  if (table.full) {
    // rtos: keep aggregating what is cached, drop the new flow; linux: the oldest makes room.
    if (!replaceOldest) { S.dropped(S.C_NETWORK); return; }
    s = table.replaceOldest();
    S.discarded(S.C_NETWORK, load<u64>(s + O_HITS));
  } else s = table.append();
  memory.copy(s, probe, 2 + KEY_BYTES);
  store<u32>(s + O_HASH, hash);
  store<u8>(s + O_DIR, <u8>ev.dir);
  store<u8>(s + O_TRUNC, 0);
  store<u16>(s + O_APPLEN, ABSENT);
  store<u16>(s + O_HOSTLEN, ABSENT);
  store<u64>(s + O_HITS, 1);
  store<u64>(s + O_IN, ev.bytesIn);
  store<u64>(s + O_OUT, ev.bytesOut);
  store<i64>(s + O_FIRST, ev.t);
  store<i64>(s + O_LAST, ev.t);
  fillOptional(s, O_APPLEN, O_APP, P.APP_CAP, app);
  fillOptional(s, O_HOSTLEN, O_HOST, P.HOST_CAP, host);
  table.link(s);
}

export function hits(k: i32): u64 { return load<u64>(table.at(k) + O_HITS); }

const ipText = memory.data(48, 8);

function address(w: Writer, name: string, a: usize, v6: bool): void {
  w.key(name);
  w.byte(0x22);
  w.bytes(ipText, formatIP(a, v6, ipText));
  w.byte(0x22);
}

/** Writes the k-th oldest record as a ConnectionCreate payload object. */
export function write(w: Writer, k: i32): void {
  const s = table.at(k);
  const families = load<u8>(s + O_FAMILIES);
  w.byte(0x7b);
  address(w, "LocalAddress", s + O_LOCAL, (families & 1) != 0);
  w.byte(0x2c); w.key("LocalPort"); w.u64(load<u16>(s + O_LPORT));
  w.byte(0x2c); address(w, "RemoteAddress", s + O_REMOTE, (families & 2) != 0);
  w.byte(0x2c); w.key("RemotePort"); w.u64(load<u16>(s + O_RPORT));
  const proto = <i32>load<u8>(s + O_PROTO);
  w.byte(0x2c); w.key("Protocol");
  w.lit(proto == PROTO_TCP ? "\"tcp\"" : proto == PROTO_UDP ? "\"udp\"" : "\"icmp\"");
  w.byte(0x2c); w.key("Direction");
  w.lit(load<u8>(s + O_DIR) == DIR_IN ? "\"In\"" : "\"Out\"");
  w.byte(0x2c); w.key("BytesIn"); w.u64(load<u64>(s + O_IN));
  w.byte(0x2c); w.key("BytesOut"); w.u64(load<u64>(s + O_OUT));
  w.byte(0x2c); w.key("HitCount"); w.u64(load<u64>(s + O_HITS));
  w.byte(0x2c); w.key("FirstSeenUTC"); w.byte(0x22); w.isoTime(load<i64>(s + O_FIRST), 0); w.byte(0x22);
  w.byte(0x2c); w.key("LastSeenUTC"); w.byte(0x22); w.isoTime(load<i64>(s + O_LAST), 0); w.byte(0x22);
  const appLen = load<u16>(s + O_APPLEN);
  if (appLen != ABSENT) { w.byte(0x2c); w.key("ApplicationProtocol"); w.jsonString(s + O_APP, appLen); }
  const hostLen = load<u16>(s + O_HOSTLEN);
  if (hostLen != ABSENT) {
    w.byte(0x2c); w.key("ExtraDetails"); w.byte(0x7b); w.key("HostName"); w.jsonString(s + O_HOST, hostLen); w.byte(0x7d);
  }
  if (load<u8>(s + O_TRUNC) != 0) { w.byte(0x2c); w.key("Truncated"); w.lit("true"); }
  w.byte(0x7d);
}

/** Largest record `write` can produce (escaped strings are bounded by their caps). */
export const MAX_RECORD: i32 = 460 + P.APP_CAP + P.HOST_CAP;
