// Appends one JSON message per line to a file; each message is written synchronously, so
// whatever was sent is on disk even if the agent is killed, and nothing waits in memory.
// The file is created 0600, never through a symbolic link (O_NOFOLLOW: one planted in its folder
// is refused); a file that exists must belong to the agent's user; a character device (/dev/null)
// is taken as is, anything else (a FIFO that would block the open, a socket) is refused.
//
// A write that fails (full disk, a device that refuses, an I/O error) loses that message; the
// first failure of an outage is logged with its error, the ones after it are only counted, and
// the count is logged when a write succeeds again or at shutdown: one line per outage, not one
// per message.

import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { framed } from '../../core.js';
import type { Logger } from '../log.js';
import { transportDropped } from '../outbox.js';
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
  /** Messages not written since start (for the transport loss count). */
  dropped = 0;
  /** Messages not written in the current outage (0: writes work). */
  private outage = 0;

  /**
   * Opens (creating, 0600) `path` for appending; throws a one-line Error when it cannot or must not.
   * `onDropped` hears of every message not written (as the stdout sink's), for the core's count.
   */
  constructor(readonly path: string, private readonly log: Logger, private readonly onDropped?: (messages: number) => void) {
    this.fd = openSinkFile(path);
  }

  /**
   * Opens the path again (SIGHUP: log rotation moved the file away) and writes there from now on;
   * when it cannot (or must not), says so in one line and keeps writing to the file it had.
   */
  reopen(): void {
    let fd: number;
    try {
      fd = openSinkFile(this.path);
    } catch (e) {
      this.log.error(`SIGHUP: cannot reopen ${this.path}: ${(e as Error).message}; still appending to the file opened before`);
      return;
    }
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = fd;
    this.log.info(`SIGHUP: ${this.path} reopened`);
  }

  send(message: string | Uint8Array): void {
    if (this.fd === undefined) { this.lose(message); return; }
    const f = framed(message);
    const bytes = typeof f === 'string' ? Buffer.from(f) : f;
    try {
      for (let off = 0; off < bytes.length;) off += writeSync(this.fd, bytes, off);
    } catch (e) {
      this.lose(message);
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

  private lose(message: string | Uint8Array): void {
    this.dropped++;
    this.onDropped?.(1 + transportDropped(message));
  }

  close(): Promise<number> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.outage > 0) {
      this.log.error(`${this.outage} message(s) could not be written to ${this.path} in all since the first failure was logged`);
      this.outage = 0;
    }
    return Promise.resolve(this.dropped);
  }
}

/** Opens (creating, 0600) `path` for appending; throws a one-line Error when it cannot or must not. */
function openSinkFile(path: string): number {
  const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = constants;
  let fd: number;
  try {
    fd = openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new Error('is a symbolic link: refused (the file sink never follows one)');
    throw new Error(describeError(e));
  }
  const st = fstatSync(fd);
  const me = process.geteuid?.();
  const refuse = !st.isFile() && !st.isCharacterDevice() ? 'is not a regular file: refused'
    : st.isFile() && me !== undefined && st.uid !== me ? `belongs to uid ${st.uid}, not to the agent's user (uid ${me}): refused` : undefined;
  if (refuse) {
    closeSync(fd);
    throw new Error(refuse);
  }
  return fd;
}
