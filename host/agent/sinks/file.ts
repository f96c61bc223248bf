// Appends one JSON message per line to a file; each message is written synchronously, so
// whatever was sent is on disk even if the agent is killed.
//
// A write that fails (full disk, a device that refuses, an I/O error) loses that message; the
// first failure of an outage is logged with its error, the ones after it are only counted, and
// the count is logged when a write succeeds again or at shutdown: one line per outage, not one
// per message.

import { closeSync, openSync, writeSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { framed } from '../../core.js';
import type { Logger } from '../log.js';
import type { Sink } from './sink.js';

/** `ENOSPC (no space left on device)` for a Node system error. */
export function describeError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const known = typeof err?.errno === 'number' ? getSystemErrorMap().get(err.errno) : undefined;
  if (known) return `${known[0]} (${known[1]})`;
  return String((e as Error)?.message ?? e);
}

export class FileSink implements Sink {
  private fd: number | undefined;
  /** Messages not written since start. */
  private failed = 0;
  /** Messages not written in the current outage (0: writes work). */
  private outage = 0;

  /** Opens (creating) `path` for appending; throws when it cannot. */
  constructor(readonly path: string, private readonly log: Logger) {
    this.fd = openSync(path, 'a');
  }

  send(message: string | Uint8Array): void {
    if (this.fd === undefined) { this.failed++; return; }
    const f = framed(message);
    const bytes = typeof f === 'string' ? Buffer.from(f) : f;
    try {
      for (let off = 0; off < bytes.length;) off += writeSync(this.fd, bytes, off);
    } catch (e) {
      this.failed++;
      if (this.outage++ === 0) {
        this.log.error(`cannot append to ${this.path}: ${describeError(e)}; messages are lost until it works again (counted, not logged one by one)`);
      }
      return;
    }
    if (this.outage > 0) {
      this.log.warn(`appending to ${this.path} works again; ${this.outage} message(s) could not be written`);
      this.outage = 0;
    }
  }

  close(): Promise<number> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.outage > 0) {
      this.log.error(`${this.outage} message(s) could not be written to ${this.path} in all since the first failure was logged`);
      this.outage = 0;
    }
    return Promise.resolve(this.failed);
  }
}
