// Messages waiting for the transport. Bounded in bytes and in count: when full, the oldest
// message not currently in flight is dropped and counted, so loss is never silent: the owner
// hears of each dropped message (onDrop) and reports it to the core, whose next message then
// carries it (a `transport` CollectorStats record, docs/FORMATS.md).

import { decodeSequence } from '../decode.js';

export interface OutboxEntry {
  readonly id: number;
  /** A JSON message, or a CBOR one's bytes. */
  readonly text: string | Uint8Array;
  readonly bytes: number;
  inFlight: boolean;
}

export interface OutboxLimits { maxBytes: number; maxMessages: number }

export const DEFAULT_OUTBOX: OutboxLimits = { maxBytes: 4 << 20, maxMessages: 10_000 };

export class Outbox {
  protected entries: OutboxEntry[] = [];
  protected nextId = 1;
  private queuedBytes = 0;
  /** Messages (and their bytes) dropped because the outbox was full, over the whole run. */
  dropped = 0;
  droppedBytes = 0;

  constructor(readonly limits: OutboxLimits = DEFAULT_OUTBOX,
    private readonly onDrop?: (text: string | Uint8Array) => void) {}

  /** Where the messages are kept (a subclass keeps them on disk too). */
  get description(): string { return 'memory'; }

  get length(): number { return this.entries.length; }
  get bytes(): number { return this.queuedBytes; }

  /** Queues a message; returns how many messages were dropped to make room (or this one, when it alone is too big). */
  push(text: string | Uint8Array): number {
    const bytes = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
    if (bytes > this.limits.maxBytes) {
      this.count(text, bytes);
      return 1;
    }
    let evicted = 0;
    while (this.entries.length > 0 && (this.queuedBytes + bytes > this.limits.maxBytes || this.entries.length + 1 > this.limits.maxMessages)) {
      const i = this.entries.findIndex((e) => !e.inFlight);
      // Only messages in flight are left: they may still be acknowledged, so the new one is refused.
      if (i < 0) { this.count(text, bytes); return evicted + 1; }
      this.evict(i);
      evicted++;
    }
    const entry = { id: this.nextId++, text, bytes, inFlight: false };
    this.entries.push(entry);
    this.queuedBytes += bytes;
    return evicted + this.stored(entry);
  }

  /** Drops (and counts) the oldest message not in flight; false when every message is in flight. */
  protected dropOldest(): boolean {
    const i = this.entries.findIndex((e) => !e.inFlight);
    if (i < 0) return false;
    this.evict(i);
    return true;
  }

  /** Puts back messages kept from an earlier run, oldest first, ahead of any new one. */
  protected restore(kept: Array<{ id: number; text: string | Uint8Array }>): void {
    for (const k of kept) {
      const bytes = typeof k.text === 'string' ? Buffer.byteLength(k.text) : k.text.length;
      this.entries.push({ id: k.id, text: k.text, bytes, inFlight: false });
      this.queuedBytes += bytes;
      this.nextId = Math.max(this.nextId, k.id + 1);
    }
  }

  /** A message joined the outbox; returns how many more messages that dropped (a subclass's own bound). */
  protected stored(_entry: OutboxEntry): number { return 0; }

  /** A message left the outbox: delivered (ack) or dropped. */
  protected removed(_entry: OutboxEntry, _why: 'ack' | 'drop'): void {}

  /**
   * The sink stops: how many of the messages left stay kept for the next start (0: the memory
   * outbox keeps none).
   */
  close(): number { return 0; }

  private evict(i: number): void {
    const [old] = this.entries.splice(i, 1);
    this.queuedBytes -= old.bytes;
    this.count(old.text, old.bytes);
    this.removed(old, 'drop');
  }

  /** The oldest message not yet handed to the transport. */
  nextUnsent(): OutboxEntry | undefined {
    return this.entries.find((e) => !e.inFlight);
  }

  inFlightCount(): number {
    return this.entries.reduce((n, e) => n + (e.inFlight ? 1 : 0), 0);
  }

  /** The transport confirmed delivery: forget the message. */
  ack(id: number): void {
    const i = this.entries.findIndex((e) => e.id === id);
    if (i < 0) return;
    const [e] = this.entries.splice(i, 1);
    this.queuedBytes -= e.bytes;
    this.removed(e, 'ack');
  }

  /** The connection dropped: whatever was in flight must be sent again. */
  requeueInFlight(): void {
    for (const e of this.entries) e.inFlight = false;
  }

  /** Counts a message lost without ever being an entry (a subclass's unreadable record). */
  protected count(text: string | Uint8Array, bytes: number): void {
    this.dropped++;
    this.droppedBytes += bytes;
    this.onDrop?.(text);
  }
}

/** What a JSON message's transport record looks like: quotes inside strings are escaped, so only structure matches. */
const TRANSPORT_RECORD = /"Collector":"transport","Received":\d+,"Discarded":\d+,"Dropped":(\d+)/;

/**
 * The messages a message's `transport` record says were dropped before it (0 without one). A
 * dropped message that carried such a count takes it along: its owner reports it again, so
 * every drop reaches a delivered message.
 */
export function transportDropped(message: string | Uint8Array): number {
  let text: string;
  if (typeof message === 'string') text = message;
  else {
    try {
      text = decodeSequence(message);
    } catch {
      return 0; // not one of the core's messages: it carried nothing
    }
  }
  const m = TRANSPORT_RECORD.exec(text);
  return m ? Number(m[1]) : 0;
}
