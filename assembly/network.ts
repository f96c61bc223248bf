// Network connection collector (SPEC R2): identical = same local/remote address and port
// and protocol; hits and bytes add up; overflow by profile policy.

import * as P from "./profile";
import { Table, tableAt } from "./table";
import { PROTO_TCP, PROTO_UDP, DIR_IN } from "./event";
import { storeText, storedLen, storedTruncated } from "./text";
import { Writer } from "./writer";
import { formatIP } from "./ip";
import * as S from "./stats";

// Slot layout: key first (see table.ts), then the aggregated fields. The key with its length
// is 40 bytes, five 64-bit words: hashed and compared a word at a time.
const KEY_BYTES = 38;            // families, proto, lport, rport, local[16], remote[16]
const O_FAMILIES = 2, O_PROTO = 3, O_LPORT = 4, O_RPORT = 6, O_LOCAL = 8, O_REMOTE = 24;
const O_HASH = 40, O_DIR = 44, O_TRUNC = 45, O_APPLEN = 46, O_HOSTLEN = 48;
const O_HITS = 56, O_IN = 64, O_OUT = 72, O_FIRST = 80, O_LAST = 88, O_APP = 96;
const O_HOST = O_APP + P.APP_CAP;
export const SLOT = (O_HOST + P.HOST_CAP + 7) & ~7;
const ABSENT: u16 = 0xffff;
// A quarter-full index keeps probe chains short (about 1.4 probes for a new flow at a full cache).
export const INDEX_ENTRIES = P.NET_CAP * 4;

// The slots and the index sit at fixed addresses: the per-event path uses them as constants
// instead of loading them from the table header.
const SLOTS = memory.data(P.NET_CAP * SLOT, 8);
const INDEX = memory.data(INDEX_ENTRIES * 2, 8);
const INDEX_MASK = INDEX_ENTRIES - 1;

export const table: Table = tableAt(
  memory.data(offsetof<Table>(), 8), SLOTS, SLOT, O_HASH, P.NET_CAP, INDEX, INDEX_ENTRIES);

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
// @ts-ignore: decorator
@inline function fillOptional(s: usize, lenAt: i32, at: i32, cap: i32, p: usize, len: i32): void {
  if (len <= 0 || load<u16>(s + lenAt) != ABSENT) return;
  storeOptional(s, lenAt, at, cap, p, len);
}

function storeOptional(s: usize, lenAt: i32, at: i32, cap: i32, p: usize, len: i32): void {
  storeText(s + at, cap, p, len);
  store<u16>(s + lenAt, <u16>storedLen);
  if (storedTruncated) store<u8>(s + O_TRUNC, 1);
}

/**
 * Adds one connection given as a typed record (docs/ABI.md layout, already checked);
 * `enabled` and `replaceOldest` come from the configuration and the profile. The key is
 * five 64-bit words kept in locals: hashed, probed and compared without a copy, since this
 * is the per-event path that interpreters (wasm3) run most.
 */
export function add(rec: usize, seed: u32, enabled: bool, replaceOldest: bool): void {
  addInline(rec, seed, enabled, replaceOldest, load<i64>(rec), load<u64>(rec + 8), load<u64>(rec + 16),
    <i32>load<u16>(rec + 64), <i32>load<u16>(rec + 66), load<u8>(rec + 60), load<u8>(rec + 62), load<u8>(rec + 63));
}

/**
 * `add` with the record's scalar fields already in hand (the batch loop has loaded them to
 * check them: loading them again costs an interpreter dozens of operations per event).
 * Inlined where a build for speed wants it (see index.ts).
 */
// @ts-ignore: decorator
@inline export function addInline(rec: usize, seed: u32, enabled: bool, replaceOldest: bool, t: i64, bytesIn: u64,
  bytesOut: u64, appLen: i32, hostLen: i32, proto: u32, family: u32, remoteFamily: u32): void {
  S.received(S.C_NETWORK);
  if (!enabled) { S.ignored(S.C_NETWORK); return; }
  const localV6 = family == 6;
  const remoteV6 = remoteFamily == 0 ? localV6 : remoteFamily == 6;
  // [len][families][proto][lport][rport] as one word, then the two addresses.
  const w0 = <u64>KEY_BYTES | (<u64>((localV6 ? 1 : 0) | (remoteV6 ? 2 : 0)) << 16)
    | (<u64>proto << 24) | (<u64>load<u32>(rec + 56) << 32);
  const w1 = localV6 ? load<u64>(rec + 24) : <u64>load<u32>(rec + 24);
  const w2 = localV6 ? load<u64>(rec + 32) : 0;
  const w3 = remoteV6 ? load<u64>(rec + 40) : <u64>load<u32>(rec + 40);
  const w4 = remoteV6 ? load<u64>(rec + 48) : 0;
  // The key's hash: the words rotated apart, folded, then mixed so that every bit reaches
  // the low bits the index uses (the native bench reference mirrors it).
  let h = (<u64>seed << 32) ^ w0 ^ rotl<u64>(w1, 17) ^ rotl<u64>(w2, 31) ^ rotl<u64>(w3, 41) ^ rotl<u64>(w4, 53);
  h ^= h >> 33; h *= 0xff51afd7ed558ccd; h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53; h ^= h >> 33;
  const hash = <u32>h;
  if (table.indexed) {
    let i = <i32>hash & INDEX_MASK;
    while (true) {
      const e = <i32>load<u16>(INDEX + (<usize>i << 1));
      if (e == 0) break;
      const s = SLOTS + <usize>(e - 1) * SLOT;
      if (load<u32>(s + O_HASH) == hash && load<u64>(s) == w0 && load<u64>(s, 8) == w1 && load<u64>(s, 16) == w2
        && load<u64>(s, 24) == w3 && load<u64>(s, 32) == w4) {
        store<u64>(s + O_HITS, load<u64>(s + O_HITS) + 1);
        satAdd(s, O_IN, bytesIn);
        satAdd(s, O_OUT, bytesOut);
        store<i64>(s + O_LAST, t);
        fillOptional(s, O_APPLEN, O_APP, P.APP_CAP, rec + 68, appLen);
        fillOptional(s, O_HOSTLEN, O_HOST, P.HOST_CAP, rec + 68 + appLen, hostLen);
        return;
      }
      i = (i + 1) & INDEX_MASK;
    }
  }
  let s: usize;
  if (table.full) {
    // rtos: keep aggregating what is cached, drop the new flow; linux: the oldest makes room.
    if (!replaceOldest) { S.dropped(S.C_NETWORK); return; }
    s = table.replaceOldest();
    S.discarded(S.C_NETWORK, load<u64>(s + O_HITS));
  } else s = table.append();
  store<u64>(s, w0); store<u64>(s, w1, 8); store<u64>(s, w2, 16); store<u64>(s, w3, 24); store<u64>(s, w4, 32);
  store<u32>(s + O_HASH, hash);
  store<u8>(s + O_DIR, load<u8>(rec + 61));
  store<u8>(s + O_TRUNC, 0);
  store<u16>(s + O_APPLEN, ABSENT);
  store<u16>(s + O_HOSTLEN, ABSENT);
  store<u64>(s + O_HITS, 1);
  store<u64>(s + O_IN, bytesIn);
  store<u64>(s + O_OUT, bytesOut);
  store<i64>(s + O_FIRST, t);
  store<i64>(s + O_LAST, t);
  fillOptional(s, O_APPLEN, O_APP, P.APP_CAP, rec + 68, appLen);
  fillOptional(s, O_HOSTLEN, O_HOST, P.HOST_CAP, rec + 68 + appLen, hostLen);
  table.link(s);
}

export function hits(k: i32): u64 { return load<u64>(table.at(k) + O_HITS); }

const ipText = memory.data(48, 8);

function address(w: Writer, name: string, a: usize, v6: bool, first: bool): void {
  if (first) w.key(name); else w.field(name);
  w.byte(0x22);
  w.bytes(ipText, formatIP(a, v6, ipText));
  w.byte(0x22);
}

/** Writes the k-th oldest record as a ConnectionCreate payload object. */
export function write(w: Writer, k: i32): void {
  const s = table.at(k);
  const families = load<u8>(s + O_FAMILIES);
  w.byte(0x7b);
  address(w, "LocalAddress", s + O_LOCAL, (families & 1) != 0, true);
  w.field("LocalPort"); w.u64(load<u16>(s + O_LPORT));
  address(w, "RemoteAddress", s + O_REMOTE, (families & 2) != 0, false);
  w.field("RemotePort"); w.u64(load<u16>(s + O_RPORT));
  const proto = <i32>load<u8>(s + O_PROTO);
  w.field("Protocol");
  w.lit(proto == PROTO_TCP ? "\"tcp\"" : proto == PROTO_UDP ? "\"udp\"" : "\"icmp\"");
  w.field("Direction");
  w.lit(load<u8>(s + O_DIR) == DIR_IN ? "\"In\"" : "\"Out\"");
  w.field("BytesIn"); w.u64(load<u64>(s + O_IN));
  w.field("BytesOut"); w.u64(load<u64>(s + O_OUT));
  w.seen(load<u64>(s + O_HITS), load<i64>(s + O_FIRST), load<i64>(s + O_LAST));
  const appLen = load<u16>(s + O_APPLEN);
  if (appLen != ABSENT) { w.field("ApplicationProtocol"); w.jsonString(s + O_APP, appLen); }
  const hostLen = load<u16>(s + O_HOSTLEN);
  if (hostLen != ABSENT) {
    w.field("ExtraDetails"); w.byte(0x7b); w.key("HostName"); w.jsonString(s + O_HOST, hostLen); w.byte(0x7d);
  }
  w.truncated(load<u8>(s + O_TRUNC) != 0);
  w.byte(0x7d);
}

/** Largest record `write` can produce (escaped strings are bounded by their caps). */
export const MAX_RECORD: i32 = 460 + P.APP_CAP + P.HOST_CAP;
