// Output of the commands that stream (replay, decode): synchronous writes to a descriptor, and
// the one line an input or output error ends a run with (SPEC R10).

import { writeSync } from 'node:fs';
import { IoError, pause } from '../engines/v8.js';

/**
 * Writes to a file descriptor synchronously, so a slow reader holds the replay back instead of
 * output piling up in memory. stdout is buffered (64 KiB, flushed before anything goes to
 * stderr and before each read of the trace); a failed write throws an IoError naming the stream.
 */
export class FdWriter {
  private readonly buf: Buffer;
  private used = 0;

  constructor(private readonly fd: number, readonly name: string, bufferBytes: number) {
    this.buf = Buffer.allocUnsafe(bufferBytes);
  }

  write(data: string | Uint8Array): void {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.used + b.length > this.buf.length) {
      this.flush();
      if (b.length >= this.buf.length) { this.writeAll(b); return; }
    }
    this.buf.set(b, this.used);
    this.used += b.length;
  }

  flush(): void {
    if (this.used === 0) return;
    const n = this.used;
    this.used = 0;
    this.writeAll(this.buf.subarray(0, n));
  }

  private writeAll(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) {
      try {
        off += writeSync(this.fd, b, off, b.length - off);
      } catch (e) {
        // A descriptor someone made non-blocking: wait for the reader, as a blocking write would.
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') { pause(); continue; }
        // Everything else, a reader that went away (EPIPE, `| head`) included, is an output
        // error (SPEC R10), as for the native program. (A stdout closed before start, `>&-`,
        // never reaches here: Node opens /dev/null on a closed fd 0-2 before any of this runs.)
        throw IoError.from(e, 'write', this.name);
      }
    }
  }
}

/** SPEC R10: an input or output error ends the run with 74 and one line naming it. */
export function ioFailure(e: IoError): number {
  try { writeSync(2, `microtally: ${e.message}\n`); } catch { /* stderr itself is gone */ }
  return 74;
}

