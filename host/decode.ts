// `microtally decode`: a CBOR sequence of messages (RFC 8742; layout in docs/CBOR.md) back
// into the JSON lines `--format json` prints for the same input, byte for byte (SPEC R8).
// The core writes CBOR itself; this side reads it with a small strict reader of the subset
// the layout uses (definite and indefinite arrays, definite maps, integers, byte and text
// strings, true, and the stringref tags: 256 around each message, 25 for a reference), so
// anything else is reported with its offset instead of guessed at.
// Input is hostile until checked: a message is at most MAX_MESSAGE_BYTES and MAX_DEPTH deep,
// found incrementally (ItemScanner) before it is read, and every value is checked against the
// layout's bounds before anything of its message is printed.

export class DecodeError extends Error {}

type Value = number | bigint | Uint8Array | string | boolean | StringRef | Value[] | Map<number, Value>;

/** A string reference (tag 25), resolved: only the layout's referable places take one. */
class StringRef { constructor(readonly value: Uint8Array | string) {} }

/** The head of tag 256 (stringref-namespace), which each message is (http://cbor.schmorp.de/stringref). */
const NAMESPACE_HEAD = [0xd9, 0x01, 0x00];
/** The head of tag 25 (stringref). */
const REFERENCE_HEAD = [0xd8, 0x19];

/** The shortest string a stringref table holding n strings takes (the spec's rule). */
export function stringrefMinLength(n: number): number {
  return n < 24 ? 3 : n < 256 ? 4 : n < 65536 ? 5 : n < 2 ** 32 ? 7 : 11;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The longest message: the largest maxMessageBytes (SPEC R6), which bounds a CBOR message. */
export const MAX_MESSAGE_BYTES = 262_144;
/** The messages' MessageSchemaVersion (1.0 wrote string references untagged; decode refuses those). */
export const MESSAGE_SCHEMA_VERSION = '1.1';
/** The smallest maxMessageBytes (SPEC R6). */
const MIN_MAX_MESSAGE_BYTES = 1024;
/** Nesting of the layout: message map, Events array, event map, Payload array, record map. */
export const MAX_DEPTH = 5;
/** The core's times: ms from 1970-01-01 to 9999-12-31T23:59:59.999Z (event.ts MAX_TIME). */
export const MAX_TIME = 253402300799999;
/** The largest UTC offset of TimestampLocal, minutes (config.ts MAX_UTC_OFFSET_MIN). */
export const MAX_UTC_OFFSET_MIN = 1080;
/** The longest envelope `{"AgentVersion":…,"Events":[` (limits.ts ENVELOPE_MAX): AgentVersion at most 13 bytes. */
export const ENVELOPE_MAX = 120;
/** The longest CollectorStats record (assembly/collectorstats.ts MAX_RECORD), which bounds its Warnings. */
export const STATS_MAX_RECORD = 600;
/**
 * The longest text of each field, in bytes of its JSON-escaped form, as the core stores it
 * (profile.ts, the linux profile's caps: the larger ones). Bounds what a message of references
 * to one string can print.
 */
export const TEXT_CAPS: Record<string, number> = {
  CommandLine: 1024, Executable: 256, UserName: 64, ApplicationProtocol: 64, HostName: 512,
  CheckId: 128, Group: 64, Error: 256, Description: 512, Remediation: 512,
  OSName: 64, OSVersion: 64, KernelVersion: 128, Hardware: 128,
  FromVersion: 64, ToVersion: 64, Reason: 256,
};
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

const nested = (at: number) => `byte ${at}: nested deeper than ${MAX_DEPTH} levels (a message is a map of Events of events of Payloads of records)`;

/**
 * Finds where a message ends as its bytes arrive, without building it: each byte is looked at
 * once however the input is cut (a head cut in two is looked at again, at most 9 bytes). Refuses,
 * as soon as they show, what the Reader would (a head the layout does not use), an item that is
 * not a map, nesting past MAX_DEPTH and a message past MAX_MESSAGE_BYTES.
 */
class ItemScanner {
  /** The message's first byte and the next byte to look at, in the buffer given to scan. */
  private start = 0;
  private pos = 0;
  /** Per open container, the items still to come (-1: an indefinite array, until its break). */
  private readonly open: number[] = [];
  /** Whether pos is the end of a string not yet all in the buffer. */
  private inString = false;
  /** Whether the item at pos is a tag 25's number. */
  private inReference = false;

  /** Starts on a message at offset `start` of the buffer. */
  reset(start: number): void { this.start = this.pos = start; this.open.length = 0; this.inString = false; this.inReference = false; }

  /** The buffer lost its first n bytes. */
  shift(n: number): void { this.start -= n; this.pos -= n; }

  /** The message's end (exclusive) once it is all in b[0, len), else -1. */
  scan(b: Uint8Array, len: number, base: number): number {
    const fail = (what: string, at: number): never => { throw new DecodeError(`byte ${base + at}: ${what}`); };
    const reaches = (end: number) => {
      if (end - this.start > MAX_MESSAGE_BYTES) {
        throw new DecodeError(`message at byte ${base + this.start}: longer than ${MAX_MESSAGE_BYTES} bytes (the largest maxMessageBytes)`);
      }
    };
    for (;;) {
      if (this.inString) {
        if (this.pos > len) return -1;
        this.inString = false;
        if (this.ended()) return this.pos;
      }
      reaches(this.pos + 1);
      if (this.pos >= len) return -1;
      const at = this.pos;
      const ib = b[at];
      const major = ib >> 5, info = ib & 31;
      if (at === this.start) {
        // A message is tag 256 (stringref-namespace) around a map: refused at its first wrong byte.
        reaches(at + 3);
        for (let i = 0; i < NAMESPACE_HEAD.length && at + i < len; i++) {
          if (b[at + i] !== NAMESPACE_HEAD[i]) throw new DecodeError(`message at byte ${base + at}: not tag 256 (a stringref namespace) around a map`);
        }
        if (at + 3 > len) return -1;
        this.pos = at + 3;
        continue;
      }
      if (this.open.length === 0 && major !== 5) throw new DecodeError(`message at byte ${base + at}: not a map`);
      if (this.inReference) {
        if (major !== 0) fail('tag 25 (a string reference) not on an unsigned integer', at);
        this.inReference = false;
      }
      if (ib === 0xff) {
        if (this.open[this.open.length - 1] !== -1) fail('unsupported simple value 0xff', at);
        this.open.pop();
        this.pos++;
        if (this.ended()) return this.pos;
        continue;
      }
      if (info > 27 && info < 31) fail(`unsupported additional information ${info}`, at);
      const n = info < 24 || info === 31 ? 0 : 1 << (info - 24);
      reaches(at + 1 + n);
      if (at + 1 + n > len) return -1;
      let arg = info < 24 ? info : 0;
      for (let i = 1; i <= n; i++) arg = arg * 256 + b[at + i];   // past 2^53 inexact, and far past any bound
      this.pos = at + 1 + n;
      switch (major) {
        case 0: case 1:
          break;
        case 2: case 3:
          if (info === 31) fail('indefinite-length strings are not used by the layout', at);
          this.pos += arg;
          reaches(this.pos);
          this.inString = true;
          continue;
        case 4: case 5:
          if (major === 5 && info === 31) fail('indefinite-length maps are not used by the layout', at);
          if (this.open.length >= MAX_DEPTH) throw new DecodeError(nested(base + at));
          if (info === 31) { this.open.push(-1); continue; }
          if (arg > 0) { this.open.push(major === 5 ? 2 * arg : arg); continue; }
          break;
        case 7:
          if (ib !== 0xf5 && ib !== 0xf4) fail(`unsupported simple value 0x${ib.toString(16)}`, at);
          break;
        case 6:
          // Inside a message only tag 25 (a string reference); its number follows.
          if (ib !== REFERENCE_HEAD[0] || arg !== REFERENCE_HEAD[1]) fail(`unsupported tag ${arg} (only 25, a string reference, inside a message)`, at);
          this.inReference = true;
          continue;
        default:
          fail(`unsupported major type ${major}`, at);
      }
      if (this.ended()) return this.pos;
    }
  }

  /** One item ended: counts it in the containers it closes; true when the message is complete. */
  private ended(): boolean {
    for (;;) {
      const top = this.open.length - 1;
      if (top < 0) return true;
      if (this.open[top] === -1) return false;
      if (--this.open[top] > 0) return false;
      this.open.pop();
    }
  }
}

// An empty definite map or array is never valid in the layout: one shared object stands for all
// of them, so a message of 262,144 empty items costs no more than any other.
const EMPTY_MAP: Map<number, Value> = new Map();
const EMPTY_ARRAY: Value[] = [];

/**
 * Reads one data item at a time from a complete buffer (RFC 8949 §3): the input's bytes from
 * offset `base` on (errors name offsets in the whole input).
 */
class Reader {
  pos = 0;
  /** The stringref table: every string read, of either kind, that is long enough (stringrefMinLength). */
  private readonly table: (Uint8Array | string)[] = [];
  constructor(readonly b: Uint8Array, readonly base = 0) {}

  /** Enters a string just read, as a standard stringref decoder does. */
  private enter<T extends Uint8Array | string>(s: T, length: number): T {
    if (length >= stringrefMinLength(this.table.length)) this.table.push(s);
    return s;
  }

  private fail(what: string, at = this.pos): never { throw new DecodeError(`byte ${this.base + at}: ${what}`); }

  private need(n: number): void {
    if (this.pos + n > this.b.length) this.fail('the input ends inside a data item');
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
    if (typeof n !== 'number' || n > this.base + this.b.length) this.fail('a length larger than the input');
    return n as number;
  }

  item(depth = 0): Value {
    this.need(1);
    const start = this.pos;
    const ib = this.b[this.pos++];
    const major = ib >> 5, info = ib & 31;
    if ((major === 4 || major === 5) && depth >= MAX_DEPTH) throw new DecodeError(nested(this.base + start));
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
        if (major === 2) return this.enter(bytes, n);
        let s: string;
        try { s = utf8.decode(bytes); } catch { return this.fail('a text string that is not UTF-8', start); }
        return this.enter(s, n);
      }
      // falls through (unreachable: fail throws)
      case 4: {
        if (info === 0) return EMPTY_ARRAY;
        const out: Value[] = [];
        if (info === 31) {
          for (;;) {
            this.need(1);
            if (this.b[this.pos] === 0xff) { this.pos++; return out; }
            out.push(this.item(depth + 1));
          }
        }
        const n = this.length(info);
        for (let i = 0; i < n; i++) out.push(this.item(depth + 1));
        return out;
      }
      case 5: {
        if (info === 31) this.fail('indefinite-length maps are not used by the layout', start);
        const n = this.length(info);
        if (n === 0) return EMPTY_MAP;
        const m = new Map<number, Value>();
        for (let i = 0; i < n; i++) {
          const at = this.pos;
          const k = this.item(depth + 1);
          if (typeof k !== 'number' || k < 0) this.fail('a map key that is not a small unsigned integer', at);
          if (m.has(k)) this.fail(`map key ${k} twice`, at);
          m.set(k, this.item(depth + 1));
        }
        return m;
      }
      case 6: {
        const tag = this.argument(info);
        if (tag !== 25 || ib !== REFERENCE_HEAD[0]) return this.fail(`unsupported tag ${tag} (only 25, a string reference, inside a message)`, start);
        this.need(1);
        if (this.b[this.pos] >> 5 !== 0) return this.fail('tag 25 (a string reference) not on an unsigned integer', start);
        const i = this.argument(this.b[this.pos++] & 31);
        if (i >= this.table.length) return this.fail(`a string reference (tag 25) to string ${i}, of ${this.table.length} in the table`, start);
        return new StringRef(this.table[Number(i)]);
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

const NAMES = ['ProcessCreate', 'ConnectionCreate', 'Baseline', 'SystemInformation', 'CollectorStats', 'AgentUpdate', 'Heartbeat'];
const UPDATE_RESULTS = ['applied', 'rejected', 'rolledBack'];
const PROTOCOLS = ['tcp', 'udp', 'icmp'];
const SEVERITIES = ['Critical', 'Important', 'Warning', 'Informational'];
const COLLECTORS = ['process', 'network', 'baseline', 'transport'];
const U64_MAX = (1n << 64n) - 1n;

/** Where a decoded message's records lie in the input (for the benchmark's bytes per record). */
export interface RecordSpan { name: string; bytes: number }

/** An event's header as the core built it. */
interface EventHead { unit: number; t: number; offset: number; empty: boolean; windows?: number | bigint }

/** One event of a checked message: its header, and its records, each checked and ready to print. */
interface Event { head: EventHead; records: (() => string)[] }

/** One checked CBOR message: its events, and how its packing run goes on (0 ends, 1 same event, 2 next event). */
interface Parsed { at: number; version: string; agent: Uint8Array; maxMessageBytes: number; events: Event[]; cont: number }

/** The keys each map of the layout may have (docs/CBOR.md): anything else is refused. */
const MESSAGE_KEYS = [0, 1, 2, 3, 4, 5], EVENT_KEYS = [0, 1, 2, 3, 4, 5, 6];
const RECORD_KEYS = [[0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 12], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [0, 1, 2, 3, 4, 5, 6, 12],
  [0, 1, 2, 3, 4, 12], [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5, 12], [0, 1, 2, 3]];

/**
 * Reads and checks the whole message in `bytes` (the input's bytes from offset `at`): every value
 * within the layout's bounds, every string reference resolved, so that nothing of a message that
 * fails is printed. Its records are then printed by the functions it returns.
 */
function parseMessage(bytes: Uint8Array, at: number, spans?: RecordSpan[]): Parsed {
  const fail = (what: string): never => { throw new DecodeError(`message at byte ${at}: ${what}`); };
  if (NAMESPACE_HEAD.some((x, i) => bytes[i] !== x)) fail('not tag 256 (a stringref namespace) around a map');
  const r = new Reader(bytes, at);
  r.pos = NAMESPACE_HEAD.length;
  const m = r.item();
  if (!(m instanceof Map)) return fail('not a map');
  if (r.pos !== bytes.length) fail('more bytes than the message');
  const keys = (x: Map<number, Value>, allowed: number[]) => {
    for (const k of x.keys()) if (!allowed.includes(k)) fail(`key ${k} is not in the layout`);
  };
  const get = (x: Map<number, Value>, k: number, type: string, what: string): any => {
    const v = x.get(k);
    const ok = type === 'int' ? typeof v === 'number' || typeof v === 'bigint'
      : type === 'bytes' ? v instanceof Uint8Array : type === 'array' ? Array.isArray(v)
        : type === 'map' ? v instanceof Map : typeof v === type;
    if (!ok) fail(`${what} (key ${k}) missing or not ${type}`);
    return v;
  };
  const opt = (x: Map<number, Value>, k: number, type: string, what: string): any => (x.has(k) ? get(x, k, type, what) : undefined);
  /** An integer from min to max (a bigint only past 2^53 - 1, so any bound here is a number). */
  const int = (x: Map<number, Value>, k: number, what: string, min: number, max: number | bigint): number | bigint => {
    const v = get(x, k, 'int', what) as number | bigint;
    if (v < min || v > max) fail(`${what} (key ${k}) out of range: ${v} (${min} to ${max})`);
    return v;
  };
  const optInt = (x: Map<number, Value>, k: number, what: string, min: number, max: number | bigint) =>
    (x.has(k) ? int(x, k, what, min, max) : undefined);
  /** A time in ms from a time it is relative to: the core's times are 0 to MAX_TIME. */
  const time = (t: number, what: string): number => {
    if (!(t >= 0 && t <= MAX_TIME)) fail(`${what} out of range: ${t} ms (0 to ${MAX_TIME}, 9999-12-31T23:59:59.999Z)`);
    return t;
  };
  /** A text within its field's cap (TEXT_CAPS), as the core stores it. */
  const capped = (v: string, what: string, k: number): string => {
    const bytes = Buffer.byteLength(str(v)) - 2;
    if (bytes > TEXT_CAPS[what]) fail(`${what} (key ${k}) is ${bytes} bytes as JSON, more than the core stores (${TEXT_CAPS[what]})`);
    return v;
  };
  const referable = (x: Map<number, Value>, k: number, type: 'bytes' | 'string', what: string): any => {
    const v = x.get(k);
    if (typeof v === 'number' || typeof v === 'bigint') {
      fail(`${what} (key ${k}) is an integer: a string reference is tag 25 (the untagged form of MessageSchemaVersion 1.0 is refused)`);
    }
    if (v instanceof StringRef) {
      if ((type === 'bytes') !== (v.value instanceof Uint8Array)) fail(`${what} (key ${k}) refers to a string of the wrong kind`);
      return v.value;
    }
    return get(x, k, type, what);
  };
  /** A referable text, resolved and within its cap. */
  const refText = (refs: Map<number, Value>, k: number, what: string) => {
    const v = refs.get(k);
    return v === undefined ? undefined : capped(v as string, what, k);
  };
  keys(m, MESSAGE_KEYS);
  const version = get(m, 0, 'string', 'AgentVersion') as string;
  const envelope = Buffer.byteLength(`{"AgentVersion":${str(version)},"AgentId":"${'0'.repeat(36)}","MessageSchemaVersion":"${MESSAGE_SCHEMA_VERSION}","Events":[`);
  if (envelope > ENVELOPE_MAX) fail(`AgentVersion (key 0) makes an envelope of ${envelope} bytes, more than the core writes (${ENVELOPE_MAX})`);
  const agent = get(m, 1, 'bytes', 'AgentId') as Uint8Array;
  if (agent.length !== 16) fail('AgentId is not 16 bytes');
  const msgTime = time(Number(int(m, 2, 'message time', 0, MAX_TIME)), 'message time');
  const maxMessageBytes = Number(int(m, 3, 'maxMessageBytes', MIN_MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES));
  if (bytes.length > maxMessageBytes) fail(`${bytes.length} bytes, longer than its maxMessageBytes (${maxMessageBytes})`);
  const events = get(m, 4, 'array', 'Events') as Value[];
  const cont = Number(int(m, 5, 'continuation', 0, 2));

  /** A relative time (an int) added to `base`, checked. */
  const offsetTime = (x: Map<number, Value>, k: number, base: number, what: string, min: number) =>
    time(base + Number(int(x, k, what, min, Number.MAX_SAFE_INTEGER)), what);
  const seen = (x: Map<number, Value>, base: number) => {
    const hits = optInt(x, 7, 'HitCount', 2, U64_MAX) ?? 1;
    const first = offsetTime(x, 8, base, 'FirstSeenUTC', Number.MIN_SAFE_INTEGER);
    const last = x.has(9) ? offsetTime(x, 9, first, 'LastSeenUTC', 1) : first;
    return () => `,"HitCount":${num(hits)},"FirstSeenUTC":"${isoTime(first)}","LastSeenUTC":"${isoTime(last)}"`;
  };
  const truncated = (x: Map<number, Value>) => (opt(x, 12, 'boolean', 'Truncated') !== undefined
    ? (x.get(12) === true ? ',"Truncated":true' : fail('Truncated (key 12) is not true')) : '');
  const kinds: Record<number, Record<number, 'bytes' | 'string'>> = {
    0: { 3: 'string', 10: 'string', 11: 'string' }, 1: { 0: 'bytes', 2: 'bytes', 10: 'string', 11: 'string' }, 2: { 1: 'string' },
  };
  const names: Record<number, Record<number, string>> = {
    0: { 3: 'CommandLine', 10: 'Executable', 11: 'UserName' },
    1: { 0: 'LocalAddress', 2: 'RemoteAddress', 10: 'ApplicationProtocol', 11: 'HostName' }, 2: { 1: 'Group' },
  };
  const address = (refs: Map<number, Value>, k: number) => {
    const a = refs.get(k) as Uint8Array;
    if (a.length !== 4 && a.length !== 16) fail(`${names[1][k]} (key ${k}) is ${a.length} bytes, not 4 or 16`);
    return ipText(a);
  };

  /** Checks one record; returns what prints it. */
  const record = (unit: number, x: Value, base: number): (() => string) => {
    if (!(x instanceof Map)) return fail('a record is not a map');
    keys(x, RECORD_KEYS[unit]);
    // Referable strings resolve in the order they were written: the map's order.
    const refs = new Map<number, Value>();
    for (const k of x.keys()) { const kind = kinds[unit]?.[k]; if (kind) refs.set(k, referable(x, k, kind, names[unit][k])); }
    const text = (k: number, what: string) => str(capped(get(x, k, 'string', what), what, k));
    if (unit === 0) {
      const pid = int(x, 0, 'ProcessId', 0, U32_MAX), ppid = int(x, 1, 'ParentProcessId', 0, U32_MAX), uid = int(x, 2, 'UserId', 0, U32_MAX);
      const cmd = refText(refs, 3, 'CommandLine') ?? fail('CommandLine (key 3) missing');
      const fork = optInt(x, 4, 'Type', 0, 0) === 0;
      const exe = refText(refs, 10, 'Executable'), user = refText(refs, 11, 'UserName');
      const s = seen(x, base), tail = truncated(x);
      return () => `{"ProcessId":${num(pid)},"ParentProcessId":${num(ppid)},"UserId":${num(uid)},"CommandLine":${str(cmd)},` +
        `"Type":"${fork ? 'fork' : 'exec'}"${s()}` +
        (exe !== undefined ? `,"Executable":${str(exe)}` : '') + (user !== undefined ? `,"UserName":${str(user)}` : '') +
        `${tail}}`;
    }
    if (unit === 1) {
      if (!refs.has(0)) fail('LocalAddress (key 0) missing');
      if (!refs.has(2)) fail('RemoteAddress (key 2) missing');
      const local = address(refs, 0), remote = address(refs, 2);
      const lport = int(x, 1, 'LocalPort', 0, U16_MAX), rport = int(x, 3, 'RemotePort', 0, U16_MAX);
      const pd = Number(optInt(x, 4, 'Protocol', 0, 6) ?? 0);
      if ((pd & 3) === 3) fail(`Protocol (key 4) out of range: ${pd} (0 to 2, plus 4 for In)`);
      const bytesIn = optInt(x, 5, 'BytesIn', 1, U64_MAX) ?? 0, bytesOut = optInt(x, 6, 'BytesOut', 1, U64_MAX) ?? 0;
      const app = refText(refs, 10, 'ApplicationProtocol'), host = refText(refs, 11, 'HostName');
      const saturated = BigInt(bytesIn) === U64_MAX || BigInt(bytesOut) === U64_MAX;
      const s = seen(x, base), tail = truncated(x);
      return () => `{"LocalAddress":"${local}","LocalPort":${num(lport)},"RemoteAddress":"${remote}","RemotePort":${num(rport)},` +
        `"Protocol":"${PROTOCOLS[pd & 3]}","Direction":"${pd & 4 ? 'In' : 'Out'}",` +
        `"BytesIn":${num(bytesIn)},"BytesOut":${num(bytesOut)}${s()}` +
        (app !== undefined ? `,"ApplicationProtocol":${str(app)}` : '') +
        (host !== undefined ? `,"ExtraDetails":{"HostName":${str(host)}}` : '') +
        `${tail}${saturated ? ',"Saturated":true' : ''}}`;
    }
    if (unit === 2) {
      const group = refText(refs, 1, 'Group') ?? fail('Group (key 1) missing');
      const id = text(0, 'CheckId'), result = int(x, 2, 'Result', 1, 2), error = text(3, 'Error');
      const description = text(4, 'Description'), remediation = text(5, 'Remediation');
      const severity = SEVERITIES[Number(int(x, 6, 'Severity', 0, 3))], tail = truncated(x);
      return () => `{"CheckId":${id},"Group":${str(group)},` +
        `"Result":"${result === 1 ? 'Fail' : 'Error'}","Error":${error},` +
        `"Description":${description},"Remediation":${remediation},"Severity":"${severity}"${tail}}`;
    }
    if (unit === 3) {
      const os = text(0, 'OSName'), osVersion = text(1, 'OSVersion'), kernel = text(2, 'KernelVersion'), hw = text(3, 'Hardware');
      const memory = int(x, 4, 'TotalMemory', 0, U64_MAX), tail = truncated(x);
      return () => `{"OSName":${os},"OSVersion":${osVersion},"KernelVersion":${kernel},` +
        `"Hardware":${hw},"TotalMemory":${num(memory)},"AgentVersion":${str(version)}${tail}}`;
    }
    if (unit === 5) {
      const from = text(0, 'FromVersion'), to = text(1, 'ToVersion');
      const fromSeq = int(x, 2, 'FromSequence', 0, Number.MAX_SAFE_INTEGER), toSeq = int(x, 3, 'ToSequence', 0, Number.MAX_SAFE_INTEGER);
      const result = Number(int(x, 4, 'Result', 0, 2));
      const reason = x.has(5) ? text(5, 'Reason') : undefined;
      if ((reason === undefined) !== (result === 0)) fail('Reason (key 5) must be present exactly when Result is not applied');
      const tail = truncated(x);
      return () => `{"FromVersion":${from},"ToVersion":${to},"FromSequence":${num(fromSeq)},"ToSequence":${num(toSeq)},` +
        `"Result":"${UPDATE_RESULTS[result]}"${reason !== undefined ? `,"Reason":${reason}` : ''}${tail}}`;
    }
    if (unit === 6) {
      const f = (k: number, what: string) => num(int(x, k, what, 0, Number.MAX_SAFE_INTEGER));
      const up = f(0, 'UptimeSeconds'), seen = f(1, 'EventsSeen'), msgs = f(2, 'OutboxMessages'), bytes = f(3, 'OutboxBytes');
      return () => `{"UptimeSeconds":${up},"EventsSeen":${seen},"OutboxMessages":${msgs},"OutboxBytes":${bytes}}`;
    }
    // The warnings travel as the JSON array's text; printed only when it is the core's: an array
    // of strings in JSON's shortest form (no whitespace, so no newline that would split a line).
    const warnings = get(x, 5, 'string', 'Warnings') as string;
    let list: unknown;
    try { list = JSON.parse(warnings); } catch { /* refused below */ }
    if (Buffer.byteLength(warnings) > STATS_MAX_RECORD || !Array.isArray(list) || !list.every((w) => typeof w === 'string') ||
      JSON.stringify(list) !== warnings) {
      fail('Warnings (key 5) is not a JSON array of strings as the core writes it');
    }
    const collector = COLLECTORS[Number(int(x, 0, 'Collector', 0, COLLECTORS.length - 1))];
    const received = int(x, 1, 'Received', 0, U64_MAX), discarded = int(x, 2, 'Discarded', 0, U64_MAX);
    const dropped = int(x, 3, 'Dropped', 0, U64_MAX), ignored = int(x, 4, 'Ignored', 0, U64_MAX);
    return () => `{"Collector":"${collector}","Received":${num(received)},"Discarded":${num(discarded)},` +
      `"Dropped":${num(dropped)},"Ignored":${num(ignored)},"Warnings":${warnings}}`;
  };

  const out: Event[] = [];
  for (const e of events) {
    if (!(e instanceof Map)) return fail('an event is not a map');
    keys(e, EVENT_KEYS);
    const unit = Number(int(e, 0, 'Name', 0, NAMES.length - 1));
    const id = get(e, 1, 'bytes', 'Id') as Uint8Array;
    if (id.length !== 16) fail('an event Id is not 16 bytes');
    const t = offsetTime(e, 2, msgTime, 'TimestampUTC', Number.MIN_SAFE_INTEGER);
    const offset = Number(optInt(e, 3, 'UTC offset', -MAX_UTC_OFFSET_MIN, MAX_UTC_OFFSET_MIN) ?? 0);
    const empty = opt(e, 4, 'boolean', 'IsEmpty') !== undefined;
    if (empty && e.get(4) !== true) fail('IsEmpty (key 4) is not true');
    const windows = optInt(e, 5, 'Windows', 2, U64_MAX);
    if (windows !== undefined && !empty) fail('Windows (key 5) without IsEmpty');
    if (empty && e.has(6)) fail('an empty event with a Payload (key 6)');
    const payload = empty ? [] : get(e, 6, 'array', 'Payload') as Value[];
    out.push({ head: { unit, t, offset, empty, windows }, records: payload.map((x) => record(unit, x, t)) });
  }
  if (spans) recordSpans(bytes, spans);
  return { at, version, agent: agent.slice(), maxMessageBytes, events: out, cont };
}

/** The CBOR size of every record of one message (walks the bytes again, keeping offsets). */
function recordSpans(msg: Uint8Array, spans: RecordSpan[]): void {
  const r = new Reader(msg);
  // Tag 256 and the message head, then keys 0..3 and the events array's opening byte.
  r.pos = NAMESPACE_HEAD.length + 1;
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

/**
 * Turns checked CBOR messages into the JSON lines of the same run as they come: a line goes to
 * `emit` as soon as the core would have ended it, so memory holds one JSON message at most (of
 * at most maxMessageBytes, or one record), however long the packing run. `seq` is the run's
 * next event number.
 */
class JsonRun {
  private parts: string[] = [];
  private msgOpen = false;
  private evOpen = false;
  private msgBytes = 0;
  seq = 0;
  // The packing run being joined: its envelope, and its last event (which the next message may go on with).
  private head?: Parsed;
  private env = '';
  private last?: EventHead;

  constructor(private readonly emit: (text: string) => void) {}

  /** Refuses a message that cannot go on the run as `prevCont` says (before anything of it is printed). */
  check(p: Parsed, prevCont: number): void {
    const fail = (what: string): never => { throw new DecodeError(`message at byte ${p.at}: ${what}`); };
    const h = this.head;
    if (prevCont === 0 || !h) return;
    if (p.version !== h.version) fail('AgentVersion changes within a packing run');
    if (!Buffer.from(p.agent).equals(Buffer.from(h.agent))) fail('AgentId changes within a packing run');
    if (p.maxMessageBytes !== h.maxMessageBytes) fail('maxMessageBytes changes within a packing run');
    if (prevCont === 1 && p.events.length > 0 && this.last) {
      if (this.last.empty) fail('the packing run goes on in an empty event');
      if (p.events[0].head.unit !== this.last.unit) fail('the packing run goes on with an event of another Name');
    }
  }

  add(p: Parsed, prevCont: number): void {
    if (!this.head) {
      this.head = p;
      this.env = `{"AgentVersion":${str(p.version)},"AgentId":"${uuidText(p.agent)}","MessageSchemaVersion":"${MESSAGE_SCHEMA_VERSION}","Events":[`;
    }
    let i = 0;
    if (prevCont === 1 && p.events.length > 0 && this.last) {
      for (const rec of p.events[0].records) this.item(this.last, rec());
      i = 1;
    }
    for (; i < p.events.length; i++) {
      this.endEvent();
      const e = p.events[i];
      this.last = e.head;
      if (e.head.empty) this.item(e.head, undefined);
      else for (const rec of e.records) this.item(e.head, rec());
    }
    if (p.cont === 0) this.endRun();
  }

  /** Ends the run (one cut off by the end of input is given as it stands). */
  endRun(): void {
    this.endEvent();
    if (this.msgOpen) this.close();
    this.head = undefined;
    this.last = undefined;
  }

  /** One record of event e (undefined: e is an empty event), in the open JSON message or a new one. */
  private item(e: EventHead, rec: string | undefined): void {
    const p = this.head!;
    for (;;) {
      const wasOpen = this.msgOpen;
      const parts: string[] = [];
      if (!this.msgOpen) parts.push(this.env);
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
      return;
    }
  }

  private endEvent(): void {
    if (this.evOpen) { this.parts.push(']}'); this.msgBytes += 2; this.evOpen = false; }
  }

  private header(e: EventHead, agent: Uint8Array): string {
    return `{"EventType":"${e.unit >= 4 ? 'Diagnostic' : 'Security'}","Category":"${e.unit <= 1 || e.unit === 5 ? 'Triggered' : 'Periodic'}",` +
      `"Name":"${NAMES[e.unit]}","IsEmpty":${e.empty}${e.windows !== undefined ? `,"Windows":${num(e.windows)}` : ''},` +
      `"PayloadSchemaVersion":"1.0","Id":"${eventId(agent, this.seq)}","TimestampLocal":"${isoTime(e.t, e.offset)}",` +
      `"TimestampUTC":"${isoTime(e.t)}","Payload":[`;
  }

  private close(): void {
    if (this.evOpen) { this.parts.push(']}'); this.evOpen = false; }
    this.parts.push(']}\n');
    const line = this.parts.join('');
    this.parts = [];
    this.msgOpen = false;
    this.emit(line);
  }
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

/**
 * The package's decoder (`import { decode } from 'microtally'`): a CBOR sequence of messages as
 * the core writes them into the JSON lines `--format json` prints for the same run; throws a
 * DecodeError naming what is wrong and where.
 */
export function decode(bytes: Uint8Array): string { return decodeSequence(bytes); }

/**
 * `microtally decode` as the input arrives: `push` each piece read, `end` at the input's end;
 * each JSON line goes to `emit` as soon as it is complete. Memory holds the unfinished message
 * (at most MAX_MESSAGE_BYTES, in one buffer allocated here) and one JSON line, however long the
 * sequence or its packing runs. After a DecodeError, `abort` emits what the messages before it
 * left open (a packing run), as `end` would have.
 */
export class SequenceDecoder {
  private readonly buf = new Uint8Array(MAX_MESSAGE_BYTES);
  private len = 0;    // bytes of buf in use: the message not yet complete
  private base = 0;   // the input's offset of buf[0]
  private readonly scanner = new ItemScanner();
  private readonly run: JsonRun;
  private cont = 0;

  /** `spans`, when given, gets each record's size (the bench's and the tests' view of the layout). */
  constructor(emit: (text: string) => void, private readonly spans?: RecordSpan[]) {
    this.run = new JsonRun(emit);
  }

  push(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length;) {
      // The scanner refuses a message before it outgrows buf, so there is always room here.
      const n = Math.min(chunk.length - i, this.buf.length - this.len);
      this.buf.set(chunk.subarray(i, i + n), this.len);
      this.len += n;
      i += n;
      this.step();
    }
  }

  end(): void {
    // An unfinished message: the reader names where it ends too soon.
    if (this.len > 0) {
      const r = new Reader(this.buf.subarray(0, this.len), this.base);
      if (this.len > NAMESPACE_HEAD.length) { r.pos = NAMESPACE_HEAD.length; r.item(); }
      throw new DecodeError(`byte ${this.base + this.len}: the input ends inside a data item`);
    }
    this.run.endRun();
  }

  abort(): void { this.run.endRun(); }

  /** Decodes every message now complete in buf, then keeps only the rest (less than what came in). */
  private step(): void {
    let done = 0;
    for (let end; (end = this.scanner.scan(this.buf, this.len, this.base)) >= 0; done = end) {
      const p = parseMessage(this.buf.subarray(done, end), this.base + done, this.spans);
      this.run.check(p, this.cont);
      this.run.add(p, this.cont);
      this.cont = p.cont;
      this.scanner.reset(end);
    }
    if (done === 0) return;
    this.buf.copyWithin(0, done, this.len);
    this.len -= done;
    this.base += done;
    this.scanner.shift(done);
  }
}
