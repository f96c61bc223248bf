// The JSON form of the record writer (format.ts): members by name, times as ISO 8601, addresses
// as text. A member after the first of its object follows a comma.

import * as L from "./words";
import { Lit } from "./literal";
import { Writer } from "./writer";
import { formatIP } from "./ip";

const ipText = memory.data(48, 8);

/** Whether the next member is its object's first. */
let opened = false;

/** `"name":`, after a comma unless it opens its object. */
function member(w: Writer, name: Lit): void {
  if (opened) { opened = false; w.key(name); } else w.field(name);
}

export function recordBegin(w: Writer): void { w.byte(0x7b); opened = true; }
export function recordEnd(w: Writer): void { w.byte(0x7d); }

export function memberUint(w: Writer, name: Lit, v: u64): void { member(w, name); w.u64(v); }

export function memberText(w: Writer, name: Lit, p: usize, len: i32): void { member(w, name); w.jsonString(p, len); }

export function memberAddress(w: Writer, name: Lit, p: usize, v6: bool): void {
  member(w, name);
  w.byte(0x22);
  w.bytes(ipText, formatIP(p, v6, ipText));
  w.byte(0x22);
}

/** A word given as its JSON text (quotes included, or `true`, a number…). */
export function memberWord(w: Writer, name: Lit, word: Lit): void { member(w, name); w.lit(word); }

/** A word given bare, written in quotes. */
export function memberQuoted(w: Writer, name: Lit, word: Lit): void { member(w, name); w.byte(0x22); w.lit(word); w.byte(0x22); }

/** `,"HitCount":n,"FirstSeenUTC":"…","LastSeenUTC":"…"`: the aggregation fields of a record. */
export function memberSeen(w: Writer, hits: u64, first: i64, last: i64): void {
  w.field(L.HitCount); w.u64(hits);
  w.field(L.FirstSeenUTC); w.byte(0x22); w.isoTime(first, 0); w.byte(0x22);
  w.field(L.LastSeenUTC); w.byte(0x22); w.isoTime(last, 0); w.byte(0x22);
}

/** `,"name":true` when set, nothing when not. */
export function memberFlag(w: Writer, name: Lit, on: bool): void { if (on) { member(w, name); w.lit(L.trueWord); } }

/** An object nested as a member (its members follow, then nestEnd). */
export function nestBegin(w: Writer, name: Lit): void { member(w, name); w.byte(0x7b); opened = true; }
export function nestEnd(w: Writer): void { w.byte(0x7d); }

/** A member whose value the caller writes as JSON text (the compact form makes it a string). */
export function embedBegin(w: Writer, name: Lit): void { member(w, name); }

// ---- message framing -------------------------------------------------------------------

// @ts-ignore: decorator
@inline export function envelope(w: Writer, version: Lit, hi: u64, lo: u64): void {
  w.byte(0x7b);
  w.key(L.AgentVersion); w.byte(0x22); w.lit(version); w.byte(0x22);
  w.field(L.AgentId); w.byte(0x22); w.uuid(hi, lo); w.byte(0x22);
  w.field(L.MessageSchemaVersion); w.lit(L.json1Dot1);   // 1.1: string references became registered tags (SPEC section 8)
  w.field(L.Events); w.byte(0x5b);
}

/**
 * An event's members up to its payload, which it opens; an empty window's event (IsEmpty,
 * and `Windows` when it stands for a run of them) is closed at once.
 */
// @ts-ignore: decorator
@inline export function eventHeader(w: Writer, name: Lit, diagnostic: bool, triggered: bool, empty: bool, run: i64,
  idHi: u64, idLo: u64, t: i64, offsetMin: i32): void {
  w.byte(0x7b);
  w.key(L.EventType); w.lit(diagnostic ? L.jsonDiagnostic : L.jsonSecurity);
  w.field(L.Category); w.lit(triggered ? L.jsonTriggered : L.jsonPeriodic);
  w.field(L.Name); w.lit(name);
  w.field(L.IsEmpty); w.lit(empty ? L.trueWord : L.falseWord);
  if (empty && run > 1) { w.field(L.Windows); w.u64(<u64>run); }
  w.field(L.PayloadSchemaVersion); w.lit(L.json1Dot0);
  w.field(L.Id); w.byte(0x22); w.uuid(idHi, idLo); w.byte(0x22);
  w.field(L.TimestampLocal); w.byte(0x22); w.isoTime(t, offsetMin); w.byte(0x22);
  w.field(L.TimestampUTC); w.byte(0x22); w.isoTime(t, 0); w.byte(0x22);
  w.field(L.Payload); w.byte(0x5b);
  if (empty) { w.byte(0x5d); w.byte(0x7d); }
}

/** Between two events or two records of an event. */
export function separator(w: Writer): void { w.byte(0x2c); }

/** Ends the open event's payload; returns the bytes written. */
export function eventEnd(w: Writer): i32 { w.byte(0x5d); w.byte(0x7d); return 2; }

/** Ends the message; returns the bytes written. */
export function messageEnd(w: Writer): i32 { w.byte(0x5d); w.byte(0x7d); return 2; }
