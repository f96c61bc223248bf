// Build-time sizes of the two profiles (SPEC R7). `MT_LINUX` is set by asconfig.json
// (`--use MT_LINUX=0|1`), so every capacity below is a compile-time constant and all
// storage can be reserved statically with memory.data.

import * as L from "./words";
import { CONN_HEADER } from "./layout";

export const LINUX: bool = MT_LINUX != 0;

/** Input area: one trace line, one config object or one typed record. */
export const INPUT_CAP: i32 = LINUX ? 65536 : 4096;
/** Output area: one chunk of a message; must hold the largest single-record message. */
export const OUTPUT_CAP: i32 = LINUX ? 16384 : 1536;
/** Error area: the longest reason is about 140 bytes (a config key is echoed up to 64). */
export const ERROR_CAP: i32 = 256;
/** Members recorded per input line (all objects of the line together). */
export const JSON_MEMBERS: i32 = LINUX ? 512 : 64;

export const NET_CAP: i32 = LINUX ? 1024 : 256;
// Shared by the cached connections (see intern.ts): distinct host names and application
// protocols within one window (at most 256 each: a record refers to one by a byte).

/**
 * Host name table capacity, a build option: `asc … --use MT_HOST_NAMES=<1..256>` (default rtos
 * 32, linux 256; each slot costs 4 + HOST_CAP bytes of linear memory: docs/FORMATS.md).
 */
export const HOST_NAMES: i32 = isDefined(MT_HOST_NAMES)
  // a build-time check, compiled only when the option is given: a record refers to a name by one byte
  ? (MT_HOST_NAMES >= 1 && MT_HOST_NAMES <= 256 ? <i32>MT_HOST_NAMES : ERROR("MT_HOST_NAMES must be 1 to 256"))
  : LINUX ? 256 : 32;
export const APP_NAMES: i32 = LINUX ? 256 : 16;
/** rtos has no process table; its settings are validated as for 256 (SPEC R7). */
export const PROC_CAP: i32 = LINUX ? 1024 : 0;
export const PROC_CONFIG_CAP: i32 = LINUX ? 1024 : 256;
export const BASELINE_CAP: i32 = LINUX ? 256 : 16;
export const DISABLED_GROUPS_CAP: i32 = LINUX ? 32 : 8;
export const DISABLED_CHECKS_CAP: i32 = LINUX ? 128 : 16;

// String bounds, in bytes of the JSON-escaped text (so a record's size is bounded no
// matter which characters arrive). Longer input is truncated and marked `Truncated`.
export const APP_CAP: i32 = LINUX ? 64 : 8;
export const HOST_CAP: i32 = LINUX ? 512 : 32;
export const CMD_CAP: i32 = LINUX ? 1024 : 8;
export const EXE_CAP: i32 = LINUX ? 256 : 8;
export const USER_CAP: i32 = LINUX ? 64 : 8;
export const CHECK_ID_CAP: i32 = LINUX ? 128 : 48;
export const GROUP_CAP: i32 = LINUX ? 64 : 32;
export const ERROR_TEXT_CAP: i32 = LINUX ? 256 : 64;
export const DESCRIPTION_CAP: i32 = LINUX ? 512 : 128;
export const REMEDIATION_CAP: i32 = LINUX ? 512 : 128;
export const OS_CAP: i32 = LINUX ? 64 : 32;
export const OS_VERSION_CAP: i32 = LINUX ? 64 : 32;
export const KERNEL_CAP: i32 = LINUX ? 128 : 64;
export const HW_CAP: i32 = LINUX ? 128 : 64;

// Profile defaults (SPEC R6).
export const DEFAULT_HIGH_S: i64 = LINUX ? 1800 : 10;
export const DEFAULT_MEDIUM_S: i64 = LINUX ? 7200 : 30;
export const DEFAULT_LOW_S: i64 = LINUX ? 86400 : 60;
export const DEFAULT_MAX_MESSAGE: i32 = LINUX ? 65536 : 4096;
/** Network overflow policy: rtos drops new connections, linux replaces the oldest (SPEC R2). */
export const NET_REPLACE_OLDEST: bool = LINUX;

// What an input waiting behind a send keeps (only one input waits at a time, so these
// share one area with a staged configuration; see config.ts). Strings are kept cut 4 bytes
// past their bound: storing them bounds them anyway (storeText stops within the bound plus
// one character), and the cut still shows they were longer.
/** A connection as a typed record (docs/ABI.md layout) with its optional strings (trace.ts). */
export const LINE_RECORD_BYTES: i32 = CONN_HEADER + APP_CAP + 4 + HOST_CAP + 4;
const PROCESS_TEXTS: i32 = CMD_CAP + EXE_CAP + USER_CAP + 3 * 4;
const BASELINE_TEXTS: i32 = CHECK_ID_CAP + GROUP_CAP + ERROR_TEXT_CAP + DESCRIPTION_CAP + REMEDIATION_CAP + 5 * 4;
const SYSTEM_TEXTS: i32 = OS_CAP + OS_VERSION_CAP + KERNEL_CAP + HW_CAP + 4 * 4;
const PB_TEXTS: i32 = PROCESS_TEXTS > BASELINE_TEXTS ? PROCESS_TEXTS : BASELINE_TEXTS;
/** The strings of a process, baseline or system information input (event.ts). */
export const KEPT_TEXT_BYTES: i32 = PB_TEXTS > SYSTEM_TEXTS ? PB_TEXTS : SYSTEM_TEXTS;

export const AGENT_VERSION = L.versionNumber;
