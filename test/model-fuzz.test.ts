// Property-based fuzzing of the core on V8 against the reference model, beyond model.test.ts:
// every input kind arrives both as a trace line and through its typed call (mt_ingest_*,
// mt_configure, mt_tick); time jumps from milliseconds to weeks, and steps back; invalid lines
// and rejected configurations are mixed in and must change nothing; configuration updates
// also move maxMessageBytes (messages split) and the UTC offset; traces are up to 600 inputs.
// Checked: the records, window by window, equal the model's; every message fits the
// maxMessageBytes in force when it was built and passes the schema; and after the end
// received = sent + discarded + dropped + ignored per collector (SPEC R5).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Core, Status, type CallResult } from '../host/core.js';
import { Model, normalise, sendsOf, type Profile } from './model/model.js';
import { asReplay, checkMessages, jsonTexts, parse } from './helpers.js';

const T0 = Date.UTC(2026, 8, 1);
const ADDR: Record<string, number[]> = {
  '10.0.0.1': [10, 0, 0, 1], '10.0.0.2': [10, 0, 0, 2], '192.168.1.9': [192, 168, 1, 9],
  '2001:db8::1': [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  'fe80::2': [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
  '::ffff:10.0.0.3': [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 3],
};
const v4 = Object.keys(ADDR).slice(0, 3);
const v6 = Object.keys(ADDR).slice(3);
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

const connection = fc.record({
  kind: fc.constant('connection'), proto: fc.constantFrom('tcp', 'udp', 'icmp'), dir: fc.constantFrom('in', 'out'),
  v6: fc.boolean(), li: fc.nat(2), ri: fc.nat(2),
  lport: fc.constantFrom(0, 53, 443, 40000, 65535), rport: fc.constantFrom(53, 8883),
  bytesIn: fc.oneof(fc.nat(5000), fc.constant(Number.MAX_SAFE_INTEGER)), bytesOut: fc.nat(5000),
  app: opt(fc.constantFrom('dns', 'mqtt')), host: opt(fc.constantFrom('a.example', 'b.example')),
}).map(({ v6: six, li, ri, ...c }) => ({ ...c, local: (six ? v6 : v4)[li], remote: (six ? v6 : v4)[ri] }));

const processEv = fc.record({
  kind: fc.constant('process'), pid: fc.nat(5), ppid: fc.nat(2), uid: fc.constantFrom(0, 1000),
  type: fc.constantFrom('fork', 'exec'), cmd: fc.constantFrom('/bin/sh -c backup', '/usr/sbin/cron', 'python3 app.py', 'x', 'caf\u00e9 \u2603'),
  exe: opt(fc.constantFrom('/bin/sh', '/usr/sbin/cron')), user: opt(fc.constantFrom('root', 'app')),
});

const baselineEv = fc.record({
  kind: fc.constant('baseline'), id: fc.constantFrom('c1', 'c2', 'c3', 'c4'), group: fc.constantFrom('g1', 'g2'),
  result: fc.constantFrom('pass', 'fail', 'error'), severity: fc.constantFrom('critical', 'important', 'warning', 'informational'),
  description: fc.constantFrom('d1', 'd2'), remediation: fc.constant('r'), error: opt(fc.constant('e')),
});

const sysEv = fc.record({
  kind: fc.constant('sysinfo'), os: fc.constant('Linux'), osVersion: fc.constantFrom('12', '13'),
  kernel: fc.constant('6.1'), hw: fc.constant('arm'), memTotal: fc.nat(1 << 20),
});

const prio = fc.constantFrom('high', 'medium', 'low');
const collector = { enabled: fc.boolean(), aggregation: fc.boolean(), cacheSize: fc.integer({ min: 1, max: 6 }), priority: prio };
// The smallest maxMessageBytes the profile takes (SPEC R6 says 1,024; a profile whose largest
// record needs more says so in its reason).
function minMessage(profile: Profile): number {
  const r = new Core(profile).configure(T0, '{"maxMessageBytes":1024}');
  return r.status === Status.Ok ? 1024 : Number(/from (\d+)/.exec(r.reason ?? '')?.[1]);
}

const configEv = (smallest: number) => fc.record({
  kind: fc.constant('config'),
  config: fc.record({
    network: fc.record(collector, { requiredKeys: [] }),
    process: fc.record(collector, { requiredKeys: [] }),
    baseline: fc.record({ enabled: fc.boolean(), interval: prio, disabledGroups: fc.subarray(['g1', 'g2']), disabledChecks: fc.subarray(['c1', 'c3']) }, { requiredKeys: [] }),
    systemInformation: fc.record({ enabled: fc.boolean(), interval: prio }, { requiredKeys: [] }),
    // At least 5 s: with sendEmptyWindows every elapsed window is an event, so jumps stay short then.
    priorityIntervals: fc.record({ high: fc.integer({ min: 5, max: 20 }), medium: fc.integer({ min: 5, max: 120 }), low: fc.integer({ min: 10, max: 3600 }) }, { requiredKeys: [] }),
    sendEmptyWindows: fc.boolean(),
    maxMessageBytes: fc.constantFrom(smallest, smallest + 500, 4096, 65536),
    utcOffsetMinutes: fc.integer({ min: -720, max: 840 }),
  }, { requiredKeys: [] }),
});

// Inputs the core must reject whole (and the model never sees).
const invalidEv = fc.constantFrom(
  { kind: 'connection', proto: 'sctp', dir: 'in', local: '10.0.0.1', lport: 1, remote: '10.0.0.2', rport: 2, bytesIn: 0, bytesOut: 0 },
  { kind: 'connection', proto: 'tcp', dir: 'in', local: '10.0.0.999', lport: 1, remote: '10.0.0.2', rport: 2, bytesIn: 0, bytesOut: 0 },
  { kind: 'connection', proto: 'tcp', dir: 'in', local: '10.0.0.1', lport: 70000, remote: '10.0.0.2', rport: 2, bytesIn: 0, bytesOut: 0 },
  { kind: 'connection', proto: 'tcp', dir: 'in', local: '10.0.0.1', lport: 1, remote: '10.0.0.2', rport: 2, bytesIn: -1, bytesOut: 0 },
  { kind: 'process', pid: 1, ppid: 1, uid: 0, type: 'spawn', cmd: 'x' },
  { kind: 'baseline', id: 'c1', group: 'g1', result: 'maybe', severity: 'critical', description: 'd', remediation: 'r' },
  { kind: 'weather' },
  { kind: 'config', config: { network: { cacheSize: 0 } } },
  { kind: 'config', config: { maxMessageBytes: 100 } },
  { kind: 'config', config: { sendEmptyWindows: true, nope: 1 } },
  { kind: 'config', config: { priorityIntervals: { high: 0 } } },
).map((e) => ({ ...e, invalid: true }));

const event = (smallest: number) => fc.oneof(
  { weight: 10, arbitrary: connection }, { weight: 6, arbitrary: processEv }, { weight: 3, arbitrary: baselineEv },
  { weight: 1, arbitrary: sysEv }, { weight: 1, arbitrary: configEv(smallest) }, { weight: 1, arbitrary: fc.constant({ kind: 'tick' }) },
  { weight: 1, arbitrary: invalidEv });

// How time moves before an input: mostly small steps, sometimes hours to weeks, sometimes back.
const step = fc.oneof(
  { weight: 30, arbitrary: fc.integer({ min: 0, max: 12_000 }).map((ms) => ({ ms, far: false })) },
  { weight: 2, arbitrary: fc.integer({ min: 60_000, max: 30 * 86_400_000 }).map((ms) => ({ ms, far: true })) },
  { weight: 1, arbitrary: fc.integer({ min: -60_000, max: -1 }).map((ms) => ({ ms, far: false })) });

// Each input goes through the trace-line path or the typed call that means the same.
const traceArb = (smallest: number) => fc.array(fc.tuple(step, event(smallest), fc.boolean()), { minLength: 1, maxLength: 600, size: 'max' }).map((steps) => {
  let t = T0;
  let started = false; // before the first valid input no time is too early
  let emptyWindows = false; // sendEmptyWindows in force: far jumps are shortened to 15 min
  return steps.map(([{ ms, far }, e, typed]) => {
    const dt = far && emptyWindows ? Math.min(ms, 900_000) : ms;
    const at = t + dt;
    const back = dt < 0 && started;
    if (!back && !('invalid' in e)) {
      t = at;
      started = true;
      if (e.kind === 'config' && 'sendEmptyWindows' in (e as any).config) emptyWindows = (e as any).config.sendEmptyWindows;
    }
    return { ...e, t: at, typed, valid: !back && !('invalid' in e) };
  });
});

const bytes = (a: string) => Uint8Array.from(ADDR[a]);

function send(core: Core, e: any): CallResult {
  const { typed, valid, invalid, ...line } = e;
  if (!typed || invalid) return core.ingestLine(JSON.stringify(line));
  switch (e.kind) {
    case 'connection': return core.ingestConnection({ ...line, local: bytes(e.local), remote: bytes(e.remote) });
    case 'process': return core.ingestProcess(line);
    case 'baseline': return core.ingestBaseline(line);
    case 'sysinfo': return core.ingestSysinfo(line);
    case 'config': return core.configure(e.t, JSON.stringify(e.config));
    default: return core.tick(e.t);
  }
}

function run(profile: Profile, evs: any[]): { messages: any[]; stats: any } {
  const core = new Core(profile);
  let limit = profile === 'linux' ? 65536 : 4096;
  const lines: string[] = [];
  const take = (r: CallResult, max: number) => {
    const texts = jsonTexts(r.messages);
    for (const m of texts) expect(Buffer.byteLength(m), 'message size').toBeLessThanOrEqual(max);
    lines.push(...texts);
  };
  for (const e of evs) {
    const r = send(core, e);
    expect(r.status, `${JSON.stringify(e)}: ${r.reason ?? ''}`).toBe(e.valid ? Status.Ok : Status.Skipped);
    take(r, limit); // what a configuration change sends is built under the old configuration
    if (e.valid && e.kind === 'config' && e.config.maxMessageBytes !== undefined) limit = e.config.maxMessageBytes;
  }
  take(core.finish(), limit);
  const parsed = parse(asReplay(lines));
  checkMessages(parsed, 262144);
  return { messages: parsed.messages, stats: JSON.parse(core.stats()) };
}

for (const profile of ['rtos', 'linux'] as const) {
  describe(`core on V8 against the reference model, typed and line inputs, time jumps, rejected inputs (${profile})`, () => {
    it('gives the same records in the same windows, and conserves every event', () => {
      const smallest = minMessage(profile);
      expect(smallest).toBeGreaterThanOrEqual(1024);
      fc.assert(fc.property(traceArb(smallest), (evs) => {
        const model = new Model(profile);
        for (const e of evs) if (e.valid) model.input(e);
        model.finish();
        const { messages, stats } = run(profile, evs);
        expect(sendsOf(messages)).toEqual(normalise(model.sends));
        for (const c of ['process', 'network']) {
          const s = stats[c];
          expect(s.received, c).toBe(s.sent + s.discarded + s.dropped + s.ignored);
        }
        expect(stats.skipped).toBe(evs.filter((e) => !e.valid).length);
      }), { numRuns: 60, seed: profile === 'rtos' ? 90210 : 10029 });
    });
  });
}
