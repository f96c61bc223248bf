// mt_report_loss: losses the core did not see (SPEC R5), reported by the host and counted into
// the open window's counters (stats.ts); their warnings are written by collectorstats.ts.

import * as L from "./words";
import * as P from "./profile";
import * as E from "./event";
import * as S from "./stats";
import * as F from "./flush";
import { err, badField, MT_OK, MT_SKIPPED, MT_BUSY } from "./input";

/** `mt_report_loss`'s `what`: the collector, plus this flag when the value is a downtime in ms. */
const DOWNTIME = 0x100;

/**
 * A loss the core did not see. `what` names the collector: the transport (3) lost `value`
 * messages from its outbox, or (linux profile) the host lost `value` events of collector 0 or 1
 * before they reached the core (a kernel queue overflowed; -1: a loss whose number the source
 * could not tell). With `what` + 0x100 (linux), `value` is the time in ms the host's source of
 * collector 0 or 1 was down (e.g. a helper that was restarted). The open window's counters carry
 * it (events as Received and Dropped, so the counters still add up), with a warning naming the
 * number; the transport's go out with the next message that leaves. Not an input: no time
 * passes, no window moves. One export for both, so a device's core pays for one.
 */
export function mt_report_loss(value: i64, what: i32): i32 {
  if (F.busy()) return MT_BUSY;
  err.pos = 0;
  const collector = what & ~DOWNTIME;
  // Baseline results are the platform's own checks: nothing to lose on the way. The rtos profile
  // counts only the transport's losses (a device's kernel queues are the Linux agent's concern).
  const events = P.LINUX && (collector == S.C_PROCESS || collector == S.C_NETWORK);
  if ((what & DOWNTIME) != 0 ? !events : !events && what != S.TRANSPORT) {
    badField(L.Collector);
    return MT_SKIPPED;
  }
  // A number unknown (-1): the Linux agent's kernel queues; the transport always knows its own.
  if (value < (events && what == collector ? -1 : 0) || value > E.MAX_SAFE) {
    // (rtos: the downtime's word is never laid out, as no downtime gets this far)
    if (P.LINUX) badField((what & DOWNTIME) != 0 ? L.ms : L.Dropped);
    else badField(L.Dropped);
    return MT_SKIPPED;
  }
  if (P.LINUX && what != collector) S.down(collector, <u64>value);
  else if (P.LINUX && value < 0) S.lostUnknown(collector);
  else S.lost(collector, <u64>value);
  return MT_OK;
}
