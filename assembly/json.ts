// A validating JSON reader over one input line. It records the members of each object it
// scans (key, value span, type) so callers pick fields by name in any order. Strings are
// decoded in place, in the input line itself (a decoded string is never longer than its
// JSON text): keys during the scan, values when asked for, so no scratch copy of the line
// is needed. Any syntax error stops the scan with a reason.

import * as L from "./words";
import { Lit, litLength, isLit } from "./literal";
import { JSON_MEMBERS } from "./profile";
import { output } from "./areas";
import { Writer } from "./writer";

export const T_NONE = 0, T_OBJECT = 1, T_ARRAY = 2, T_STRING = 3, T_NUMBER = 4, T_TRUE = 5, T_FALSE = 6, T_NULL = 7;

const MAX_DEPTH = 16;
const MAX_MEMBERS = JSON_MEMBERS;
// Members of the objects being scanned, 16 bytes each; offsets are from the line's start
// (a line is at most 65,536 bytes, so every offset and length fits 16 bits). Nested
// members are recorded within their parent's range.
const M_KEY = 0, M_KEY_LEN = 2;   // the decoded key
const M_VALUE = 4;                // where the value starts
const M_TYPE = 6;                 // u8: T_*
const M_ESCAPED = 7;              // u8: 1 while a string value still holds escapes
const M_AUX1 = 8, M_AUX2 = 10;    // string: text offset and length; object: first member and count
const M_PARENT = 12;              // id of the object the member belongs to
const M_OBJECT = 14;              // object: its own id
export const MEMBER_SIZE = 16;
export const MEMBERS_BYTES = MAX_MEMBERS * MEMBER_SIZE;
// The output area is free while a line is parsed (areas.ts); it is larger than the table
// (rtos 1,544 >= 1,024 bytes, linux 16,392 >= 8,192; test/lean.test.ts checks it).
const members = output;
let memberTop = 0;

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
    if (!scanString()) return false;
    if (strEscaped) strLen = decodeInPlace(strPtr, strLen);
    const keyPtr = strPtr, keyLen = strLen;
    ws();
    if (at >= end || load<u8>(at) != 0x3a) { fail(L.expectedAposColonApos); return false; }
    at++;
    ws();
    const vstart = at;
    aux1 = 0; aux2 = 0; aux3 = 0; escaped = false;
    let type: i32;
    if (at < end && load<u8>(at) == 0x7b) {
      // An object value nests straight back into scanObject, one interpreter frame per level:
      // this recursion is what sizes a board's wasm3 stack.
      type = scanObject(depth + 1) ? T_OBJECT : T_NONE;
      aux1 = firstMember; aux2 = memberCount; aux3 = objectId;
    } else type = value(depth + 1);
    if (type == T_NONE) return false;
    if (memberTop >= MAX_MEMBERS) { fail(L.tooManyMembers); return false; }
    const m = members + <usize>memberTop * MEMBER_SIZE;
    store<u16>(m, <u16>(keyPtr - src), M_KEY);
    store<u16>(m, <u16>keyLen, M_KEY_LEN);
    store<u16>(m, <u16>(vstart - src), M_VALUE);
    store<u8>(m, <u8>type, M_TYPE);
    store<u8>(m, escaped ? 1 : 0, M_ESCAPED);
    store<u16>(m, <u16>aux1, M_AUX1);
    store<u16>(m, <u16>aux2, M_AUX2);
    store<u16>(m, <u16>id, M_PARENT);
    store<u16>(m, <u16>aux3, M_OBJECT);
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
let escaped = false;

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
    if (!scanString()) return T_NONE;
    aux1 = <i32>(strPtr - src); aux2 = strLen; escaped = strEscaped;
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
    const m = member(i);
    if (<i32>load<u16>(m, M_PARENT) == id && isLit(src + load<u16>(m, M_KEY), load<u16>(m, M_KEY_LEN), name)) return i;
  }
  return -1;
}

/** Whether member i belongs to object `id` itself (not to an object nested in it). */
// @ts-ignore: decorator
@inline function member(i: i32): usize { return members + <usize>i * MEMBER_SIZE; }

export function isMemberOf(i: i32, id: i32): bool { return <i32>load<u16>(member(i), M_PARENT) == id; }

export function memberType(i: i32): i32 { return <i32>load<u8>(member(i), M_TYPE); }
export function memberKeyPtr(i: i32): usize { return src + load<u16>(member(i), M_KEY); }
export function memberKeyLen(i: i32): i32 { return <i32>load<u16>(member(i), M_KEY_LEN); }

/** Puts the cursor on member i's value (to re-read it as a string, number or object). */
export function seek(i: i32): void { at = src + load<u16>(member(i), M_VALUE); }

/** Member i's object value: its members become firstMember..+memberCount. */
export function objectOf(i: i32): void {
  const m = member(i);
  firstMember = <i32>load<u16>(m, M_AUX1);
  memberCount = <i32>load<u16>(m, M_AUX2);
  objectId = <i32>load<u16>(m, M_OBJECT);
}

/** Member i's decoded string value, in strPtr/strLen (decoded in place the first time). */
export function stringOf(i: i32): void {
  const m = member(i);
  strPtr = src + load<u16>(m, M_AUX1);
  strLen = <i32>load<u16>(m, M_AUX2);
  if (load<u8>(m, M_ESCAPED) != 0) {
    strLen = decodeInPlace(strPtr, strLen);
    store<u16>(m, <u16>strLen, M_AUX2);
    store<u8>(m, 0, M_ESCAPED);
  }
}

/** Parses member i's number; result in numKind/numValue. */
export function numberOf(i: i32): void { seek(i); number(); }

// Arrays of strings (config lists): iterate with arrayBegin / arrayNext.
export function arrayBegin(i: i32): void { seek(i); at++; }

/** Next element of the array at the cursor: its type, with strings decoded; T_NONE at the end. */
export function arrayNext(): i32 {
  ws();
  if (load<u8>(at) == 0x2c) { at++; ws(); }
  if (load<u8>(at) == 0x5d) return T_NONE;
  const c = load<u8>(at);
  // Array strings were only checked by the scan: each is decoded now, once.
  if (c == 0x22) {
    scanString();
    if (strEscaped) strLen = decodeInPlace(strPtr, strLen);
    return T_STRING;
  }
  return value(MAX_DEPTH - 1);
}

// ---- strings -------------------------------------------------------------------------

export let strPtr: usize = 0;
export let strLen: i32 = 0;
/** Whether the string scanString last passed holds escapes (its text then needs decoding). */
let strEscaped = false;

function hex4(p: usize): i32 {
  let v = 0;
  for (let k = 0; k < 4; k++) {
    let c = <i32>load<u8>(p + k);
    let d: i32;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else { c |= 0x20; if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10; else return -1; }
    v = (v << 4) | d;
  }
  return v;
}

/**
 * Checks the string at the cursor and moves past it: strPtr/strLen become its text between
 * the quotes, as written (strEscaped tells whether escapes need decoding).
 */
function scanString(): bool {
  at++; // opening quote
  strPtr = at;
  strEscaped = false;
  while (true) {
    if (at >= end) { fail(L.unterminatedString); return false; }
    const c = <u32>load<u8>(at);
    if (c == 0x22) break;
    if (c < 0x20) { fail(L.controlCharacterInString); return false; }
    at++;
    if (c != 0x5c) continue;
    strEscaped = true;
    if (at >= end) { fail(L.unterminatedString); return false; }
    const e = <u32>load<u8>(at);
    at++;
    if (e == 0x75) {
      if (at + 4 > end || hex4(at) < 0) { fail(L.invalidBackslashUEscape); return false; }
      at += 4;
    } else if (e != 0x22 && e != 0x5c && e != 0x2f && e != 0x62 && e != 0x66 && e != 0x6e && e != 0x72 && e != 0x74) {
      fail(L.invalidEscape);
      return false;
    }
  }
  strLen = <i32>(at - strPtr);
  at++; // closing quote
  return true;
}

let out: usize = 0;

// @ts-ignore: decorator
@inline function put(b: u32): void { store<u8>(out, <u8>b); out++; }

function putCode(c: u32): void {
  if (c < 0x80) put(c);
  else if (c < 0x800) { put(0xc0 | (c >> 6)); put(0x80 | (c & 0x3f)); }
  else if (c < 0x10000) { put(0xe0 | (c >> 12)); put(0x80 | ((c >> 6) & 0x3f)); put(0x80 | (c & 0x3f)); }
  else { put(0xf0 | (c >> 18)); put(0x80 | ((c >> 12) & 0x3f)); put(0x80 | ((c >> 6) & 0x3f)); put(0x80 | (c & 0x3f)); }
}

/**
 * Decodes the escapes of a checked string's text (UTF-8; raw bytes are kept as they came)
 * over the text itself, and returns the decoded length. Every escape is longer than what it
 * stands for, so the writing never overtakes the reading.
 */
function decodeInPlace(p: usize, len: i32): i32 {
  const stop = p + len;
  let r = p;
  out = p;
  while (r < stop) {
    const c = <u32>load<u8>(r);
    r++;
    if (c != 0x5c) { put(c); continue; }
    const e = <u32>load<u8>(r);
    r++;
    if (e == 0x62) put(8);
    else if (e == 0x66) put(12);
    else if (e == 0x6e) put(10);
    else if (e == 0x72) put(13);
    else if (e == 0x74) put(9);
    else if (e != 0x75) put(e);
    else {
      let u = hex4(r);
      r += 4;
      if (u >= 0xd800 && u <= 0xdbff && r + 6 <= stop && load<u8>(r) == 0x5c && load<u8>(r + 1) == 0x75) {
        const lo = hex4(r + 2);
        if (lo >= 0xdc00 && lo <= 0xdfff) { u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00); r += 6; }
      }
      // A lone surrogate has no UTF-8 form: it becomes U+FFFD.
      putCode(u >= 0xd800 && u <= 0xdfff ? 0xfffd : <u32>u);
    }
  }
  return <i32>(out - p);
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
