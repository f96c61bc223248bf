// SPEC R2: identical connections aggregate; identity, IPv4/IPv6, overflow policies.
import { describe, expect, it } from 'vitest';
import { T0, conn, config, records, events, replayAll, trace, iso, itOnEngines } from './helpers.js';

describe('network aggregation (R2)', () => {
  itOnEngines('1,000 identical connection events become one record with HitCount 1000 and summed bytes', async () => {
    const lines = Array.from({ length: 1000 }, (_, i) => conn(T0 + i * 10, { bytesIn: i, bytesOut: 2 * i }));
    const r = await replayAll(trace(...lines));
    const recs = records(r, 'ConnectionCreate');
    expect(recs).toHaveLength(1);
    expect(recs[0].HitCount).toBe(1000);
    expect(recs[0].BytesIn).toBe(499500);
    expect(recs[0].BytesOut).toBe(999000);
    expect(recs[0].FirstSeenUTC).toBe(iso(T0));
    expect(recs[0].LastSeenUTC).toBe(iso(T0 + 9990));
    expect(r.exitCode).toBe(0);
  });

  itOnEngines('keeps one record per distinct local/remote address, port and protocol', async () => {
    const r = await replayAll(trace(
      conn(T0),
      conn(T0, { lport: 40001 }),
      conn(T0, { rport: 443 }),
      conn(T0, { proto: 'udp' }),
      conn(T0, { local: '10.0.0.3' }),
      conn(T0, { remote: '20.1.2.4' }),
      conn(T0, { dir: 'in', bytesIn: 1, bytesOut: 1 }), // same identity as the first: direction is not part of it
    ));
    const recs = records(r, 'ConnectionCreate');
    expect(recs).toHaveLength(6);
    expect(recs[0]).toMatchObject({ HitCount: 2, Direction: 'Out', BytesIn: 101, BytesOut: 51 });
    expect(recs.slice(1).map((x) => x.HitCount)).toEqual([1, 1, 1, 1, 1]);
  });

  itOnEngines('compares IPv6 addresses as addresses and prints them canonically (RFC 5952)', async () => {
    const r = await replayAll(trace(
      conn(T0, { local: '2001:DB8:0:0:0:0:0:1', remote: 'fe80:0000::0001' }),
      conn(T0, { local: '2001:db8::1', remote: 'FE80::1' }),
      conn(T0, { local: '::ffff:192.0.2.1', remote: '::' }),
      conn(T0, { local: '2001:db8:0:0:1:0:0:1', remote: '2001:0:0:1:0:0:0:1' }),
      conn(T0, { local: '::1', remote: '1::' }),
    ));
    const recs = records(r, 'ConnectionCreate');
    expect(recs.map((x) => [x.LocalAddress, x.RemoteAddress, x.HitCount])).toEqual([
      ['2001:db8::1', 'fe80::1', 2],
      ['::ffff:192.0.2.1', '::', 1],
      ['2001:db8::1:0:0:1', '2001:0:0:1::1', 1],
      ['::1', '1::', 1],
    ]);
  });

  itOnEngines('keeps direction of the first occurrence and optional fields from the first that has them', async () => {
    const r = await replayAll(trace(
      conn(T0, { dir: 'in' }),
      conn(T0 + 1, { dir: 'out', app: 'mqtt' }),
      conn(T0 + 2, { host: 'hub.example.net', app: 'other' }),
    ));
    const [rec] = records(r, 'ConnectionCreate');
    expect(rec).toMatchObject({ Direction: 'In', HitCount: 3, ApplicationProtocol: 'mqtt', ExtraDetails: { HostName: 'hub.example.net' } });
  });

  itOnEngines('sums bytes beyond 2^53 exactly', async () => {
    const big = Number.MAX_SAFE_INTEGER;
    const r = await replayAll(trace(conn(T0, { bytesIn: big }), conn(T0, { bytesIn: big })));
    expect(r.lines[0]).toContain(`"BytesIn":${2n * BigInt(big)}`);
  });

  itOnEngines('a byte sum that passes 2^64 - 1 stays there and its record says "Saturated": true', async () => {
    const big = Number.MAX_SAFE_INTEGER;          // 2^53 - 1: 2,049 of them pass 2^64
    const lines: string[] = [];
    for (let i = 0; i < 2049; i++) lines.push(conn(T0 + i, { bytesIn: big, bytesOut: 1 }));
    lines.push(conn(T0 + 2048, { lport: 2, bytesIn: big, bytesOut: big }));      // another flow, far below
    for (let i = 0; i < 2048; i++) lines.push(conn(T0 + 2049 + i, { lport: 3, bytesIn: 0, bytesOut: big }));
    const r = await replayAll(trace(...lines));
    const text = r.lines.join('\n');
    const max = `${2n ** 64n - 1n}`;
    expect(text).toContain(`"BytesIn":${max},"BytesOut":2049,"HitCount":2049,`);
    expect(text).toContain(`"BytesIn":${big},"BytesOut":${big},"HitCount":1,`);
    // 2,048 sums of 2^53 - 1 stay below 2^64 - 1 (by 2,047): exact, no marker
    expect(text).toContain(`"BytesIn":0,"BytesOut":${2048n * BigInt(big)},"HitCount":2048,`);
    const recs = records(r, 'ConnectionCreate');
    expect(recs.map((x) => x.Saturated)).toEqual([true, undefined, undefined]);
    expect(text.match(/"Saturated":true/g)).toHaveLength(1);
    expect(text).toMatch(/"LastSeenUTC":"[^"]*"(,"[A-Za-z]+":[^,{}]*)*,"Saturated":true\}/);
  });

  itOnEngines('rtos drop-new: a full cache drops new flows but keeps aggregating cached ones', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 256; i++) lines.push(conn(T0, { lport: 1000 + i }));
    for (let i = 0; i < 10; i++) lines.push(conn(T0 + 1, { lport: 5000 + i }));   // dropped
    lines.push(conn(T0 + 2, { lport: 1000, bytesIn: 7 }));                        // still aggregates
    const r = await replayAll(trace(...lines));
    const recs = records(r, 'ConnectionCreate');
    expect(recs).toHaveLength(256);
    expect(recs[0]).toMatchObject({ LocalPort: 1000, HitCount: 2, BytesIn: 107 });
    const [stats] = records(r, 'CollectorStats').filter((s) => s.Collector === 'network');
    expect(stats).toMatchObject({ Received: 267, Dropped: 10, Discarded: 0, Ignored: 0 });
    expect(stats.Warnings).toHaveLength(1);
    expect(stats.Warnings[0]).toMatch(/10 new connections dropped/);
  });

  itOnEngines('linux replace-oldest: the oldest entry makes room and its hits are counted as discarded', async () => {
    const lines = [config(T0, { network: { cacheSize: 3 } })];
    lines.push(conn(T0, { lport: 1 }), conn(T0, { lport: 1 }), conn(T0, { lport: 2 }), conn(T0, { lport: 3 }));
    lines.push(conn(T0 + 1, { lport: 4 }));
    const r = await replayAll(trace(...lines), { profile: 'linux' });
    const recs = records(r, 'ConnectionCreate');
    expect(recs.map((x) => x.LocalPort)).toEqual([2, 3, 4]);
    const [stats] = records(r, 'CollectorStats');
    expect(stats).toMatchObject({ Collector: 'network', Received: 5, Discarded: 2, Dropped: 0 });
    expect(stats.Warnings[0]).toMatch(/network cache full \(3 entries\): 1 oldest replaced, 2 hits discarded/);
  });

  itOnEngines('aggregation false keeps every event as its own record', async () => {
    const r = await replayAll(trace(config(T0, { network: { aggregation: false } }), conn(T0), conn(T0), conn(T0)));
    const recs = records(r, 'ConnectionCreate');
    expect(recs).toHaveLength(3);
    expect(recs.every((x) => x.HitCount === 1)).toBe(true);
  });

  itOnEngines('a disabled collector ignores events and still reports them', async () => {
    const r = await replayAll(trace(config(T0, { network: { enabled: false } }), conn(T0), conn(T0 + 1)));
    expect(events(r, 'ConnectionCreate')).toHaveLength(0);
    const [stats] = records(r, 'CollectorStats');
    expect(stats).toMatchObject({ Collector: 'network', Received: 2, Ignored: 2 });
  });
});
