// The collector table, the only place that lists the collectors (like the class-driver table of
// TinyUSB's usbd.c). Each collector is one module with the same interface: configure (apply the
// configuration), enabled, priority, ingest, clear (a window's end), count, sendable, write
// (a record, in no particular format: format.ts) and sent (its stats). Without closures, the
// table is a switch per operation; the per-event network path calls its module directly
// (typed.ts). A collector's number is its event type in the compact format (format.ts).

import * as L from "./words";
import * as P from "./profile";
import * as E from "./event";
import * as S from "./stats";
import * as W from "./window";
import * as Pr from "./process";
import * as N from "./network";
import * as B from "./baseline";
import * as Si from "./sysinfo";
import * as St from "./collectorstats";
import * as U from "./update";
import { Lit } from "./literal";
import { Writer } from "./writer";
import { PRIO_HIGH } from "./config";

export const PROCESS = S.C_PROCESS, NETWORK = S.C_NETWORK, BASELINE = S.C_BASELINE, SYSINFO = 3;
/** The collectors with windows of their own (window.ts). */
export const WINDOWED = W.COLLECTORS;
/** CollectorStats: sent with the windows of the others, last in each group. */
export const STATS = 4;
/** The transport: no window and no records, a CollectorStats record of its own (collectorstats.ts) when the host reports its losses. */
export const TRANSPORT = S.TRANSPORT;
/** The agent's own diagnostics (update.ts): no window, each goes out with the next message that leaves. */
export const UPDATE = 5, HEARTBEAT = 6;
/** Every kind of record, in the order a group's events are written. */
export const UNITS = 7;

/** The kinds of the collectors' inputs (event.ts). */
export const K_PROCESS = E.K_INPUT + PROCESS, K_CONNECTION = E.K_INPUT + NETWORK, K_BASELINE = E.K_INPUT + BASELINE;
export const K_SYSINFO = E.K_INPUT + SYSINFO;

/** The `kind` of collector c's trace lines (SPEC R10). */
export function inputName(c: i32): Lit {
  switch (c) {
    case PROCESS: return L.process;
    case NETWORK: return L.connection;
    case BASELINE: return L.baseline;
    default: return L.sysinfo;
  }
}

/** Reads the fields of a trace line of this kind (but a connection's, which becomes a typed record: trace.ts). */
export function fromLine(kind: i32): void {
  switch (kind) {
    case K_PROCESS: Pr.fromLine(); break;
    case K_BASELINE: B.fromLine(); break;
    case K_SYSINFO: Si.fromLine(); break;
  }
}

/** Whether an input of this kind has strings to keep while it waits behind a send (event.ts). */
export function keepsTexts(kind: i32): bool { return kind == K_PROCESS || kind == K_BASELINE || kind == K_SYSINFO; }

/** Applies the configuration to every collector (a change starts their tables again). */
export function configureAll(): void {
  Pr.configure(); N.configure(); B.configure(); Si.configure();
}

/** Whether collector c collects (its configuration and the profile). */
export function enabled(c: i32): bool {
  switch (c) {
    case PROCESS: return Pr.enabled();
    case NETWORK: return N.enabled();
    case BASELINE: return B.enabled();
    default: return Si.enabled();
  }
}

/** Collector c's priority (event collectors) or interval (periodic ones): its window's length. */
export function priority(c: i32): i32 {
  switch (c) {
    case PROCESS: return Pr.priority();
    case NETWORK: return N.priority();
    case BASELINE: return B.priority();
    default: return Si.priority();
  }
}

/** Whether collector c's events go out at its window's end, never held for packing (SPEC R8). */
export function high(c: i32): bool { return c < WINDOWED && priority(c) == PRIO_HIGH; }

/** Hands the pending input of this kind (event.ts) to its collector. */
export function ingest(kind: i32, record: usize, seed: u32): void {
  switch (kind) {
    case K_CONNECTION: N.add(record, seed); break;
    case K_PROCESS: Pr.ingest(seed); break;
    case K_BASELINE: B.ingest(seed); break;
    case K_SYSINFO: Si.ingest(); break;
  }
}

/** Ends collector c's window: its records and its counters. */
export function clear(c: i32): void {
  switch (c) {
    case PROCESS: Pr.clear(); break;
    case NETWORK: N.clear(); break;
    case BASELINE: B.clear(); break;
    default: Si.clear();
  }
  if (c < S.COUNTED) S.clearWindow(c);
}

/** Records of unit u (a collector, or STATS) held now. */
export function count(u: i32): i32 {
  switch (u) {
    case PROCESS: return Pr.count();
    case NETWORK: return N.count();
    case BASELINE: return B.count();
    case SYSINFO: return Si.count();
    case STATS: return St.count();
    case UPDATE: return U.updatePending ? 1 : 0;
    default: return U.heartbeatPending ? 1 : 0;
  }
}

/** Whether record k of unit u goes out (baseline passes and zero stats do not); `members` are the group's collectors. */
export function sendable(u: i32, k: i32, members: i32): bool {
  if (u == BASELINE) return B.sendable(k);
  if (u == STATS) return St.sendable(k, members);
  // The heartbeat's own message is made at its time, after any window it closed (flush.ts).
  if (u == HEARTBEAT) return members == 0;
  return true;
}

/** Writes record k of unit u; `base` is the message's time (the compact form's times are relative to it). */
export function write(u: i32, w: Writer, k: i32, base: i64): void {
  switch (u) {
    case PROCESS: Pr.write(w, k, base); break;
    case NETWORK: N.write(w, k, base); break;
    case BASELINE: B.write(w, k, base); break;
    case SYSINFO: Si.write(w, k, base); break;
    case UPDATE: U.writeUpdate(w); break;
    case HEARTBEAT: U.writeHeartbeat(w); break;
    default: St.write(w, k, k == BASELINE ? P.BASELINE_CAP : k == PROCESS ? Pr.table.limit : N.table.limit);
  }
}

/** Record k of unit u is in a message: its hits count as sent (the transport's losses as reported). */
export function sent(u: i32, k: i32): void {
  if (u == PROCESS) Pr.sent(k);
  else if (u == NETWORK) N.sent(k);
  else if (u == STATS) St.sent(k);
  else if (u == UPDATE) U.updatePending = false;
  else if (u == HEARTBEAT) U.heartbeatPending = false;
}

/** The largest record k of unit u can be. */
export function maxRecord(u: i32, k: i32): i32 {
  return u == PROCESS ? Pr.MAX_RECORD : u == NETWORK ? N.MAX_RECORD : u == BASELINE ? B.MAX_RECORD
    : u == SYSINFO ? Si.MAX_RECORD : u == STATS ? St.maxRecord(k) : u == UPDATE ? U.UPDATE_MAX_RECORD : U.HEARTBEAT_MAX_RECORD;
}

const M1: i32 = N.MAX_RECORD > Pr.MAX_RECORD ? N.MAX_RECORD : Pr.MAX_RECORD;
const M2: i32 = B.MAX_RECORD > Si.MAX_RECORD ? B.MAX_RECORD : Si.MAX_RECORD;
const M3: i32 = M1 > M2 ? M1 : M2;
const M4: i32 = M3 > St.MAX_RECORD ? M3 : St.MAX_RECORD;
const M5: i32 = U.UPDATE_MAX_RECORD > U.HEARTBEAT_MAX_RECORD ? U.UPDATE_MAX_RECORD : U.HEARTBEAT_MAX_RECORD;
/** The largest record of any unit. */
export const MAX_RECORD: i32 = M4 > M5 ? M4 : M5;

/** Unit u's events: their JSON Name, whether they are triggered (event collectors) and diagnostic (CollectorStats). */
export function eventName(u: i32): Lit {
  return u == PROCESS ? L.jsonProcessCreate : u == NETWORK ? L.jsonConnectionCreate : u == BASELINE ? L.jsonBaseline
    : u == SYSINFO ? L.jsonSystemInformation : u == STATS ? L.jsonCollectorStats
    // rtos has no heartbeat (update.ts): its name is never laid out there.
    : u == UPDATE || !P.LINUX ? L.jsonAgentUpdate : L.jsonHeartbeat;
}
/** An update attempt is an event of its own (Triggered); a heartbeat is Periodic. */
export function triggered(u: i32): bool { return u == PROCESS || u == NETWORK || u == UPDATE; }
/** The agent's diagnostics: CollectorStats, AgentUpdate, Heartbeat. */
export function diagnostic(u: i32): bool { return u >= STATS; }

/** The collectors' static storage, as named regions (mt_regions, regions.ts). */
export const REGIONS = 7;
export function regionName(i: i32): Lit {
  switch (i) {
    case 0: return L.networkCache;
    case 1: return L.networkIndex;
    case 2: return L.hostTable;
    case 3: return L.appTable;
    case 4: return L.baseline;
    case 5: return L.process;
    default: return L.sysinfo;
  }
}
export function regionBytes(i: i32): i32 {
  switch (i) {
    case 0: return P.NET_CAP * N.SLOT;
    case 1: return N.INDEX_ENTRIES * 2;
    case 2: return N.HOST_BYTES;
    case 3: return N.APP_BYTES;
    case 4: return B.BYTES;
    case 5: return Pr.BYTES;
    default: return Si.BYTES;
  }
}
