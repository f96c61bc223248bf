// CBOR for everyone (SPEC R8, docs/CBOR.md): a standard decoder that implements the stringref
// tags (256, 25) reads the core's messages to the same data `microtally decode` prints. Python's
// cbor2 does (scripts/setup.sh installs it). The Node libraries tried, cbor-x 1.6, cbor 10 and
// cbor2 2 (npm), leave tags 25/256 unresolved, so they are not tested here.
import { spawnSync, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decode as packageDecode } from '../host/index.js';
import { ipText, isoTime } from '../host/decode.js';
import { engine, root } from './helpers.js';
import { mixed } from './firmware/traces.js';

const cli = `${root}bin/microtally.js`;

// Reads a CBOR sequence on stdin with cbor2, prints it as JSON: keys as strings, byte strings as {"$b": hex}.
const PY = `
import sys, json, io, cbor2
data = sys.stdin.buffer.read()
f = io.BytesIO(data)
out = []
def conv(v):
    if isinstance(v, dict): return {str(k): conv(x) for k, x in v.items()}
    if isinstance(v, list): return [conv(x) for x in v]
    if isinstance(v, (bytes, bytearray)): return {"$b": v.hex()}
    if isinstance(v, (str, int, bool)): return v
    raise SystemExit("cbor2 left a %s in the message: %r" % (type(v).__name__, v))
while f.tell() < len(data):
    out.append(conv(cbor2.load(f)))
json.dump(out, sys.stdout)
`;

const cbor2Found = spawnSync('python3', ['-c', 'import cbor2'], { encoding: 'utf8' }).status === 0;

const NAMES = ['ProcessCreate', 'ConnectionCreate', 'Baseline', 'SystemInformation', 'CollectorStats'];
const bytesOf = (v: any) => Uint8Array.from(Buffer.from(v.$b, 'hex'));

/** A record of cbor2's data as the JSON message has it (docs/CBOR.md: the layout's keys, defaults, relative times). */
function record(unit: number, r: any, t: number, version: string): any {
  const seen = () => {
    const first = t + r['8'];
    return { HitCount: r['7'] ?? 1, FirstSeenUTC: isoTime(first), LastSeenUTC: isoTime(first + (r['9'] ?? 0)) };
  };
  const opt = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const truncated = r['12'] ? { Truncated: true } : {};
  if (unit === 0) {
    return opt({ ProcessId: r['0'], ParentProcessId: r['1'], UserId: r['2'], CommandLine: r['3'], Type: r['4'] === 0 ? 'fork' : 'exec',
      ...seen(), Executable: r['10'], UserName: r['11'], ...truncated });
  }
  if (unit === 1) {
    const pd = r['4'] ?? 0;
    const saturated = r['5'] === 2 ** 64 - 1 || r['6'] === 2 ** 64 - 1;
    return opt({ LocalAddress: ipText(bytesOf(r['0'])), LocalPort: r['1'], RemoteAddress: ipText(bytesOf(r['2'])), RemotePort: r['3'],
      Protocol: ['tcp', 'udp', 'icmp'][pd & 3], Direction: pd & 4 ? 'In' : 'Out', BytesIn: r['5'] ?? 0, BytesOut: r['6'] ?? 0, ...seen(),
      ApplicationProtocol: r['10'], ExtraDetails: r['11'] !== undefined ? { HostName: r['11'] } : undefined, ...truncated,
      Saturated: saturated ? true : undefined });
  }
  if (unit === 2) {
    return { CheckId: r['0'], Group: r['1'], Result: r['2'] === 1 ? 'Fail' : 'Error', Error: r['3'], Description: r['4'],
      Remediation: r['5'], Severity: ['Critical', 'Important', 'Warning', 'Informational'][r['6']], ...truncated };
  }
  if (unit === 3) {
    return { OSName: r['0'], OSVersion: r['1'], KernelVersion: r['2'], Hardware: r['3'], TotalMemory: r['4'], AgentVersion: version, ...truncated };
  }
  return { Collector: ['process', 'network', 'baseline', 'transport'][r['0']], Received: r['1'], Discarded: r['2'], Dropped: r['3'],
    Ignored: r['4'], Warnings: JSON.parse(r['5']) };
}

/** The run's events, record by record, from cbor2's messages: [Name, TimestampUTC, record or 'empty']. */
function fromCbor2(messages: any[]): unknown[] {
  const out: unknown[] = [];
  for (const m of messages) {
    for (const e of m['4']) {
      const t = m['2'] + e['2'];
      if (e['4'] === true) out.push([NAMES[e['0']], isoTime(t), 'empty']);
      else for (const r of e['6']) out.push([NAMES[e['0']], isoTime(t), record(e['0'], r, t, m['0'])]);
    }
  }
  return out;
}

/** The same of decode's JSON lines (a run's events may be cut at other places: records compare one by one). */
function fromJson(lines: string): unknown[] {
  const out: unknown[] = [];
  for (const line of lines.trimEnd().split('\n')) {
    for (const e of JSON.parse(line).Events) {
      if (e.IsEmpty) out.push([e.Name, e.TimestampUTC, 'empty']);
      else for (const r of e.Payload) out.push([e.Name, e.TimestampUTC, r]);
    }
  }
  return out;
}

const traces = [
  { name: 'examples/gateway.jsonl', profile: 'rtos' as const, bytes: readFileSync(`${root}examples/gateway.jsonl`) },
  { name: 'examples/gateway.jsonl', profile: 'linux' as const, bytes: readFileSync(`${root}examples/gateway.jsonl`) },
  { ...mixed(7, 1500), profile: 'linux' as const },
];

describe.skipIf(!cbor2Found)(`a standard decoder (Python cbor2) reads the messages${cbor2Found ? '' : ' (skipped: python3 with cbor2 not found; scripts/setup.sh installs it)'}`, () => {
  for (const t of traces) {
    it(`${t.name} (${t.profile}): cbor2's data == what microtally decode prints`, async () => {
      const cbor = (await (await engine('v8')).replay(t.bytes, { profile: t.profile, format: 'cbor' })).stdoutBytes;
      const printed = execFileSync('node', [cli, 'decode', '-'], { input: cbor, encoding: 'utf8' });
      const py = spawnSync('python3', ['-c', PY], { input: cbor, encoding: 'utf8', maxBuffer: 64 << 20 });
      expect(py.stderr).toBe('');
      expect(py.status).toBe(0);
      const viaCbor2 = fromCbor2(JSON.parse(py.stdout));
      expect(viaCbor2.length).toBeGreaterThan(10);
      expect(viaCbor2).toEqual(fromJson(printed));
      // The messages do use references (else this would prove nothing about tags 25/256).
      expect(Buffer.from(cbor).indexOf(Buffer.from([0xd8, 0x19]))).toBeGreaterThan(0);
    }, 120_000);
  }
});

describe('the package exports the decoder', () => {
  it("import { decode } from 'microtally' prints what microtally decode prints", async () => {
    const cbor = (await (await engine('v8')).replay(traces[0].bytes, { profile: 'rtos', format: 'cbor' })).stdoutBytes;
    const json: string = packageDecode(cbor);
    expect(json).toBe(execFileSync('node', [cli, 'decode', '-'], { input: cbor, encoding: 'utf8' }));
    expect(() => packageDecode(Uint8Array.from([0xa0]))).toThrow(/not tag 256/);
  });
});
