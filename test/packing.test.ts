// Block packing (SPEC R8, maxPackingDelay): windows that end within the delay travel in one
// message while it fits maxMessageBytes; no event waits longer than the delay; high-priority
// collectors never wait; a configuration change or the end of input sends everything first
// (SPEC R6). Checked on the core input by input (when each message leaves), and on every
// engine (the same bytes, and decode(CBOR) == JSON).
import { describe, expect, it } from 'vitest';
import { Core, type Message } from '../host/core.js';
import { decodeSequence } from '../host/decode.js';
import { base, config, conn, engine, engineNames, replayAll, T0, tick, trace, itOnEngines } from './helpers.js';

const text = (m: Message) => (typeof m === 'string' ? m : decodeSequence(m).trimEnd());

/** Feeds lines one by one; returns each message with the time of the input that sent it. */
function sends(lines: string[], format: 'json' | 'cbor' = 'json'): { at: number; msg: any }[] {
  const core = new Core('rtos');
  if (format === 'cbor') core.setFormat('cbor');
  const out: { at: number; msg: any }[] = [];
  for (const l of lines) {
    const r = core.ingestLine(l);
    expect(r.status, r.reason).toBe(0);
    for (const m of r.messages) out.push({ at: JSON.parse(l).t, msg: JSON.parse(text(m)) });
  }
  for (const m of core.finish().messages) out.push({ at: Infinity, msg: JSON.parse(text(m)) });
  return out;
}

const times = (m: any) => m.Events.map((e: any) => Date.parse(e.TimestampUTC));
const hits = (ms: { msg: any }[]) => ms.flatMap((s) => s.msg.Events).filter((e: any) => e.Name === 'ConnectionCreate')
  .flatMap((e: any) => e.Payload).reduce((n: number, r: any) => n + r.HitCount, 0);

/** A connection every second for `seconds`, with a tick every second so time passes exactly. */
function steady(seconds: number, head: string[] = []): string[] {
  const lines = [...head];
  for (let s = 0; s < seconds; s++) lines.push(conn(T0 + s * 1000, { lport: 40000 + (s % 3) }), tick(T0 + s * 1000 + 500));
  return lines;
}

describe('block packing', () => {
  it('packs the windows that end within the delay into one message, and no event waits longer', () => {
    const delay = 120;
    // Large messages: time, not size, closes them here.
    const out = sends(steady(1200, [config(T0, { maxPackingDelay: delay, maxMessageBytes: 65536 })]));
    const plain = sends(steady(1200, [config(T0, { maxMessageBytes: 65536 })]));
    // 30 s windows ending 30..150 s after a message's first: five windows per message instead of one.
    expect(out.length).toBeLessThanOrEqual(Math.ceil(plain.length / 5) + 1);
    // …and they leave while the input goes on, not all at its end: all but the last run of windows.
    const early = out.filter((o) => o.at !== Infinity);
    expect(early.length).toBeGreaterThanOrEqual(Math.floor(plain.length / 5) - 1);
    expect(hits(out)).toBe(1200);
    expect(hits(plain)).toBe(1200);
    for (const { at, msg } of out) {
      const ts = times(msg);
      expect(ts.length).toBeGreaterThan(1);
      // Sent by the first input at or after its last window's end, at most the delay after its first.
      if (at !== Infinity) expect(at - ts[0]).toBeLessThanOrEqual(delay * 1000 + 1000);
      expect(Math.max(...ts) - ts[0]).toBeLessThanOrEqual(delay * 1000);
    }
  });

  it('sends a high-priority collector\'s window at its end, with whatever waited before it', () => {
    const lines = [config(T0, { maxPackingDelay: 600, network: { priority: 'high' }, baseline: { interval: 'low' } })];
    for (let s = 0; s < 300; s++) {
      lines.push(conn(T0 + s * 1000), tick(T0 + s * 1000 + 500));
      if (s % 20 === 0) lines.push(base(T0 + s * 1000 + 600, { id: `c${s}` }));
    }
    const out = sends(lines);
    // 30 network windows of 10 s: each leaves at its end, the last one at the end of input.
    expect(out.filter((o) => o.at !== Infinity).length).toBeGreaterThanOrEqual(29);
    for (const { at, msg } of out.slice(0, -1)) {
      const ts = times(msg);
      // Every message leaves at the end of the network window it holds (10 s windows).
      const net = msg.Events.filter((e: any) => e.Name === 'ConnectionCreate');
      expect(net.length).toBeGreaterThan(0);
      expect(at - Math.max(...ts)).toBeLessThan(1000);
    }
  });

  it('a configuration change sends what waits before it applies, and so does the end of input', () => {
    const lines = steady(100, [config(T0, { maxPackingDelay: 600, maxMessageBytes: 65536 })]);
    const change = T0 + 100_000;
    const out = sends([...lines, config(change, { priorityIntervals: { medium: 20 } }), conn(change + 1)]);
    // Windows ended at 30, 60 and 90 s and waited; the change sends them and the open window, at its time.
    const atChange = out.filter((s) => s.at === change);
    expect(atChange).toHaveLength(1);
    expect(times(atChange[0].msg)).toEqual([T0 + 30_000, T0 + 30_000, T0 + 60_000, T0 + 60_000, T0 + 90_000, T0 + 90_000, change, change]);
    expect(out.filter((s) => s.at < change)).toHaveLength(0);
    const last = out[out.length - 1];
    expect(last.at).toBe(Infinity);
    expect(hits(out)).toBe(101);
  });

  it('a packed message never exceeds maxMessageBytes: it closes, the run goes on in the next', () => {
    const lines = [config(T0, { maxPackingDelay: 3600, maxMessageBytes: 2048 })];
    for (let s = 0; s < 600; s++) lines.push(conn(T0 + s * 1000, { lport: s % 40 }));
    const core = new Core('rtos');
    const msgs = [...lines.flatMap((l) => core.ingestLine(l).messages), ...core.finish().messages] as string[];
    expect(msgs.length).toBeGreaterThan(3);
    for (const m of msgs) expect(Buffer.byteLength(m)).toBeLessThanOrEqual(2048);
    expect(hits(msgs.map((m) => ({ msg: JSON.parse(m) })))).toBe(600);
  });

  itOnEngines('the same bytes on every engine, in both formats, and decode(CBOR) == JSON', async () => {
    const lines = steady(900, [config(T0, { maxPackingDelay: 300, maxMessageBytes: 1536 })]);
    lines.splice(400, 0, base(T0 + 200_000), config(T0 + 200_000, { maxPackingDelay: 45, network: { priority: 'low' } }));
    const bytes = Buffer.from(trace(...lines));
    const r = await replayAll(bytes, { maxMessageBytes: 1536 });
    expect(r.messages.length).toBeGreaterThan(5);
    for (const n of engineNames()) {
      const cbor = await (await engine(n)).replay(bytes, { profile: 'rtos', format: 'cbor' });
      expect(decodeSequence(cbor.stdoutBytes), n).toBe(r.stdout);
    }
  }, 300_000);
});
