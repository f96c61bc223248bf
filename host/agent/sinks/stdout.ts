// One JSON message per line on stdout (or any writable stream).

import type { Writable } from 'node:stream';
import { framed } from '../../core.js';
import type { Sink } from './sink.js';

export class StreamSink implements Sink {
  private failed = 0;
  private broken = false;

  constructor(private readonly out: Writable = process.stdout) {
    // A reader that went away (EPIPE) must not crash the agent; what could not be written is counted.
    out.on('error', () => { this.broken = true; });
  }

  send(message: string | Uint8Array): void {
    if (this.broken) { this.failed++; return; }
    this.out.write(framed(message));
  }

  close(timeoutMs: number): Promise<number> {
    if (this.broken || !this.out.writableNeedDrain) return Promise.resolve(this.failed);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.failed + 1), timeoutMs);
      this.out.once('drain', () => { clearTimeout(timer); resolve(this.failed); });
    });
  }
}
