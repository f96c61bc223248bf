// The record writer: a collector writes each member once, naming it in both forms (its JSON
// name and its CBOR key, docs/FORMATS.md and docs/CBOR.md), and knows no format. This is the
// one switch between the two forms (jsonout.ts, cbor.ts); a message keeps the format it began in.

import { Lit, litBytes, litLength } from "./literal";
import { Writer } from "./writer";
import { current } from "./config";
import * as J from "./jsonout";
import * as X from "./cbor";

/** A member the compact form does not write (it says it another way, or not at all). */
export const JSON_ONLY = X.JSON_ONLY;
/** The default of a member the compact form always writes. */
export const NO_DEFAULT = X.NO_DEFAULT;

// The configured format, taken when a send begins (a configuration update is applied only after
// the send it starts): a global, as every member of every record asks.
let compact = false;
export function choose(): void { compact = current.cbor; }
// @ts-ignore: decorator
@inline function compactForm(): bool { return compact; }

export function recordBegin(w: Writer): void { if (compactForm()) X.recordBegin(w); else J.recordBegin(w); }
export function recordEnd(w: Writer): void { if (compactForm()) X.recordEnd(w); else J.recordEnd(w); }

/** A number the compact form always writes. */
// @ts-ignore: decorator
@inline export function uint(w: Writer, name: Lit, key: u32, v: u64): void {
  if (compactForm()) X.memberUint(w, key, v, NO_DEFAULT); else J.memberUint(w, name, v);
}

/** A number the compact form leaves out when it is `dflt`. */
// @ts-ignore: decorator
@inline export function uintOr(w: Writer, name: Lit, key: u32, v: u64, dflt: u64): void {
  if (compactForm()) X.memberUint(w, key, v, dflt); else J.memberUint(w, name, v);
}

/** A string kept by the collector (sanitised, bounded). */
export function text(w: Writer, name: Lit, key: u32, p: usize, len: i32): void {
  if (compactForm()) X.memberText(w, key, p, len); else J.memberText(w, name, p, len);
}

/** A string that recurs across records (the compact form writes it once per message). */
export function shared(w: Writer, name: Lit, key: u32, p: usize, len: i32): void {
  if (compactForm()) X.memberShared(w, key, p, len); else J.memberText(w, name, p, len);
}

/** An IPv4 (4 bytes at p) or IPv6 (16) address: text in JSON, bytes in CBOR. */
export function address(w: Writer, name: Lit, key: u32, p: usize, v6: bool): void {
  if (compactForm()) X.memberAddress(w, key, p, v6); else J.memberAddress(w, name, p, v6);
}

/** One of a few values: a JSON word (its JSON text), a number in CBOR (left out when `dflt`). */
// @ts-ignore: decorator
@inline export function word(w: Writer, name: Lit, jsonWord: Lit, key: u32, v: u64, dflt: u64): void {
  if (compactForm()) X.memberUint(w, key, v, dflt); else J.memberWord(w, name, jsonWord);
}

/** The same, the JSON word given bare (written in quotes). */
// @ts-ignore: decorator
@inline export function quotedWord(w: Writer, name: Lit, word: Lit, key: u32, v: u64): void {
  if (compactForm()) X.memberUint(w, key, v, NO_DEFAULT); else J.memberQuoted(w, name, word);
}

/** A static string: quoted in JSON, a text string in CBOR. */
export function literal(w: Writer, name: Lit, key: u32, s: Lit): void {
  if (compactForm()) X.memberQuoted(w, key, litBytes(s), litLength(s)); else J.memberQuoted(w, name, s);
}

/** Hit count, first and last seen; the compact form's times are relative to `base`. */
// @ts-ignore: decorator
@inline export function seen(w: Writer, hits: u64, first: i64, last: i64, base: i64): void {
  if (compactForm()) X.memberSeen(w, hits, first, last, base); else J.memberSeen(w, hits, first, last);
}

/** `true` when set; nothing when not. */
export function flag(w: Writer, name: Lit, key: u32, on: bool): void {
  if (compactForm()) X.memberFlag(w, key, on); else J.memberFlag(w, name, on);
}

/** An object nested in JSON whose members CBOR keeps in the record itself. */
export function nestBegin(w: Writer, name: Lit): void { if (!compactForm()) J.nestBegin(w, name); }
export function nestEnd(w: Writer): void { if (!compactForm()) J.nestEnd(w); }

/** A member whose value the caller writes as JSON text (CBOR: a text string of it); returns a mark for embedEnd. */
export function embedBegin(w: Writer, name: Lit, key: u32): i32 {
  if (compactForm()) return X.embedBegin(w, key);
  J.embedBegin(w, name);
  return 0;
}
export function embedEnd(w: Writer, mark: i32): void { if (compactForm()) X.embedEnd(w, mark); }

// ---- message framing -------------------------------------------------------------------
// Inlined where a signature of its own would be one more function type (RAM on the AOT board).

/** The most bytes of a chunk the format may use (CBOR keeps the area's tail for its dictionary). */
export function chunkCap(cap: i32): i32 { return compactForm() && cap > X.CHUNK_CAP ? X.CHUNK_CAP : cap; }

// @ts-ignore: decorator
@inline export function envelope(w: Writer, version: Lit, hi: u64, lo: u64, t: i64): void {
  if (compactForm()) X.envelope(w, litBytes(version), litLength(version), hi, lo, t, current.maxMessageBytes);
  else J.envelope(w, version, hi, lo);
}

/**
 * An event's header up to its payload: `type` is its collector's number (CBOR), `name` its
 * JSON Name; an empty window's event (IsEmpty) ends with it, and `run` > 1 says how many
 * windows it stands for. `dt` is its time relative to the message's.
 */
// @ts-ignore: decorator
@inline export function eventHeader(w: Writer, type: i32, name: Lit, diagnostic: bool, triggered: bool, empty: bool, run: i64,
  idHi: u64, idLo: u64, t: i64, dt: i64): void {
  const offset = current.utcOffsetMin;
  if (compactForm()) X.eventHeader(w, type, empty, run, idHi, idLo, dt, offset);
  else J.eventHeader(w, name, diagnostic, triggered, empty, run, idHi, idLo, t, offset);
}

/** Between two events, or two records of one event. */
export function separator(w: Writer): void { if (!compactForm()) J.separator(w); }

/** Ends the open event's payload; returns the bytes written. */
export function eventEnd(w: Writer): i32 { return compactForm() ? X.eventEnd(w) : J.eventEnd(w); }

/** Ends the message; `how` says whether its packing run goes on in the next (the compact form records it). */
export function messageEnd(w: Writer, how: i32): i32 { return compactForm() ? X.messageEnd(w, how) : J.messageEnd(w); }
