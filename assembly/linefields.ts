// The fields of a trace line (SPEC R10): each read by name from the line's object, checked,
// and on the first problem the line is rejected with a reason naming the field. trace.ts reads
// the common fields, each collector its own (collectors.ts, fromLine).

import * as L from "./words";
import { Lit, litLength, isLit } from "./literal";
import * as J from "./json";
import { Text } from "./event";
import { Writer } from "./writer";
import { parseIPv4, parseIPv6 } from "./ip";

let err: Writer = changetype<Writer>(0);
export let bad = false;
let first = 0;
let count = 0;
let objId = 0;

export function fieldError(name: Lit): Writer {
  bad = true;
  err.pos = 0;
  err.lit(L.fieldQuote);
  err.lit(name);
  err.lit(L.jsonColon);
  return err;
}

function missing(name: Lit): void {
  bad = true;
  err.pos = 0;
  err.lit(L.missingFieldQuote);
  err.lit(name);
  err.byte(0x22);
}

export function member(name: Lit, required: bool): i32 {
  if (bad) return -1;
  const i = J.find(first, count, objId, name);
  if (i < 0 && required) missing(name);
  return i;
}

export function int(name: Lit, min: i64, max: i64): i64 {
  const i = member(name, true);
  if (i < 0) return 0;
  if (J.memberType(i) == J.T_NUMBER) {
    J.numberOf(i);
    if (J.numKind == J.N_INT && J.numValue >= min && J.numValue <= max) return J.numValue;
  }
  const w = fieldError(name);
  w.lit(L.expectedAnIntegerFrom); w.i64(min); w.lit(L.to); w.i64(max);
  return 0;
}

/** A string field into t (absent: len -1); false if present with another type. */
export function str(name: Lit, required: bool, t: Text): void {
  t.len = -1;
  const i = member(name, required);
  if (i < 0) return;
  if (J.memberType(i) != J.T_STRING) { fieldError(name).lit(L.expectedAString); return; }
  J.stringOf(i);
  t.ptr = J.strPtr;
  t.len = J.strLen;
}

export function is(s: Lit): bool { return isLit(J.strPtr, J.strLen, s); }

/** A string field that must be one of the listed words; returns its index. */
export function choice(name: Lit, a: Lit, b: Lit, c: Lit, d: Lit): i32 {
  const i = member(name, true);
  if (i < 0) return 0;
  if (J.memberType(i) == J.T_STRING) {
    J.stringOf(i);
    if (is(a)) return 0;
    if (is(b)) return 1;
    if (litLength(c) > 0 && is(c)) return 2;
    if (litLength(d) > 0 && is(d)) return 3;
  }
  const w = fieldError(name);
  w.lit(L.expectedQuote); w.lit(a); w.lit(L.Quote);
  if (litLength(c) > 0) { w.lit(L.CommaQuote); w.lit(b); w.lit(L.Quote); } else { w.lit(L.orQuote); w.lit(b); w.lit(L.Quote); }
  if (litLength(c) > 0) { w.lit(litLength(d) > 0 ? L.CommaQuote : L.orQuote); w.lit(c); w.lit(L.Quote); }
  if (litLength(d) > 0) { w.lit(L.orQuote); w.lit(d); w.lit(L.Quote); }
  return 0;
}

/** An address field into dst; returns whether it is IPv6. */
export function address(name: Lit, dst: usize): bool {
  const i = member(name, true);
  if (i < 0) return false;
  if (J.memberType(i) == J.T_STRING) {
    J.stringOf(i);
    memory.fill(dst, 0, 16);
    if (parseIPv4(J.strPtr, J.strLen, dst)) return false;
    if (parseIPv6(J.strPtr, J.strLen, dst)) return true;
  }
  fieldError(name).lit(L.expectedAnIPv4OrIPv6Address);
  return false;
}

/** Reads fields of the object just scanned (J.firstMember…), reasons into `errors`. */
export function begin(errors: Writer): void {
  err = errors;
  bad = false;
  first = J.firstMember;
  count = J.memberCount;
  objId = J.objectId;
}
