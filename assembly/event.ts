// The one input being processed: filled by the trace parser or by a typed ingest call,
// checked, then applied to the collectors (after any window it closes has been sent).

import * as P from "./profile";

/** An input's kind: none, a collector's input (K_INPUT + its number, collectors.ts), a configuration or a tick. */
export const K_NONE = 0, K_INPUT = 1, K_CONFIG = 16, K_TICK = 17, K_HEARTBEAT = 18;

export const PROTO_TCP = 0, PROTO_UDP = 1, PROTO_ICMP = 2;
export const DIR_IN = 0, DIR_OUT = 1;
export const TYPE_FORK = 0, TYPE_EXEC = 1;
export const RESULT_PASS = 0, RESULT_FAIL = 1, RESULT_ERROR = 2;
export const SEV_CRITICAL = 0, SEV_IMPORTANT = 1, SEV_WARNING = 2, SEV_INFORMATIONAL = 3;

/** Latest time a trace may carry: 9999-12-31T23:59:59.999Z, so every time prints as ISO 8601. */
export const MAX_TIME: i64 = 253402300799999;
export const MAX_SAFE: i64 = 9007199254740991;

/** A string of the pending input: bytes somewhere stable until the input is applied; len < 0 when absent. */
@unmanaged export class Text {
  ptr: usize;
  len: i32;
}

@unmanaged export class Event {
  kind: i32;
  t: i64;
  // process
  pid: u32;
  ppid: u32;
  uid: u32;
  ptype: i32;
  // baseline
  result: i32;
  severity: i32;
  // system information
  memTotal: u64;
}

export const ev = changetype<Event>(memory.data(offsetof<Event>(), 8));

// Connection strings, until the line becomes a typed record (trace.ts)
export const app = changetype<Text>(memory.data(offsetof<Text>(), 8));
export const host = changetype<Text>(memory.data(offsetof<Text>(), 8));
// Process strings
export const cmd = changetype<Text>(memory.data(offsetof<Text>(), 8));
export const exe = changetype<Text>(memory.data(offsetof<Text>(), 8));
export const user = changetype<Text>(memory.data(offsetof<Text>(), 8));
// Baseline strings
export const checkId = changetype<Text>(memory.data(offsetof<Text>(), 8));
export const group = changetype<Text>(memory.data(offsetof<Text>(), 8));
export const errorText = changetype<Text>(memory.data(offsetof<Text>(), 8));
export const description = changetype<Text>(memory.data(offsetof<Text>(), 8));
export const remediation = changetype<Text>(memory.data(offsetof<Text>(), 8));
// System information strings
export const os = changetype<Text>(memory.data(offsetof<Text>(), 8));
export const osVersion = changetype<Text>(memory.data(offsetof<Text>(), 8));
export const kernel = changetype<Text>(memory.data(offsetof<Text>(), 8));
export const hw = changetype<Text>(memory.data(offsetof<Text>(), 8));

// A pending input's strings are kept cut 4 bytes past their bound (see profile.ts,
// KEPT_TEXT_BYTES). Only one kind's strings are present at a time.
let keptTop: usize = 0;

function keep(t: Text, cap: i32): void {
  if (t.len <= 0) return;
  const n = t.len < cap + 4 ? t.len : cap + 4;
  memory.copy(keptTop, t.ptr, n);
  t.ptr = keptTop;
  t.len = n;
  keptTop += n;
}

/** Copies the pending input's strings out of the input area (it is the host's again) to `area`. */
export function keepTexts(area: usize): void {
  keptTop = area;
  keep(cmd, P.CMD_CAP); keep(exe, P.EXE_CAP); keep(user, P.USER_CAP);
  keep(checkId, P.CHECK_ID_CAP); keep(group, P.GROUP_CAP); keep(errorText, P.ERROR_TEXT_CAP);
  keep(description, P.DESCRIPTION_CAP); keep(remediation, P.REMEDIATION_CAP);
  keep(os, P.OS_CAP); keep(osVersion, P.OS_VERSION_CAP); keep(kernel, P.KERNEL_CAP); keep(hw, P.HW_CAP);
}

export function clearTexts(): void {
  app.len = -1; host.len = -1; cmd.len = -1; exe.len = -1; user.len = -1;
  checkId.len = -1; group.len = -1; errorText.len = -1; description.len = -1; remediation.len = -1;
  os.len = -1; osVersion.len = -1; kernel.len = -1; hw.len = -1;
}
