// `microtally decode`: a CBOR sequence of messages (RFC 8742; layout in docs/CBOR.md) back
// into the JSON lines `--format json` prints for the same input, byte for byte (SPEC R8).
// The core writes CBOR itself; this side reads it with a small strict reader of the subset
// the layout uses (definite and indefinite arrays, definite maps, integers, byte and text
// strings, true), so anything else is reported with its offset instead of guessed at.

export class DecodeError extends Error {}

/** Thrown by a reader over the input so far when a data item goes on past it. */
class NeedMore extends Error {}

type Value = number | bigint | Uint8Array | string | boolean | Value[] | Map<number, Value>;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads one data item at a time from a buffer (RFC 8949 §3): the input's bytes from offset
 * `base` on (errors name offsets in the whole input). Unless the buffer holds the input's end
 * (`final`), an item that goes on past it throws NeedMore: read more, then read it again.
 */
class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array, readonly base = 0, readonly final = true) {}

  private fail(what: string, at = this.pos): never { throw new DecodeError(`byte ${this.base + at}: ${what}`); }

  private need(n: number): void {
    if (this.pos + n <= this.b.length) return;
    if (!this.final) throw new NeedMore();
    this.fail('the input ends inside a data item');
  }

  /** A head's argument: a number, or a bigint past 2^53 - 1. */
  private argument(info: number): number | bigint {
    if (info < 24) return info;
    const n = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (n === 0) this.fail(`unsupported additional information ${info}`, this.pos - 1);
    this.need(n);
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(this.b[this.pos + i]);
    this.pos += n;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private length(info: number): number {
    const n = this.argument(info);
    const seen = this.base + this.b.length; // the input's bytes so far (all of it when final)
    if (typeof n === 'number' && n > seen && !this.final) throw new NeedMore();
    if (typeof n !== 'number' || n > seen) this.fail('a length larger than the input');
    return n as number;
  }

  item(): Value {
    this.need(1);
    const start = this.pos;
    const ib = this.b[this.pos++];
    const major = ib >> 5, info = ib & 31;
    switch (major) {
      case 0: return this.argument(info);
      case 1: {
        const a = this.argument(info);
        return typeof a === 'number' && a < Number.MAX_SAFE_INTEGER ? -1 - a : -1n - BigInt(a);
      }
      case 2: case 3: {
        if (info === 31) this.fail('indefinite-length strings are not used by the layout', start);
        const n = this.length(info);
        this.need(n);
        const bytes = this.b.subarray(this.pos, this.pos + n);
        this.pos += n;
        if (major === 2) return bytes;
        try { return utf8.decode(bytes); } catch { this.fail('a text string that is not UTF-8', start); }
      }
      // falls through (unreachable: fail throws)
      case 4: {
        const out: Value[] = [];
        if (info === 31) {
          for (;;) {
            this.need(1);
            if (this.b[this.pos] === 0xff) { this.pos++; return out; }
            out.push(this.item());
          }
        }
        const n = this.length(info);
        for (let i = 0; i < n; i++) out.push(this.item());
        return out;
      }
      case 5: {
        if (info === 31) this.fail('indefinite-length maps are not used by the layout', start);
        const n = this.length(info);
        const m = new Map<number, Value>();
        for (let i = 0; i < n; i++) {
          const at = this.pos;
          const k = this.item();
          if (typeof k !== 'number' || k < 0) this.fail('a map key that is not a small unsigned integer', at);
          if (m.has(k)) this.fail(`map key ${k} twice`, at);
          m.set(k, this.item());
        }
        return m;
      }
      case 7:
        if (ib === 0xf5) return true;
        if (ib === 0xf4) return false;
        return this.fail(`unsupported simple value 0x${ib.toString(16)}`, start);
      default:
        return this.fail(`unsupported major type ${major}`, start);
    }
  }
}

// ---- JSON text, as the core writes it ----------------------------------------------------

const pad = (v: number, n: number) => String(v).padStart(n, '0');

/** `YYYY-MM-DDTHH:MM:SS.mmm` then `Z` or `±HH:MM` (the local time being t + offset), as writer.ts. */
export function isoTime(tMs: number, offsetMin = 0): string {
  const d = new Date(tMs + offsetMin * 60000);
  const s = `${pad(d.getUTCFullYear() % 10000, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T` +
    `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(d.getUTCMilliseconds(), 3)}`;
  if (offsetMin === 0) return s + 'Z';
  const a = Math.abs(offsetMin);
  return `${s}${offsetMin < 0 ? '-' : '+'}${pad(Math.floor(a / 60), 2)}:${pad(a % 60, 2)}`;
}

export function uuidText(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** IPv4 dotted; IPv6 per RFC 5952, IPv4-mapped as ::ffff:a.b.c.d (as ip.ts). */
export function ipText(a: Uint8Array): string {
  if (a.length === 4) return a.join('.');
  if (a.subarray(0, 10).every((x) => x === 0) && a[10] === 0xff && a[11] === 0xff) return `::ffff:${a.subarray(12).join('.')}`;
  const g = Array.from({ length: 8 }, (_, i) => (a[2 * i] << 8) | a[2 * i + 1]);
  let bestAt = -1, bestLen = 1, runAt = -1, runLen = 0;
  for (let i = 0; i < 8; i++) {
    if (g[i] === 0) {
      if (runLen === 0) runAt = i;
      runLen++;
      if (runLen > bestLen) { bestLen = runLen; bestAt = runAt; }
    } else runLen = 0;
  }
  if (bestAt < 0) return g.map((x) => x.toString(16)).join(':');
  const head = g.slice(0, bestAt).map((x) => x.toString(16)).join(':');
  const tail = g.slice(bestAt + bestLen).map((x) => x.toString(16)).join(':');
  return `${head}::${tail}`;
}

const str = (s: string) => JSON.stringify(s);
const num = (v: number | bigint) => String(v);

const NAMES = ['ProcessCreate', 'ConnectionCreate', 'Baseline', 'SystemInformation', 'CollectorStats'];
const PROTOCOLS = ['tcp', 'udp', 'icmp'];
const SEVERITIES = ['Critical', 'Important', 'Warning', 'Informational'];
const COLLECTORS = ['process', 'network', 'baseline', 'transport'];
const U64_MAX = (1n << 64n) - 1n;

/** Where a decoded message's records lie in the input (for the benchmark's bytes per record). */
export interface RecordSpan { name: string; bytes: number }

/** One event as the core built it: the JSON of its header parts and of each of its records. */
interface Event { unit: number; t: number; offset: number; empty: boolean; windows?: number | bigint; records: string[] }

/** One CBOR message: its events, and how its packing run goes on (0 ends, 1 same event, 2 next event). */
interface Parsed { version: string; agent: Uint8Array; maxMessageBytes: number; events: Event[]; cont: number }

/** Decodes one message at `r.pos` into events whose records are already JSON text. */
function parseMessage(r: Reader, spans?: RecordSpan[]): Parsed {
  const start = r.pos;
  const m = r.item();
  const fail = (what: string): never => { throw new DecodeError(`message at byte ${r.base + start}: ${what}`); };
  if (!(m instanceof Map)) return fail('not a map');
  const get = (x: Map<number, Value>, k: number, type: string, what: string): any => {
    const v = x.get(k);
    const ok = type === 'int' ? typeof v === 'number' || typeof v === 'bigint'
      : type === 'bytes' ? v instanceof Uint8Array : type === 'array' ? Array.isArray(v)
        : type === 'map' ? v instanceof Map : typeof v === type;
    if (!ok) fail(`${what} (key ${k}) missing or not ${type}`);
    return v;
  };
  const opt = (x: Map<number, Value>, k: number, type: string, what: string): any => (x.has(k) ? get(x, k, type, what) : undefined);
  // Strings written once per message and then referred to by number, in the order written.
  const dictionary: Value[] = [];
  const referable = (x: Map<number, Value>, k: number, type: 'bytes' | 'string', what: string): any => {
    const v = x.get(k);
    if (typeof v === 'number') {
      if (v >= dictionary.length) fail(`${what} refers to string ${v}, of ${dictionary.length} written`);
      const d = dictionary[v];
      if ((type === 'bytes') !== (d instanceof Uint8Array)) fail(`${what} refers to a string of the wrong kind`);
      return d;
    }
    const s = get(x, k, type, what);
    dictionary.push(s);
    return s;
  };
  const version = get(m, 0, 'string', 'AgentVersion');
  const agent = get(m, 1, 'bytes', 'AgentId') as Uint8Array;
  if (agent.length !== 16) fail('AgentId is not 16 bytes');
  const msgTime = Number(get(m, 2, 'int', 'message time'));
  const maxMessageBytes = Number(get(m, 3, 'int', 'maxMessageBytes'));
  const events = get(m, 4, 'array', 'Events') as Value[];
  const cont = Number(get(m, 5, 'int', 'continuation'));
  if (cont > 2) fail('continuation out of range');

  const seen = (x: Map<number, Value>, base: number) => {
    const first = base + Number(get(x, 8, 'int', 'FirstSeenUTC'));
    const last = first + Number(opt(x, 9, 'int', 'LastSeenUTC') ?? 0);
    return `,"HitCount":${num(opt(x, 7, 'int', 'HitCount') ?? 1)},"FirstSeenUTC":"${isoTime(first)}","LastSeenUTC":"${isoTime(last)}"`;
  };
  const truncated = (x: Map<number, Value>) => (opt(x, 12, 'boolean', 'Truncated') ? ',"Truncated":true' : '');
  const kinds: Record<number, Record<number, 'bytes' | 'string'>> = {
    0: { 3: 'string', 10: 'string', 11: 'string' }, 1: { 0: 'bytes', 2: 'bytes', 10: 'string', 11: 'string' }, 2: { 1: 'string' },
  };

  const record = (unit: number, x: Value, base: number): string => {
    if (!(x instanceof Map)) return fail('a record is not a map');
    // Referable strings resolve in the order they were written: the map's order.
    const refs = new Map<number, Value>();
    for (const k of x.keys()) { const kind = kinds[unit]?.[k]; if (kind) refs.set(k, referable(x, k, kind, `key ${k}`)); }
    if (unit === 0) {
      const exe = refs.get(10), user = refs.get(11);
      return `{"ProcessId":${num(get(x, 0, 'int', 'ProcessId'))},"ParentProcessId":${num(get(x, 1, 'int', 'ParentProcessId'))},` +
        `"UserId":${num(get(x, 2, 'int', 'UserId'))},"CommandLine":${str(refs.get(3) as string)},` +
        `"Type":"${opt(x, 4, 'int', 'Type') === 0 ? 'fork' : 'exec'}"${seen(x, base)}` +
        (exe !== undefined ? `,"Executable":${str(exe as string)}` : '') + (user !== undefined ? `,"UserName":${str(user as string)}` : '') +
        `${truncated(x)}}`;
    }
    if (unit === 1) {
      const pd = Number(opt(x, 4, 'int', 'Protocol') ?? 0);
      const bytesIn = opt(x, 5, 'int', 'BytesIn') ?? 0, bytesOut = opt(x, 6, 'int', 'BytesOut') ?? 0;
      const app = refs.get(10), host = refs.get(11);
      const saturated = BigInt(bytesIn) === U64_MAX || BigInt(bytesOut) === U64_MAX;
      return `{"LocalAddress":"${ipText(refs.get(0) as Uint8Array)}","LocalPort":${num(get(x, 1, 'int', 'LocalPort'))},` +
        `"RemoteAddress":"${ipText(refs.get(2) as Uint8Array)}","RemotePort":${num(get(x, 3, 'int', 'RemotePort'))},` +
        `"Protocol":"${PROTOCOLS[pd & 3] ?? fail('Protocol out of range')}","Direction":"${pd & 4 ? 'In' : 'Out'}",` +
        `"BytesIn":${num(bytesIn)},"BytesOut":${num(bytesOut)}${seen(x, base)}` +
        (app !== undefined ? `,"ApplicationProtocol":${str(app as string)}` : '') +
        (host !== undefined ? `,"ExtraDetails":{"HostName":${str(host as string)}}` : '') +
        `${truncated(x)}${saturated ? ',"Saturated":true' : ''}}`;
    }
    if (unit === 2) {
      const text = (k: number, what: string) => str(get(x, k, 'string', what));
      return `{"CheckId":${text(0, 'CheckId')},"Group":${str(refs.get(1) as string)},` +
        `"Result":"${get(x, 2, 'int', 'Result') === 1 ? 'Fail' : 'Error'}","Error":${text(3, 'Error')},` +
        `"Description":${text(4, 'Description')},"Remediation":${text(5, 'Remediation')},` +
        `"Severity":"${SEVERITIES[get(x, 6, 'int', 'Severity')] ?? fail('Severity out of range')}"${truncated(x)}}`;
    }
    if (unit === 3) {
      const text = (k: number, what: string) => str(get(x, k, 'string', what));
      return `{"OSName":${text(0, 'OSName')},"OSVersion":${text(1, 'OSVersion')},"KernelVersion":${text(2, 'KernelVersion')},` +
        `"Hardware":${text(3, 'Hardware')},"TotalMemory":${num(get(x, 4, 'int', 'TotalMemory'))},"AgentVersion":${str(version)}${truncated(x)}}`;
    }
    const warnings = get(x, 5, 'string', 'Warnings') as string;
    try { if (!Array.isArray(JSON.parse(warnings))) throw new Error(); } catch { fail('Warnings is not a JSON array'); }
    return `{"Collector":"${COLLECTORS[get(x, 0, 'int', 'Collector')] ?? fail('Collector out of range')}",` +
      `"Received":${num(get(x, 1, 'int', 'Received'))},"Discarded":${num(get(x, 2, 'int', 'Discarded'))},` +
      `"Dropped":${num(get(x, 3, 'int', 'Dropped'))},"Ignored":${num(get(x, 4, 'int', 'Ignored'))},"Warnings":${warnings}}`;
  };

  const out: Event[] = [];
  for (const e of events) {
    if (!(e instanceof Map)) return fail('an event is not a map');
    const unit = get(e, 0, 'int', 'Name') as number;
    if (!(unit >= 0 && unit < NAMES.length)) fail('Name out of range');
    const t = msgTime + Number(get(e, 2, 'int', 'TimestampUTC'));
    const id = get(e, 1, 'bytes', 'Id') as Uint8Array;
    if (id.length !== 16) fail('an event Id is not 16 bytes');
    const empty = opt(e, 4, 'boolean', 'IsEmpty') === true;
    const payload = empty ? [] : get(e, 6, 'array', 'Payload') as Value[];
    out.push({ unit, t, offset: Number(opt(e, 3, 'int', 'UTC offset') ?? 0), empty, windows: opt(e, 5, 'int', 'Windows'),
      records: payload.map((x) => record(unit, x, t)) });
  }
  if (spans) recordSpans(r.b.subarray(start, r.pos), spans);
  return { version, agent, maxMessageBytes, events: out, cont };
}

/** The CBOR size of every record of one message (walks the bytes again, keeping offsets). */
function recordSpans(msg: Uint8Array, spans: RecordSpan[]): void {
  const r = new Reader(msg);
  // Message head, then keys 0..3 and the events array's opening byte.
  r.pos = 1;
  for (let i = 0; i < 4; i++) { r.item(); r.item(); }
  r.pos += 2;
  while (msg[r.pos] !== 0xff) {
    const n = msg[r.pos++] & 31;
    let name = '';
    for (let i = 0; i < n; i++) {
      const k = r.item();
      if (k === 6) {
        r.pos++;   // the payload's indefinite array
        while (msg[r.pos] !== 0xff) { const at = r.pos; r.item(); spans.push({ name, bytes: r.pos - at }); }
        r.pos++;
      } else {
        const v = r.item();
        if (k === 0) name = NAMES[v as number];
      }
    }
  }
}

// ---- the JSON run ----------------------------------------------------------------------
// A CBOR message fills up later than its JSON form would, so the JSON run splits at other
// places and numbers its events (whose ids derive from the agent id and that number) on its
// own. The messages of one packing run are joined again, then cut where the core cuts JSON.

const M64 = (1n << 64n) - 1n;

function splitmix64(x: bigint): bigint {
  let z = (x + 0x9e3779b97f4a7c15n) & M64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

/** The id of event number `seq` of an agent (flush.ts eventIdHi/eventIdLo). */
export function eventId(agent: Uint8Array, seq: number): string {
  const v = new DataView(agent.buffer, agent.byteOffset, 16);
  const agentHi = v.getBigUint64(0), agentLo = v.getBigUint64(8);
  const n = BigInt(seq);
  const hi = (splitmix64(agentHi ^ ((n * 0x9e3779b97f4a7c15n) & M64)) & ~0xf000n & M64) | 0x8000n;
  const lo = (splitmix64((agentLo + n) & M64) & 0x3fffffffffffffffn) | 0x8000000000000000n;
  const b = new Uint8Array(16);
  const o = new DataView(b.buffer);
  o.setBigUint64(0, hi); o.setBigUint64(8, lo);
  return uuidText(b);
}

const CLOSING = 4;

/** Turns CBOR messages into the JSON lines of the same run; `seq` is the run's next event number. */
class JsonRun {
  private lines: string[] = [];
  private parts: string[] = [];
  private msgOpen = false;
  private evOpen = false;
  private msgBytes = 0;
  seq = 0;
  // The run being joined: events of messages whose run goes on.
  private pending: Event[] = [];
  private head?: Parsed;

  add(p: Parsed, prevCont: number): void {
    if (prevCont === 1 && p.events.length > 0 && this.pending.length > 0) {
      const [first, ...rest] = p.events;
      this.pending[this.pending.length - 1].records.push(...first.records);
      this.pending.push(...rest);
    } else this.pending.push(...p.events);
    this.head = p;
    if (p.cont === 0) this.flush();
  }

  /** The JSON lines so far (a run cut off by the end of input is given as it stands). */
  finish(): string { this.flush(); return this.lines.join(''); }

  private flush(): void {
    const p = this.head;
    if (!p) return;
    const env = `{"AgentVersion":${str(p.version)},"AgentId":"${uuidText(p.agent)}","MessageSchemaVersion":"1.0","Events":[`;
    for (const e of this.pending) {
      const items = e.empty ? [undefined] : e.records;
      for (const rec of items) {
        for (;;) {
          const wasOpen = this.msgOpen;
          const parts: string[] = [];
          if (!this.msgOpen) parts.push(env);
          if (!this.evOpen) {
            if (wasOpen) parts.push(',');
            parts.push(this.header(e, p.agent));
            if (e.empty) parts.push(']}');
          } else parts.push(',');
          if (rec !== undefined) parts.push(rec);
          const need = parts.reduce((n, x) => n + Buffer.byteLength(x), 0);
          if (wasOpen && this.msgBytes + need + CLOSING > p.maxMessageBytes) { this.close(); continue; }
          this.parts.push(...parts);
          if (!wasOpen) { this.msgOpen = true; this.msgBytes = 0; }
          this.msgBytes += need;
          if (!this.evOpen) this.seq++;
          this.evOpen = !e.empty;
          break;
        }
      }
      if (this.evOpen) { this.parts.push(']}'); this.msgBytes += 2; this.evOpen = false; }
    }
    if (this.msgOpen) this.close();
    this.pending = [];
    this.head = undefined;
  }

  private header(e: Event, agent: Uint8Array): string {
    return `{"EventType":"${e.unit === 4 ? 'Diagnostic' : 'Security'}","Category":"${e.unit <= 1 ? 'Triggered' : 'Periodic'}",` +
      `"Name":"${NAMES[e.unit]}","IsEmpty":${e.empty}${e.windows !== undefined ? `,"Windows":${num(e.windows)}` : ''},` +
      `"PayloadSchemaVersion":"1.0","Id":"${eventId(agent, this.seq)}","TimestampLocal":"${isoTime(e.t, e.offset)}",` +
      `"TimestampUTC":"${isoTime(e.t)}","Payload":[`;
  }

  private close(): void {
    if (this.evOpen) { this.parts.push(']}'); this.evOpen = false; }
    this.parts.push(']}');
    this.lines.push(this.parts.join('') + '\n');
    this.parts = [];
    this.msgOpen = false;
  }

  /** Takes the finished lines (streaming). */
  take(): string { const s = this.lines.join(''); this.lines = []; return s; }
}

/**
 * Every message of a CBOR sequence, as the JSON lines `--format json` prints for the same run
 * (with their newlines). The sequence must start where the run started: event ids count from there.
 */
export function decodeSequence(bytes: Uint8Array, spans?: RecordSpan[]): string {
  const parts: string[] = [];
  const decoder = new SequenceDecoder((text) => parts.push(text), spans);
  decoder.push(bytes);
  decoder.end();
  return parts.join('');
}

/** The longest message a stream may hold back waiting for its end (the core's are at most 64 KiB). */
const MAX_MESSAGE_BYTES = 16 << 20;

/**
 * `microtally decode` as the input arrives: `push` each piece read, `end` at the input's end;
 * the JSON lines of every message completed go to `emit` at once, so memory holds at most one
 * message, however long the sequence. After a DecodeError, `abort` emits what the messages
 * before it left open (a packing run), as `end` would have.
 */
export class SequenceDecoder {
  private buf: Uint8Array = new Uint8Array(0);
  private base = 0;
  private readonly run = new JsonRun();
  private cont = 0;

  /** `spans`, when given, gets each record's size (the bench's and the tests' view of the layout). */
  constructor(private readonly emit: (text: string) => void, private readonly spans?: RecordSpan[]) {}

  push(chunk: Uint8Array): void {
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    this.buf = joined;
    this.step(false);
  }

  end(): void {
    this.step(true);
    this.emit(this.run.finish());
  }

  abort(): void { this.emit(this.run.finish()); }

  private step(final: boolean): void {
    const r = new Reader(this.buf, this.base, final);
    let done = 0;
    try {
      while (r.pos < this.buf.length) {
        const p = parseMessage(r, this.spans);
        this.run.add(p, this.cont);
        this.cont = p.cont;
        done = r.pos;
        this.emit(this.run.take());
      }
    } catch (e) {
      if (!(e instanceof NeedMore)) throw e;
    }
    // Keep only the message not yet complete (a copy: the pieces before it can go).
    if (done > 0) this.buf = this.buf.slice(done);
    this.base += done;
    if (this.buf.length > MAX_MESSAGE_BYTES) {
      throw new DecodeError(`message at byte ${this.base}: longer than ${MAX_MESSAGE_BYTES} bytes (not a message of the core)`);
    }
  }
}
