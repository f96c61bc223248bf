// SPEC R5: fixed window grid from the first input; a window is sent before the input that
// reaches its end; empty windows send nothing unless configured; end of input flushes.
import { describe, expect, it } from 'vitest';
import { T0, conn, config, events, records, replayAll, tick, trace, iso, proc, sys, itOnEngines } from './helpers.js';

describe('windows (R5)', () => {
  itOnEngines('sends a window when an input reaches its end, stamped with the end time', async () => {
    // rtos network priority medium = 30 s; the grid starts at the first input.
    const r = await replayAll(trace(conn(T0 + 5000), conn(T0 + 34_999), conn(T0 + 35_000, { lport: 2 })));
    const ev = events(r, 'ConnectionCreate');
    expect(ev).toHaveLength(2);
    expect(ev[0].TimestampUTC).toBe(iso(T0 + 35_000));
    expect(ev[0].Payload).toMatchObject([{ LocalPort: 40000, HitCount: 2 }]);
    // The last window is sent at end of input, stamped with the last input time.
    expect(ev[1].TimestampUTC).toBe(iso(T0 + 35_000));
    expect(ev[1].Payload).toMatchObject([{ LocalPort: 2, HitCount: 1 }]);
    expect(r.messages).toHaveLength(2);
  });

  itOnEngines('keeps a fixed grid: a later input lands in the window that contains it', async () => {
    const r = await replayAll(trace(conn(T0), tick(T0 + 95_000), conn(T0 + 95_000, { lport: 7 }), tick(T0 + 120_000)));
    const ev = events(r, 'ConnectionCreate');
    expect(ev.map((e) => e.TimestampUTC)).toEqual([iso(T0 + 30_000), iso(T0 + 120_000)]);
  });

  itOnEngines('empty windows send nothing by default, and IsEmpty events when configured', async () => {
    const quiet = await replayAll(trace(tick(T0), tick(T0 + 100_000)));
    expect(quiet.stdout).toBe('');
    const r = await replayAll(trace(config(T0, { sendEmptyWindows: true, process: { enabled: false },
      baseline: { enabled: false }, systemInformation: { enabled: false } }), tick(T0 + 95_000)));
    // SPEC R5: the run of three empty windows is one event, at the last one's end.
    const ev = events(r, 'ConnectionCreate');
    expect(ev.map((e) => [e.IsEmpty, e.TimestampUTC, e.Payload.length, e.Windows])).toEqual([
      [true, iso(T0 + 90_000), 0, 3]]);
  });

  itOnEngines('a jump in time with empty windows reported sends one event per collector, not one per window', async () => {
    // One-second windows, then an input a day later: 86,400 empty windows of each collector.
    const day = 86_400_000;
    const r = await replayAll(trace(
      config(T0, { sendEmptyWindows: true, priorityIntervals: { high: 1, medium: 1, low: 1 } }),
      conn(T0 + 500), tick(T0 + day + 250)), { stats: true });
    const ev = events(r, 'ConnectionCreate');
    // The busy first window, then the run of the rest, ending at the last whole second.
    expect(ev.map((e) => [e.IsEmpty, e.TimestampUTC, e.Payload.length, e.Windows])).toEqual([
      [false, iso(T0 + 1000), 1, undefined], [true, iso(T0 + day), 0, day / 1000 - 1]]);
    expect(r.stdout.length).toBeLessThan(20_000);
    expect(r.exitCode).toBe(0);
  });

  itOnEngines('an IsEmpty window after a busy one counts no hits as sent (R5 identity)', async () => {
    // Regression: the empty window's event once counted the stale first slot of the cleared
    // cache as sent, so the run summary said sent 2 for 1 received.
    const r = await replayAll(trace(config(T0, { sendEmptyWindows: true }), conn(T0 + 100),
      config(T0 + 71_000, { network: { cacheSize: 2 } })), { stats: true });
    const ev = events(r, 'ConnectionCreate');
    expect(ev.map((e) => [e.IsEmpty, e.Payload.length])).toEqual([[false, 1], [true, 0]]);
    const total = JSON.parse(r.stderr.trimEnd().split('\n').at(-1)!).network;
    expect(total).toMatchObject({ received: 1, sent: 1, discarded: 0, dropped: 0, ignored: 0 });
  });

  itOnEngines('windows of different lengths close in time order, each with its own counters', async () => {
    const r = await replayAll(trace(
      config(T0, { network: { priority: 'high' }, priorityIntervals: { high: 10, medium: 30 } }),  // network 10 s, process 30 s
      conn(T0), proc(T0), conn(T0 + 15_000), tick(T0 + 31_000)), { profile: 'linux' });
    const names = r.messages.flatMap((m) => m.Events.map((e: any) => `${e.Name}@${e.TimestampUTC}`));
    expect(names).toEqual([
      `ConnectionCreate@${iso(T0 + 10_000)}`, `CollectorStats@${iso(T0 + 10_000)}`,
      `ConnectionCreate@${iso(T0 + 20_000)}`, `CollectorStats@${iso(T0 + 20_000)}`,
      `ProcessCreate@${iso(T0 + 30_000)}`, `CollectorStats@${iso(T0 + 30_000)}`,
    ]);
  });

  itOnEngines('one input that closes several windows packs their events into one message', async () => {
    const r = await replayAll(trace(conn(T0), sys(T0), tick(T0 + 60_000)));
    expect(r.messages).toHaveLength(1);
    expect(r.messages[0].Events.map((e: any) => e.Name)).toEqual(['ConnectionCreate', 'CollectorStats', 'SystemInformation']);
  });

  itOnEngines('a configuration change sends current data first, then applies, and restarts windows', async () => {
    const r = await replayAll(trace(conn(T0), conn(T0 + 1000), config(T0 + 2000, { network: { priority: 'high' } }),
      conn(T0 + 2500, { lport: 9 }), tick(T0 + 12_000)));
    const ev = events(r, 'ConnectionCreate');
    expect(ev.map((e) => [e.TimestampUTC, e.Payload[0].LocalPort, e.Payload[0].HitCount])).toEqual([
      [iso(T0 + 2000), 40000, 2], [iso(T0 + 12_000), 9, 1]]);
  });

  itOnEngines('a rejected configuration sends nothing early and changes nothing', async () => {
    const r = await replayAll(trace(conn(T0), config(T0 + 1000, { network: { priority: 'urgent' } }), conn(T0 + 2000), tick(T0 + 30_000)));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe('line 2: config.network.priority: expected "high", "medium" or "low"\n');
    const ev = events(r, 'ConnectionCreate');
    expect(ev).toHaveLength(1);
    expect(ev[0].TimestampUTC).toBe(iso(T0 + 30_000));
    expect(ev[0].Payload[0].HitCount).toBe(2);
  });

  itOnEngines('counts every event: received = sent hits + discarded + dropped + ignored, per window', async () => {
    const lines = [config(T0, { network: { cacheSize: 2 } })];
    for (let i = 0; i < 50; i++) lines.push(conn(T0 + i * 1000, { lport: i % 5 }));
    const r = await replayAll(trace(...lines));
    for (const m of r.messages) {
      for (const e of m.Events.filter((x: any) => x.Name === 'CollectorStats')) {
        const s = e.Payload.find((p: any) => p.Collector === 'network');
        const sent = m.Events.filter((x: any) => x.Name === 'ConnectionCreate' && x.TimestampUTC === e.TimestampUTC)
          .flatMap((x: any) => x.Payload).reduce((n: number, p: any) => n + p.HitCount, 0);
        expect(s.Received).toBe(sent + s.Discarded + s.Dropped + s.Ignored);
      }
    }
    const total = records(r, 'CollectorStats').reduce((n, s) => n + s.Received, 0);
    expect(total).toBe(50);
  });
});
