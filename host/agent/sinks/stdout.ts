// One JSON message per line on stdout (or any writable stream), bounded and loud: at most
// STDOUT_PENDING_BYTES wait behind a slow reader (more is dropped and counted), and a reader that
// goes away (EPIPE) is logged once; every message lost either way is counted in `dropped`.

import type { Writable } from 'node:stream';
import { framed } from '../../core.js';
import { silentLogger, type Logger } from '../log.js';
import { transportDropped } from '../outbox.js';
import { describeError } from './file.js';
import type { Sink } from './sink.js';

/** The most bytes that may wait for stdout's reader; a message that would pass it is dropped. */
export const STDOUT_PENDING_BYTES = 4 << 20;

export class StreamSink implements Sink {
  /** Messages lost since start: dropped behind a slow reader, or not written (the reader went away). */
  dropped = 0;
  /** Messages dropped in the current slow-reader episode (0: none). */
  private overflow = 0;
  private broken = false;
  /** Messages handed to the stream and not yet written. */
  private pending = 0;
  private closed = false;

  /**
   * `onDropped` hears of every message lost while the agent runs (with the transport losses that
   * message itself carried), so the core counts them in the next message (docs/FORMATS.md).
   */
  constructor(private readonly out: Writable = process.stdout, private readonly log: Logger = silentLogger,
    readonly maxPendingBytes = STDOUT_PENDING_BYTES, private readonly onDropped?: (messages: number) => void) {
    // A reader that went away (EPIPE) must not crash the agent; it is said once, and what is lost is counted.
    out.on('error', (e) => {
      if (this.broken) return;
      this.broken = true;
      this.log.error(`stdout: ${describeError(e)}: its reader went away; messages are lost from now on (counted)`);
    });
  }

  send(message: string | Uint8Array): void {
    if (this.broken) { this.lose(message); return; }
    const f = framed(message);
    const bytes = typeof f === 'string' ? Buffer.byteLength(f) : f.length;
    if (this.out.writableLength + bytes > this.maxPendingBytes) {
      this.lose(message);
      if (this.overflow++ === 0) {
        this.log.warn(`stdout: its reader is not keeping up (${this.out.writableLength} bytes wait, at most `
          + `${this.maxPendingBytes}): new messages are dropped until it catches up (counted)`);
      }
      return;
    }
    this.endOverflow();
    // A write the stream could not finish (the reader went away with it queued) is lost too.
    this.pending++;
    this.out.write(f, (err) => {
      if (this.closed) return;
      this.pending--;
      if (err) this.lose(message);
    });
  }

  close(timeoutMs: number): Promise<number> {
    const done = (): number => {
      this.closed = true;
      if (this.broken) this.dropped += this.pending; // queued when the reader went: never written
      this.endOverflow();
      if (this.dropped > 0) this.log.error(`stdout: ${this.dropped} message(s) lost in all (dropped or not written)`);
      return this.dropped;
    };
    if (this.broken || !this.out.writableNeedDrain) return Promise.resolve(done());
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.dropped += this.pending; resolve(done()); }, timeoutMs);
      this.out.once('drain', () => { clearTimeout(timer); resolve(done()); });
    });
  }

  private lose(message: string | Uint8Array): void {
    this.dropped++;
    this.onDropped?.(1 + transportDropped(message));
  }

  private endOverflow(): void {
    if (this.overflow === 0) return;
    this.log.warn(`stdout: its reader caught up; ${this.overflow} message(s) were dropped meanwhile`);
    this.overflow = 0;
  }
}
