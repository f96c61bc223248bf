// SPEC R8/R9: messages are valid JSON for any input string, strings are bounded and marked
// Truncated, ids are deterministic UUIDs derived from the agent id.
import { describe, expect, it } from 'vitest';
import { T0, conn, proc, records, replayAll, trace, events, itOnEngines } from './helpers.js';

describe('output format (R8, R9)', () => {
  itOnEngines('escapes quotes, backslashes and control characters', async () => {
    const host = 'a"b\\c\u0000\u0001\b\f\n\r\t\u001f\u007f/é😀';
    const r = await replayAll(trace(conn(T0, { host })), { profile: 'linux' });
    expect(records(r, 'ConnectionCreate')[0].ExtraDetails.HostName).toBe(host);
    expect(r.lines[0]).toContain('a\\"b\\\\c\\u0000\\u0001\\b\\f\\n\\r\\t\\u001f');
  });

  itOnEngines('replaces invalid UTF-8 by U+FFFD, one per maximal subpart', async () => {
    const [head, tail] = conn(T0, { host: '@' }).split('@');
    const invalid = Buffer.from([0x61, 0xff, 0x62, 0xe2, 0x82, 0x63, 0xf0, 0x9f, 0x98, 0xed, 0xa0, 0x80, 0x64]);
    const text = Buffer.concat([Buffer.from(head), invalid, Buffer.from(tail + '\n')]);
    const r = await replayAll(text);
    expect(r.exitCode).toBe(0);
    expect(records(r, 'ConnectionCreate')[0].ExtraDetails.HostName).toBe(new TextDecoder().decode(invalid));
    expect(records(r, 'ConnectionCreate')[0].ExtraDetails.HostName).toBe('a\ufffdb\ufffdc\ufffd\ufffd\ufffd\ufffdd');
  });

  itOnEngines('turns lone surrogate escapes into U+FFFD and keeps pairs', async () => {
    const text = conn(T0, { host: 'X' }).replace('"X"', '"\\ud800x\\ud83d\\ude00\\udc00"');
    const r = await replayAll(trace(text));
    expect(records(r, 'ConnectionCreate')[0].ExtraDetails.HostName).toBe('\ufffdx😀\ufffd');
  });

  itOnEngines('truncates long strings at the profile bound without cutting a character, and marks the record', async () => {
    const r = await replayAll(trace(conn(T0, { host: 'é'.repeat(100), app: 'mqtt' })));
    const [rec] = records(r, 'ConnectionCreate');
    expect(rec.Truncated).toBe(true);
    expect(rec.ExtraDetails.HostName).toBe('é'.repeat(16));   // rtos host names: 32 bytes
    const escaped = await replayAll(trace(conn(T0, { host: '\u0001'.repeat(20) })));
    expect(records(escaped, 'ConnectionCreate')[0].ExtraDetails.HostName).toBe('\u0001'.repeat(5)); // 6 bytes each escaped
    const fits = await replayAll(trace(conn(T0, { host: 'h'.repeat(32) })));
    expect(records(fits, 'ConnectionCreate')[0].Truncated).toBeUndefined();
  });

  itOnEngines('derives ids deterministically from the agent id', async () => {
    const agentId = '3f0c8f5e-54b1-4c1e-9d7e-6b9f3f1e2a10';
    const a = await replayAll(trace(conn(T0), conn(T0 + 40_000)), { agentId });
    const b = await replayAll(trace(conn(T0), conn(T0 + 40_000)), { agentId });
    const c = await replayAll(trace(conn(T0), conn(T0 + 40_000)));
    expect(a.stdout).toBe(b.stdout);
    expect(a.messages[0].AgentId).toBe(agentId);
    const ids = a.messages.flatMap((m) => m.Events.map((e: any) => e.Id));
    expect(new Set(ids).size).toBe(ids.length);
    expect(c.messages[0].AgentId).not.toBe(agentId);
    expect(c.messages[0].Events[0].Id).not.toBe(a.messages[0].Events[0].Id);
  });

  itOnEngines('rejects a malformed agent id as a usage error', async () => {
    // Short, long (past any engine's buffer), and a UUID with extra bytes, some not ASCII.
    for (const agentId of ['not-a-uuid', 'a'.repeat(300), '3f0c8f5e-54b1-4c1e-9d7e-6b9f3f1e2a10 é,x=y']) {
      const r = await replayAll(trace(conn(T0)), { agentId });
      expect(r.exitCode).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/agent id must be a UUID/);
    }
  });

  itOnEngines('prints times as ISO 8601 UTC with milliseconds, and a local time with a configured offset', async () => {
    const t = Date.UTC(2024, 1, 29, 23, 59, 59, 7);
    const r = await replayAll(trace(JSON.stringify({ kind: 'config', t, config: { utcOffsetMinutes: -330 } }), conn(t)));
    const [e] = events(r, 'ConnectionCreate');
    expect(e.TimestampUTC).toBe('2024-02-29T23:59:59.007Z');
    expect(e.TimestampLocal).toBe('2024-02-29T18:29:59.007-05:30');
  });

  itOnEngines('counts process events as ignored on the rtos profile', async () => {
    const r = await replayAll(trace(proc(T0), proc(T0)));
    expect(events(r, 'ProcessCreate')).toHaveLength(0);
    expect(records(r, 'CollectorStats')).toEqual([{ Collector: 'process', Received: 2, Discarded: 0, Dropped: 0, Ignored: 2,
      Warnings: ['2 process events ignored: not supported by the rtos profile'] }]);
  });

  itOnEngines('prints a one-line JSON summary with --stats', async () => {
    const r = await replayAll(trace(conn(T0), '', 'x'), { stats: true });
    const last = r.stderr.trimEnd().split('\n').pop()!;
    expect(JSON.parse(last)).toMatchObject({ lines: 3, accepted: 1, skipped: 1, blank: 1, messages: 1,
      network: { received: 1, sent: 1, discarded: 0, dropped: 0, ignored: 0 } });
  });
});
