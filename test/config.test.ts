// SPEC R6: partial updates merged over the current configuration; an invalid update is
// rejected whole, naming the key, and nothing changes or is sent early.
import { describe, expect, it } from 'vitest';
import { T0, config, conn, events, line, proc, records, replayAll, tick, trace, iso, itOnEngines } from './helpers.js';

const invalid: [string, string, object | string][] = [
  ['malformed JSON', 'invalid JSON', '{"kind":"config","t":T,"config":{"network":}}'],
  ['config not an object', 'field "config": expected an object', { kind: 'config', config: [1] }],
  ['unknown top-level key', 'config.colour: unknown key', { colour: 'red' }],
  ['unknown nested key', 'config.network.cachesize: unknown key', { network: { cachesize: 10 } }],
  ['unknown interval key', 'config.priorityIntervals.urgent: unknown key', { priorityIntervals: { urgent: 1 } }],
  ['wrong type (bool)', 'config.network.enabled: expected true or false', { network: { enabled: 'yes' } }],
  ['wrong type (section)', 'config.process: expected an object', { process: true }],
  ['wrong priority', 'config.process.priority: expected "high", "medium" or "low"', { process: { priority: 'urgent' } }],
  ['interval is not a priority for trigger collectors', 'config.baseline.priority: unknown key', { baseline: { priority: 'low' } }],
  ['cacheSize 0', 'config.network.cacheSize: expected an integer from 1 to 256', { network: { cacheSize: 0 } }],
  ['cacheSize above capacity', 'config.network.cacheSize: expected an integer from 1 to 256', { network: { cacheSize: 257 } }],
  ['fractional cacheSize', 'config.network.cacheSize: expected an integer from 1 to 256', { network: { cacheSize: 2.5 } }],
  ['process cacheSize above 256 on rtos', 'config.process.cacheSize: expected an integer from 1 to 256', { process: { cacheSize: 300 } }],
  ['zero interval', 'config.priorityIntervals.high: expected an integer from 1 to 2678400', { priorityIntervals: { high: 0 } }],
  ['negative interval', 'config.priorityIntervals.low: expected an integer from 1 to 2678400', { priorityIntervals: { low: -60 } }],
  ['interval too long', 'config.priorityIntervals.medium: expected an integer from 1 to 2678400', { priorityIntervals: { medium: 2678401 } }],
  ['maxMessageBytes too small', 'config.maxMessageBytes: expected an integer from 1024 to 262144', { maxMessageBytes: 1023 }],
  ['maxMessageBytes too large', 'config.maxMessageBytes: expected an integer from 1024 to 262144', { maxMessageBytes: 262145 }],
  ['sendEmptyWindows not a bool', 'config.sendEmptyWindows: expected true or false', { sendEmptyWindows: 1 }],
  ['disabledChecks not strings', 'config.baseline.disabledChecks: expected an array of at most 16 strings', { baseline: { disabledChecks: [1] } }],
  ['too many disabledGroups', 'config.baseline.disabledGroups: expected an array of at most 8 strings', { baseline: { disabledGroups: Array(9).fill('g') } }],
  ['unknown messageFormat', 'config.messageFormat: expected "json" or "cbor"', { messageFormat: 'xml' }],
  ['messageFormat not a string', 'config.messageFormat: expected "json" or "cbor"', { messageFormat: 1 }],
  ['negative maxPackingDelay', 'config.maxPackingDelay: expected an integer from 0 to 86400', { maxPackingDelay: -1 }],
  ['maxPackingDelay too long', 'config.maxPackingDelay: expected an integer from 0 to 86400', { maxPackingDelay: 86401 }],
  ['fractional maxPackingDelay', 'config.maxPackingDelay: expected an integer from 0 to 86400', { maxPackingDelay: 1.5 }],
  ['one bad key among good ones', 'config.network.priority: expected "high", "medium" or "low"', { network: { cacheSize: 1, priority: 5 }, sendEmptyWindows: true }],
];

describe('configuration (R6)', () => {
  for (const [name, reason, cfg] of invalid) {
    itOnEngines(`rejects ${name} whole, and nothing changes or is sent early`, async () => {
      const text = typeof cfg === 'string' ? cfg.replace('T', String(T0 + 1000))
        : 'kind' in cfg ? line({ ...cfg, t: T0 + 1000 }) : config(T0 + 1000, cfg);
      const r = await replayAll(trace(conn(T0), text, conn(T0 + 2000, { lport: 2 }), conn(T0 + 3000, { lport: 3 }), tick(T0 + 30_000)));
      expect(r.exitCode).toBe(1);
      expect(r.stderr.startsWith(`line 2: ${reason}`), r.stderr).toBe(true);
      const ev = events(r, 'ConnectionCreate');
      expect(ev).toHaveLength(1);                                     // nothing sent early
      expect(ev[0].TimestampUTC).toBe(iso(T0 + 30_000));               // windows untouched
      expect(ev[0].Payload.map((p: any) => p.LocalPort)).toEqual([40000, 2, 3]);  // cacheSize unchanged
    });
  }

  itOnEngines('merges partial updates over the current configuration', async () => {
    const r = await replayAll(trace(
      config(T0, { network: { priority: 'high' } }),
      config(T0, { network: { cacheSize: 1 } }),        // priority stays high (10 s)
      conn(T0), conn(T0, { lport: 2 }), tick(T0 + 10_000)));
    const ev = events(r, 'ConnectionCreate');
    expect(ev[0].TimestampUTC).toBe(iso(T0 + 10_000));
    expect(ev[0].Payload).toHaveLength(1);
    expect(records(r, 'CollectorStats')[0]).toMatchObject({ Dropped: 1 });
  });

  itOnEngines('uses the linux defaults: 30/120/1440 minutes and 64 KiB messages', async () => {
    const r = await replayAll(trace(conn(T0), proc(T0), tick(T0 + 7_199_999), tick(T0 + 7_200_000)), { profile: 'linux' });
    expect(events(r, 'ConnectionCreate')[0].TimestampUTC).toBe(iso(T0 + 7_200_000));
  });

  itOnEngines('accepts the largest linux cache and rejects one above it', async () => {
    const ok = await replayAll(trace(config(T0, { network: { cacheSize: 1024 }, process: { cacheSize: 1024 } })), { profile: 'linux' });
    expect(ok.exitCode).toBe(0);
    const bad = await replayAll(trace(config(T0, { process: { cacheSize: 1025 } })), { profile: 'linux' });
    expect(bad.stderr).toBe('line 1: config.process.cacheSize: expected an integer from 1 to 1024\n');
  });

  itOnEngines('a later duplicate key wins, as in JSON', async () => {
    const r = await replayAll(trace(`{"kind":"config","t":${T0},"config":{"network":{"cacheSize":9,"cacheSize":1}}}`, conn(T0), conn(T0, { lport: 1 })));
    expect(records(r, 'ConnectionCreate')).toHaveLength(1);
  });

  itOnEngines('applies a change at its time: data so far is sent with the change time', async () => {
    const r = await replayAll(trace(conn(T0), config(T0 + 5000, { network: { aggregation: false } }), conn(T0 + 6000), conn(T0 + 6000)));
    const ev = events(r, 'ConnectionCreate');
    expect(ev.map((e) => [e.TimestampUTC, e.Payload.length])).toEqual([[iso(T0 + 5000), 1], [iso(T0 + 6000), 2]]);
  });
});
