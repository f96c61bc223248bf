// SPEC R8: no message exceeds maxMessageBytes; a large window is split across messages,
// each valid on its own, no record cut or lost, and messages are filled before a new one.
import { describe, expect, it } from 'vitest';
import { T0, config, conn, proc, records, replayAll, trace, itOnEngines } from './helpers.js';

function connections(n: number): string[] {
  return Array.from({ length: n }, (_, i) => conn(T0 + i, { lport: 1000 + i, host: `h${i}.example`, bytesIn: i }));
}

/** Every message but the last of a flush could not have taken the next message's first record. */
function expectFilled(lines: string[], max: number): void {
  for (let i = 0; i + 1 < lines.length; i++) {
    const next = JSON.parse(lines[i + 1]);
    const firstRecord = JSON.stringify(next.Events[0].Payload[0]);
    // The smallest growth is a comma plus the record inside the last open event.
    expect(Buffer.byteLength(lines[i]) + 1 + Buffer.byteLength(firstRecord)).toBeGreaterThan(max);
  }
}

describe('message size (R8)', () => {
  for (const max of [1024, 1500, 4096]) {
    itOnEngines(`splits 256 connections across messages of at most ${max} bytes, losing nothing`, async () => {
      const r = await replayAll(trace(config(T0, { maxMessageBytes: max }), ...connections(256)), { maxMessageBytes: max });
      expect(r.messages.length).toBeGreaterThan(1);
      const recs = records(r, 'ConnectionCreate');
      expect(recs.map((x) => x.LocalPort)).toEqual(Array.from({ length: 256 }, (_, i) => 1000 + i));
      expect(records(r, 'CollectorStats')).toHaveLength(1);
      for (const l of r.lines) expect(Buffer.byteLength(l)).toBeLessThanOrEqual(max);
      expectFilled(r.lines, max);
      // Each part of the split event has its own id, all with the window's time.
      const ids = r.messages.flatMap((m) => m.Events.map((e: any) => e.Id));
      expect(new Set(ids).size).toBe(ids.length);
    });
  }

  itOnEngines('fits the largest possible rtos record into the smallest message', async () => {
    const worst = conn(T0, { local: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff1', remote: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff2',
      lport: 65535, rport: 65535, proto: 'icmp', host: '\u0001'.repeat(100), app: '"'.repeat(100), bytesIn: Number.MAX_SAFE_INTEGER });
    const lines = [config(T0, { maxMessageBytes: 1024, utcOffsetMinutes: -600 })];
    for (let i = 0; i < 3000; i++) lines.push(worst);
    const r = await replayAll(trace(...lines), { maxMessageBytes: 1024 });
    expect(records(r, 'ConnectionCreate')[0]).toMatchObject({ HitCount: 3000, Truncated: true });
  });

  itOnEngines('fits the largest possible linux records into the smallest linux message', async () => {
    const max = 2076;
    const esc = (n: number) => '\u0001'.repeat(n);
    const lines = [config(T0, { maxMessageBytes: max, utcOffsetMinutes: 600, process: { cacheSize: 4 } })];
    for (let i = 0; i < 4; i++) {
      lines.push(proc(T0, { pid: 4294967295, ppid: 4294967295, uid: 4294967295 - i, cmd: esc(400), exe: esc(100), user: esc(20), type: 'fork' }));
    }
    lines.push(JSON.stringify({ kind: 'baseline', t: T0, id: esc(50), group: esc(20), result: 'error', error: esc(60),
      severity: 'informational', description: esc(200), remediation: esc(200) }));
    lines.push(JSON.stringify({ kind: 'sysinfo', t: T0, os: esc(20), osVersion: esc(20), kernel: esc(30), hw: esc(30), memTotal: Number.MAX_SAFE_INTEGER }));
    const r = await replayAll(trace(...lines), { profile: 'linux', maxMessageBytes: max });
    expect(records(r, 'ProcessCreate')).toHaveLength(4);
    expect(records(r, 'ProcessCreate').every((p) => p.Truncated === true)).toBe(true);
    expect(records(r, 'Baseline')).toHaveLength(1);
    expect(records(r, 'SystemInformation')).toHaveLength(1);
    // Nearly full messages: each holds one largest record.
    expect(r.messages.length).toBeGreaterThanOrEqual(6);
  });

  itOnEngines('splits a large linux process window at 64 KiB', async () => {
    const lines = [config(T0, { process: { cacheSize: 1024 } })];
    for (let i = 0; i < 1024; i++) lines.push(proc(T0, { cmd: `/usr/bin/job --id ${i} ${'a'.repeat(200)}`, exe: '/usr/bin/job' }));
    const r = await replayAll(trace(...lines), { profile: 'linux' });
    expect(r.messages.length).toBeGreaterThan(3);
    expect(records(r, 'ProcessCreate')).toHaveLength(1024);
    expectFilled(r.lines, 65536);
  });

  itOnEngines('rejects a linux maxMessageBytes that cannot hold the largest record (SPEC R6: linux from 2,076)', async () => {
    for (const max of [1024, 2075]) {
      const r = await replayAll(trace(config(T0, { maxMessageBytes: max })), { profile: 'linux' });
      expect(r.stderr).toBe('line 1: config.maxMessageBytes: expected an integer from 2076 to 262144\n');
    }
  });
});
