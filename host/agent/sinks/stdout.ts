// One JSON message per line on stdout (or any writable stream).

import type { Writable } from 'node:stream';
import type { Sink } from './sink.js';

export class StreamSink implements Sink {
  constructor(private readonly out: Writable = process.stdout) {}

  send(message: string): void {
    this.out.write(`${message}\n`);
  }

  close(timeoutMs: number): Promise<number> {
    if (!this.out.writableNeedDrain) return Promise.resolve(0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(1), timeoutMs);
      this.out.once('drain', () => { clearTimeout(timer); resolve(0); });
    });
  }
}
