// The V8 engine: the blob instantiated in this Node process.
//
// Replay streams (SPEC R10: memory does not grow with the trace's size): LineReplay takes the
// trace in chunks of any size and splits the lines itself, so the CLI can feed it straight from
// a file or stdin, and Engine.replay (the tests' whole-trace interface) feeds it one chunk.
// The streaming types every engine shares (TraceInput, ReplayOutput, IoError) live here too.

import { Core, framed, Status, type Message } from '../core.js';
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import type { BenchResult, Engine, ReplayOptions, ReplayResult } from '../engine.js';
import { CONN_APP_LEN, CONN_HEADER, CONN_HOST_LEN } from '../layout.js';

/** Splits a trace into lines on '\n' (the last line may lack one). */
export function* traceLines(trace: Uint8Array): Generator<Uint8Array> {
  let start = 0;
  for (let i = 0; i < trace.length; i++) {
    if (trace[i] === 0x0a) {
      yield trace.subarray(start, i);
      start = i + 1;
    }
  }
  if (start < trace.length) yield trace.subarray(start);
}

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

/** An engine that replays a trace as it is read, writing output as it is produced. */
export interface StreamingEngine extends Engine {
  /**
   * Resolves to the exit status (SPEC R11; a native engine's own codes 70/71/74/76 pass through
   * after its one-line report). Rejects with an IoError when the input or output fails.
   */
  replayStream(input: TraceInput, options: ReplayOptions, output: ReplayOutput): Promise<number>;
}

export function isStreaming(e: Engine): e is StreamingEngine {
  return typeof (e as Partial<StreamingEngine>).replayStream === 'function';
}

/** The bytes of an in-memory trace as a one-chunk input (Engine.replay on a streaming engine). */
export function bytesInput(trace: Uint8Array): TraceInput {
  return { name: 'the trace', chunks: () => [trace], close() {} };
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
 * The host's part of replay (docs/ABI.md) over a stream: push() takes chunks as they are read
 * and ingests every complete line, end() ingests a last line without '\n', finishes and
 * returns the exit status. At most the core's input area of a line is kept between chunks;
 * a longer line is only measured. Line numbers count blank lines; a trailing '\r' reaches the
 * core as part of its line, except that it never makes a line too long (FORMATS.md).
 */
export class LineReplay {
  private readonly line: Uint8Array;
  /** Bytes of the current line so far; more than line.length when it is only measured. */
  private len = 0;
  /** Whether the last byte kept or measured so far is '\r'. */
  private endsInCr = false;
  private lineNo = 0;
  private skipped = 0;

  constructor(private readonly core: Core, private readonly options: ReplayOptions,
    private readonly output: ReplayOutput) {
    this.line = new Uint8Array(core.inputCapacity);
  }

  /** Sets the format and the agent id: 2 (usage error, reported) when the core refuses one, else undefined. */
  start(): number | undefined {
    if (this.options.format !== undefined) {
      const bad = this.core.setFormat(this.options.format);
      if (bad) { this.output.err(`microtally: --format: ${bad}\n`); return 2; }
    }
    if (this.options.agentId === undefined) return undefined;
    const reason = this.core.setAgentId(this.options.agentId);
    if (!reason) return undefined;
    this.output.err(`microtally: --agent-id: ${reason}\n`);
    return 2;
  }

  push(chunk: Uint8Array): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) { this.keep(chunk, start, chunk.length); return; }
      if (this.len === 0) {
        this.ingest(chunk.subarray(start, nl));   // the whole line is in this chunk: no copy
      } else {
        this.keep(chunk, start, nl);
        this.ingestKept();
      }
      start = nl + 1;
    }
  }

  end(): number {
    if (this.len > 0) this.ingestKept();
    for (const m of this.core.finish().messages) this.emit(m);
    if (this.options.stats) this.output.err(this.core.stats() + '\n');
    return this.skipped > 0 ? 1 : 0;
  }

  /** Appends part of a line; beyond the input area only its length counts. */
  private keep(chunk: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    const room = this.line.length - this.len;
    if (room > 0) this.line.set(chunk.subarray(from, from + Math.min(room, to - from)), this.len);
    this.len += to - from;
    this.endsInCr = chunk[to - 1] === 0x0d;
  }

  /** The line assembled by keep(): a trailing '\r' that is its only byte too many is dropped. */
  private ingestKept(): void {
    if (this.len === this.line.length + 1 && this.endsInCr) this.len--;
    this.ingest(this.len <= this.line.length ? this.line.subarray(0, this.len) : this.len);
    this.len = 0;
  }

  /** A line, or the length of one the splitter only measured (longer than the input area). */
  private ingest(line: Uint8Array | number): void {
    this.lineNo++;
    const r = typeof line === 'number' ? this.core.oversizedLine(line) : this.core.ingestLine(line);
    if (r.status === Status.Skipped) { this.skipped++; this.output.err(`line ${this.lineNo}: ${r.reason}\n`); }
    for (const m of r.messages) this.emit(m);
  }

  /** A JSON message is a line; a CBOR one is a data item of the sequence (RFC 8742), as is. */
  private emit(m: Message): void { this.output.out(framed(m)); }
}

/** Replays a whole in-memory trace, writing through the given callbacks. */
export function replayWith(core: Core, trace: Uint8Array, options: ReplayOptions,
  out: (s: string) => void, err: (s: string) => void): number {
  const r = new LineReplay(core, options, { out: (s) => out(String(s)), err: (s) => err(String(s)) });
  const usage = r.start();
  if (usage !== undefined) return usage;
  r.push(trace);
  return r.end();
}

export class V8Engine implements StreamingEngine {
  readonly name = 'v8' as const;

  async replay(trace: Uint8Array, options: ReplayOptions): Promise<ReplayResult> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const keep = (to: Buffer[]) => (d: string | Uint8Array) => to.push(Buffer.from(d));
    const exitCode = await this.replayStream(bytesInput(trace), options, { out: keep(out), err: keep(err) });
    const stdoutBytes = Buffer.concat(out);
    return { stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: Buffer.concat(err).toString('utf8'), exitCode };
  }

  async replayStream(input: TraceInput, options: ReplayOptions, output: ReplayOutput): Promise<number> {
    const r = new LineReplay(new Core(options.profile), options, output);
    const usage = r.start();
    if (usage !== undefined) return usage;
    for await (const chunk of input.chunks()) r.push(chunk);
    return r.end();
  }

  async benchConnections(recordsFile: string, repeat: number): Promise<BenchResult> {
    const records = readFileSync(recordsFile);
    const count = countRecords(records);
    let best = Infinity;
    let bestSend = Infinity;
    let stats: unknown;
    for (let r = 0; r < repeat; r++) {
      const core = new Core('rtos');
      const timing = { ingestNs: 0n, sendNs: 0n };
      core.ingestConnectionBatch(records, { discard: true, timing });
      core.finish();
      best = Math.min(best, Number(timing.ingestNs));
      bestSend = Math.min(bestSend, Number(timing.sendNs));
      stats = JSON.parse(core.stats());
    }
    return { events: count, ns: best, sendNs: bestSend, stats };
  }
}

/** Number of typed connection records laid back to back. */
export function countRecords(records: Uint8Array): number {
  let n = 0;
  const u16 = (at: number) => records[at] | (records[at + 1] << 8);
  for (let at = 0; at + CONN_HEADER <= records.length; n++) {
    at += CONN_HEADER + u16(at + CONN_APP_LEN) + u16(at + CONN_HOST_LEN);
  }
  return n;
}
