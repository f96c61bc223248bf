// SPEC R1, R3, R4: process aggregation (linux), baseline results, system information.
import { describe, expect, it } from 'vitest';
import { VERSION } from '../host/version.js';
import { T0, base, config, events, proc, records, replayAll, sys, tick, trace, iso, itOnEngines } from './helpers.js';

describe('process collector (R1, linux)', () => {
  itOnEngines('aggregates by command line and user id, keeping the first pid, ppid and type', async () => {
    const r = await replayAll(trace(
      proc(T0, { pid: 10, ppid: 1, type: 'fork' }),
      proc(T0 + 1, { pid: 11, ppid: 2, type: 'exec', exe: '/usr/bin/true', user: 'root' }),
      proc(T0 + 2, { uid: 1000 }),
      proc(T0 + 3, { cmd: '/usr/bin/true -v' }),
    ), { profile: 'linux' });
    const recs = records(r, 'ProcessCreate');
    expect(recs).toEqual([
      { ProcessId: 10, ParentProcessId: 1, UserId: 0, CommandLine: '/usr/bin/true', Type: 'fork', HitCount: 2,
        FirstSeenUTC: iso(T0), LastSeenUTC: iso(T0 + 1), Executable: '/usr/bin/true', UserName: 'root' },
      expect.objectContaining({ UserId: 1000, HitCount: 1 }),
      expect.objectContaining({ CommandLine: '/usr/bin/true -v', HitCount: 1 }),
    ]);
  });

  itOnEngines('keeps a copied binary under a trusted command line apart when both events name their executable', async () => {
    const r = await replayAll(trace(
      proc(T0, { pid: 10, cmd: '/usr/sbin/sshd -D', exe: '/usr/sbin/sshd' }),
      proc(T0 + 1, { pid: 11, cmd: '/usr/sbin/sshd -D', exe: '/tmp/.x/sshd' }),
      proc(T0 + 2, { pid: 12, cmd: '/usr/sbin/sshd -D' }), // no executable: joins the first entry
      proc(T0 + 3, { pid: 13, cmd: '/usr/sbin/sshd -D', exe: '/tmp/.x/sshd' }),
      proc(T0 + 4, { pid: 14, cmd: '/usr/sbin/sshd -D', exe: '/usr/sbin/sshd' }),
      proc(T0 + 5, { pid: 15, cmd: 'cron' }),
      proc(T0 + 6, { pid: 16, cmd: 'cron', exe: '/usr/sbin/cron' }), // the entry had none: now it has one
      proc(T0 + 7, { pid: 17, cmd: 'cron', exe: '/tmp/cron' }),
    ), { profile: 'linux' });
    expect(records(r, 'ProcessCreate').map((p) => [p.ProcessId, p.Executable, p.HitCount])).toEqual([
      [10, '/usr/sbin/sshd', 3], [11, '/tmp/.x/sshd', 2], [15, '/usr/sbin/cron', 2], [17, '/tmp/cron', 1],
    ]);
  });

  itOnEngines('compares executables as stored: two longer than the cap that differ past it are one', async () => {
    const long = '/opt/' + 'd'.repeat(300);
    const r = await replayAll(trace(
      proc(T0, { exe: long + 'a' }), proc(T0 + 1, { exe: long + 'b' }), proc(T0 + 2, { exe: '/opt/other' }),
      config(T0 + 3, { process: { aggregation: false } }), proc(T0 + 4, { exe: '/opt/other' }), proc(T0 + 5, { exe: '/opt/other' }),
    ), { profile: 'linux' });
    expect(records(r, 'ProcessCreate').map((p) => [p.Executable?.length, p.HitCount])).toEqual([[256, 2], [10, 1], [10, 1], [10, 1]]);
  });

  itOnEngines('cycles a full cache, oldest out, with a warning and discarded hits', async () => {
    const lines = [config(T0, { process: { cacheSize: 2 } })];
    lines.push(proc(T0, { cmd: 'a' }), proc(T0, { cmd: 'a' }), proc(T0, { cmd: 'b' }), proc(T0, { cmd: 'c' }), proc(T0, { cmd: 'd' }));
    const r = await replayAll(trace(...lines), { profile: 'linux' });
    expect(records(r, 'ProcessCreate').map((p) => p.CommandLine)).toEqual(['c', 'd']);
    const [s] = records(r, 'CollectorStats');
    expect(s).toMatchObject({ Collector: 'process', Received: 5, Discarded: 3, Dropped: 0 });
    expect(s.Warnings).toEqual(['process cache full (2 entries): 2 oldest replaced, 3 hits discarded; increase process.cacheSize']);
  });

  itOnEngines('truncates a long command line and aggregates on the truncated form', async () => {
    const cmd = 'x'.repeat(3000);
    const r = await replayAll(trace(proc(T0, { cmd }), proc(T0, { cmd: cmd + 'y' })), { profile: 'linux' });
    const [p] = records(r, 'ProcessCreate');
    expect(p.CommandLine).toBe('x'.repeat(1024));
    expect(p).toMatchObject({ Truncated: true, HitCount: 2 });
  });
});

describe('baseline collector (R4)', () => {
  itOnEngines('sends only the latest fail/error result per check, with mapped values', async () => {
    const r = await replayAll(trace(
      base(T0, { id: 'c1', result: 'fail', severity: 'critical' }),
      base(T0 + 1, { id: 'c2', result: 'pass' }),
      base(T0 + 2, { id: 'c3', result: 'error', error: 'cannot read /etc/fstab', severity: 'informational' }),
      base(T0 + 3, { id: 'c4', result: 'fail' }),
      base(T0 + 4, { id: 'c4', result: 'pass' }),   // the latest result wins: c4 is not sent
      base(T0 + 5, { id: 'c1', result: 'fail', severity: 'warning', description: 'newer' }),
    ));
    expect(records(r, 'Baseline')).toEqual([
      { CheckId: 'c1', Group: 'filesystem', Result: 'Fail', Error: '', Description: 'newer', Remediation: 'r', Severity: 'Warning' },
      { CheckId: 'c3', Group: 'filesystem', Result: 'Error', Error: 'cannot read /etc/fstab', Description: 'd', Remediation: 'r', Severity: 'Informational' },
    ]);
    const [e] = events(r, 'Baseline');
    expect(e).toMatchObject({ EventType: 'Security', Category: 'Periodic' });
  });

  itOnEngines('keeps nothing from disabled groups and checks', async () => {
    const r = await replayAll(trace(
      config(T0, { baseline: { disabledGroups: ['ssh'], disabledChecks: ['c2'] } }),
      base(T0, { id: 'c1', group: 'ssh' }), base(T0, { id: 'c2' }), base(T0, { id: 'c3' })));
    expect(records(r, 'Baseline').map((b) => b.CheckId)).toEqual(['c3']);
  });

  itOnEngines('counts results of new checks beyond the 16 an rtos window keeps', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => base(T0, { id: `c${i}` }));
    const r = await replayAll(trace(...lines), { stats: true });
    expect(records(r, 'Baseline')).toHaveLength(16);
    expect(JSON.parse(r.stderr.trim()).baseline).toEqual({ dropped: 4 });
    // ... and says so in the window's messages (issue 12): received = kept + dropped + ignored
    const stats = records(r, 'CollectorStats').filter((x) => x.Collector === 'baseline');
    expect(stats).toEqual([{ Collector: 'baseline', Received: 20, Discarded: 0, Dropped: 4, Ignored: 0,
      Warnings: ['baseline table full (16 entries): 4 results of new checks dropped'] }]);
    const [e] = events(r, 'CollectorStats');
    expect(e.TimestampUTC).toBe(events(r, 'Baseline')[0].TimestampUTC);
  });

  itOnEngines('counts ignored results (disabled collector, group, check) in a baseline CollectorStats record per window', async () => {
    const r = await replayAll(trace(
      config(T0, { baseline: { disabledGroups: ['ssh'], disabledChecks: ['c2'] } }),
      base(T0, { id: 'c1', group: 'ssh' }), base(T0, { id: 'c2' }), base(T0, { id: 'c3' }), base(T0, { id: 'c3', result: 'pass' }),
      base(T0 + 1, { id: 'c4', result: 'pass' }),
      tick(T0 + 60_000),                                                  // window 1 ends
      config(T0 + 60_000, { baseline: { enabled: false } }), base(T0 + 60_001, { id: 'c5' }),
      config(T0 + 60_002, { baseline: { enabled: true } }),               // window 2 ends (forced)
      base(T0 + 60_003, { id: 'c6', result: 'pass' }), tick(T0 + 120_002),   // window 3: kept, nothing lost
      tick(T0 + 200_000),                                                 // window 4: no baseline input, no record
    ));
    const stats = events(r, 'CollectorStats').flatMap((e) => e.Payload.filter((x: any) => x.Collector === 'baseline')
      .map((x: any) => [e.TimestampUTC, x]));
    expect(stats).toEqual([
      [iso(T0 + 60_000), { Collector: 'baseline', Received: 5, Discarded: 0, Dropped: 0, Ignored: 2,
        Warnings: ['2 baseline results ignored: collector, group or check disabled'] }],
      [iso(T0 + 60_002), { Collector: 'baseline', Received: 1, Discarded: 0, Dropped: 0, Ignored: 1,
        Warnings: ['1 baseline results ignored: collector, group or check disabled'] }],
      [iso(T0 + 120_002), { Collector: 'baseline', Received: 1, Discarded: 0, Dropped: 0, Ignored: 0, Warnings: [] }],
    ]);
    expect(records(r, 'Baseline')).toEqual([]);   // c3's latest result passes; c4 and c6 pass
  });

  itOnEngines('linux: a dropped and an ignored result, both warnings in one record', async () => {
    const lines = Array.from({ length: 258 }, (_, i) => base(T0, { id: `c${i}` }));
    const r = await replayAll(trace(config(T0, { baseline: { disabledChecks: ['c257'] } }), ...lines), { profile: 'linux' });
    expect(records(r, 'CollectorStats').filter((x) => x.Collector === 'baseline')).toEqual([
      { Collector: 'baseline', Received: 258, Discarded: 0, Dropped: 1, Ignored: 1,
        Warnings: ['baseline table full (256 entries): 1 results of new checks dropped',
          '1 baseline results ignored: collector, group or check disabled'] }]);
  });

  itOnEngines('is sent once per interval (low = 60 s on rtos)', async () => {
    const r = await replayAll(trace(base(T0), tick(T0 + 59_999), base(T0 + 60_000, { id: 'c9' }), tick(T0 + 120_000)));
    expect(events(r, 'Baseline').map((e) => [e.TimestampUTC, e.Payload[0].CheckId])).toEqual([
      [iso(T0 + 60_000), 'CIS-debian-12-1.1.1'], [iso(T0 + 120_000), 'c9']]);
  });
});

describe('system information (R3)', () => {
  itOnEngines('sends the latest report of the interval', async () => {
    const r = await replayAll(trace(sys(T0), sys(T0 + 5, { osVersion: '12.5', memTotal: 2048 }), tick(T0 + 60_000)));
    expect(records(r, 'SystemInformation')).toEqual([
      { OSName: 'Debian', OSVersion: '12.5', KernelVersion: '6.1.0', Hardware: 'x86_64', TotalMemory: 2048, AgentVersion: VERSION }]);
  });

  itOnEngines('sends nothing while disabled', async () => {
    const r = await replayAll(trace(config(T0, { systemInformation: { enabled: false } }), sys(T0), tick(T0 + 60_000)));
    expect(events(r, 'SystemInformation')).toHaveLength(0);
  });
});
