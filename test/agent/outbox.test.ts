import { describe, expect, it } from 'vitest';
import { Outbox, transportDropped } from '../../host/agent/outbox.js';
import { Core } from '../../host/core.js';
import { T0, conn, jsonText } from '../helpers.js';

describe('Outbox', () => {
  it('keeps everything within the bound, in order', () => {
    const o = new Outbox({ maxBytes: 100, maxMessages: 10 });
    for (let i = 0; i < 10; i++) expect(o.push(`m${i}`)).toBe(0);
    expect(o.length).toBe(10);
    expect(o.dropped).toBe(0);
    const got: string[] = [];
    for (let e = o.nextUnsent(); e; e = o.nextUnsent()) { got.push(jsonText(e.text)); e.inFlight = true; o.ack(e.id); }
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    expect(o.length).toBe(0);
    expect(o.bytes).toBe(0);
  });

  it('drops the oldest message when the count bound is hit, and counts it', () => {
    const o = new Outbox({ maxBytes: 1000, maxMessages: 3 });
    ['a', 'b', 'c'].forEach((m) => o.push(m));
    expect(o.push('d')).toBe(1);
    expect(o.dropped).toBe(1);
    expect(o.droppedBytes).toBe(1);
    expect(o.nextUnsent()!.text).toBe('b');
  });

  it('drops as many old messages as the byte bound needs', () => {
    const o = new Outbox({ maxBytes: 10, maxMessages: 100 });
    o.push('aaaa');
    o.push('bbbb');
    expect(o.push('cccccc')).toBe(1); // 4 + 4 + 6 > 10: only "aaaa" must go
    expect(o.bytes).toBe(10);
    expect(o.push('x'.repeat(11))).toBe(1); // larger than the whole outbox: refused, counted
    expect(o.dropped).toBe(2);
    expect(o.droppedBytes).toBe(4 + 11);
    expect(o.length).toBe(2);
  });

  it('never drops a message in flight; refuses the new one instead', () => {
    const o = new Outbox({ maxBytes: 1000, maxMessages: 2 });
    o.push('a');
    o.push('b');
    o.nextUnsent()!.inFlight = true;
    o.nextUnsent()!.inFlight = true;
    expect(o.push('c')).toBe(1);
    expect(o.length).toBe(2);
    expect(o.inFlightCount()).toBe(2);
  });

  it('sends in-flight messages again after a disconnect', () => {
    const o = new Outbox();
    o.push('a');
    o.push('b');
    const a = o.nextUnsent()!;
    a.inFlight = true;
    expect(o.nextUnsent()!.text).toBe('b');
    o.requeueInFlight();
    expect(o.nextUnsent()).toBe(a);
    o.ack(a.id);
    o.ack(a.id); // a late second acknowledgement changes nothing
    expect(o.length).toBe(1);
  });

  it('hands each dropped message to its owner, the refused one included', () => {
    const dropped: string[] = [];
    const o = new Outbox({ maxBytes: 10, maxMessages: 2 }, (t) => dropped.push(t as string));
    o.push('a'); o.push('b'); o.push('c');
    o.push('x'.repeat(11));
    expect(dropped).toEqual(['a', 'x'.repeat(11)]);
  });

  it('reads the transport count a message carries, in JSON and CBOR, and never from a string inside it', () => {
    for (const format of ['json', 'cbor'] as const) {
      const core = new Core('linux');
      core.setFormat(format);
      // A command line that spells a transport record: escaped in the message, so it is not one.
      core.ingestProcess({ t: T0, pid: 1, ppid: 0, uid: 0, type: 'exec', cmd: '"Collector":"transport","Received":0,"Discarded":0,"Dropped":99' });
      expect(core.finish().messages.map(transportDropped)).toEqual([0]);
      core.reportLoss('transport', 12);
      core.ingestLine(conn(T0 + 1));
      expect(core.finish().messages.map(transportDropped)).toEqual([12]);
    }
    expect(transportDropped(new Uint8Array([0xff]))).toBe(0);
  });
});
