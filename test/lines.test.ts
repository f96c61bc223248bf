// SPEC R10: every malformed line is reported as `line N: reason`, skipped with no effect
// at all (its time included), and the exit status says whether lines were skipped.
import { describe, expect, it } from 'vitest';
import { T0, conn, records, replayAll, trace, tick, line, iso, itOnEngines } from './helpers.js';

const bad: [string, string, RegExp][] = [
  ['bad JSON', '{"kind":"connection",', /^invalid JSON/],
  ['not an object', '[1,2]', /^invalid JSON: expected an object/],
  ['trailing garbage', conn(T0) + ' x', /^invalid JSON: unexpected characters/],
  ['missing kind', line({ t: T0 }), /^missing field "kind"/],
  ['unknown kind', line({ kind: 'nope', t: T0 }), /^field "kind": expected one of/],
  ['missing t', line({ kind: 'tick' }), /^missing field "t"/],
  ['fractional t', line({ kind: 'tick', t: 1.5 }), /^field "t": expected an integer/],
  ['string t', line({ kind: 'tick', t: '5' }), /^field "t": expected an integer/],
  ['negative t', line({ kind: 'tick', t: -1 }), /^field "t": expected an integer from 0/],
  ['missing field', line({ kind: 'connection', t: T0, proto: 'tcp' }), /^field "dir"|^missing field "dir"/],
  ['bad protocol', conn(T0, { proto: 'sctp' }), /^field "proto": expected "tcp", "udp" or "icmp"/],
  ['bad direction', conn(T0, { dir: 'up' }), /^field "dir": expected "in" or "out"/],
  ['bad IPv4', conn(T0, { local: '10.0.0.256' }), /^field "local": expected an IPv4 or IPv6 address/],
  ['leading zero IPv4', conn(T0, { local: '10.0.0.01' }), /^field "local"/],
  ['bad IPv6', conn(T0, { remote: '2001:db8:::1' }), /^field "remote"/],
  ['IPv6 with zone', conn(T0, { remote: 'fe80::1%eth0' }), /^field "remote"/],
  ['port too large', conn(T0, { lport: 65536 }), /^field "lport": expected an integer from 0 to 65535/],
  ['negative port', conn(T0, { rport: -1 }), /^field "rport"/],
  ['unsafe byte count', conn(T0, { bytesIn: 2 ** 53 }), /^field "bytesIn": expected an integer from 0 to 9007199254740991/],
  ['negative byte count', conn(T0, { bytesOut: -5 }), /^field "bytesOut"/],
  ['fractional bytes', conn(T0, { bytesOut: 0.5 }), /^field "bytesOut"/],
  ['string app', conn(T0, { app: 5 }), /^field "app": expected a string/],
];

describe('malformed lines (R10)', () => {
  for (const [name, text, reason] of bad) {
    itOnEngines(`skips ${name} with a reason and no effect`, async () => {
      const r = await replayAll(trace(conn(T0), text, conn(T0 + 1)));
      expect(r.exitCode).toBe(1);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      const m = /^line 2: (.*)$/.exec(lines[0]);
      expect(m, r.stderr).not.toBeNull();
      expect(m![1]).toMatch(reason);
      const recs = records(r, 'ConnectionCreate');
      expect(recs).toHaveLength(1);
      expect(recs[0].HitCount).toBe(2);
    });
  }

  itOnEngines('a line whose time goes backwards is skipped, and its time does not count', async () => {
    const r = await replayAll(trace(conn(T0 + 10_000), conn(T0 + 5000), conn(T0 + 10_000), tick(T0 + 40_000)));
    expect(r.stderr).toBe(`line 2: time ${T0 + 5000} is earlier than the previous input's time ${T0 + 10_000}\n`);
    expect(records(r, 'ConnectionCreate')[0].HitCount).toBe(2);
  });

  itOnEngines('a skipped line with a late time does not move windows', async () => {
    const r = await replayAll(trace(conn(T0), line({ kind: 'connection', t: T0 + 100_000 }), conn(T0 + 1000)));
    const ev = r.messages.flatMap((m) => m.Events).filter((e: any) => e.Name === 'ConnectionCreate');
    expect(ev).toHaveLength(1);
    expect(ev[0].TimestampUTC).toBe(iso(T0 + 1000));
  });

  itOnEngines('counts blank lines in the numbering and ignores them', async () => {
    const r = await replayAll(`${conn(T0)}\n\n   \n{oops}\n${conn(T0)}\r\n`);
    expect(r.stderr).toMatch(/^line 4: invalid JSON/);
    expect(records(r, 'ConnectionCreate')[0].HitCount).toBe(2);
  });

  itOnEngines('exits 0 when every line is used', async () => {
    const r = await replayAll(trace(conn(T0), tick(T0 + 1)));
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
  });

  itOnEngines('rejects a line longer than the input area with its length', async () => {
    const long = conn(T0, { host: 'h'.repeat(5000) });
    const r = await replayAll(trace(conn(T0), long, conn(T0)));
    expect(r.stderr).toBe(`line 2: line too long (${Buffer.byteLength(long)} bytes; the limit is 4096)\n`);
    expect(records(r, 'ConnectionCreate')[0].HitCount).toBe(2);
  });

  itOnEngines('a trailing \\r never makes a line too long: a limit-length line ends in LF or CRLF alike', async () => {
    const sized = (n: number) => conn(T0, { host: 'h'.repeat(n - conn(T0, { host: '' }).length) });
    const atLimit = sized(4096), over = sized(4097);
    expect([Buffer.byteLength(atLimit), Buffer.byteLength(over)]).toEqual([4096, 4097]);
    const lf = await replayAll(trace(atLimit, conn(T0)));
    const crlf = await replayAll(`${atLimit}\r\n${conn(T0)}\r\n`);
    expect(crlf.stderr).toBe('');
    expect(crlf.stdout).toBe(lf.stdout);
    expect(records(crlf, 'ConnectionCreate').map((c) => c.HitCount)).toEqual([2]);
    // One byte over stays too long; its length counts every byte but the newline.
    const r = await replayAll(`${over}\r\n${conn(T0)}\r\n`);
    expect(r.stderr).toBe('line 1: line too long (4098 bytes; the limit is 4096)\n');
    expect(records(r, 'ConnectionCreate')[0].HitCount).toBe(1);
  });

  itOnEngines('parser limits (docs/FORMATS.md): members per line, counting nested ones, and nesting depth', async () => {
    // A connection line has 10 members of its own; `x` adds one object member and its n members.
    const members = (n: number) => conn(T0, { x: Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, i])) });
    const nest = (d: number, open: string, close: string) => conn(T0).slice(0, -1) + ',"n":' + open.repeat(d) + '1' + close.repeat(d) + '}';
    for (const [profile, limit] of [['rtos', 64], ['linux', 512]] as const) {
      const atLimit = members(limit - 11), over = members(limit - 10);
      expect(Object.keys(JSON.parse(atLimit)).length + limit - 11).toBe(limit);
      const deepLines = [nest(16, '{"a":', '}'), nest(17, '{"a":', '}'), nest(16, '[', ']'), nest(17, '[', ']')];
      const r = await replayAll(trace(atLimit, over, ...deepLines, conn(T0)), { profile });
      // A member counts when its value ends: x comes after its own members, and is the one too many;
      // the column is the one just after its value (the line's closing brace).
      const col = over.length;
      const deep = conn(T0).length - 1 + ',"n":'.length + 1;
      expect(r.stderr).toBe(`line 2: invalid JSON: too many members at column ${col}\n` +
        `line 4: invalid JSON: nesting too deep at column ${deep + 16 * 5}\n` +
        `line 6: invalid JSON: nesting too deep at column ${deep + 16}\n`);
      expect(records(r, 'ConnectionCreate')[0].HitCount).toBe(4);
    }
    // A configuration line setting every key: 28 members, well within rtos's 64.
    const collector = { enabled: true, priority: 'high', aggregation: true, cacheSize: 8 };
    const full = line({ kind: 'config', t: T0, config: { process: collector, network: collector,
      systemInformation: { enabled: true, interval: 'low' }, baseline: { enabled: true, interval: 'low', disabledGroups: [], disabledChecks: [] },
      priorityIntervals: { high: 30, medium: 60, low: 3600 }, maxMessageBytes: 4096, sendEmptyWindows: false, utcOffsetMinutes: 0 } });
    expect(full.match(/":/g)).toHaveLength(28);
    const r = await replayAll(trace(full, conn(T0)));
    expect(r.stderr).toBe('');
  });

  itOnEngines('accepts JSON forms of integers and fields in any order, with unknown fields ignored', async () => {
    const text = '{"extra":{"deep":[1,{"x":null}]},"bytesOut":5e0,"bytesIn":1.0E2,"rport":8883,"remote":"20.1.2.3",' +
      '"lport":40000,"local":"10.0.0.2","dir":"out","proto":"tcp","t":' + T0 + ',"kind":"connection"}';
    const r = await replayAll(trace(text, conn(T0)));
    expect(r.exitCode).toBe(0);
    expect(records(r, 'ConnectionCreate')[0]).toMatchObject({ HitCount: 2, BytesIn: 200, BytesOut: 55 });
  });
});
