// A validating JSON reader over one input line. It records the members of each object it
// scans (key, value span, type) so callers pick fields by name in any order, and decodes
// strings into a scratch arena. Any syntax error stops the scan with a reason.

import * as L from "./words";
import { Lit, litLength, isLit } from "./literal";
import { INPUT_CAP, JSON_MEMBERS, CHECK_ID_CAP } from "./profile";
import { Writer } from "./writer";

export const T_NONE = 0, T_OBJECT = 1, T_ARRAY = 2, T_STRING = 3, T_NUMBER = 4, T_TRUE = 5, T_FALSE = 6, T_NULL = 7;

const MAX_DEPTH = 16;
const MAX_MEMBERS = JSON_MEMBERS;
const MEMBER_SIZE = 36;
// Members of the objects being scanned: keyPtr, keyLen, valueStart, valueEnd, type, and
// (strings) the decoded text or (objects) the range of their own members, and the id of the
// object they belong to (nested members are recorded within their parent's range).
const members = memory.data(MAX_MEMBERS * MEMBER_SIZE);
let memberTop = 0;

// Decoded strings of the current input: the scan decodes each once (never more than the
// input), and a config list re-decodes one element at a time after them; such an element
// is cut at the arena's end, which is still longer than any stored name (CHECK_ID_CAP).
const ARENA_CAP = INPUT_CAP + 2 * CHECK_ID_CAP + 16;
export const arena = memory.data(ARENA_CAP, 8);
let arenaTop = 0;

let src: usize = 0;
let end: usize = 0;
let at: usize = 0;
export let failed = false;
let err: Writer = changetype<Writer>(0);

export function begin(p: usize, len: i32, errors: Writer): void {
  src = p;
  end = p + len;
  at = p;
  failed = false;
  memberTop = 0;
  arenaTop = 0;
  nextObjectId = 0;
  err = errors;
}

function fail(what: Lit): void {
  if (failed) return;
  failed = true;
  err.pos = 0;
  err.lit(L.invalidJSONColon);
  err.lit(what);
  err.lit(L.atColumn);
  err.u64(<u64>(at - src + 1));
}

export function ws(): void {
  while (at < end) {
    const c = load<u8>(at);
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
    at++;
  }
}

export function atEnd(): bool { ws(); return at == end; }

export function trailing(): void { if (!atEnd()) fail(L.unexpectedCharactersAfterTheValue); }

// ---- objects -------------------------------------------------------------------------

/** First member index and count of the object scanned by the last `object()` call. */
export let firstMember = 0;
export let memberCount = 0;
/** Id of that object: its own members carry it as their parent. */
export let objectId = 0;
let nextObjectId = 0;

/** Scans an object at the cursor; its members become firstMember..+memberCount. */
export function object(depth: i32): bool {
  ws();
  if (at >= end || load<u8>(at) != 0x7b) { fail(L.expectedAnObject); return false; }
  return scanObject(depth);
}

function scanObject(depth: i32): bool {
  if (depth > MAX_DEPTH) { fail(L.nestingTooDeep); return false; }
  at++; // '{'
  const first = memberTop;
  const id = ++nextObjectId;
  ws();
  if (at < end && load<u8>(at) == 0x7d) { at++; firstMember = first; memberCount = 0; objectId = id; return true; }
  while (true) {
    ws();
    if (at >= end || load<u8>(at) != 0x22) { fail(L.expectedAMemberName); return false; }
    if (!decodeString()) return false;
    const keyPtr = strPtr, keyLen = strLen;
    ws();
    if (at >= end || load<u8>(at) != 0x3a) { fail(L.expectedAposColonApos); return false; }
    at++;
    ws();
    const vstart = at;
    aux1 = 0; aux2 = 0; aux3 = 0;
    const type = value(depth + 1);
    if (type == T_NONE) return false;
    if (memberTop >= MAX_MEMBERS) { fail(L.tooManyMembers); return false; }
    const m = members + <usize>memberTop * MEMBER_SIZE;
    store<u32>(m, <u32>keyPtr);
    store<u32>(m, <u32>keyLen, 4);
    store<u32>(m, <u32>vstart, 8);
    store<u32>(m, <u32>at, 12);
    store<u32>(m, <u32>type, 16);
    store<u32>(m, <u32>aux1, 20);
    store<u32>(m, <u32>aux2, 24);
    store<u32>(m, <u32>id, 28);
    store<u32>(m, <u32>aux3, 32);
    memberTop++;
    ws();
    if (at < end && load<u8>(at) == 0x2c) { at++; continue; }
    if (at < end && load<u8>(at) == 0x7d) { at++; break; }
    fail(L.expectedAposCommaAposOrAposUnbraceApos);
    return false;
  }
  firstMember = first;
  memberCount = memberTop - first;
  objectId = id;
  return true;
}

let aux1 = 0;
let aux2 = 0;
let aux3 = 0;

/** Validates one value at the cursor and moves past it; returns its type (T_NONE on error). */
function value(depth: i32): i32 {
  if (at >= end) { fail(L.expectedAValue); return T_NONE; }
  const c = load<u8>(at);
  if (c == 0x7b) {
    // Nested members are recorded too; only the caller's own level is looked up by name.
    const ok = scanObject(depth);
    aux1 = firstMember; aux2 = memberCount;
    aux3 = objectId;
    return ok ? T_OBJECT : T_NONE;
  }
  if (c == 0x5b) {
    if (depth > MAX_DEPTH) { fail(L.nestingTooDeep); return T_NONE; }
    at++;
    ws();
    if (at < end && load<u8>(at) == 0x5d) { at++; return T_ARRAY; }
    while (true) {
      ws();
      if (value(depth + 1) == T_NONE) return T_NONE;
      ws();
      if (at < end && load<u8>(at) == 0x2c) { at++; continue; }
      if (at < end && load<u8>(at) == 0x5d) { at++; return T_ARRAY; }
      fail(L.expectedAposCommaAposOrAposUnbracketApos);
      return T_NONE;
    }
  }
  if (c == 0x22) {
    if (!decodeString()) return T_NONE;
    aux1 = <i32>strPtr; aux2 = strLen;
    return T_STRING;
  }
  if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return number() ? T_NUMBER : T_NONE;
  if (word(L.trueWord)) return T_TRUE;
  if (word(L.falseWord)) return T_FALSE;
  if (word(L.nullWord)) return T_NULL;
  fail(L.unexpectedCharacter);
  return T_NONE;
}

function word(w: Lit): bool {
  const n = litLength(w);
  if (at + <usize>n > end || !isLit(at, n, w)) return false;
  at += n;
  return true;
}

// ---- member lookup -------------------------------------------------------------------

/** Index of the last member named `name` of object `id` (its members lie in first..+count), or -1; the last one wins, as in JSON.parse. */
export function find(first: i32, count: i32, id: i32, name: Lit): i32 {
  for (let i = first + count - 1; i >= first; i--) {
    const m = members + <usize>i * MEMBER_SIZE;
    if (<i32>load<u32>(m, 28) == id && keyIs(m, name)) return i;
  }
  return -1;
}

/** Whether member i belongs to object `id` itself (not to an object nested in it). */
export function isMemberOf(i: i32, id: i32): bool { return <i32>load<u32>(members + <usize>i * MEMBER_SIZE, 28) == id; }

function keyIs(m: usize, name: Lit): bool { return isLit(<usize>load<u32>(m), <i32>load<u32>(m, 4), name); }

export function memberType(i: i32): i32 { return <i32>load<u32>(members + <usize>i * MEMBER_SIZE, 16); }
export function memberKeyPtr(i: i32): usize { return <usize>load<u32>(members + <usize>i * MEMBER_SIZE); }
export function memberKeyLen(i: i32): i32 { return <i32>load<u32>(members + <usize>i * MEMBER_SIZE, 4); }

/** Puts the cursor on member i's value (to re-read it as a string, number or object). */
export function seek(i: i32): void { at = <usize>load<u32>(members + <usize>i * MEMBER_SIZE, 8); }

/** Member i's object value: its members become firstMember..+memberCount. */
export function objectOf(i: i32): void {
  const m = members + <usize>i * MEMBER_SIZE;
  firstMember = <i32>load<u32>(m, 20);
  memberCount = <i32>load<u32>(m, 24);
  objectId = <i32>load<u32>(m, 32);
}

/** Member i's decoded string value, in strPtr/strLen. */
export function stringOf(i: i32): void {
  const m = members + <usize>i * MEMBER_SIZE;
  strPtr = <usize>load<u32>(m, 20);
  strLen = <i32>load<u32>(m, 24);
}

/** Parses member i's number; result in numKind/numValue. */
export function numberOf(i: i32): void { seek(i); number(); }

// Arrays of strings (config lists): iterate with arrayBegin / arrayNext.
let arrayMark = 0;
export function arrayBegin(i: i32): void { seek(i); at++; arrayMark = arenaTop; }

/** Next element of the array at the cursor: its type, with strings decoded; T_NONE at the end. */
export function arrayNext(): i32 {
  ws();
  if (load<u8>(at) == 0x2c) { at++; ws(); }
  if (load<u8>(at) == 0x5d) return T_NONE;
  const c = load<u8>(at);
  // Array strings were decoded once by the scan; decode again into the same scratch space.
  if (c == 0x22) { arenaTop = arrayMark; decodeString(); return T_STRING; }
  return value(MAX_DEPTH - 1);
}

// ---- strings -------------------------------------------------------------------------

export let strPtr: usize = 0;
export let strLen: i32 = 0;

function hex4(): i32 {
  if (at + 4 > end) return -1;
  let v = 0;
  for (let k = 0; k < 4; k++) {
    let c = <i32>load<u8>(at + k);
    let d: i32;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else { c |= 0x20; if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10; else return -1; }
    v = (v << 4) | d;
  }
  at += 4;
  return v;
}

function put(b: u32): void { if (arenaTop < ARENA_CAP) { store<u8>(arena + arenaTop, <u8>b); arenaTop++; } }

function putCode(c: u32): void {
  if (c < 0x80) put(c);
  else if (c < 0x800) { put(0xc0 | (c >> 6)); put(0x80 | (c & 0x3f)); }
  else if (c < 0x10000) { put(0xe0 | (c >> 12)); put(0x80 | ((c >> 6) & 0x3f)); put(0x80 | (c & 0x3f)); }
  else { put(0xf0 | (c >> 18)); put(0x80 | ((c >> 12) & 0x3f)); put(0x80 | ((c >> 6) & 0x3f)); put(0x80 | (c & 0x3f)); }
}

/** Decodes the string at the cursor into the arena (UTF-8; raw bytes are kept as they came). */
function decodeString(): bool {
  at++; // opening quote
  const start = arenaTop;
  while (true) {
    if (at >= end) { fail(L.unterminatedString); return false; }
    const c = <u32>load<u8>(at);
    if (c == 0x22) { at++; break; }
    if (c < 0x20) { fail(L.controlCharacterInString); return false; }
    if (c != 0x5c) { put(c); at++; continue; }
    at++;
    if (at >= end) { fail(L.unterminatedString); return false; }
    const e = <u32>load<u8>(at);
    at++;
    if (e == 0x22 || e == 0x5c || e == 0x2f) put(e);
    else if (e == 0x62) put(8);
    else if (e == 0x66) put(12);
    else if (e == 0x6e) put(10);
    else if (e == 0x72) put(13);
    else if (e == 0x74) put(9);
    else if (e == 0x75) {
      let u = hex4();
      if (u < 0) { fail(L.invalidBackslashUEscape); return false; }
      if (u >= 0xd800 && u <= 0xdbff && at + 6 <= end && load<u8>(at) == 0x5c && load<u8>(at + 1) == 0x75) {
        const save = at;
        at += 2;
        const lo = hex4();
        if (lo >= 0xdc00 && lo <= 0xdfff) u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        else at = save;
      }
      // A lone surrogate has no UTF-8 form: it becomes U+FFFD.
      putCode(u >= 0xd800 && u <= 0xdfff ? 0xfffd : <u32>u);
    } else { fail(L.invalidEscape); return false; }
  }
  strPtr = arena + start;
  strLen = arenaTop - start;
  return true;
}

// ---- numbers -------------------------------------------------------------------------

/** Whether the last number is an exact integer that fits i64 (N_INT) or not (N_OTHER). */
export const N_INT = 0, N_OTHER = 1;
export let numKind = N_INT;
export let numValue: i64 = 0;

function digit(): i32 {
  if (at < end) { const c = <i32>load<u8>(at); if (c >= 0x30 && c <= 0x39) return c - 0x30; }
  return -1;
}

// Digits accumulate as mant * 10^zeros, zeros (after the last non-zero digit) deferred,
// so 1.000e3 is the integer 1000 and 1e-2 is not an integer.
let mant: u64 = 0;
let zeros = 0;
let overflow = false;

function accumulate(d: i32): void {
  if (d == 0) { if (mant != 0) zeros++; return; }
  for (let k = 0; k <= zeros; k++) {
    if (mant > 1844674407370955160) { overflow = true; return; }
    mant *= 10;
  }
  mant += <u64>d;
  zeros = 0;
}

function number(): bool {
  let neg = false;
  if (load<u8>(at) == 0x2d) { neg = true; at++; }
  mant = 0; zeros = 0; overflow = false;
  let fracLen = 0;
  let d = digit();
  if (d < 0) { fail(L.invalidNumber); return false; }
  if (d == 0) { at++; if (digit() >= 0) { fail(L.leadingZeroInNumber); return false; } }
  else while ((d = digit()) >= 0) { at++; accumulate(d); }
  if (at < end && load<u8>(at) == 0x2e) {
    at++;
    if (digit() < 0) { fail(L.invalidNumber); return false; }
    while ((d = digit()) >= 0) { at++; fracLen++; accumulate(d); }
  }
  let exp = 0;
  if (at < end && (load<u8>(at) | 0x20) == 0x65) {
    at++;
    let eneg = false;
    if (at < end && (load<u8>(at) == 0x2b || load<u8>(at) == 0x2d)) { eneg = load<u8>(at) == 0x2d; at++; }
    if (digit() < 0) { fail(L.invalidNumber); return false; }
    while ((d = digit()) >= 0) { at++; if (exp < 100000) exp = exp * 10 + d; }
    if (eneg) exp = -exp;
  }
  numValue = 0;
  numKind = N_OTHER;
  if (mant == 0 && !overflow) { numKind = N_INT; return true; }
  let power = zeros - fracLen + exp;
  if (overflow || power < 0) return true;
  let v = mant;
  while (power > 0) {
    if (v > 922337203685477580) return true;
    v *= 10;
    power--;
  }
  if (v > <u64>i64.MAX_VALUE) return true;
  numKind = N_INT;
  numValue = neg ? -<i64>v : <i64>v;
  return true;
}
