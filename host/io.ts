// Input and output of the commands and engines: the trace as it is read (a file or stdin, in
// chunks), where a replay's bytes go, synchronous writes to a descriptor, and the one line an
// input or output error ends a run with (SPEC R10).

import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';

/**
 * An input or output error (SPEC R10: exit 74, reported in one line naming the file or stream).
 * The message is that line without the `microtally: ` prefix, e.g.
 * `cannot write stdout: ENOSPC (no space left on device)`.
 */
export class IoError extends Error {
  constructor(readonly action: 'read' | 'write', readonly target: string, readonly code: string, detail: string) {
    super(`cannot ${action} ${target}: ${code} (${detail})`);
  }

  /** Wraps a Node system error (or anything thrown while reading or writing). */
  static from(e: unknown, action: 'read' | 'write', target: string): IoError {
    if (e instanceof IoError) return e;
    const err = e as NodeJS.ErrnoException;
    const known = typeof err?.errno === 'number' ? getSystemErrorMap().get(err.errno) : undefined;
    if (known) return new IoError(action, target, known[0], known[1]);
    if (typeof err?.code === 'string') return new IoError(action, target, err.code, err.message.replace(/^[A-Z]+: /, ''));
    return new IoError(action, target, 'EIO', String((e as Error)?.message ?? e));
  }
}

/** Where a replay's bytes go. Both may throw (an IoError): the replay stops there. */
export interface ReplayOutput {
  out(data: string | Uint8Array): void;
  err(data: string | Uint8Array): void;
}

/** A trace to replay: its chunks as read, and how errors name it. */
export interface TraceInput {
  /** The path as given, or `stdin`. */
  readonly name: string;
  /** A regular file's path, for engines that open the file themselves (QEMU); absent for stdin. */
  readonly path?: string;
  /** The trace's bytes in chunks; a read error is thrown as an IoError naming the input. */
  chunks(): AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** Releases what the input holds (an open file, stdin), also when it was not read to its end. */
  close(): void;
}

/** The bytes of an in-memory trace as a one-chunk input (an engine's whole-trace replay). */
export function bytesInput(trace: Uint8Array): TraceInput {
  return { name: 'the trace', chunks: () => [trace], close() {} };
}

/** Output callbacks that keep every chunk (an engine's whole-trace replay, bench). */
export function collect(out: Buffer[], err: Buffer[]): ReplayOutput {
  const buf = (d: string | Uint8Array) => (typeof d === 'string' ? Buffer.from(d) : Buffer.from(d));
  return { out: (d) => out.push(buf(d)), err: (d) => err.push(buf(d)) };
}

const READ_BYTES = 1 << 20;

/**
 * A trace file (or `-`, stdin) opened for streaming. Opening fails with an IoError: a missing
 * or unreadable file, or a directory (EISDIR), before anything is replayed.
 */
export function openTrace(arg: string, stdin: () => NodeJS.ReadableStream = () => process.stdin): TraceInput {
  if (arg === '-') {
    let stream: NodeJS.ReadableStream | undefined;
    return {
      name: 'stdin',
      async *chunks() {
        stream = stdin();
        try {
          for await (const c of stream) yield typeof c === 'string' ? Buffer.from(c) : c;
        } catch (e) {
          throw IoError.from(e, 'read', 'stdin');
        }
      },
      close() { (stream as { destroy?: () => void } | undefined)?.destroy?.(); },
    };
  }
  let fd: number | undefined;
  try {
    fd = openSync(arg, 'r');
    if (fstatSync(fd).isDirectory()) {
      const e = new Error('illegal operation on a directory') as NodeJS.ErrnoException;
      e.code = 'EISDIR';
      throw e;
    }
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    throw IoError.from(e, 'read', arg);
  }
  const file = fd;
  let open = true;
  return {
    name: arg,
    path: arg,
    *chunks() {
      // Regular reads of a file (a pipe or device named by path works too): each chunk is a
      // new buffer, so a consumer may keep it while the next one is read.
      for (;;) {
        const buf = Buffer.allocUnsafe(READ_BYTES);
        let n: number;
        try {
          n = readSync(file, buf, 0, READ_BYTES, null);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN') { pause(); continue; }
          throw IoError.from(e, 'read', arg);
        }
        if (n === 0) return;
        yield buf.subarray(0, n);
      }
    },
    close() { if (open) { open = false; closeSync(file); } },
  };
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Waits a millisecond (a non-blocking descriptor that is not ready yet). */
export function pause(): void { Atomics.wait(sleeper, 0, 0, 1); }

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

