// mt_stats: the run's totals as one JSON line (docs/ABI.md): inputs, messages and the counted
// collectors' losses (SPEC R5).

import * as L from "./words";
import { Lit } from "./literal";
import * as S from "./stats";
import * as F from "./flush";
import * as I from "./input";
import { Writer } from "./writer";

function counters(w: Writer, name: Lit, c: i32): void {
  w.field(name); w.byte(0x7b);
  w.key(L.received); w.u64(S.runTotal(c, offsetof<S.Counters>("received")));
  w.field(L.sent); w.u64(S.runTotal(c, offsetof<S.Counters>("sent")));
  w.field(L.discarded); w.u64(S.runTotal(c, offsetof<S.Counters>("discarded")));
  w.field(L.dropped); w.u64(S.runTotal(c, offsetof<S.Counters>("dropped")));
  w.field(L.ignored); w.u64(S.runTotal(c, offsetof<S.Counters>("ignored")));
  w.byte(0x7d);
}

/** Writes the summary into w; returns its length. */
export function writeSummary(w: Writer): i32 {
  w.pos = 0;
  w.byte(0x7b);
  w.key(L.lines); w.u64(I.lines);
  w.field(L.accepted); w.u64(I.accepted);
  w.field(L.skipped); w.u64(I.skipped);
  w.field(L.blank); w.u64(I.blank);
  w.field(L.messages); w.u64(F.messages);
  w.field(L.events); w.u64(F.events);
  w.field(L.bytes); w.u64(F.bytes);
  counters(w, L.process, S.C_PROCESS);
  counters(w, L.network, S.C_NETWORK);
  w.field(L.baseline); w.byte(0x7b); w.key(L.dropped); w.u64(S.runTotal(S.C_BASELINE, offsetof<S.Counters>("dropped"))); w.byte(0x7d);
  w.byte(0x7d);
  return w.pos;
}
