// `microtally decode` on hostile input (docs/CBOR.md, "What decode accepts"): every value past
// the layout's bounds is refused in one line with exit status 1, what it prints is always one
// valid JSON message per line, and memory and time stay bounded however the input is made.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DecodeError, ENVELOPE_MAX, MAX_DEPTH, MAX_MESSAGE_BYTES, MAX_TIME, MAX_UTC_OFFSET_MIN, SequenceDecoder, STATS_MAX_RECORD, TEXT_CAPS } from '../host/decode.js';
import { root } from './helpers.js';

const cli = `${root}bin/microtally.js`;

// ---- a small CBOR writer for hand-made messages ------------------------------------------

class Indefinite { constructor(readonly items: Cbor[]) {} }
/** A string reference (tag 25) to entry i of the message's stringref table. */
class Ref { constructor(readonly i: number) {} }
type Cbor = number | bigint | Uint8Array | string | boolean | Cbor[] | Map<number, Cbor> | Indefinite | Ref;

function head(major: number, v: number | bigint): number[] {
  const n = BigInt(v);
  const m = major << 5;
  if (n < 24n) return [m | Number(n)];
  const size = n < 0x100n ? 1 : n < 0x10000n ? 2 : n < 0x100000000n ? 4 : 8;
  const out = [m | (size === 1 ? 24 : size === 2 ? 25 : size === 4 ? 26 : 27)];
  for (let i = size - 1; i >= 0; i--) out.push(Number((n >> BigInt(8 * i)) & 0xffn));
  return out;
}

function cbor(v: Cbor): Buffer {
  if (typeof v === 'number' || typeof v === 'bigint') return Buffer.from(v < 0 ? head(1, -1n - BigInt(v)) : head(0, v));
  if (typeof v === 'boolean') return Buffer.from([v ? 0xf5 : 0xf4]);
  if (typeof v === 'string') { const b = Buffer.from(v); return Buffer.concat([Buffer.from(head(3, b.length)), b]); }
  if (v instanceof Uint8Array) return Buffer.concat([Buffer.from(head(2, v.length)), v]);
  if (v instanceof Ref) return Buffer.from([0xd8, 0x19, ...head(0, v.i)]);
  if (v instanceof Indefinite) return Buffer.concat([Buffer.from([0x9f]), ...v.items.map(cbor), Buffer.from([0xff])]);
  if (Array.isArray(v)) return Buffer.concat([Buffer.from(head(4, v.length)), ...v.map(cbor)]);
  return Buffer.concat([Buffer.from(head(5, v.size)), ...[...v].flatMap(([k, x]) => [cbor(k), cbor(x)])]);
}

/** A map from an object's integer keys (ascending, as JavaScript orders them); undefined leaves a key out. */
const map = (o: Record<number, Cbor | undefined>) => new Map(Object.entries(o).filter(([, x]) => x !== undefined).map(([k, x]) => [Number(k), x as Cbor]));

const T = Date.UTC(2026, 0, 1);
const AGENT = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const ID = new Uint8Array(16).fill(7);
const ip4 = (...a: number[]) => Uint8Array.from(a);

const connection = (o: Record<number, Cbor | undefined> = {}) => map({ 0: ip4(10, 0, 0, 1), 1: 1883, 2: ip4(10, 0, 0, 2), 3: 443, 8: 0, ...o });
const processRecord = (o: Record<number, Cbor | undefined> = {}) => map({ 0: 10, 1: 1, 2: 0, 3: 'sh -c true', 8: 0, ...o });
const stats = (o: Record<number, Cbor | undefined> = {}) => map({ 0: 0, 1: 1, 2: 0, 3: 0, 4: 0, 5: '[]', ...o });
const event = (unit: number, records: Cbor[], o: Record<number, Cbor | undefined> = {}) =>
  map({ 0: unit, 1: ID, 2: 0, 6: new Indefinite(records), ...o });
// A message is tag 256 (a stringref namespace) around its map; its table starts with the
// AgentVersion (0), the AgentId (1) and the first event's Id (2).
const message = (events: Cbor[], o: Record<number, Cbor | undefined> = {}) =>
  Buffer.concat([Buffer.from([0xd9, 0x01, 0x00]), cbor(map({ 0: '0.1.0', 1: AGENT, 2: T, 3: 4096, 4: new Indefinite(events), 5: 0, ...o }))]);
const NOT_A_MESSAGE = 'not tag 256 \\(a stringref namespace\\) around a map';

function decode(input: Uint8Array) {
  const r = spawnSync('node', [cli, 'decode', '-'], { input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Whatever decode printed: one JSON message per line, each with the envelope's keys first. */
function wellFormedLines(stdout: string): any[] {
  if (stdout === '') return [];
  expect(stdout.endsWith('\n')).toBe(true);
  return stdout.slice(0, -1).split('\n').map((l) => {
    const m = JSON.parse(l);
    expect(Object.keys(m)).toEqual(['AgentVersion', 'AgentId', 'MessageSchemaVersion', 'Events']);
    return m;
  });
}

/** Refused: exit status 1, one line on stderr naming `what`, nothing of the message printed (`before`: the lines of those before it). */
function refused(input: Uint8Array, what: RegExp, before = 0) {
  const r = decode(input);
  expect(r.stderr).toMatch(/^microtally: decode: [^\n]+\n$/);
  expect(r.stderr).toMatch(what);
  expect(r.status).toBe(1);
  expect(wellFormedLines(r.stdout)).toHaveLength(before);
}

describe('decode refuses forged and out-of-range values (one line, exit 1)', () => {
  it('a hand-made message within the bounds decodes (the cases below change one value of it)', () => {
    const r = decode(Buffer.concat([
      message([event(1, [connection({ 11: 'hub' }), connection({ 0: new Ref(3), 1: 65535, 2: ip4(10, 0, 0, 3), 3: 0, 11: new Ref(5) })])]),
      message([event(0, [processRecord({ 3: 'x'.repeat(1024), 9: 5, 10: '/bin/sh', 11: 'root' })]), event(4, [stats({ 5: '["a\\nb"]' })])],
        { 2: MAX_TIME - 5 }),
    ]));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [conn, proc] = wellFormedLines(r.stdout);
    expect(conn.Events[0].Payload.map((p: any) => [p.LocalAddress, p.LocalPort, p.RemoteAddress, p.ExtraDetails.HostName]))
      .toEqual([['10.0.0.1', 1883, '10.0.0.2', 'hub'], ['10.0.0.1', 65535, '10.0.0.3', 'hub']]);
    expect(proc.Events[0].Payload[0].LastSeenUTC).toBe('9999-12-31T23:59:59.999Z');
    expect(proc.Events[1].Payload[0].Warnings).toEqual(['a\nb']);
  });

  it('Warnings text with newlines can neither split a message into lines nor forge one', () => {
    const forged = '{"AgentVersion":"forged","AgentId":"00000000-0000-0000-0000-000000000000","MessageSchemaVersion":"1.0","Events":[]}';
    refused(message([event(4, [stats({ 5: `["x",\n${forged}\n]` })])]), /Warnings/);
    refused(message([event(4, [stats({ 5: '[\n"x"]' })])]), /Warnings/);
    refused(message([event(4, [stats({ 5: '["x",1]' })])]), /Warnings/);
  });

  it('a string reference past the table, of the wrong kind, or in the old untagged form is refused', () => {
    refused(message([event(0, [processRecord({ 3: new Ref(3) })])]), /byte \d+: a string reference \(tag 25\) to string 3, of 3 in the table/);
    refused(message([event(1, [connection({ 11: new Ref(3) })])]), /HostName \(key 11\) refers to a string of the wrong kind/);
    refused(message([event(1, [connection({ 0: new Ref(0) })])]), /LocalAddress \(key 0\) refers to a string of the wrong kind/);
    refused(message([event(0, [processRecord({ 3: 0 })])]), /CommandLine \(key 3\) is an integer: a string reference is tag 25/);
    refused(message([event(1, [connection({ 11: -3 })])]), /HostName \(key 11\) is an integer/);
    refused(message([event(0, [processRecord({ 10: new Ref(0) })])], { 1: new Ref(0) }), /AgentId \(key 1\) missing or not bytes/);
    refused(message([event(0, [processRecord({ 3: 'abc' })]), event(0, [processRecord({ 3: new Ref(3) })])]).fill(0xd9, 0, 1).fill(0x1a, 1, 2),
      /not tag 256/);
    // Only tag 25 inside a message, and only on an unsigned integer.
    const tagged = (tag: number[], inner: number[]) => {
      const m = message([event(0, [processRecord({ 3: 'abcd' })])]);
      const at = m.indexOf(Buffer.from('abcd')) - 1;
      return Buffer.concat([m.subarray(0, at), Buffer.from([...tag, ...inner]), m.subarray(at + 5)]);
    };
    refused(tagged([0xd8, 0x20], [0x64, 0x61, 0x62, 0x63, 0x64]), /unsupported tag 32/);
    refused(tagged([0xd9, 0x01, 0x00], [0x64, 0x61, 0x62, 0x63, 0x64]), /unsupported tag 256/);
    refused(tagged([0xd8, 0x19], [0x64, 0x61, 0x62, 0x63, 0x64]), /tag 25 \(a string reference\) not on an unsigned integer/);
  });

  it('times past 2^53 ms or past 9999-12-31 are refused', () => {
    refused(message([event(1, [connection()])], { 2: 2n ** 53n }), /message time .*out of range/);
    refused(message([event(1, [connection()])], { 2: MAX_TIME + 1 }), /message time .*out of range/);
    refused(message([event(1, [connection()], { 2: 2 ** 53 })]), /TimestampUTC .*out of range/);
    refused(message([event(1, [connection()], { 2: 1 })], { 2: MAX_TIME }), /TimestampUTC .*out of range/);
    refused(message([event(1, [connection({ 8: -T - 1 })])]), /FirstSeenUTC .*out of range/);
    refused(message([event(1, [connection({ 9: MAX_TIME })])]), /LastSeenUTC .*out of range/);
    refused(message([event(1, [connection({ 9: 2n ** 64n - 1n })])]), /LastSeenUTC .*out of range/);
  });

  it('port 70,000 is refused', () => {
    refused(message([event(1, [connection({ 1: 70000 })])]), /LocalPort \(key 1\) out of range/);
    refused(message([event(1, [connection({ 3: 70000 })])]), /RemotePort \(key 3\) out of range/);
  });

  it('a 5-byte address is refused, written in full or referred to', () => {
    refused(message([event(1, [connection({ 2: ip4(10, 0, 0, 2, 9) })])]), /RemoteAddress \(key 2\) is 5 bytes/);
    refused(message([event(1, [connection({ 0: new Uint8Array(5) })])]), /LocalAddress \(key 0\) is 5 bytes/);
  });

  it('every other bound of the layout holds', () => {
    const cases: [Uint8Array, RegExp][] = [
      [message([event(1, [connection({ 4: 3 })])]), /Protocol \(key 4\) out of range/],
      [message([event(1, [connection({ 4: 8 })])]), /Protocol \(key 4\) out of range/],
      [message([event(1, [connection({ 7: 1 })])]), /HitCount \(key 7\) out of range/],
      [message([event(1, [connection({ 5: 0 })])]), /BytesIn \(key 5\) out of range/],
      [message([event(1, [connection({ 13: 1 })])]), /key 13 is not in the layout/],
      [message([event(0, [processRecord({ 0: 2 ** 32 })])]), /ProcessId \(key 0\) out of range/],
      [message([event(0, [processRecord({ 2: -1 })])]), /UserId \(key 2\) out of range/],
      [message([event(0, [processRecord({ 4: 1 })])]), /Type \(key 4\) out of range/],
      [message([event(2, [map({ 0: 'c', 1: 'g', 2: 3, 3: '', 4: '', 5: '', 6: 0 })])]), /Result \(key 2\) out of range/],
      [message([event(1, [connection()], { 3: 1081 })]), /UTC offset \(key 3\) out of range/],
      [message([event(1, [], { 4: true, 6: undefined, 5: 1 })]), /Windows \(key 5\) out of range/],
      [message([event(1, [connection()], { 5: 2 })]), /Windows \(key 5\) without IsEmpty/],
      [message([event(1, [connection()])], { 3: 1023 }), /maxMessageBytes \(key 3\) out of range/],
      [message([event(1, [connection()])], { 3: 262145 }), /maxMessageBytes \(key 3\) out of range/],
      [message([event(1, Array.from({ length: 80 }, (_, i) => connection({ 1: i })))], { 3: 1024 }), /longer than its maxMessageBytes/],
      [message([event(1, [connection()])], { 7: 0 }), /key 7 is not in the layout/],
      [message([event(0, [processRecord({ 3: 'x'.repeat(1025) })])]), /CommandLine \(key 3\) is 1025 bytes as JSON, more than the core stores \(1024\)/],
      [message([event(0, [processRecord({ 3: '\u0001'.repeat(171) })])]), /CommandLine \(key 3\) is 1026 bytes as JSON/],
      [message([event(0, [processRecord({ 3: 'x'.repeat(600) })]), event(1, [connection({ 11: new Ref(3) })])]), /HostName \(key 11\) is 600 bytes as JSON/],
      [message([event(2, [map({ 0: 'c', 1: 'g', 2: 1, 3: '', 4: 'd'.repeat(513), 5: '', 6: 0 })])]), /Description \(key 4\) is 513 bytes/],
      [message([event(4, [stats({ 5: JSON.stringify(['w'.repeat(STATS_MAX_RECORD)]) })])]), /Warnings/],
      [message([event(1, [connection()])], { 0: '0.1.0-abcdefgh' }), /AgentVersion \(key 0\) makes an envelope of 121 bytes/],
    ];
    for (const [input, what] of cases) refused(input, what);
  });

  it('a packing run cannot change agent, version or maxMessageBytes, nor go on into an empty event', () => {
    const open = message([event(1, [connection()])], { 5: 1 });
    // The run so far is printed as the end of input would have it: one line.
    refused(Buffer.concat([open, message([event(1, [connection()])], { 1: new Uint8Array(16) })]), /AgentId changes within a packing run/, 1);
    refused(Buffer.concat([open, message([event(1, [connection()])], { 0: '0.2.0' })]), /AgentVersion changes within a packing run/, 1);
    refused(Buffer.concat([open, message([event(1, [connection()])], { 3: 8192 })]), /maxMessageBytes changes within a packing run/, 1);
    refused(Buffer.concat([open, message([event(0, [processRecord()])])]), /goes on with an event of another Name/, 1);
    const empty = message([event(1, [], { 4: true, 6: undefined })], { 5: 1 });
    refused(Buffer.concat([empty, message([event(1, [connection()])])]), /goes on in an empty event/, 1);
  });
});

describe('the bounds decode holds input to are the core\'s', () => {
  it('text caps, times, UTC offset, envelope and stats record as in assembly/', () => {
    const src = (f: string) => readFileSync(`${root}assembly/${f}`, 'utf8');
    const linux = (name: string) => Number(new RegExp(`${name}: i32 = LINUX \\? (\\d+)`).exec(src('profile.ts'))![1]);
    const caps: Record<string, string> = {
      CommandLine: 'CMD_CAP', Executable: 'EXE_CAP', UserName: 'USER_CAP', ApplicationProtocol: 'APP_CAP', HostName: 'HOST_CAP',
      CheckId: 'CHECK_ID_CAP', Group: 'GROUP_CAP', Error: 'ERROR_TEXT_CAP', Description: 'DESCRIPTION_CAP',
      Remediation: 'REMEDIATION_CAP', OSName: 'OS_CAP', OSVersion: 'OS_VERSION_CAP', KernelVersion: 'KERNEL_CAP', Hardware: 'HW_CAP',
    };
    // The AgentUpdate record's texts are bounded in update.ts.
    const update = (name: string) => Number(new RegExp(`${name}: i32 = P.LINUX \\? (\\d+)`).exec(src('update.ts'))![1]);
    const updateCaps: Record<string, string> = { FromVersion: 'VERSION_CAP', ToVersion: 'VERSION_CAP', Reason: 'REASON_CAP' };
    expect(Object.keys(TEXT_CAPS).sort()).toEqual([...Object.keys(caps), ...Object.keys(updateCaps)].sort());
    for (const [field, name] of Object.entries(caps)) expect(TEXT_CAPS[field], field).toBe(linux(name));
    for (const [field, name] of Object.entries(updateCaps)) expect(TEXT_CAPS[field], field).toBe(update(name));
    expect(MAX_TIME).toBe(Number(/MAX_TIME: i64 = (\d+)/.exec(src('event.ts'))![1]));
    expect(MAX_UTC_OFFSET_MIN).toBe(Number(/MAX_UTC_OFFSET_MIN = (\d+)/.exec(src('config.ts'))![1]));
    expect(ENVELOPE_MAX).toBe(Number(/ENVELOPE_MAX = (\d+)/.exec(src('limits.ts'))![1]));
    expect(STATS_MAX_RECORD).toBe(Number(/export const MAX_RECORD = (\d+)/.exec(src('collectorstats.ts'))![1]));
    expect(MAX_DEPTH).toBe(5);
    expect(MAX_MESSAGE_BYTES).toBe(Number(/MAX_MESSAGE_LIMIT = (\d+)/.exec(src('config.ts'))![1]));
  });
});

describe('decode on mutated messages of the core', () => {
  it('fails only with a DecodeError, and what it printed before is one valid JSON message per line', () => {
    const seq = execFileSync('node', [cli, 'replay', `${root}examples/gateway.jsonl`, '--format', 'cbor']);
    const mutation = fc.record({
      edits: fc.array(fc.tuple(fc.nat(seq.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      cut: fc.nat(seq.length),
      pieces: fc.integer({ min: 1, max: 7 }),
    });
    let refusedCount = 0;
    fc.assert(fc.property(mutation, ({ edits, cut, pieces }) => {
      const input = Buffer.from(seq.subarray(0, Math.max(cut, 1)));
      for (const [at, v] of edits) if (at < input.length) input[at] = v;
      let out = '';
      const d = new SequenceDecoder((t) => { out += t; });
      try {
        const step = Math.ceil(input.length / pieces);
        for (let i = 0; i < input.length; i += step) d.push(input.subarray(i, i + step));
        d.end();
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        expect(e.message).not.toContain('\n');
        refusedCount++;
        d.abort();
      }
      wellFormedLines(out);
    }), { numRuns: 400, seed: 23 });
    expect(refusedCount).toBeGreaterThan(100);
  }, 120_000);
});

// ---- memory and time on input made to exhaust them ---------------------------------------

const work = mkdtempSync(join(tmpdir(), 'microtally-decode-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
// Loaded into the child: its peak resident set (kB), written on exit.
const probe = join(work, 'rss.cjs');
// The child's own peak RSS and CPU time (user + system), so a loaded machine cannot fail the bounds.
writeFileSync(probe, "process.on('exit', () => { const u = process.resourceUsage(); require('fs').writeFileSync(process.env.MT_RSS_FILE, JSON.stringify({ rss: u.maxRSS, cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000 })); });\n");

const MB = 1 << 20;
const LIMIT_KB = 200 * 1024;
const LIMIT_MS = 10_000;

interface Measured { status: number | null; stdout: string; stderr: string; ms: number; rssKb: number; lines: number; linesBeforeEnd: number; records: number }

/**
 * Runs `decode <arg>` with the RSS probe; `feed` (for stdin) is asked for chunks until the child
 * exits or it returns undefined (then stdin ends). Killed after 30 s, so a defect fails the test.
 * Keeps the first MiB of stdout and counts its lines and its records (`"FirstSeenUTC"`).
 */
async function measure(arg: string, feed?: () => Uint8Array | undefined): Promise<Measured> {
  const rssFile = join(work, `rss-${Math.random().toString(36).slice(2)}`);
  const child = spawn(process.execPath, ['-r', probe, cli, 'decode', arg], {
    stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, MT_RSS_FILE: rssFile },
  });
  if (!feed) child.stdin.end();
  let stdout = '', stderr = '', tail = '', lines = 0, linesBeforeEnd = 0, records = 0, ended = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    const parts = (tail + d).split('\n');
    tail = parts.pop()!;
    for (const l of parts) {
      lines++;
      records += l.split('"FirstSeenUTC"').length - 1;
      if (stdout.length < MB) stdout += l + '\n';
    }
    if (!ended) linesBeforeEnd = lines;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let done = false;
  void exited.then(() => { done = true; });
  if (feed) {
    child.stdin.on('error', () => { /* the child stopped reading: what the test is about */ });
    for (;;) {
      if (done) break;
      const chunk = feed();
      if (chunk === undefined) { ended = true; child.stdin.end(); break; }
      // Backpressure: the next chunk only when the child took this one (or exited).
      if (!child.stdin.write(chunk)) await Promise.race([new Promise((r) => child.stdin.once('drain', r)), exited]);
    }
  }
  const status = await exited;
  clearTimeout(killer);
  if (tail !== '') stdout += tail;   // a line without its newline: wellFormedLines fails on it
  let rssKb = Infinity, ms = Infinity;
  try {
    ({ rss: rssKb, cpuMs: ms } = JSON.parse(readFileSync(rssFile, 'utf8')) as { rss: number; cpuMs: number });
  } catch { /* killed: no figures, so the bounds fail */ }
  return { status, stdout, stderr, ms, rssKb, lines, linesBeforeEnd, records };
}

/** Bounded: a one-line error with exit status 1, under 200 MB of RSS and 10 s of CPU time. */
function bounded(m: Measured, what: RegExp) {
  expect(m.stderr).toMatch(/^microtally: decode: [^\n]+\n$/);
  expect(m.stderr).toMatch(what);
  expect(m.status).toBe(1);
  expect(m.rssKb).toBeLessThan(LIMIT_KB);
  expect(m.ms).toBeLessThan(LIMIT_MS);
  wellFormedLines(m.stdout);
}

/** Endless stdin: the same chunk again and again, after an optional prefix. */
function endless(chunk: Uint8Array, prefix?: Uint8Array): () => Uint8Array {
  let first = prefix;
  return () => { const c = first ?? chunk; first = undefined; return c; };
}

const prefixOfMessage = (o: Record<number, Cbor | undefined> = {}) => {
  // The message up to and with its Events array's opening byte (0x9f), which is then never closed.
  const whole = message([], o);
  return whole.subarray(0, whole.lastIndexOf(0x9f) + 1);
};

describe('decode holds at most one message: memory and time bounded (RSS < 200 MB, < 10 s)', () => {
  it('an endless packing run (its Events 0x9f never closed) on stdin: refused past 262,144 bytes', async () => {
    const events = Buffer.concat(Array.from({ length: 2000 }, () => cbor(event(1, [connection()]))));
    const m = await measure('-', endless(events, prefixOfMessage()));
    bounded(m, /^microtally: decode: message at byte 0: longer than 262144 bytes/);
  }, 60_000);

  it('an endless run of valid messages that go on (continuation 1) streams its lines in bounded memory', async () => {
    const piece = message([event(1, Array.from({ length: 40 }, (_, i) => connection({ 1: i, 11: 'contoso-hub.azure-devices.net' })))], { 5: 1 });
    const batch = Buffer.concat(Array(64).fill(piece));
    let sent = 0;
    const m = await measure('-', () => { if (sent >= 8 * MB) return undefined; sent += batch.length; return batch; });
    expect(m.stderr).toBe('');
    expect(m.status).toBe(0);
    wellFormedLines(m.stdout);
    expect(m.linesBeforeEnd).toBeGreaterThan(1000);   // printed as they fill, not when the run ends
    expect(m.records).toBe(40 * (sent / piece.length));
    expect(m.rssKb).toBeLessThan(LIMIT_KB);
    expect(m.ms).toBeLessThan(LIMIT_MS);
  }, 60_000);

  it('a largest message of records referring to one longest command line: printed in bounded memory and time', async () => {
    const cmd = '\u0001'.repeat(170) + 'xxxx';   // 1,024 bytes as JSON, the cap
    const record = (c: Cbor) => processRecord({ 3: c });
    const frame = message([event(0, [record(cmd)])], { 3: MAX_MESSAGE_BYTES });
    const n = Math.floor((MAX_MESSAGE_BYTES - frame.length) / cbor(record(new Ref(3))).length);
    const input = message([event(0, [record(cmd), ...Array(n).fill(record(new Ref(3)))])], { 3: MAX_MESSAGE_BYTES });
    expect(input.length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    let once = false;
    const m = await measure('-', () => (once ? undefined : (once = true, input)));
    expect(m.stderr).toBe('');
    expect(m.status).toBe(0);
    wellFormedLines(m.stdout);
    expect(m.records).toBe(n + 1);
    expect(m.records).toBeGreaterThan(20_000);
    expect(m.rssKb).toBeLessThan(LIMIT_KB);
    expect(m.ms).toBeLessThan(LIMIT_MS);
  }, 60_000);

  const nestedMaps = () => { const b = Buffer.alloc(17 * MB, 0xa0); b[0] = 0x9f; return b; };

  it('17 MiB of 0x9f and empty maps, from a file: refused at once, not a map', async () => {
    const file = join(work, 'nested.cbor');
    writeFileSync(file, nestedMaps());
    bounded(await measure(file), new RegExp(`^microtally: decode: message at byte 0: ${NOT_A_MESSAGE}\n$`));
  }, 60_000);

  it('17 MiB of 0x9f and empty maps, from stdin: refused at once, not a map', async () => {
    let once = false;
    bounded(await measure('-', () => (once ? undefined : (once = true, nestedMaps()))), new RegExp(`^microtally: decode: message at byte 0: ${NOT_A_MESSAGE}\n$`));
  }, 60_000);

  it('17 MiB of empty maps in a message from stdin: refused past 262,144 bytes', async () => {
    let once = false;
    const input = Buffer.concat([prefixOfMessage(), Buffer.alloc(17 * MB, 0xa0)]);
    bounded(await measure('-', () => (once ? undefined : (once = true, input))), /^microtally: decode: message at byte 0: longer than 262144 bytes/);
  }, 60_000);

  it('0x9f and zeros on endless stdin, bare and inside a message: refused', async () => {
    const zeros = Buffer.alloc(MB);
    bounded(await measure('-', endless(zeros, Buffer.from([0x9f]))), new RegExp(`^microtally: decode: message at byte 0: ${NOT_A_MESSAGE}\n$`));
    bounded(await measure('-', endless(zeros, prefixOfMessage())), /^microtally: decode: message at byte 0: longer than 262144 bytes/);
  }, 60_000);

  it('100,000-deep nesting: a one-line error, exit 1, no stack trace', async () => {
    const deep = (open: number[]) => Buffer.from(Array.from({ length: 100_000 }, (_, i) => open[i % open.length]));
    for (const input of [deep([0x81]), deep([0x9f]), deep([0xa1, 0x00]), Buffer.concat([prefixOfMessage(), deep([0x81])])]) {
      let once = false;
      bounded(await measure('-', () => (once ? undefined : (once = true, input))), new RegExp(`^microtally: decode: (message at byte 0: ${NOT_A_MESSAGE}|byte \\d+: nested deeper than 5 levels[^\n]*)\n$`));
    }
    // Maps in place of the Events array: the one opened at depth 6 is refused where it starts.
    const prefix = prefixOfMessage();
    const inMessage = await measure('-', endless(deep([0xa1, 0x00]), prefix.subarray(0, -1)));
    bounded(inMessage, new RegExp(`^microtally: decode: byte ${prefix.length + 7}: nested deeper than 5 levels`));
  }, 60_000);
});
