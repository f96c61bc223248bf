// Network connection collector (SPEC R2): identical = same local/remote address and port
// and protocol; hits and bytes add up; overflow by profile policy.

import * as L from "./words";
import * as P from "./profile";
import * as R from "./layout";
import { Table, tableAt } from "./table";
import { PROTO_TCP, PROTO_UDP, DIR_IN } from "./event";
import { storeText, storedLen, storedTruncated } from "./text";
import { Names, namesAt, FULL, O_BYTES } from "./intern";
import { Writer } from "./writer";
import { windowStart } from "./window";
import * as S from "./stats";
import { current } from "./config";
import * as Fm from "./format";

// A slot is 72 bytes: both addresses (IPv6 needs all 32), exact 64-bit sums and hit
// count, and times as 32-bit offsets from the network window's start (a record never
// outlives its window, which is at most 31 days). Host name and application protocol are
// one-byte references into shared tables (a device talks to few hosts); the key's hash is
// recomputed when needed, not stored.
const O_LOCAL = 0, O_REMOTE = 16;                  // 16 bytes each (IPv4: first 4, rest zero)
const O_IN = 32, O_OUT = 40, O_HITS = 48;          // u64 each
const O_FIRST = 56, O_LAST = 60;                   // u32 ms since the window's start
const O_PORTS = 64;      // u32: local port | remote port << 16
const O_FLAGS = 68;      // u8: F_* bits below
const O_APP = 69, O_HOST = 70;                     // u8: name entries (valid with F_APP / F_HOST)
const O_NO_ROOM = 71;    // u8: NO_*_ROOM, an optional string whose table was full (not tried again)
export const SLOT = 72;

const F_LOCAL_V6 = 1, F_REMOTE_V6 = 2;             // bits 2-3: protocol
const F_DIR_IN = 16, F_TRUNCATED = 32, F_APP = 64, F_HOST = 128;
/** Key bits of the flags byte: families and protocol. */
const KEY_FLAGS = 15;
const NO_APP_ROOM = 1, NO_HOST_ROOM = 2;

// A half-full index at most: about 1.5 probes for a hit at a full cache. (Entries tagged
// with the hash's top bits saved the translated blob 25 instructions an event on a miss-heavy
// trace, but cost wasm3 more and its compiled code a 2 KB page: measured, and left out.)
export const INDEX_ENTRIES = P.NET_CAP * 2;

// The slots and the index sit at fixed addresses: the per-event path uses them as constants
// instead of loading them from the table header.
const SLOTS = memory.data(P.NET_CAP * SLOT, 8);
const INDEX = memory.data(INDEX_ENTRIES * 2, 8);
const INDEX_MASK = INDEX_ENTRIES - 1;

export const table: Table = tableAt(
  memory.data(offsetof<Table>(), 8), SLOTS, SLOT, -1, P.NET_CAP, INDEX, INDEX_ENTRIES);

export const HOST_BYTES = P.HOST_NAMES * (O_BYTES + P.HOST_CAP);
export const APP_BYTES = P.APP_NAMES * (O_BYTES + P.APP_CAP);
const hosts: Names = namesAt(memory.data(offsetof<Names>(), 8), memory.data(HOST_BYTES, 8), P.HOST_NAMES, P.HOST_CAP);
const apps: Names = namesAt(memory.data(offsetof<Names>(), 8), memory.data(APP_BYTES, 8), P.APP_NAMES, P.APP_CAP);

// A sanitised optional string on its way into its table.
const nameText = memory.data(P.HOST_CAP > P.APP_CAP ? P.HOST_CAP : P.APP_CAP, 8);

// The configuration's switches for this collector, kept where the per-event path reads them
// without a memory access (the configuration changes only through reset).
let aggregating = true;
let collecting = true;

export function reset(limit: i32, aggregation: bool, on: bool): void {
  table.limit = limit;
  table.indexed = aggregation;
  aggregating = aggregation;
  collecting = on;
  clear();
}

/** Empties the cache and its shared tables (a window's end). */
export function clear(): void {
  table.clear();
  hosts.clear();
  apps.clear();
}

// @ts-ignore: decorator
@inline function satAdd(s: usize, off: i32, v: u64): void {
  const a = load<u64>(s + off);
  const r = a + v;
  store<u64>(s + off, r < a ? u64.MAX_VALUE : r);
}

/**
 * The key's hash: the five words of [families, proto, ports] and the two addresses, rotated
 * apart, folded, then mixed so that every bit reaches the low bits the index uses (the
 * native bench reference mirrors it).
 */
// @ts-ignore: decorator
@inline function keyHash(seed: u32, w0: u64, w1: u64, w2: u64, w3: u64, w4: u64): u32 {
  let h = (<u64>seed << 32) ^ w0 ^ rotl<u64>(w1, 17) ^ rotl<u64>(w2, 31) ^ rotl<u64>(w3, 41) ^ rotl<u64>(w4, 53);
  h ^= h >> 33; h *= 0xff51afd7ed558ccd; h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53; h ^= h >> 33;
  return <u32>h;
}

/** The first key word: [38][families][proto][lport][rport], as the hash has always taken it. */
// @ts-ignore: decorator
@inline function firstWord(families: u32, proto: u32, ports: u32): u64 {
  return 38 | (<u64>families << 16) | (<u64>proto << 24) | (<u64>ports << 32);
}

let seedInUse: u32 = 0;

/** Recomputes a cached record's hash from its key (to move index entries when one leaves). */
function slotHash(s: usize): u32 {
  const flags = <u32>load<u8>(s, O_FLAGS);
  return keyHash(seedInUse, firstWord(flags & 3, (flags >> 2) & 3, load<u32>(s, O_PORTS)),
    load<u64>(s, O_LOCAL), load<u64>(s, O_LOCAL + 8), load<u64>(s, O_REMOTE), load<u64>(s, O_REMOTE + 8));
}
table.rehash = slotHash;

/** Gives back the shared entries a record holds (it is being replaced). */
function releaseNames(s: usize): void {
  const flags = load<u8>(s, O_FLAGS);
  if (flags & F_APP) apps.release(load<u8>(s, O_APP));
  if (flags & F_HOST) hosts.release(load<u8>(s, O_HOST));
}

/**
 * Keeps an optional string the first time an occurrence has it (SPEC R5): sanitised and
 * bounded, then shared through its table. A full table loses it visibly: the record is
 * marked Truncated, the window's CollectorStats counts it, and it is not tried again.
 */
function fillOptional(s: usize, names: Names, at: i32, has: u32, noRoom: u32, cap: i32, p: usize, len: i32): void {
  storeText(nameText, cap, p, len);
  let flags = <u32>load<u8>(s, O_FLAGS);
  if (storedTruncated) flags |= F_TRUNCATED;
  const i = names.intern(nameText, storedLen);
  if (i == FULL) {
    flags |= F_TRUNCATED;
    store<u8>(s, <u32>load<u8>(s, O_NO_ROOM) | noRoom, O_NO_ROOM);
    S.nameLost(S.C_NETWORK);
  } else {
    flags |= has;
    store<u8>(s + at, <u8>i);
  }
  store<u8>(s, <u8>flags, O_FLAGS);
}

/** Whether an optional string of this event should be offered to the record. */
// @ts-ignore: decorator
@inline function wants(s: usize, has: u32, noRoom: u32, len: i32): bool {
  return len > 0 && (<u32>load<u8>(s, O_FLAGS) & has) == 0 && (<u32>load<u8>(s, O_NO_ROOM) & noRoom) == 0;
}

// @ts-ignore: decorator
@inline function fillBoth(s: usize, rec: usize, appLen: i32, hostLen: i32): void {
  if (wants(s, F_APP, NO_APP_ROOM, appLen)) fillOptional(s, apps, O_APP, F_APP, NO_APP_ROOM, P.APP_CAP, rec + R.CONN_HEADER, appLen);
  if (wants(s, F_HOST, NO_HOST_ROOM, hostLen)) {
    fillOptional(s, hosts, O_HOST, F_HOST, NO_HOST_ROOM, P.HOST_CAP, rec + R.CONN_HEADER + appLen, hostLen);
  }
}

/**
 * Adds one connection given as a typed record (docs/ABI.md layout, already checked); whether
 * the collector is on comes from the configuration (reset), what a full cache does from the
 * profile.
 */
export function add(rec: usize, seed: u32): void {
  addFields(rec, seed, load<i64>(rec), load<u64>(rec, R.CONN_BYTES_IN), load<u64>(rec, R.CONN_BYTES_OUT),
    load<u32>(rec, R.CONN_APP_LEN), load<u32>(rec, R.CONN_PROTO));
}

/** `add` with the record's scalar fields already loaded: the one copy a build for size keeps. */
export function addFields(rec: usize, seed: u32, t: i64, bytesIn: u64, bytesOut: u64, lens: u32, kinds: u32): void {
  addInline(rec, seed, t, bytesIn, bytesOut, lens, kinds);
}

/**
 * `add` with the record's scalar fields already in hand (the batch loop has loaded them to
 * check them: loading them again costs an interpreter dozens of operations per event), the
 * string lengths and the kind bytes each as the one word they are in the record (fewer
 * parameters: a 32-bit core passes the rest on the stack).
 * The key is kept in locals: hashed, probed and compared without a copy, since this is the
 * per-event path that interpreters (wasm3) run most. Inlined where a build for speed wants
 * it (see index.ts).
 */
// @ts-ignore: decorator
@inline export function addInline(rec: usize, seed: u32, t: i64, bytesIn: u64, bytesOut: u64, lens: u32, kinds: u32): void {
  const appLen = <i32>(lens & 0xffff);
  const hostLen = <i32>(lens >>> 16);
  const proto = kinds & 0xff;
  const family = (kinds >>> 16) & 0xff;
  const remoteFamily = kinds >>> 24;
  S.received(S.C_NETWORK);
  if (!collecting) { S.ignored(S.C_NETWORK); return; }
  const replaceOldest = P.NET_REPLACE_OLDEST;
  const localV6 = family == 6;
  const remoteV6 = remoteFamily == 0 ? localV6 : remoteFamily == 6;
  const keyFlags = (localV6 ? F_LOCAL_V6 : 0) | (remoteV6 ? F_REMOTE_V6 : 0) | (proto << 2);
  const ports = load<u32>(rec, R.CONN_LPORT);
  const w1 = localV6 ? load<u64>(rec, R.CONN_LOCAL) : <u64>load<u32>(rec, R.CONN_LOCAL);
  const w2 = localV6 ? load<u64>(rec, R.CONN_LOCAL + 8) : 0;
  const w3 = remoteV6 ? load<u64>(rec, R.CONN_REMOTE) : <u64>load<u32>(rec, R.CONN_REMOTE);
  const w4 = remoteV6 ? load<u64>(rec, R.CONN_REMOTE + 8) : 0;
  const hash = keyHash(seed, firstWord(keyFlags & 3, proto, ports), w1, w2, w3, w4);
  const offset = <u32>(t - windowStart(S.C_NETWORK));
  if (aggregating) {
    let i = <i32>hash & INDEX_MASK;
    while (true) {
      const e = <i32>load<u16>(INDEX + (<usize>i << 1));
      if (e == 0) break;
      const s = SLOTS + <usize>(e - 1) * SLOT;
      if (load<u32>(s, O_PORTS) == ports && load<u64>(s, O_REMOTE) == w3 && load<u64>(s, O_LOCAL) == w1
        && load<u64>(s, O_REMOTE + 8) == w4 && load<u64>(s, O_LOCAL + 8) == w2
        && (<u32>load<u8>(s, O_FLAGS) & KEY_FLAGS) == keyFlags) {
        store<u64>(s, load<u64>(s, O_HITS) + 1, O_HITS);
        satAdd(s, O_IN, bytesIn);
        satAdd(s, O_OUT, bytesOut);
        store<u32>(s, offset, O_LAST);
        fillBoth(s, rec, appLen, hostLen);
        return;
      }
      i = (i + 1) & INDEX_MASK;
    }
  }
  insert(rec, seed, replaceOldest, hash, keyFlags, ports, offset, bytesIn, bytesOut, appLen, hostLen, w1, w2, w3, w4);
}

/** A new record (not on the per-event path of a flow already cached). */
function insert(rec: usize, seed: u32, replaceOldest: bool, hash: u32, keyFlags: u32, ports: u32, offset: u32,
  bytesIn: u64, bytesOut: u64, appLen: i32, hostLen: i32, w1: u64, w2: u64, w3: u64, w4: u64): void {
  seedInUse = seed;
  let s: usize;
  if (table.full) {
    // rtos: keep aggregating what is cached, drop the new flow; linux: the oldest makes room.
    if (!replaceOldest) { S.dropped(S.C_NETWORK); return; }
    s = table.replaceOldest();
    S.discarded(S.C_NETWORK, load<u64>(s, O_HITS));
    releaseNames(s);
  } else s = table.append();
  store<u64>(s, w1, O_LOCAL);
  store<u64>(s, w2, O_LOCAL + 8);
  store<u64>(s, w3, O_REMOTE);
  store<u64>(s, w4, O_REMOTE + 8);
  store<u64>(s, bytesIn, O_IN);
  store<u64>(s, bytesOut, O_OUT);
  store<u64>(s, 1, O_HITS);
  store<u32>(s, offset, O_FIRST);
  store<u32>(s, offset, O_LAST);
  store<u32>(s, ports, O_PORTS);
  store<u8>(s, 0, O_NO_ROOM);
  store<u8>(s, <u8>(keyFlags | (load<u8>(rec, R.CONN_DIR) == DIR_IN ? F_DIR_IN : 0)), O_FLAGS);
  fillBoth(s, rec, appLen, hostLen);
  table.linkHashed(s, hash);
}

// ---- the collector interface (collectors.ts) --------------------------------------------

/** Applies the configuration: a new cache size or aggregation empties the cache. */
export function configure(): void { reset(current.netCacheSize, current.netAggregation, current.netEnabled); }
export function enabled(): bool { return current.netEnabled; }
export function priority(): i32 { return current.netPriority; }
export function count(): i32 { return table.count; }
/** Counts record k's hits as sent, once it is in a message. */
export function sent(k: i32): void { S.sent(S.C_NETWORK, load<u64>(table.at(k), O_HITS)); }

/** Writes the k-th oldest record as a ConnectionCreate payload (docs/FORMATS.md; member names and keys: format.ts). */
export function write(w: Writer, k: i32, base: i64): void {
  const s = table.at(k);
  const flags = <u32>load<u8>(s, O_FLAGS);
  const start = windowStart(S.C_NETWORK);
  const proto = (flags >> 2) & 3;
  const inbound = (flags & F_DIR_IN) != 0;
  const bytesIn = load<u64>(s, O_IN), bytesOut = load<u64>(s, O_OUT);
  Fm.recordBegin(w);
  Fm.address(w, L.LocalAddress, 0, s + O_LOCAL, (flags & F_LOCAL_V6) != 0);
  Fm.uint(w, L.LocalPort, 1, load<u16>(s, O_PORTS));
  Fm.address(w, L.RemoteAddress, 2, s + O_REMOTE, (flags & F_REMOTE_V6) != 0);
  Fm.uint(w, L.RemotePort, 3, load<u16>(s, O_PORTS + 2));
  // The compact form has protocol and direction in one number: proto | 4 when inbound (0, outbound TCP, left out).
  Fm.word(w, L.Protocol, proto == PROTO_TCP ? L.jsonTcp : proto == PROTO_UDP ? L.jsonUdp : L.jsonIcmp,
    4, proto | (inbound ? 4 : 0), 0);
  Fm.word(w, L.Direction, inbound ? L.jsonIn : L.jsonOut, Fm.JSON_ONLY, 0, 0);
  Fm.uintOr(w, L.BytesIn, 5, bytesIn, 0);
  Fm.uintOr(w, L.BytesOut, 6, bytesOut, 0);
  Fm.seen(w, load<u64>(s, O_HITS), start + <i64>load<u32>(s, O_FIRST), start + <i64>load<u32>(s, O_LAST), base);
  if (flags & F_APP) {
    const i = <i32>load<u8>(s, O_APP);
    Fm.shared(w, L.ApplicationProtocol, 10, apps.bytes(i), apps.length(i));
  }
  if (flags & F_HOST) {
    const i = <i32>load<u8>(s, O_HOST);
    Fm.nestBegin(w, L.ExtraDetails);
    Fm.shared(w, L.HostName, 11, hosts.bytes(i), hosts.length(i));
    Fm.nestEnd(w);
  }
  Fm.flag(w, L.Truncated, 12, (flags & F_TRUNCATED) != 0);
  // A sum that reached 2^64 - 1 stays there (satAdd): the record says so (SPEC R8). Checked
  // here, when the record is written, so the per-event path does no extra work.
  Fm.flag(w, L.Saturated, Fm.JSON_ONLY, bytesIn == u64.MAX_VALUE || bytesOut == u64.MAX_VALUE);
  Fm.recordEnd(w);
}

/** Largest record `write` can produce (escaped strings are bounded by their caps; 17 of it `,"Saturated":true`). */
export const MAX_RECORD: i32 = 477 + P.APP_CAP + P.HOST_CAP;
