// System information collector (SPEC R3): the latest report of the window.

import * as L from "./words";
import * as P from "./profile";
import { ev, os, osVersion, kernel, hw, Text } from "./event";
import { storeText, storedLen, storedTruncated } from "./text";
import { Writer } from "./writer";
import { seenFields, truncatedField } from "./fields";
import * as X from "./cbor";

const O_OS = 0, O_OSV = O_OS + P.OS_CAP, O_KERNEL = O_OSV + P.OS_VERSION_CAP, O_HW = O_KERNEL + P.KERNEL_CAP;
const RECORD_BYTES = O_HW + P.HW_CAP;
/** The latest report and its four lengths (for mt_regions). */
export const BYTES = RECORD_BYTES + 8;
const record = memory.data(RECORD_BYTES, 8);
const lens = memory.data(8, 8);
let present = false;
let truncated = false;
let memTotal: u64 = 0;

export function reset(): void { present = false; }
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

export function write(w: Writer): void {
  w.byte(0x7b);
  w.key(L.OSName); w.jsonString(record + O_OS, load<u16>(lens));
  w.field(L.OSVersion); w.jsonString(record + O_OSV, load<u16>(lens + 2));
  w.field(L.KernelVersion); w.jsonString(record + O_KERNEL, load<u16>(lens + 4));
  w.field(L.Hardware); w.jsonString(record + O_HW, load<u16>(lens + 6));
  w.field(L.TotalMemory); w.u64(memTotal);
  w.field(L.AgentVersion); w.byte(0x22); w.lit(P.AGENT_VERSION); w.byte(0x22);
  truncatedField(w, truncated);
  w.byte(0x7d);
}

/** The report as a CBOR SystemInformation map (docs/CBOR.md; AgentVersion is the message's). */
export function writeCbor(w: Writer): void {
  X.mapBegin(w);
  X.keyText(w, 0, record + O_OS, load<u16>(lens));
  X.keyText(w, 1, record + O_OSV, load<u16>(lens + 2));
  X.keyText(w, 2, record + O_KERNEL, load<u16>(lens + 4));
  X.keyText(w, 3, record + O_HW, load<u16>(lens + 6));
  X.keyUint(w, 4, memTotal);
  X.optTrue(w, 12, truncated);
  X.mapEnd(w);
}

export const MAX_RECORD: i32 = 200 + P.OS_CAP + P.OS_VERSION_CAP + P.KERNEL_CAP + P.HW_CAP;
