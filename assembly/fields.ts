// Members that several payload records share.

import * as L from "./words";
import { Writer } from "./writer";

/** `,"HitCount":n,"FirstSeenUTC":"…","LastSeenUTC":"…"`: the aggregation fields of a record. */
export function seenFields(w: Writer, hits: u64, first: i64, last: i64): void {
  w.field(L.HitCount); w.u64(hits);
  w.field(L.FirstSeenUTC); w.byte(0x22); w.isoTime(first, 0); w.byte(0x22);
  w.field(L.LastSeenUTC); w.byte(0x22); w.isoTime(last, 0); w.byte(0x22);
}

/** `,"Truncated":true` when a string of the record was cut. */
export function truncatedField(w: Writer, flag: bool): void { if (flag) { w.field(L.Truncated); w.lit(L.trueWord); } }
