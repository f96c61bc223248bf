// The V8 engine: the blob instantiated in this Node process.
//
// Replay streams (SPEC R10: memory does not grow with the trace's size): LineReplay takes the
// trace in chunks of any size and splits the lines itself, so the CLI can feed it straight from
// a file or stdin, and Engine.replay (the tests' whole-trace interface) feeds it one chunk.

import { readFileSync } from 'node:fs';
import { Core, framed, Status, type CallResult, type Message } from '../core.js';
import type { BenchResult, Engine, ReplayOptions, ReplayResult } from '../engine.js';
import { bytesInput, collect, type ReplayOutput, type TraceInput } from '../io.js';
import { CONN_APP_LEN, CONN_HEADER, CONN_HOST_LEN } from '../layout.js';
import { loadPublicKey } from '../update/package.js';
import { TRIAL_JOURNAL_BYTES, UpdatableCore } from '../update/swap.js';
import { VERSION } from '../version.js';

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
  /** With `--update-at`: the core that can be swapped, and the packages still to deliver (by line). */
  private up?: UpdatableCore;
  private updates: { line: number; bytes: Uint8Array }[] = [];

  constructor(private readonly core: Core, private readonly options: ReplayOptions,
    private readonly output: ReplayOutput) {
    this.line = new Uint8Array(core.inputCapacity);
    if (options.updates?.length) {
      this.updates = options.updates.map((u) => ({ line: u.line, bytes: readFileSync(u.path) }));
      this.up = new UpdatableCore(core, { wasm: core.blob, version: VERSION, sequence: options.installedSequence ?? 0 }, {
        profile: options.profile, agentId: options.agentId, format: options.format,
        pub: loadPublicKey(readFileSync(options.pub!)), highestSequence: options.installedSequence ?? 0,
        // The device's probation journal: a replay checkpoints where mt_agent.c does (SPEC R9).
        journalBytes: TRIAL_JOURNAL_BYTES,
      });
    }
  }

  /** Delivers the packages due before line `n` (past the last line: at the end). */
  private deliver(n: number): void {
    while (this.updates.length > 0 && this.updates[0].line <= n) this.up!.deliver(this.updates.shift()!.bytes);
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
    if (this.up) this.deliver(Infinity);
    for (const m of (this.up ? this.up.finish() : this.core.finish()).messages) this.emit(m);
    if (this.options.stats) this.output.err((this.up?.core ?? this.core).stats() + '\n');
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
    const r = this.up ? this.viaUpdatable(line) : typeof line === 'number' ? this.core.oversizedLine(line) : this.core.ingestLine(line);
    if (r.status === Status.Skipped) { this.skipped++; this.output.err(`line ${this.lineNo}: ${r.reason}\n`); }
    for (const m of r.messages) this.emit(m);
  }

  /** A line through the swappable core: kept (copied) while it may be ingested again. */
  private viaUpdatable(line: Uint8Array | number): CallResult {
    this.deliver(this.lineNo);
    if (typeof line === 'number') return this.up!.call((c) => c.oversizedLine(line));   // only measured: no payload
    const copy = Uint8Array.from(line);
    // A configuration the core accepts is applied again to every core that follows (docs/UPDATE.md).
    const config = Buffer.from(copy.buffer, copy.byteOffset, copy.length).includes('"config"') && isConfigLine(copy);
    // The journal keeps a line's bytes only if the core reads them: past its input area (after
    // the trailing-'\r' rule) it is only measured, however the line came in chunks (mt_agent.c).
    const cap = this.core.inputCapacity;
    const read = copy.length === cap + 1 && copy[cap] === 0x0d ? cap : copy.length;
    return this.up!.call((c) => c.ingestLine(copy), config, read > cap ? 0 : copy.length);
  }

  /** A JSON message is a line; a CBOR one is a data item of the sequence (RFC 8742), as is. */
  private emit(m: Message): void { this.output.out(framed(m)); }
}

export class V8Engine implements Engine {
  readonly name = 'v8' as const;

  async replay(trace: Uint8Array, options: ReplayOptions): Promise<ReplayResult> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const exitCode = await this.replayStream(bytesInput(trace), options, collect(out, err));
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

function isConfigLine(line: Uint8Array): boolean {
  try { return (JSON.parse(Buffer.from(line).toString('utf8')) as { kind?: unknown }).kind === 'config'; } catch { return false; }
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
