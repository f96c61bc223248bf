// Upper bounds on what one message must hold, so that `maxMessageBytes` can be checked
// against the largest single record (a record is never cut, SPEC R8).

import { MAX_RECORD } from "./collectors";

/** `{"AgentVersion":…,"AgentId":…,"MessageSchemaVersion":"1.1","Events":[` */
export const ENVELOPE_MAX = 120;
/** One event's header up to `"Payload":[`, with the longest name and a local offset. */
export const EVENT_HEADER_MAX = 280;
/** `]}` closing the event, `]}` closing the message. */
export const CLOSING = 4;
export const MIN_MESSAGE_BYTES: i32 = ENVELOPE_MAX + EVENT_HEADER_MAX + MAX_RECORD + CLOSING;
/** The least maxMessageBytes a configuration may set (SPEC R6): one record of any kind fits. */
export function minMessageBytes(): i32 { return MIN_MESSAGE_BYTES > 1024 ? MIN_MESSAGE_BYTES : 1024; }
