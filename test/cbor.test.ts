// The compact encoding (SPEC R8, docs/CBOR.md): `replay --format cbor | microtally decode` must
// print exactly what `replay --format json` prints, on every engine, for the shared traces and
// for random ones; every CBOR message must be well formed in the deterministic (shortest)
// encoding the layout promises, fit maxMessageBytes, and be the same bytes on every engine.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Core } from '../host/core.js';
import { decodeSequence, ipText, type RecordSpan } from '../host/decode.js';
import type { ReplayOptions } from '../host/engine.js';
import { conn, config, engine, engineNames, parse, checkMessages, root, T0, trace, tick, proc, base, sys, itOnEngines } from './helpers.js';
import { longLines, mixed, oddBytes, overflow, splitting } from './firmware/traces.js';

const cli = `${root}bin/microtally.js`;

/**
 * Walks one CBOR data item and checks what docs/CBOR.md promises of its encoding: every head
 * in its shortest form, maps definite with ascending unsigned keys below 24, indefinite
 * length only for arrays (Events and Payload), tag 256 only around the message (`top`) and
 * tag 25 only on an unsigned integer inside it. Returns the offset after the item.
 */
function wellFormed(b: Uint8Array, at: number, top = false): number {
  if (top) {
    expect([...b.subarray(at, at + 3)], `tag 256 at ${at}`).toEqual([0xd9, 0x01, 0x00]);
    expect(b[at + 3] >> 5, `a map in tag 256 at ${at}`).toBe(5);
    return wellFormed(b, at + 3);
  }
  if (b[at] >> 5 === 6) {
    expect([b[at], b[at + 1]], `only tag 25 inside a message, at ${at}`).toEqual([0xd8, 0x19]);
    expect(b[at + 2] >> 5, `tag 25 on an unsigned integer at ${at}`).toBe(0);
    return wellFormed(b, at + 2);
  }
  const ib = b[at];
  const major = ib >> 5, info = ib & 31;
  let p = at + 1;
  let arg = BigInt(info);
  if (info === 31) {
    expect(major, `indefinite length at ${at}`).toBe(4);
    while (b[p] !== 0xff) { expect(p).toBeLessThan(b.length); p = wellFormed(b, p); }
    return p + 1;
  }
  if (major === 7) { expect([0xf4, 0xf5], `simple value at ${at}`).toContain(ib); return p; }
  if (info >= 24) {
    const n = [1, 2, 4, 8][info - 24];
    expect(n, `reserved additional information at ${at}`).toBeDefined();
    arg = 0n;
    for (let i = 0; i < n; i++) arg = (arg << 8n) | BigInt(b[p + i]);
    p += n;
    const smallest = arg < 24n ? 0 : arg < 0x100n ? 1 : arg < 0x10000n ? 2 : arg < 0x100000000n ? 4 : 8;
    expect(n, `head at ${at} not in its shortest form`).toBe(smallest);
  }
  if (major === 2 || major === 3) return p + Number(arg);
  if (major === 4) { for (let i = 0; i < Number(arg); i++) p = wellFormed(b, p); return p; }
  if (major === 5) {
    let last = -1;
    for (let i = 0; i < Number(arg); i++) {
      expect(b[p] >> 5, `map key at ${p}`).toBe(0);
      expect(b[p], `map key at ${p}`).toBeLessThan(24);
      expect(b[p], `map keys ascending at ${p}`).toBeGreaterThan(last);
      last = b[p];
      p = wellFormed(b, wellFormed(b, p));
    }
    return p;
  }
  return p;
}

/** The messages of a CBOR sequence, each checked with wellFormed. */
function items(seq: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < seq.length;) {
    const end = wellFormed(seq, at, true);
    expect(end).toBeLessThanOrEqual(seq.length);
    out.push(seq.subarray(at, end));
    at = end;
  }
  return out;
}

/**
 * On every engine: the JSON run and the CBOR run; CBOR bytes equal V8's, decode(CBOR) equals
 * the JSON output, stderr and exit status do not depend on the format. Returns V8's JSON run.
 */
async function sameEverywhere(bytes: Uint8Array, options: ReplayOptions, maxMessageBytes: number) {
  const names = engineNames();
  const runs = await Promise.all(names.map(async (n) => {
    const e = await engine(n);
    return [await e.replay(bytes, options), await e.replay(bytes, { ...options, format: 'cbor' })] as const;
  }));
  const [json8, cbor8] = runs[0];
  for (const [i, [json, cbor]] of runs.entries()) {
    const who = names[i];
    expect(Buffer.from(cbor.stdoutBytes).equals(Buffer.from(cbor8.stdoutBytes)), `${who}: CBOR bytes as V8's`).toBe(true);
    expect(json.stdout, `${who}: JSON as V8's`).toBe(json8.stdout);
    expect(decodeSequence(cbor.stdoutBytes), `${who}: decoded CBOR`).toBe(json.stdout);
    expect(cbor.stderr, `${who}: stderr`).toBe(json.stderr);
    expect(cbor.exitCode, `${who}: exit status`).toBe(json.exitCode);
  }
  const messages = items(cbor8.stdoutBytes);
  const r = parse(json8);
  // CBOR messages fill up later: never more of them than JSON ones.
  expect(messages.length).toBeLessThanOrEqual(r.messages.length);
  for (const m of messages) expect(m.length).toBeLessThanOrEqual(maxMessageBytes);
  checkMessages(r, maxMessageBytes);
  return { json: r, cbor: cbor8.stdoutBytes, messages };
}

describe('replay --format cbor | decode == replay --format json, on every engine', () => {
  const shared = [
    { name: 'examples/gateway.jsonl', bytes: readFileSync(`${root}examples/gateway.jsonl`) },
    mixed(7, 1500), overflow(300), longLines(4096), oddBytes(), splitting(),
  ];
  for (const profile of ['rtos', 'linux'] as const) {
    for (const t of shared) {
      itOnEngines(`${t.name} (${profile})`, async () => {
        const { json, cbor } = await sameEverywhere(t.bytes, { profile }, t.name.startsWith('mixed') ? (profile === 'rtos' ? 8192 : 65536) : (profile === 'rtos' ? 4096 : 65536));
        if (json.messages.length > 0) expect(cbor.length).toBeLessThan(Buffer.byteLength(json.stdout));
      }, 300_000);
    }
  }

  itOnEngines('with block packing, a UTC offset, empty windows and a format switch in the trace', async () => {
    // The same trace twice: switching messageFormat at two configuration updates, and with
    // empty updates there (which send and restart windows just the same).
    const build = (switching: boolean) => {
      const lines = [config(T0, { maxPackingDelay: 120, utcOffsetMinutes: -330, sendEmptyWindows: true })];
      for (let i = 0; i < 300; i++) {
        const t = T0 + i * 1700;
        lines.push(conn(t, { lport: 40000 + (i % 9), host: i % 3 ? 'hub.example' : 'other.example', app: 'mqtt' }));
        if (i % 50 === 0) lines.push(base(t, { id: `c${i % 4}` }), sys(t));
        if (i % 40 === 0) lines.push(proc(t, { cmd: `/bin/job ${i % 3}` }));
        if (i === 150) lines.push(config(t, switching ? { messageFormat: 'cbor' } : {}));
        if (i === 220) lines.push(config(t, switching ? { messageFormat: 'json' } : {}));
      }
      lines.push(tick(T0 + 3_600_000));
      return Buffer.from(trace(...lines));
    };
    for (const profile of ['rtos', 'linux'] as const) {
      const names = engineNames();
      const runs = await Promise.all(names.map(async (n) => (await engine(n)).replay(build(true), { profile, format: 'cbor' })));
      for (const [i, r] of runs.entries()) {
        expect(Buffer.from(r.stdoutBytes).equals(Buffer.from(runs[0].stdoutBytes)), names[i]).toBe(true);
      }
      // CBOR up to the switch back (the send before it included), JSON lines after it.
      const out = Buffer.from(runs[0].stdoutBytes);
      const firstJson = out.indexOf('{"AgentVersion"');
      expect(firstJson).toBeGreaterThan(0);
      const reference = (await (await engine('v8')).replay(build(false), { profile })).stdout;
      const decoded = decodeSequence(out.subarray(0, firstJson));
      expect(reference.startsWith(decoded)).toBe(true);
      // After the switch the core numbers events on from the CBOR run's count: only the ids differ.
      const noIds = (s: string) => s.replace(/"Id":"[0-9a-f-]{36}"/g, '"Id":""');
      expect(noIds(out.subarray(firstJson).toString('utf8'))).toBe(noIds(reference.slice(decoded.length)));
      expect(parse({ ...runs[0], stdout: reference }).messages.length).toBeGreaterThanOrEqual(3);
    }
  }, 300_000);
});

// Random traces: every input kind, time jumps, maxMessageBytes and packing changes, on V8
// (many) and on the other engines (a few of them, they start a process per run).
const ADDR = ['10.0.0.1', '192.168.1.9', '2001:db8::1', 'fe80::2', '::ffff:10.0.0.3', '::'];
const lineArb = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('connection'), proto: fc.constantFrom('tcp', 'udp', 'icmp'), dir: fc.constantFrom('in', 'out'),
    local: fc.constantFrom(...ADDR), remote: fc.constantFrom(...ADDR), lport: fc.constantFrom(0, 23, 24, 255, 256, 65535), rport: fc.constantFrom(53, 8883),
    bytesIn: fc.oneof(fc.nat(70000), fc.constant(Number.MAX_SAFE_INTEGER)), bytesOut: fc.nat(5_000_000),
    app: fc.option(fc.constantFrom('dns', 'mqtt'), { nil: undefined }), host: fc.option(fc.constantFrom('a.example', 'b.example', 'ü"\\\t'), { nil: undefined }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('process'), pid: fc.nat(1 << 20), ppid: fc.nat(5), uid: fc.constantFrom(0, 1000, 4294967295),
    type: fc.constantFrom('fork', 'exec'), cmd: fc.constantFrom('/bin/sh -c x', 'caf\u00e9', 'a'.repeat(30)),
    exe: fc.option(fc.constantFrom('/bin/sh'), { nil: undefined }), user: fc.option(fc.constantFrom('root'), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('baseline'), id: fc.constantFrom('c1', 'c2'), group: fc.constantFrom('g1', 'g2'),
    result: fc.constantFrom('pass', 'fail', 'error'), severity: fc.constantFrom('critical', 'important', 'warning', 'informational'),
    description: fc.constant('d'), remediation: fc.constant('r'), error: fc.option(fc.constant('e'), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sysinfo'), os: fc.constant('Linux'), osVersion: fc.constant('12'), kernel: fc.constant('6.1'),
    hw: fc.constant('arm'), memTotal: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('config'), config: fc.record({
    maxPackingDelay: fc.constantFrom(0, 5, 60, 600), maxMessageBytes: fc.constantFrom(2048, 4096), sendEmptyWindows: fc.boolean(),
    utcOffsetMinutes: fc.integer({ min: -60, max: 60 }),
    network: fc.record({ priority: fc.constantFrom('high', 'medium', 'low'), aggregation: fc.boolean() }, { requiredKeys: [] }),
    priorityIntervals: fc.record({ high: fc.integer({ min: 1, max: 20 }), medium: fc.integer({ min: 5, max: 60 }) }, { requiredKeys: [] }),
  }, { requiredKeys: [] }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'tick' }) },
);
const traceArb = fc.array(fc.tuple(fc.oneof({ weight: 20, arbitrary: fc.nat(8000) }, { weight: 1, arbitrary: fc.nat(4 * 3_600_000) }), lineArb),
  { minLength: 1, maxLength: 300 }).map((steps) => {
  let t = T0;
  return Buffer.from(steps.map(([dt, e]) => JSON.stringify({ ...e, t: (t += dt) })).join('\n') + '\n');
});

describe('random traces', () => {
  it('decode(CBOR) == JSON on V8, both profiles', async () => {
    const v8 = await engine('v8');
    await fc.assert(fc.asyncProperty(traceArb, fc.constantFrom('rtos', 'linux'), async (bytes, profile) => {
      const json = await v8.replay(bytes, { profile: profile as 'rtos' });
      const cbor = await v8.replay(bytes, { profile: profile as 'rtos', format: 'cbor' });
      items(cbor.stdoutBytes);
      expect(decodeSequence(cbor.stdoutBytes)).toBe(json.stdout);
    }), { numRuns: 150, seed: 14 });
  }, 300_000);

  itOnEngines('the same bytes on every built engine', async () => {
    const samples = fc.sample(traceArb, { numRuns: 6, seed: 41 });
    for (const bytes of samples) await sameEverywhere(bytes, { profile: 'rtos' }, 4096);
  }, 600_000);
});

describe('the layout (docs/CBOR.md)', () => {
  it('a repeated address, host name or application protocol is written once per message, then referred to', () => {
    const core = new Core('rtos');
    core.setFormat('cbor');
    const lines = Array.from({ length: 8 }, (_, i) => conn(T0 + i, { lport: 1000 + i, host: 'contoso-hub.azure-devices.net', app: 'mqtt' }));
    const msgs = [...lines.flatMap((l) => core.ingestLine(l).messages), ...core.finish().messages];
    const all = Buffer.concat(msgs.map((m) => Buffer.from(m as Uint8Array)));
    const count = (s: Buffer) => { let n = 0; for (let at = all.indexOf(s); at >= 0; at = all.indexOf(s, at + 1)) n++; return n; };
    expect(count(Buffer.from('contoso-hub.azure-devices.net'))).toBe(1);
    expect(count(Buffer.from('mqtt'))).toBe(1);
    expect(count(Buffer.from([0x44, 10, 0, 0, 2]))).toBe(1);   // 10.0.0.2 as a 4-byte string
    const spans: RecordSpan[] = [];
    const json = decodeSequence(all, spans);
    expect(msgs).toHaveLength(1);
    expect(JSON.parse(json).Events[0].Payload).toHaveLength(8);
    // After the first, a record is a handful of bytes: IPv4 addresses and names by reference
    // (each a 3-byte tag 25 reference: 2 bytes more than the untagged numbers of schema 1.0).
    expect(Math.max(...spans.slice(1).map((s) => s.bytes))).toBeLessThanOrEqual(38);
    expect(count(Buffer.from([0xd8, 0x19]))).toBeGreaterThanOrEqual(7 * 4);
  });

  it('a name with the bytes of an earlier address (or the reverse) is written in full, not referred to', () => {
    for (const profile of ['rtos', 'linux'] as const) {
      // 104.116.116.112 is "http" as four bytes; "::ffff:" then 10 more bytes make a 16-byte IPv6 twin.
      const v6 = '0123456789abcdef';
      const v6Address = Buffer.from(v6).toString('hex').match(/.{4}/g)!.join(':');
      const lines = [
        conn(T0, { remote: '104.116.116.112' }), conn(T0 + 1, { lport: 2, app: 'http' }),
        conn(T0 + 2, { lport: 3, host: v6 }), conn(T0 + 3, { lport: 4, remote: v6Address }),
      ];
      const json = new Core(profile);
      const cbor = new Core(profile);
      cbor.setFormat('cbor');
      const run = (c: Core) => [...lines.flatMap((l) => c.ingestLine(l).messages), ...c.finish().messages];
      const expected = run(json).join('\n') + '\n';
      expect(expected).toContain('"ApplicationProtocol":"http"');
      expect(expected).toContain(`"RemoteAddress":"${v6Address}"`);
      expect(decodeSequence(Buffer.concat(run(cbor).map((m) => Buffer.from(m as Uint8Array))))).toBe(expected);
    }
  });

  it('addresses print as the core prints them (RFC 5952, IPv4-mapped)', () => {
    const v6 = (...g: number[]) => Uint8Array.from(g.flatMap((x) => [x >> 8, x & 255]));
    expect(ipText(Uint8Array.from([10, 0, 0, 1]))).toBe('10.0.0.1');
    expect(ipText(v6(0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0003))).toBe('::ffff:10.0.0.3');
    expect(ipText(v6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1))).toBe('2001:db8::1:0:0:1');
    expect(ipText(v6(0, 0, 0, 0, 0, 0, 0, 0))).toBe('::');
    expect(ipText(v6(0xfe80, 0, 0, 0, 0, 0, 0, 2))).toBe('fe80::2');
    expect(ipText(v6(1, 0, 2, 3, 4, 5, 6, 7))).toBe('1:0:2:3:4:5:6:7');
  });

  it('the CBOR dictionary lies above the parser member table in the output area', () => {
    // cbor.ts: the dictionary takes the output area's last DICTIONARY_BYTES; json.ts keeps
    // JSON_MEMBERS * 16 bytes of member table at its start while a line is parsed.
    const src = readFileSync(`${root}assembly/cbor.ts`, 'utf8') + readFileSync(`${root}assembly/profile.ts`, 'utf8');
    const num = (re: RegExp) => re.exec(src)!.slice(1, 3).map(Number);
    const [dictLinux, dictRtos] = num(/DICTIONARY_BYTES: i32 = P\.LINUX \? (\d+) : (\d+)/);
    const [outLinux, outRtos] = num(/OUTPUT_CAP: i32 = LINUX \? (\d+) : (\d+)/);
    const [memLinux, memRtos] = num(/JSON_MEMBERS: i32 = LINUX \? (\d+) : (\d+)/);
    expect(memRtos * 16).toBeLessThanOrEqual(outRtos + 8 - dictRtos);
    expect(memLinux * 16).toBeLessThanOrEqual(outLinux + 8 - dictLinux);
    // and a stats line (written there between sends) stays below it
    const core = new Core('rtos');
    expect(Buffer.byteLength(core.stats().replace(/\d+/g, '18446744073709551615'))).toBeLessThanOrEqual(outRtos + 8 - dictRtos);
  });
});

describe('microtally decode', () => {
  it('reads a file or stdin and prints the JSON lines', () => {
    const json = execFileSync('node', [cli, 'replay', `${root}examples/gateway.jsonl`], { encoding: 'utf8' });
    const cbor = execFileSync('node', [cli, 'replay', `${root}examples/gateway.jsonl`, '--format', 'cbor']);
    expect(execFileSync('node', [cli, 'decode', '-'], { input: cbor, encoding: 'utf8' })).toBe(json);
  });

  it('reports malformed input with its offset, after printing what came before, and exits 1', () => {
    const cbor = execFileSync('node', [cli, 'replay', `${root}examples/gateway.jsonl`, '--format', 'cbor']);
    const first = items(cbor)[0].length;
    const r = spawnSync('node', [cli, 'decode'], { input: Buffer.concat([cbor.subarray(0, first), Buffer.from([0xd9, 0x01, 0x00, 0xa4, 0x00])]), encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout.split('\n')).toHaveLength(2);
    expect(r.stderr).toMatch(new RegExp(`^microtally: decode: byte ${first + 5}: the input ends inside a data item\\n$`));
    const bad = spawnSync('node', [cli, 'decode', '-'], { input: Buffer.from([0x60]), encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('microtally: decode: message at byte 0: not tag 256 (a stringref namespace) around a map\n');
  });

  it('streams: each message is printed once read, before the input ends, also when it arrives in pieces', async () => {
    const json = execFileSync('node', [cli, 'replay', `${root}examples/gateway.jsonl`], { encoding: 'utf8' });
    const cbor = execFileSync('node', [cli, 'replay', `${root}examples/gateway.jsonl`, '--format', 'cbor']);
    const parts = items(cbor);
    expect(parts.length).toBeGreaterThan(1);
    const firstLine = json.slice(0, json.indexOf('\n') + 1);
    const child = spawn('node', [cli, 'decode', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const until = async (ok: () => boolean) => {
      const end = Date.now() + 20_000;
      while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    };
    // The first message, then half of the second: the first line comes out, nothing more.
    const second = parts[1];
    child.stdin.write(parts[0]);
    child.stdin.write(second.subarray(0, second.length >> 1));
    await until(() => out.length >= firstLine.length);
    expect(out).toBe(firstLine);
    // The rest of the second message, byte by byte in two writes, then everything else.
    child.stdin.write(second.subarray(second.length >> 1, (second.length >> 1) + 1));
    child.stdin.write(second.subarray((second.length >> 1) + 1));
    child.stdin.end(Buffer.concat(parts.slice(2)));
    // 'close', not 'exit': output may still be in the pipe when the process has exited.
    const code = await new Promise((r) => child.on('close', r));
    expect([code, err]).toEqual([0, '']);
    expect(out).toBe(json);
  });

  it('an output error exits 74 with one line naming it', () => {
    const cbor = execFileSync('node', [cli, 'replay', `${root}examples/gateway.jsonl`, '--format', 'cbor']);
    const r = spawnSync('sh', ['-c', `node ${cli} decode - > /dev/full`], { input: cbor, encoding: 'utf8' });
    expect(r.status).toBe(74);
    expect(r.stderr).toMatch(/^microtally: cannot write stdout: ENOSPC \(no space left on device\)\n$/);
  });

  it('refuses an unknown format, and extra arguments', () => {
    expect(spawnSync('node', [cli, 'replay', '-', '--format', 'xml'], { input: '' }).status).toBe(2);
    expect(spawnSync('node', [cli, 'decode', 'a', 'b']).status).toBe(2);
    expect(spawnSync('node', [cli, 'decode', '/nonexistent/x']).status).toBe(74);
  });
});
