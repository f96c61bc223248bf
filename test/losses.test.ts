// Losses the core did not see (SPEC R5, R8): the host reports them (`mt_report_loss`,
// `mt_report_gap`) and the next message's CollectorStats carries them: events lost at the
// source as Received and Dropped of their collector, messages the outbox could not keep as the
// `transport` record's Dropped, each with a warning naming the number.

import { describe, expect, it } from 'vitest';
import { Core, type Message } from '../host/core.js';
import { decodeSequence } from '../host/decode.js';
import { validateMessage, T0, conn, proc, tick } from './helpers.js';

const AGENT = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

function core(profile: 'rtos' | 'linux' = 'rtos', format: 'json' | 'cbor' = 'json'): Core {
  const c = new Core(profile);
  expect(c.setAgentId(AGENT)).toBeUndefined();
  expect(c.setFormat(format)).toBeUndefined();
  return c;
}

function json(ms: Message[]): any[] {
  return ms.map((m) => {
    const v = JSON.parse(m as string);
    expect(validateMessage(v), JSON.stringify(validateMessage.errors)).toBe(true);
    return v;
  });
}

function stats(ms: any[], collector: string): any[] {
  return ms.flatMap((m) => m.Events.filter((e: any) => e.Name === 'CollectorStats')
    .flatMap((e: any) => e.Payload.filter((p: any) => p.Collector === collector)));
}

/** What the C bindings' test (test/c/test_bindings.c, test_report_loss) must print byte for byte. */
export const TRANSPORT_MESSAGE = '{"AgentVersion":"0.1.0","AgentId":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0","MessageSchemaVersion":"1.1",'
  + '"Events":[{"EventType":"Diagnostic","Category":"Periodic","Name":"CollectorStats","IsEmpty":false,"PayloadSchemaVersion":"1.0",'
  + '"Id":"325ecc63-0606-8660-84f0-843d21fecad1","TimestampLocal":"2023-11-15T00:13:20.000Z","TimestampUTC":"2023-11-15T00:13:20.000Z",'
  + '"Payload":[{"Collector":"network","Received":3,"Discarded":0,"Dropped":3,"Ignored":0,"Warnings":["3 events lost at the source",'
  + '"2 losses of unknown size at the source","event source down 1.3 s: events of that time may be missing"]},'
  + '{"Collector":"transport","Received":0,"Discarded":0,"Dropped":7,"Ignored":0,"Warnings":["7 messages dropped by the outbox"]}]}]}';

describe('losses reported by the host', () => {
  it('a transport loss rides with the next message that leaves, once, as the transport record', () => {
    const c = core();
    expect(c.ingestLine(conn(T0)).messages).toEqual([]);
    expect(c.reportLoss('transport', 4)).toBeUndefined();
    expect(c.reportLoss('transport', 3)).toBeUndefined();
    const first = json(c.tick(T0 + 30_000).messages);
    expect(first).toHaveLength(1);
    expect(stats(first, 'transport')).toEqual([{ Collector: 'transport', Received: 0, Discarded: 0, Dropped: 7, Ignored: 0,
      Warnings: ['7 messages dropped by the outbox'] }]);
    // Records of the window come first; the transport's CollectorStats record is the last.
    const payload = first[0].Events.at(-1).Payload;
    expect(payload.at(-1).Collector).toBe('transport');
    // Counted once: the next window's message carries no transport record.
    c.ingestLine(conn(T0 + 31_000));
    const second = json(c.tick(T0 + 60_000).messages);
    expect(second).toHaveLength(1);
    expect(stats(second, 'transport')).toEqual([]);
  });

  it('a loss alone makes a message at the next window end, and no message before', () => {
    const c = core();
    c.tick(T0);
    expect(c.reportLoss('transport', 2)).toBeUndefined();
    expect(c.tick(T0 + 29_999).messages).toEqual([]);
    const ms = json(c.tick(T0 + 30_000).messages);
    expect(ms).toHaveLength(1);
    expect(ms[0].Events.map((e: any) => e.Name)).toEqual(['CollectorStats']);
    expect(stats(ms, 'transport')[0].Dropped).toBe(2);
  });

  it('lost process events count as Received and Dropped, so the counters still add up', () => {
    const c = core('linux');
    for (let i = 0; i < 5; i++) c.ingestLine(proc(T0 + i, { cmd: `/bin/true ${i % 2}` }));
    expect(c.reportLoss('process', 4027)).toBeUndefined();
    const ms = json(c.finish().messages);
    const [s] = stats(ms, 'process');
    const hits = ms.flatMap((m) => m.Events.filter((e: any) => e.Name === 'ProcessCreate').flatMap((e: any) => e.Payload))
      .reduce((n: number, r: any) => n + r.HitCount, 0);
    expect(hits).toBe(5);
    expect(s).toMatchObject({ Received: 4032, Dropped: 4027, Discarded: 0, Ignored: 0, Warnings: ['4027 events lost at the source'] });
    expect(s.Received).toBe(hits + s.Discarded + s.Dropped + s.Ignored);
    expect(JSON.parse(c.stats()).process).toMatchObject({ received: 4032, sent: 5, dropped: 4027 });
  });

  it('a full cache and lost events are told apart in the warnings (linux network replaces the oldest)', () => {
    const c = core('linux');
    c.configure(T0, JSON.stringify({ network: { cacheSize: 1 } }));
    c.ingestLine(conn(T0 + 1, { rport: 1 }));
    c.ingestLine(conn(T0 + 2, { rport: 2 }));
    c.reportLoss('network', 10);
    const [s] = stats(json(c.finish().messages), 'network');
    expect(s).toMatchObject({ Received: 12, Discarded: 1, Dropped: 10 });
    expect(s.Warnings).toEqual(['10 events lost at the source', expect.stringMatching(/^network cache full \(1 entries\): 1 oldest replaced/)]);
  });

  it('the rtos profile counts the transport\'s losses only: a device\'s RAM pays for nothing else', () => {
    const c = core('rtos');
    expect(c.reportLoss('network', 1)).toBe('field "Collector": out of range');
    expect(c.reportLoss('process', 1)).toBe('field "Collector": out of range');
    expect(c.reportGap('network', 1)).toBe('field "Collector": out of range');
    expect(c.reportLoss('transport', 5)).toBeUndefined();
    c.ingestLine(conn(T0));
    const ms = json(c.finish().messages);
    expect(stats(ms, 'network')[0]).toMatchObject({ Received: 1, Dropped: 0, Warnings: [] });
    expect(stats(ms, 'transport')[0]).toMatchObject({ Dropped: 5, Warnings: ['5 messages dropped by the outbox'] });
  });

  it('a loss of unknown size and a downtime are warnings; the counters do not move', () => {
    const c = core('linux');
    c.tick(T0);
    expect(c.reportLoss('process', 'unknown')).toBeUndefined();
    expect(c.reportLoss('process', 'unknown')).toBeUndefined();
    expect(c.reportGap('process', 3150)).toBeUndefined();
    expect(c.reportGap('network', 40)).toBeUndefined();
    const ms = json(c.finish().messages);
    expect(stats(ms, 'process')).toEqual([{ Collector: 'process', Received: 0, Discarded: 0, Dropped: 0, Ignored: 0,
      Warnings: ['2 losses of unknown size at the source', 'event source down 3.2 s: events of that time may be missing'] }]);
    // Tenths of a second rounded up: a short gap never reads 0.0 s.
    expect(stats(ms, 'network')[0].Warnings).toEqual(['event source down 0.1 s: events of that time may be missing']);
  });

  it('refuses what it cannot count, naming why, and changes nothing', () => {
    const c = core('linux');
    const abi = (c as any).x;
    for (const what of [2, 4, -1, 0x103, 0x102, 0x200]) {
      // Baseline results are the platform's own (nothing lost on the way); the transport has no downtime.
      expect(abi.mt_report_loss(1n, what), `what ${what}`).toBe(1);
      expect((c as any).error()).toBe('field "Collector": out of range');
    }
    expect(c.reportLoss('transport', 'unknown')).toBe('field "Dropped": out of range');
    expect(c.reportLoss('process', 2 ** 53)).toBe('field "Dropped": out of range');
    expect(abi.mt_report_loss(-2n, 0)).toBe(1);
    expect(c.reportGap('process', -1)).toBe('field "ms": out of range');
    c.ingestLine(conn(T0));
    const ms = json(c.finish().messages);
    expect(stats(ms, 'transport')).toEqual([]);
    expect(stats(ms, 'network')[0]).toMatchObject({ Received: 1, Dropped: 0, Warnings: [] });
    expect(stats(ms, 'process')).toEqual([]);
  });

  it('a record that does not fit the message goes whole into the next one, counted once', () => {
    const c = core();
    c.configure(T0, JSON.stringify({ maxMessageBytes: 1024 }));
    for (let i = 0; i < 40; i++) c.ingestLine(conn(T0 + 1 + i, { rport: 1000 + i }));
    c.reportLoss('transport', 9);
    const ms = json(c.finish().messages);
    expect(ms.length).toBeGreaterThan(3);
    for (const m of ms) expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThanOrEqual(1024);
    expect(stats(ms, 'transport').map((s) => s.Dropped)).toEqual([9]);
  });

  it('CBOR carries the transport record; decode gives back the JSON bytes', () => {
    const run = (format: 'json' | 'cbor'): Message[] => {
      const c = core('linux', format);
      c.ingestLine(conn(T0));
      c.reportLoss('network', 3);
      c.reportLoss('network', 'unknown');
      c.reportLoss('transport', 7);
      c.reportGap('network', 1234);
      return c.finish().messages;
    };
    const cbor = run('cbor');
    expect(cbor.every((m) => m instanceof Uint8Array)).toBe(true);
    const text = run('json').map((m) => `${m}\n`).join('');
    expect(decodeSequence(Buffer.concat(cbor as Uint8Array[]))).toBe(text);
  });

  it('prints the bytes the C bindings test expects (one trace of calls, every engine)', () => {
    const c = core('linux');
    c.tick(1700000000000);
    c.reportLoss('network', 3);
    c.reportLoss('network', 'unknown');
    c.reportLoss('network', 'unknown');
    c.reportGap('network', 1201);
    c.reportLoss('transport', 7);
    expect(c.tick(1700000000000 + 7_200_000).messages).toEqual([TRANSPORT_MESSAGE]);
  });
});
