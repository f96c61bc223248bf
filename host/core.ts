// The core blob on V8: a thin, typed wrapper over the numeric ABI in docs/ABI.md.
// Live collectors, the replay driver and the tests all go through this class.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Profile } from './engine.js';
import * as R from './layout.js';

export enum Status { Ok = 0, Skipped = 1, Blank = 2, Busy = 3 }

export interface ConnectionRecord {
  t: number;
  proto: 'tcp' | 'udp' | 'icmp';
  dir: 'in' | 'out';
  /** 4 or 16 bytes. */
  local: Uint8Array;
  remote: Uint8Array;
  lport: number;
  rport: number;
  bytesIn: number;
  bytesOut: number;
  app?: string;
  host?: string;
}

export interface ProcessRecord {
  t: number;
  pid: number;
  ppid: number;
  uid: number;
  type: 'fork' | 'exec';
  cmd: string;
  exe?: string;
  user?: string;
}

export interface BaselineRecord {
  t: number;
  id: string;
  group: string;
  result: 'pass' | 'fail' | 'error';
  severity: 'critical' | 'important' | 'warning' | 'informational';
  description: string;
  remediation: string;
  error?: string;
}

export interface SysinfoRecord {
  t: number;
  os: string;
  osVersion: string;
  kernel: string;
  hw: string;
  memTotal: number;
}

/** Nanoseconds spent inside the core ingesting records, and building messages. */
export interface BatchTiming { ingestNs: bigint; sendNs: bigint }

/** A complete message: JSON text, or the bytes of one CBOR data item (messageFormat "cbor"). */
export type Message = string | Uint8Array;

/** A message as it goes into a stream or file: JSON as one line, CBOR as it is (an item of a CBOR
 *  sequence, RFC 8742). */
export function framed(m: Message): Message { return typeof m === 'string' ? `${m}\n` : m; }

/** What one call produced: its status, the reason when skipped, and the messages it completed. */
export interface CallResult {
  status: Status;
  reason?: string;
  messages: Message[];
}

interface Exports {
  memory: WebAssembly.Memory;
  mt_init(): number;
  mt_memory_end(): number;
  mt_input_ptr(): number;
  mt_input_capacity(): number;
  mt_output_ptr(): number;
  mt_output_capacity(): number;
  mt_error_ptr(): number;
  mt_error_length(): number;
  mt_set_agent_id(len: number): number;
  mt_set_format(format: number): number;
  mt_ingest_line(len: number): number;
  mt_oversized_line(len: bigint): number;
  mt_ingest_connection(): number;
  mt_ingest_batch(off: number, end: number): number;
  mt_network_bytes_per_entry(): number;
  mt_ingest_process(): number;
  mt_ingest_baseline(): number;
  mt_ingest_sysinfo(): number;
  mt_configure(t: bigint, len: number): number;
  mt_tick(t: bigint): number;
  mt_finish(): number;
  mt_next_chunk(): number;
  mt_chunk_ends_message(): number;
  mt_stats(): number;
  mt_report_loss(value: bigint, what: number): number;
  mt_abi_version(): number;
  mt_state_save(): number;
  mt_state_restore(len: number): number;
  mt_report_update(len: number): number;
  mt_heartbeat(t: bigint, len: number): number;
}

/** One core-update attempt, as the `AgentUpdate` record carries it (docs/FORMATS.md). */
export interface AgentUpdateReport {
  FromVersion: string;
  ToVersion: string;
  FromSequence: number;
  ToSequence: number;
  Result: 'applied' | 'rejected' | 'rolledBack';
  /** Absent when applied. */
  Reason?: string;
}

/** The Linux agent's counters in a `Heartbeat` record. */
export interface HeartbeatReport {
  UptimeSeconds: number;
  EventsSeen: number;
  OutboxMessages: number;
  OutboxBytes: number;
}

/** Who lost what the core did not see (docs/ABI.md, `mt_report_loss`): its number in the ABI. */
export const LOSS_COLLECTOR = { process: 0, network: 1, transport: 3 } as const;
/** `mt_report_loss`'s flag: the value is the time a source was down, in ms. */
const LOSS_DOWNTIME = 0x100;
export type LossCollector = keyof typeof LOSS_COLLECTOR;

export function blobPath(profile: Profile): string {
  return fileURLToPath(new URL(`../build/microtally-${profile}.wasm`, import.meta.url).href.replace('/dist/build/', '/build/'));
}

const modules = new Map<string, WebAssembly.Module>();

function compiled(path: string): WebAssembly.Module {
  let mod = modules.get(path);
  if (!mod) {
    mod = new WebAssembly.Module(readFileSync(path));
    modules.set(path, mod);
  }
  return mod;
}

const PROTO = { tcp: 0, udp: 1, icmp: 2 } as const;
const DIR = { in: 0, out: 1 } as const;
const PTYPE = { fork: 0, exec: 1 } as const;
const RESULT = { pass: 0, fail: 1, error: 2 } as const;
const SEVERITY = { critical: 0, important: 1, warning: 2, informational: 3 } as const;

/** The typed connection record of docs/ABI.md, as bytes. */
export function encodeConnection(c: ConnectionRecord): Uint8Array {
  const enc = new TextEncoder();
  const app = enc.encode(c.app ?? '');
  const host = enc.encode(c.host ?? '');
  const rec = new Uint8Array(R.CONN_HEADER + app.length + host.length);
  const v = new DataView(rec.buffer);
  v.setBigInt64(R.CONN_T, BigInt(c.t), true);
  v.setBigUint64(R.CONN_BYTES_IN, BigInt(c.bytesIn), true);
  v.setBigUint64(R.CONN_BYTES_OUT, BigInt(c.bytesOut), true);
  rec.set(c.local.subarray(0, 16), R.CONN_LOCAL);
  rec.set(c.remote.subarray(0, 16), R.CONN_REMOTE);
  v.setUint16(R.CONN_LPORT, c.lport, true);
  v.setUint16(R.CONN_RPORT, c.rport, true);
  v.setUint8(R.CONN_PROTO, PROTO[c.proto]);
  v.setUint8(R.CONN_DIR, DIR[c.dir]);
  v.setUint8(R.CONN_FAMILY, c.local.length === 16 ? 6 : 4);
  v.setUint8(R.CONN_REMOTE_FAMILY, c.remote.length === 16 ? 6 : 4);
  v.setUint16(R.CONN_APP_LEN, app.length, true);
  v.setUint16(R.CONN_HOST_LEN, host.length, true);
  rec.set(app, R.CONN_HEADER);
  rec.set(host, R.CONN_HEADER + app.length);
  return rec;
}

export class Core {
  private readonly x: Exports;
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();
  private readonly inPtr: number;
  readonly inputCapacity: number;
  private readonly outPtr: number;
  private pending: Uint8Array[] = [];
  private chunks = 0;

  /** `wasm`: the blob's path, or its bytes (an update package's blob, not on disk). */
  constructor(readonly profile: Profile, readonly blob: string | Uint8Array = blobPath(profile)) {
    const wasm = blob;
    const instance = new WebAssembly.Instance(typeof wasm === 'string' ? compiled(wasm) : new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>), {});
    this.x = instance.exports as unknown as Exports;
    this.x.mt_init();
    this.inPtr = this.x.mt_input_ptr();
    this.inputCapacity = this.x.mt_input_capacity();
    this.outPtr = this.x.mt_output_ptr();
  }

  /** Bytes of linear memory; constant for the life of the instance (SPEC R7). */
  get memoryBytes(): number { return this.x.memory.buffer.byteLength; }

  /** End of the core's static data: nothing above it is ever touched. */
  get memoryEnd(): number { return this.x.mt_memory_end(); }

  /** A view of the whole linear memory, for tests that prove nothing moves after init. */
  memorySnapshot(): Uint8Array { return new Uint8Array(this.x.memory.buffer).slice(); }

  reset(): void { this.pending = []; this.x.mt_init(); }

  setAgentId(id: string): string | undefined {
    const n = this.put(this.enc.encode(id));
    if (n < 0 || this.x.mt_set_agent_id(n) !== 0) return n < 0 ? 'agent id too long' : this.error();
    return undefined;
  }

  /** The format the run starts with (the default of messageFormat); before the first input. */
  setFormat(format: 'json' | 'cbor'): string | undefined {
    return this.x.mt_set_format(format === 'cbor' ? 1 : 0) !== 0 ? this.error() : undefined;
  }

  /**
   * One trace line, without its newline (bytes as read, so invalid UTF-8 reaches the core as is).
   * The core ignores a trailing '\r', so one that is the only byte over the input area is dropped
   * here (a longer line is reported with every byte but its newline, as by every engine).
   */
  ingestLine(line: Uint8Array | string): CallResult {
    let bytes = typeof line === 'string' ? this.enc.encode(line) : line;
    if (bytes.length === this.inputCapacity + 1 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    if (bytes.length > this.inputCapacity) return this.oversizedLine(bytes.length);
    this.mem().set(bytes, this.inPtr);
    return this.result(this.x.mt_ingest_line(bytes.length));
  }

  configure(t: number, json: string): CallResult {
    const n = this.put(this.enc.encode(json));
    if (n < 0) return this.oversizedLine(this.enc.encode(json).length);
    return this.result(this.x.mt_configure(BigInt(t), n));
  }

  /** A line of `length` bytes the host only measured (longer than the input area); exact to 2^53. */
  oversizedLine(length: number): CallResult { return this.result(this.x.mt_oversized_line(BigInt(length))); }

  tick(t: number): CallResult { return this.result(this.x.mt_tick(BigInt(t))); }

  finish(): CallResult { return this.result(this.x.mt_finish()); }

  ingestConnection(c: ConnectionRecord): CallResult {
    const rec = encodeConnection(c);
    if (rec.length > this.inputCapacity) return this.tooLarge();
    this.mem().set(rec, this.inPtr);
    return this.result(this.x.mt_ingest_connection());
  }

  /**
   * Many typed connection records (see encodeConnection) in as few calls as the input area
   * allows. Returns the completed messages (none kept when `discard`), how many records were
   * rejected, and the time spent ingesting and building messages when `timing` is given.
   */
  ingestConnectionBatch(records: Uint8Array, opts: { discard?: boolean; timing?: BatchTiming } = {}): { messages: Message[]; skipped: number } {
    const messages: Message[] = [];
    const mem = this.mem();
    const timing = opts.timing;
    let skipped = 0;
    let at = 0;
    while (at < records.length) {
      const n = Math.min(this.inputCapacity, records.length - at);
      // The copy into linear memory counts as ingest, as it does on every other engine.
      let t0 = timing ? process.hrtime.bigint() : 0n;
      mem.set(records.subarray(at, at + n), this.inPtr);
      let off = 0;
      for (;;) {
        if (off > 0 && timing) t0 = process.hrtime.bigint();
        const r = this.x.mt_ingest_batch(off, n);
        const t1 = timing ? process.hrtime.bigint() : 0n;
        const next = r & 0x1ffff;
        skipped += (r >>> 17) & 0x7ff;
        const progressed = next > off;
        off = next;
        if (r & (1 << 28)) { if (opts.discard) this.discard(); else this.drain(messages); }
        if (timing) { timing.ingestNs += t1 - t0; timing.sendNs += process.hrtime.bigint() - t1; }
        if (!progressed) break;   // the rest of the area holds part of a record: refill
      }
      if (off === 0) throw new Error('a typed record is larger than the input area');
      at += off;
    }
    return { messages, skipped };
  }

  /** Takes pending chunks without keeping them. */
  private discard(): void {
    while (this.x.mt_next_chunk() > 0);
  }

  get networkBytesPerEntry(): number { return this.x.mt_network_bytes_per_entry(); }

  ingestProcess(p: ProcessRecord): CallResult {
    const strs = [p.cmd, p.exe ?? '', p.user ?? ''].map((s) => this.enc.encode(s));
    const v = this.header(R.PROC_HEADER, strs);
    if (!v) return this.tooLarge();
    v.setBigInt64(R.PROC_T, BigInt(p.t), true);
    v.setUint32(R.PROC_PID, p.pid >>> 0, true);
    v.setUint32(R.PROC_PPID, p.ppid >>> 0, true);
    v.setUint32(R.PROC_UID, p.uid >>> 0, true);
    v.setUint8(R.PROC_TYPE, PTYPE[p.type]);
    strs.forEach((s, i) => v.setUint16(R.PROC_CMD_LEN + 2 * i, s.length, true));
    return this.result(this.x.mt_ingest_process());
  }

  ingestBaseline(b: BaselineRecord): CallResult {
    const strs = [b.id, b.group, b.error ?? '', b.description, b.remediation].map((s) => this.enc.encode(s));
    const v = this.header(R.BASE_HEADER, strs);
    if (!v) return this.tooLarge();
    v.setBigInt64(R.BASE_T, BigInt(b.t), true);
    v.setUint8(R.BASE_RESULT, RESULT[b.result]);
    v.setUint8(R.BASE_SEVERITY, SEVERITY[b.severity]);
    strs.forEach((s, i) => v.setUint16(R.BASE_ID_LEN + 2 * i, s.length, true));
    return this.result(this.x.mt_ingest_baseline());
  }

  ingestSysinfo(s: SysinfoRecord): CallResult {
    const strs = [s.os, s.osVersion, s.kernel, s.hw].map((x) => this.enc.encode(x));
    const v = this.header(R.SYS_HEADER, strs);
    if (!v) return this.tooLarge();
    v.setBigInt64(R.SYS_T, BigInt(s.t), true);
    v.setBigUint64(R.SYS_MEM_TOTAL, BigInt(s.memTotal), true);
    strs.forEach((x, i) => v.setUint16(R.SYS_OS_LEN + 2 * i, x.length, true));
    return this.result(this.x.mt_ingest_sysinfo());
  }

  /**
   * `count` messages of the transport lost by its outbox, or (linux profile) `count` events of a
   * collector lost before they reached the core, `'unknown'` when the source could not tell how
   * many: the next message's CollectorStats carries them (docs/FORMATS.md). Returns the core's
   * reason when it refused.
   */
  reportLoss(collector: LossCollector, count: number | 'unknown'): string | undefined {
    this.chunks = 0;
    const n = count === 'unknown' ? -1n : BigInt(count);
    return this.x.mt_report_loss(n, LOSS_COLLECTOR[collector]) !== 0 ? this.error() : undefined;
  }

  /** A collector's event source was down for `ms` (linux profile): events of that time may be missing. */
  reportGap(collector: 'process' | 'network', ms: number): string | undefined {
    this.chunks = 0;
    return this.x.mt_report_loss(BigInt(Math.round(ms)), LOSS_COLLECTOR[collector] | LOSS_DOWNTIME) !== 0 ? this.error() : undefined;
  }

  /** The blob's `mt_abi_version()` (docs/ABI.md). */
  get abiVersion(): number { return this.x.mt_abi_version(); }

  /**
   * The run's carry-over record for a core swap (docs/ABI.md): only once everything was sent
   * (finish() first); a string is the core's reason when something still waits.
   */
  saveState(): Uint8Array | string {
    const n = this.x.mt_state_save();
    return n > 0 ? this.mem().slice(this.outPtr, this.outPtr + n) : this.error();
  }

  /** Continues the run of a record saveState() gave (after agent id, format and configuration); the reason when refused. */
  restoreState(record: Uint8Array): string | undefined {
    const n = this.put(record);
    if (n < 0) return 'state record malformed';
    return this.x.mt_state_restore(n) !== 0 ? this.error() : undefined;
  }

  /** An AgentUpdate record, sent with the next message that leaves; the reason when refused. */
  reportUpdate(report: AgentUpdateReport): string | undefined {
    this.chunks = 0;
    const n = this.put(this.enc.encode(JSON.stringify(report)));
    if (n < 0) return 'report longer than the input area';
    return this.x.mt_report_update(n) !== 0 ? this.error() : undefined;
  }

  /** A Heartbeat at time t (linux profile): due windows go out, then a message holding it. */
  heartbeat(t: number, report: HeartbeatReport): CallResult {
    const n = this.put(this.enc.encode(JSON.stringify(report)));
    if (n < 0) return this.tooLarge();
    return this.result(this.x.mt_heartbeat(BigInt(t), n));
  }

  /** The core's one-line JSON summary of the run. */
  stats(): string {
    const n = this.x.mt_stats();
    return this.dec.decode(this.mem().subarray(this.outPtr, this.outPtr + n));
  }

  // Memory never grows (SPEC R7), so one view serves for the life of the instance.
  private view?: Uint8Array;
  private mem(): Uint8Array { return (this.view ??= new Uint8Array(this.x.memory.buffer)); }

  private put(bytes: Uint8Array): number {
    if (bytes.length > this.inputCapacity) return -1;
    this.mem().set(bytes, this.inPtr);
    return bytes.length;
  }

  /** Lays the strings after a header of `size` bytes; undefined when they do not fit. */
  private header(size: number, strs: Uint8Array[]): DataView | undefined {
    const total = strs.reduce((n, s) => n + s.length, size);
    if (total > this.inputCapacity || strs.some((s) => s.length > 0xffff)) return undefined;
    const mem = this.mem();
    mem.fill(0, this.inPtr, this.inPtr + size);
    let at = this.inPtr + size;
    for (const s of strs) { mem.set(s, at); at += s.length; }
    return new DataView(this.x.memory.buffer, this.inPtr, size);
  }

  private tooLarge(): CallResult {
    return { status: Status.Skipped, reason: `record larger than the input area (${this.inputCapacity} bytes)`, messages: [] };
  }

  private error(): string {
    const p = this.x.mt_error_ptr();
    return this.dec.decode(this.mem().subarray(p, p + this.x.mt_error_length()));
  }

  /** Chunks the last call's drain took: more than 0 when it sent (a window boundary, docs/UPDATE.md). */
  get lastChunks(): number { return this.chunks; }

  private result(status: number): CallResult {
    const res: CallResult = { status, messages: [] };
    this.chunks = 0;
    if (status === Status.Skipped) res.reason = this.error();
    this.drain(res.messages);
    return res;
  }

  private drain(out: Message[]): void {
    for (let n = this.x.mt_next_chunk(); n > 0; n = this.x.mt_next_chunk()) {
      this.chunks++;
      this.pending.push(this.mem().slice(this.outPtr, this.outPtr + n));
      if (this.x.mt_chunk_ends_message()) {
        const m = Buffer.concat(this.pending);
        // A JSON message is an object; a CBOR one starts with its map head (0xa6), never '{'.
        out.push(m[0] === 0x7b ? m.toString('utf8') : new Uint8Array(m.buffer, m.byteOffset, m.length));
        this.pending = [];
      }
    }
  }
}
