// Randomised traces: the core's records, window by window, must equal the reference model's;
// and over 100,000 mixed events every loss is counted (SPEC R5).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Core, Status } from '../host/core.js';
import { Model, normalise, sendsOf, type Profile } from './model/model.js';
import { asReplay, checkMessages, jsonTexts, parse } from './helpers.js';

const T0 = Date.UTC(2026, 5, 1);
const addrs = ['10.0.0.1', '10.0.0.2', '192.168.1.9', '2001:db8::1', 'fe80::2', '::ffff:10.0.0.3'];
const v4 = addrs.slice(0, 3);
const v6 = addrs.slice(3);

const connection = fc.record({
  kind: fc.constant('connection'),
  proto: fc.constantFrom('tcp', 'udp', 'icmp'),
  dir: fc.constantFrom('in', 'out'),
  v6: fc.boolean(), li: fc.nat(2), ri: fc.nat(2),
  lport: fc.constantFrom(0, 53, 443, 40000, 65535),
  rport: fc.constantFrom(53, 8883),
  bytesIn: fc.nat(5000), bytesOut: fc.nat(5000),
  app: fc.option(fc.constantFrom('dns', 'mqtt'), { nil: undefined }),
  host: fc.option(fc.constantFrom('a.example', 'b.example'), { nil: undefined }),
}).map(({ v6: six, li, ri, ...c }) => ({ ...c, local: (six ? v6 : v4)[li], remote: (six ? v6 : v4)[ri] }));

const processEv = fc.record({
  kind: fc.constant('process'),
  pid: fc.nat(5), ppid: fc.nat(2), uid: fc.constantFrom(0, 1000),
  type: fc.constantFrom('fork', 'exec'),
  cmd: fc.constantFrom('/bin/sh -c backup', '/usr/sbin/cron', 'python3 app.py', 'x'),
  exe: fc.option(fc.constantFrom('/bin/sh', '/usr/sbin/cron'), { nil: undefined }),
  user: fc.option(fc.constantFrom('root', 'app'), { nil: undefined }),
});

const baselineEv = fc.record({
  kind: fc.constant('baseline'),
  id: fc.constantFrom('c1', 'c2', 'c3', 'c4'),
  group: fc.constantFrom('g1', 'g2'),
  result: fc.constantFrom('pass', 'fail', 'error'),
  severity: fc.constantFrom('critical', 'important', 'warning', 'informational'),
  description: fc.constantFrom('d1', 'd2'),
  remediation: fc.constant('r'),
  error: fc.option(fc.constant('e'), { nil: undefined }),
});

const sysEv = fc.record({
  kind: fc.constant('sysinfo'), os: fc.constant('Linux'), osVersion: fc.constantFrom('12', '13'),
  kernel: fc.constant('6.1'), hw: fc.constant('arm'), memTotal: fc.nat(1 << 20),
});

const prio = fc.constantFrom('high', 'medium', 'low');
const configEv = fc.record({
  kind: fc.constant('config'),
  config: fc.record({
    network: fc.record({ enabled: fc.boolean(), aggregation: fc.boolean(), cacheSize: fc.integer({ min: 1, max: 6 }), priority: prio }, { requiredKeys: [] }),
    process: fc.record({ enabled: fc.boolean(), aggregation: fc.boolean(), cacheSize: fc.integer({ min: 1, max: 6 }), priority: prio }, { requiredKeys: [] }),
    baseline: fc.record({ enabled: fc.boolean(), interval: prio, disabledGroups: fc.subarray(['g1', 'g2']), disabledChecks: fc.subarray(['c1', 'c3']) }, { requiredKeys: [] }),
    systemInformation: fc.record({ enabled: fc.boolean(), interval: prio }, { requiredKeys: [] }),
    priorityIntervals: fc.record({ high: fc.integer({ min: 1, max: 20 }), medium: fc.integer({ min: 5, max: 40 }), low: fc.integer({ min: 10, max: 90 }) }, { requiredKeys: [] }),
    sendEmptyWindows: fc.boolean(),
  }, { requiredKeys: [] }),
});

const event = fc.oneof(
  { weight: 10, arbitrary: connection }, { weight: 6, arbitrary: processEv }, { weight: 3, arbitrary: baselineEv },
  { weight: 1, arbitrary: sysEv }, { weight: 1, arbitrary: configEv }, { weight: 1, arbitrary: fc.constant({ kind: 'tick' }) });

const traceArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 12_000 }), event), { minLength: 1, maxLength: 250 }).map((steps) => {
  let t = T0;
  return steps.map(([dt, e]) => { t += dt; return { ...e, t }; });
});

function runCore(profile: Profile, evs: any[]): any[] {
  const core = new Core(profile);
  const messages: string[] = [];
  for (const e of evs) {
    const r = core.ingestLine(JSON.stringify(e));
    expect(r.status, r.reason).toBe(Status.Ok);
    messages.push(...jsonTexts(r.messages));
  }
  messages.push(...jsonTexts(core.finish().messages));
  const parsed = parse(asReplay(messages));
  checkMessages(parsed, profile === 'linux' ? 65536 : 4096);
  return parsed.messages;
}

for (const profile of ['rtos', 'linux'] as const) {
  describe(`core against the reference model (${profile})`, () => {
    it('gives the same records in the same windows for random traces', () => {
      fc.assert(fc.property(traceArb, (evs) => {
        const model = new Model(profile);
        for (const e of evs) model.input(e);
        model.finish();
        expect(sendsOf(runCore(profile, evs))).toEqual(normalise(model.sends));
      }), { numRuns: 150, seed: profile === 'rtos' ? 4242 : 2424 });
    });
  });
}

/** A small deterministic PRNG, so the long run is the same every time. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s + 0x6d2b79f5) >>> 0; let z = s; z = Math.imul(z ^ (z >>> 15), z | 1); z ^= z + Math.imul(z ^ (z >>> 7), z | 61); return ((z ^ (z >>> 14)) >>> 0) / 2 ** 32; };
}

describe('loss accounting over 100,000 events (R5)', () => {
  for (const profile of ['rtos', 'linux'] as const) {
    it(`received = sent hits + discarded + dropped + ignored, ${profile}`, () => {
      const rand = prng(profile === 'rtos' ? 7 : 11);
      const core = new Core(profile);
      const fed = [0, 0];
      const got = [0, 0];
      const lost = [0, 0];
      const collect = (msgs: string[]) => {
        for (const m of msgs) {
          for (const e of JSON.parse(m).Events) {
            if (e.Name === 'ProcessCreate') for (const p of e.Payload) got[0] += p.HitCount;
            if (e.Name === 'ConnectionCreate') for (const p of e.Payload) got[1] += p.HitCount;
            if (e.Name === 'CollectorStats') for (const s of e.Payload) {
              const c = s.Collector === 'process' ? 0 : 1;
              lost[c] += s.Discarded + s.Dropped + s.Ignored;
              expect(s.Received).toBeGreaterThanOrEqual(s.Discarded + s.Dropped + s.Ignored);
            }
          }
        }
      };
      let t = T0;
      for (let i = 0; i < 100_000; i++) {
        // Now and then a quiet spell longer than a window, so empty windows happen too.
        t += rand() < 0.002 ? 40_000 + Math.floor(rand() * 90_000) : Math.floor(rand() * 400);
        const x = rand();
        let line: object;
        if (x < 0.002) {
          line = { kind: 'config', t, config: { network: { enabled: rand() < 0.8, cacheSize: 1 + Math.floor(rand() * 300 % (profile === 'rtos' ? 256 : 1024)),
            aggregation: rand() < 0.9, priority: ['high', 'medium', 'low'][Math.floor(rand() * 3)] },
            process: { enabled: rand() < 0.8, cacheSize: 1 + Math.floor(rand() * 200) }, priorityIntervals: { high: 5, medium: 20, low: 40 },
            sendEmptyWindows: rand() < 0.3 } };
        } else if (x < 0.45) {
          fed[0]++;
          line = { kind: 'process', t, pid: i, ppid: 1, uid: Math.floor(rand() * 3), type: 'exec', cmd: `job-${Math.floor(rand() * 400)}` };
        } else {
          fed[1]++;
          line = { kind: 'connection', t, proto: 'udp', dir: 'out', local: '10.0.0.1', lport: Math.floor(rand() * 600),
            remote: '10.0.0.9', rport: 53, bytesIn: 1, bytesOut: 1 };
        }
        const r = core.ingestLine(JSON.stringify(line));
        expect(r.status).toBe(Status.Ok);
        collect(jsonTexts(r.messages));
      }
      collect(jsonTexts(core.finish().messages));
      const totals = JSON.parse(core.stats());
      for (const [c, name] of [[0, 'process'], [1, 'network']] as const) {
        expect(totals[name].received).toBe(fed[c]);
        expect(got[c] + lost[c]).toBe(fed[c]);
        expect(totals[name].sent).toBe(got[c]);
      }
      // The run must actually have exercised every kind of loss.
      expect(totals.network.dropped + totals.network.discarded).toBeGreaterThan(0);
      expect(totals.network.ignored + totals.process.ignored).toBeGreaterThan(0);
    });
  }
});
