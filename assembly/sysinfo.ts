// System information collector (SPEC R3): the latest report of the window.

import * as L from "./words";
import * as P from "./profile";
import { ev, os, osVersion, kernel, hw, Text, MAX_SAFE } from "./event";
import * as Lf from "./linefields";
import { storeText, storedLen, storedTruncated } from "./text";
import { Writer } from "./writer";
import { current } from "./config";
import * as Fm from "./format";

const O_OS = 0, O_OSV = O_OS + P.OS_CAP, O_KERNEL = O_OSV + P.OS_VERSION_CAP, O_HW = O_KERNEL + P.KERNEL_CAP;
const RECORD_BYTES = O_HW + P.HW_CAP;
/** The latest report and its four lengths (for mt_regions). */
export const BYTES = RECORD_BYTES + 8;
const record = memory.data(RECORD_BYTES, 8);
const lens = memory.data(8, 8);
let present = false;
let truncated = false;
let memTotal: u64 = 0;

// ---- the collector interface (collectors.ts) --------------------------------------------

/** Reads a sysinfo line's fields (trace.ts has read its kind and time). */
export function fromLine(): void {
  Lf.str(L.os, true, os);
  Lf.str(L.osVersion, true, osVersion);
  Lf.str(L.kernel, true, kernel);
  Lf.str(L.hw, true, hw);
  ev.memTotal = <u64>Lf.int(L.memTotal, 0, MAX_SAFE);
}

export function configure(): void { present = false; }
export function enabled(): bool { return current.sysEnabled; }
export function priority(): i32 { return current.sysInterval; }
export function ingest(): void { add(current.sysEnabled); }
export function clear(): void { present = false; }
export function count(): i32 { return present ? 1 : 0; }

function put(i: i32, at: i32, cap: i32, t: Text): void {
  storeText(record + at, cap, t.ptr, t.len > 0 ? t.len : 0);
  store<u16>(lens + (i << 1), <u16>storedLen);
  truncated = truncated || storedTruncated;
}

export function add(enabled: bool): void {
  if (!enabled) return;
  truncated = false;
  put(0, O_OS, P.OS_CAP, os);
  put(1, O_OSV, P.OS_VERSION_CAP, osVersion);
  put(2, O_KERNEL, P.KERNEL_CAP, kernel);
  put(3, O_HW, P.HW_CAP, hw);
  memTotal = ev.memTotal;
  present = true;
}

/** The report as a SystemInformation payload (the compact form leaves AgentVersion to the message). */
export function write(w: Writer, k: i32, base: i64): void {
  Fm.recordBegin(w);
  Fm.text(w, L.OSName, 0, record + O_OS, load<u16>(lens));
  Fm.text(w, L.OSVersion, 1, record + O_OSV, load<u16>(lens + 2));
  Fm.text(w, L.KernelVersion, 2, record + O_KERNEL, load<u16>(lens + 4));
  Fm.text(w, L.Hardware, 3, record + O_HW, load<u16>(lens + 6));
  Fm.uint(w, L.TotalMemory, 4, memTotal);
  Fm.literal(w, L.AgentVersion, Fm.JSON_ONLY, P.AGENT_VERSION);
  Fm.flag(w, L.Truncated, 12, truncated);
  Fm.recordEnd(w);
}

export const MAX_RECORD: i32 = 200 + P.OS_CAP + P.OS_VERSION_CAP + P.KERNEL_CAP + P.HW_CAP;
