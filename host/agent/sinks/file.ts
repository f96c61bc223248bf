// Appends one JSON message per line to a file; each message is written synchronously, so
// whatever was sent is on disk even if the agent is killed.

import { closeSync, openSync, writeSync } from 'node:fs';
import type { Logger } from '../log.js';
import type { Sink } from './sink.js';

export class FileSink implements Sink {
  private fd: number | undefined;
  private failed = 0;

  /** Opens (creating) `path` for appending; throws when it cannot. */
  constructor(readonly path: string, private readonly log: Logger) {
    this.fd = openSync(path, 'a');
  }

  send(message: string): void {
    if (this.fd === undefined) { this.failed++; return; }
    try {
      writeSync(this.fd, `${message}\n`);
    } catch (e) {
      this.failed++;
      this.log.error(`cannot append to ${this.path}: ${(e as Error).message}`);
    }
  }

  close(): Promise<number> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    return Promise.resolve(this.failed);
  }
}
