// The rtos core's lean layout (issue 11): regions that add up to mt_memory_end, one page of
// linear memory, 32-bit time offsets up to a window's last millisecond, exact sums and hit
// counts in the smaller slots, and shared name tables that lose visibly when full.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { blobPath } from '../host/core.js';
import { T0, conn, config, records, replayAll, trace, iso, itOnEngines } from './helpers.js';

function exportsOf(profile: 'rtos' | 'linux' | 'rtos-small'): any {
  const path = blobPath(profile === 'rtos-small' ? 'rtos' : profile).replace('microtally-rtos.wasm', `microtally-${profile}.wasm`);
  const x = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path)), {}).exports as any;
  x.mt_init();
  return x;
}

function regions(x: any): Record<string, number> {
  const n = x.mt_regions();
  return JSON.parse(Buffer.from(new Uint8Array(x.memory.buffer, x.mt_output_ptr(), n)).toString('utf8'));
}

describe('mt_regions', () => {
  for (const profile of ['rtos', 'rtos-small', 'linux'] as const) {
    it(`${profile}: names every region, and the sizes add up to mt_memory_end`, () => {
      const x = exportsOf(profile);
      const r = regions(x);
      expect(Object.keys(r)).toEqual(['staticData', 'networkCache', 'networkIndex', 'hostTable', 'appTable', 'baseline',
        'process', 'sysinfo', 'input', 'output', 'error', 'config', 'pendingInput']);
      for (const v of Object.values(r)) expect(Number.isInteger(v) && v > 0).toBe(true);
      expect(Object.values(r).reduce((a, b) => a + b, 0)).toBe(x.mt_memory_end());
      expect(r.input).toBeGreaterThanOrEqual(x.mt_input_capacity());
      expect(r.output).toBeGreaterThanOrEqual(x.mt_output_capacity());
      // the parser keeps its member table (16 bytes a member; rtos 64, linux 512) in the output area
      expect(r.output).toBeGreaterThanOrEqual(16 * (profile === 'linux' ? 512 : 64));
      // bytes per entry is the slot plus the index share; the name tables are shared, counted apart
      const cap = profile === 'linux' ? 1024 : 256;
      expect(x.mt_network_bytes_per_entry()).toBe((r.networkCache + r.networkIndex) / cap);
    });
  }

  it('rtos fits one 64 KiB page: its memory is exactly one page', () => {
    for (const profile of ['rtos', 'rtos-small'] as const) {
      const x = exportsOf(profile);
      expect(x.mt_memory_end()).toBeLessThanOrEqual(65536);
      expect(x.memory.buffer.byteLength).toBe(65536);
      expect(x.mt_network_bytes_per_entry()).toBe(76);
    }
  });
});

describe('network records in 72-byte slots', () => {
  itOnEngines('hit counts and byte sums stay exact, and a sum past 2^64 - 1 stays at 2^64 - 1', async () => {
    const big = Number.MAX_SAFE_INTEGER;
    const lines = Array.from({ length: 2100 }, (_, i) => conn(T0 + i, { bytesIn: big, bytesOut: i }));
    const r = await replayAll(trace(...lines));
    expect(r.lines[0]).toContain('"BytesIn":18446744073709551615,');
    expect(r.lines[0]).toContain(`"BytesOut":${(2099 * 2100) / 2},`);
    expect(r.lines[0]).toContain('"HitCount":2100,');
    // 2048 events of 2^53 - 1 do not reach 2^64 - 1 yet: exact
    const r2 = await replayAll(trace(...lines.slice(0, 2048)));
    expect(r2.lines[0]).toContain(`"BytesIn":${2048n * BigInt(big)},`);
  });

  itOnEngines('times are kept as offsets from the window start, exact to a 31-day window\'s last millisecond', async () => {
    const W = 2_678_400_000;
    const r = await replayAll(trace(
      config(T0, { network: { priority: 'low' }, priorityIntervals: { low: 2678400 } }),
      conn(T0), conn(T0 + 1), conn(T0 + W - 1, { bytesIn: 1 }),
      conn(T0 + W, { lport: 2 }),
    ));
    const recs = records(r, 'ConnectionCreate');
    expect(recs[0]).toMatchObject({ HitCount: 3, FirstSeenUTC: iso(T0), LastSeenUTC: iso(T0 + W - 1) });
    expect(recs[1]).toMatchObject({ LocalPort: 2, FirstSeenUTC: iso(T0 + W), LastSeenUTC: iso(T0 + W) });
  });
});

describe('shared host name and application protocol tables (rtos: 32 and 16 per window)', () => {
  itOnEngines('a full table keeps the record, marks it Truncated and warns with a count; the next window starts empty', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 40; i++) lines.push(conn(T0 + i, { lport: 1000 + i, host: `h${i}.example`, app: `a${i % 20}` }));
    lines.push(conn(T0 + 100, { lport: 1000, host: 'h0.example' }));     // an interned name: shared, no loss
    lines.push(conn(T0 + 30_000, { lport: 9, host: 'next.example', app: 'dns' }));
    const r = await replayAll(trace(...lines));
    const recs = records(r, 'ConnectionCreate');
    const first = recs.slice(0, 40);
    expect(first.slice(0, 16).every((x, i) => x.ApplicationProtocol === `a${i}` && x.ExtraDetails.HostName === `h${i}.example` && !x.Truncated)).toBe(true);
    // apps a16..a19 find no room (twice each: ports 1016-1019 and 1036-1039); hosts h32..h39 neither
    expect(first.filter((x) => x.ApplicationProtocol === undefined).map((x) => x.LocalPort)).toEqual([1016, 1017, 1018, 1019, 1036, 1037, 1038, 1039]);
    expect(first.filter((x) => x.ExtraDetails === undefined).map((x) => x.LocalPort)).toEqual([1032, 1033, 1034, 1035, 1036, 1037, 1038, 1039]);
    expect(first.filter((x) => x.Truncated).map((x) => x.LocalPort)).toEqual([1016, 1017, 1018, 1019, 1032, 1033, 1034, 1035, 1036, 1037, 1038, 1039]);
    expect(first[0].HitCount).toBe(2);
    const stats = records(r, 'CollectorStats').filter((s) => s.Collector === 'network');
    expect(stats[0]).toMatchObject({ Received: 41, Dropped: 0, Discarded: 0 });
    expect(stats[0].Warnings).toEqual(['name table full: 16 host names or application protocols not kept, records marked Truncated']);
    // the next window's tables start empty
    expect(recs[40]).toMatchObject({ LocalPort: 9, ApplicationProtocol: 'dns', ExtraDetails: { HostName: 'next.example' } });
    expect(recs[40].Truncated).toBeUndefined();
    expect(stats[1].Warnings).toEqual([]);
  });

  itOnEngines('a name that found no room is not tried again within its window', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 32; i++) lines.push(conn(T0, { lport: i, host: `h${i}` }));
    lines.push(conn(T0 + 1, { lport: 99 }), conn(T0 + 2, { lport: 99, host: 'late' }), conn(T0 + 3, { lport: 99, host: 'later' }));
    const r = await replayAll(trace(...lines));
    const rec = records(r, 'ConnectionCreate').find((x) => x.LocalPort === 99);
    expect(rec).toMatchObject({ HitCount: 3, Truncated: true });
    expect(rec.ExtraDetails).toBeUndefined();
    const [stats] = records(r, 'CollectorStats');
    expect(stats.Warnings).toEqual(['name table full: 1 host names or application protocols not kept, records marked Truncated']);
  });

  itOnEngines('linux replace-oldest gives an evicted record\'s names back to the table', async () => {
    const lines = [config(T0, { network: { cacheSize: 4 } })];
    for (let i = 0; i < 600; i++) lines.push(conn(T0 + i, { lport: i, host: `host-${i}.example`, app: `p${i}` }));
    const r = await replayAll(trace(...lines), { profile: 'linux' });
    const recs = records(r, 'ConnectionCreate');
    expect(recs.map((x) => x.LocalPort)).toEqual([596, 597, 598, 599]);
    expect(recs.every((x, i) => x.ExtraDetails.HostName === `host-${596 + i}.example` && x.ApplicationProtocol === `p${596 + i}` && !x.Truncated)).toBe(true);
    expect(records(r, 'CollectorStats')[0].Warnings.some((w: string) => w.startsWith('name table full'))).toBe(false);
  });
});
