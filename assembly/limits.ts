// Upper bounds on what one message must hold, so that `maxMessageBytes` can be checked
// against the largest single record (a record is never cut, SPEC R8).

import * as N from "./network";
import * as Pr from "./process";
import * as B from "./baseline";
import * as Si from "./sysinfo";

/** `{"AgentVersion":…,"AgentId":…,"MessageSchemaVersion":"1.0","Events":[` */
export const ENVELOPE_MAX = 120;
/** One event's header up to `"Payload":[`, with the longest name and a local offset. */
export const EVENT_HEADER_MAX = 280;
/** `]}` closing the event, `]}` closing the message. */
export const CLOSING = 4;
/**
 * A CollectorStats record of the linux profile: its counters (20 digits each) and the warnings
 * one window can carry together (flush.ts): network, 597 bytes: replaced entries, names not
 * kept, and the losses a host reported (events lost, losses of unknown size, downtime). At most
 * the profile's largest record, so the minimum maxMessageBytes stays as SPEC R6 says.
 */
export const STATS_MAX_RECORD = 600;
/**
 * The same without linux's reported losses: five counters and at most three warnings (rtos
 * network: cache full, names not kept, events lost at the source: 434 bytes).
 */
export const STATS_PLAIN_MAX_RECORD = 480;

const NP: i32 = N.MAX_RECORD > Pr.MAX_RECORD ? N.MAX_RECORD : Pr.MAX_RECORD;
const BS: i32 = B.MAX_RECORD > Si.MAX_RECORD ? B.MAX_RECORD : Si.MAX_RECORD;
const NPBS: i32 = NP > BS ? NP : BS;
export const MAX_RECORD: i32 = NPBS > STATS_MAX_RECORD ? NPBS : STATS_MAX_RECORD;
export const MIN_MESSAGE_BYTES: i32 = ENVELOPE_MAX + EVENT_HEADER_MAX + MAX_RECORD + CLOSING;
