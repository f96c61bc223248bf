// The numeric ABI (docs/ABI.md) on V8: typed ingest gives the same records as trace lines,
// pending messages make ingest calls BUSY, and rejected calls change nothing.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Core, Status, encodeConnection, type Message } from '../host/core.js';
import { jsonText, jsonTexts, root } from './helpers.js';

const T0 = Date.UTC(2026, 3, 1);

function drainAll(core: Core, ...results: { messages: Message[] }[]): string[] {
  return jsonTexts([...results.flatMap((r) => r.messages), ...core.finish().messages]);
}

describe('typed ingest', () => {
  it('connections, processes, baseline and sysinfo match the trace-line path byte for byte', () => {
    const typed = new Core('linux');
    const lines = new Core('linux');
    const a = [
      typed.ingestConnection({ t: T0, proto: 'udp', dir: 'in', local: new Uint8Array([10, 0, 0, 1]), remote: new Uint8Array([8, 8, 8, 8]),
        lport: 5353, rport: 53, bytesIn: 10, bytesOut: 20, app: 'dns', host: 'x.example' }),
      typed.ingestConnection({ t: T0 + 1, proto: 'tcp', dir: 'out', local: new Uint8Array(16).fill(0).map((_, i) => (i === 15 ? 1 : 0)),
        remote: Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 2]), lport: 1, rport: 2, bytesIn: 0, bytesOut: 0 }),
      typed.ingestProcess({ t: T0 + 2, pid: 7, ppid: 1, uid: 1000, type: 'fork', cmd: 'sleep 1', exe: '/bin/sleep' }),
      typed.ingestBaseline({ t: T0 + 3, id: 'c1', group: 'g', result: 'error', severity: 'warning', description: 'd', remediation: 'r', error: 'e' }),
      typed.ingestSysinfo({ t: T0 + 4, os: 'Linux', osVersion: '12', kernel: '6.1', hw: 'arm64', memTotal: 4096 }),
    ];
    const b = [
      lines.ingestLine(JSON.stringify({ kind: 'connection', t: T0, proto: 'udp', dir: 'in', local: '10.0.0.1', remote: '8.8.8.8', lport: 5353, rport: 53, bytesIn: 10, bytesOut: 20, app: 'dns', host: 'x.example' })),
      lines.ingestLine(JSON.stringify({ kind: 'connection', t: T0 + 1, proto: 'tcp', dir: 'out', local: '::1', remote: '2001:db8::2', lport: 1, rport: 2, bytesIn: 0, bytesOut: 0 })),
      lines.ingestLine(JSON.stringify({ kind: 'process', t: T0 + 2, pid: 7, ppid: 1, uid: 1000, type: 'fork', cmd: 'sleep 1', exe: '/bin/sleep' })),
      lines.ingestLine(JSON.stringify({ kind: 'baseline', t: T0 + 3, id: 'c1', group: 'g', result: 'error', severity: 'warning', description: 'd', remediation: 'r', error: 'e' })),
      lines.ingestLine(JSON.stringify({ kind: 'sysinfo', t: T0 + 4, os: 'Linux', osVersion: '12', kernel: '6.1', hw: 'arm64', memTotal: 4096 })),
    ];
    expect(a.map((r) => r.status)).toEqual([0, 0, 0, 0, 0]);
    const out = drainAll(typed, ...a);
    expect(out.length).toBeGreaterThan(0);
    expect(out).toEqual(drainAll(lines, ...b));
  });

  it('rejects out-of-range typed fields and time going backwards, changing nothing', () => {
    const core = new Core('rtos');
    const c = { t: T0, proto: 'tcp' as const, dir: 'out' as const, local: new Uint8Array(4), remote: new Uint8Array(4), lport: 1, rport: 2, bytesIn: 1, bytesOut: 1 };
    expect(core.ingestConnection(c).status).toBe(Status.Ok);
    const tooBig = core.ingestConnection({ ...c, bytesIn: 2 ** 53 });
    expect(tooBig).toMatchObject({ status: Status.Skipped, reason: 'field "bytesIn": out of range' });
    const back = core.ingestConnection({ ...c, t: T0 - 1 });
    expect(back.reason).toMatch(/is earlier than the previous input's time/);
    const out = core.finish().messages.map((m) => JSON.parse(jsonText(m)));
    expect(out[0].Events[0].Payload[0].HitCount).toBe(1);
  });
});

describe('batch ingest', () => {
  it('gives the same messages as one call per record, across window ends and a full input area', () => {
    const single = new Core('rtos');
    const batch = new Core('rtos');
    const recs = Array.from({ length: 3000 }, (_, i) => ({ t: T0 + i * 50, proto: 'udp' as const, dir: 'out' as const,
      local: new Uint8Array([10, 0, 0, 1]), remote: new Uint8Array([10, 0, 0, 2 + (i % 3)]), lport: 1000 + (i % 300), rport: 53,
      bytesIn: i, bytesOut: 1, host: i % 7 ? undefined : 'dns.example' }));
    const one = recs.flatMap((r) => single.ingestConnection(r).messages);
    one.push(...single.finish().messages);
    const bytes = Buffer.concat(recs.map(encodeConnection));
    const many = batch.ingestConnectionBatch(bytes);
    expect(many.skipped).toBe(0);
    expect([...many.messages, ...batch.finish().messages]).toEqual(one);
    expect(one.length).toBeGreaterThan(3);
  });

  it('counts rejected records and goes on', () => {
    const core = new Core('rtos');
    const ok = { t: T0, proto: 'tcp' as const, dir: 'out' as const, local: new Uint8Array(4), remote: new Uint8Array(4), lport: 1, rport: 2, bytesIn: 1, bytesOut: 1 };
    const bad = encodeConnection(ok);
    bad[60] = 9;   // no such protocol
    const r = core.ingestConnectionBatch(Buffer.concat([encodeConnection(ok), bad, encodeConnection(ok)]));
    expect(r.skipped).toBe(1);
    expect(JSON.parse(jsonText(core.finish().messages[0])).Events[0].Payload[0].HitCount).toBe(2);
  });
});

describe('raw exports', () => {
  const bytes = readFileSync(`${root}build/microtally-rtos.wasm`);
  const x = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as any;
  const mem = () => new Uint8Array(x.memory.buffer);
  const put = (s: string) => { const b = Buffer.from(s); mem().set(b, x.mt_input_ptr()); return b.length; };
  const error = () => Buffer.from(mem().subarray(x.mt_error_ptr(), x.mt_error_ptr() + x.mt_error_length())).toString();

  it('answers BUSY while messages are pending, then applies the input after the last chunk', () => {
    x.mt_init();
    const line = (t: number, port: number) => JSON.stringify({ kind: 'connection', t, proto: 'tcp', dir: 'out', local: '1.1.1.1', lport: port, remote: '2.2.2.2', rport: 1, bytesIn: 0, bytesOut: 0 });
    expect(x.mt_ingest_line(put(line(T0, 1)))).toBe(0);
    expect(x.mt_next_chunk()).toBe(0);
    expect(x.mt_ingest_line(put(line(T0 + 60_000, 2)))).toBe(0);   // closes the first window
    expect(x.mt_ingest_line(put(line(T0 + 60_000, 3)))).toBe(3);   // BUSY: nothing changed
    expect(x.mt_tick(BigInt(T0 + 90_000))).toBe(3);
    const n = x.mt_next_chunk();
    expect(n).toBeGreaterThan(0);
    expect(x.mt_chunk_ends_message()).toBe(1);
    const msg = JSON.parse(Buffer.from(mem().subarray(x.mt_output_ptr(), x.mt_output_ptr() + n)).toString());
    expect(msg.Events[0].Payload.map((p: any) => p.LocalPort)).toEqual([1]);
    expect(x.mt_next_chunk()).toBe(0);                                  // now port 2 is applied
    expect(x.mt_finish()).toBe(0);
    const m = x.mt_next_chunk();
    const last = JSON.parse(Buffer.from(mem().subarray(x.mt_output_ptr(), x.mt_output_ptr() + m)).toString());
    expect(last.Events[0].Payload.map((p: any) => p.LocalPort)).toEqual([2]);
  });

  it('keeps a deferred typed record even when the host overwrites the input area while draining', () => {
    x.mt_init();
    const rec = (t: number, port: number, host: string) => encodeConnection({ t, proto: 'tcp', dir: 'out', local: new Uint8Array([1, 1, 1, 1]),
      remote: new Uint8Array([2, 2, 2, 2]), lport: port, rport: 1, bytesIn: 0, bytesOut: 0, host });
    mem().set(rec(T0, 1, 'first'), x.mt_input_ptr());
    expect(x.mt_ingest_connection()).toBe(0);
    mem().set(rec(T0 + 60_000, 2, 'second.example'), x.mt_input_ptr());
    expect(x.mt_ingest_connection()).toBe(0);                         // deferred behind a send
    mem().fill(0xee, x.mt_input_ptr(), x.mt_input_ptr() + x.mt_input_capacity());
    while (x.mt_next_chunk() > 0);
    x.mt_finish();
    const n = x.mt_next_chunk();
    const last = JSON.parse(Buffer.from(mem().subarray(x.mt_output_ptr(), x.mt_output_ptr() + n)).toString());
    expect(last.Events[0].Payload[0]).toMatchObject({ LocalPort: 2, ExtraDetails: { HostName: 'second.example' } });
  });

  it('writes chunks no larger than the output area, ending messages only at their end', () => {
    x.mt_init();
    x.mt_ingest_line(put(JSON.stringify({ kind: 'config', t: T0, config: { maxMessageBytes: 262144 } })));
    while (x.mt_next_chunk() > 0);
    for (let i = 0; i < 200; i++) {
      x.mt_ingest_line(put(JSON.stringify({ kind: 'connection', t: T0, proto: 'udp', dir: 'in', local: '2001:db8::1', lport: i, remote: '2001:db8::2', rport: 53, bytesIn: 1, bytesOut: 1, host: 'h'.repeat(32) })));
    }
    x.mt_finish();
    const parts: Buffer[] = [];
    const messages: string[] = [];
    for (let n = x.mt_next_chunk(); n > 0; n = x.mt_next_chunk()) {
      expect(n).toBeLessThanOrEqual(x.mt_output_capacity());
      parts.push(Buffer.from(mem().subarray(x.mt_output_ptr(), x.mt_output_ptr() + n)));
      if (x.mt_chunk_ends_message()) { messages.push(Buffer.concat(parts).toString()); parts.length = 0; }
    }
    expect(parts).toHaveLength(0);
    expect(messages).toHaveLength(1);                       // one message far larger than the area
    expect(messages[0].length).toBeGreaterThan(20 * x.mt_output_capacity());
    expect(JSON.parse(messages[0]).Events[0].Payload).toHaveLength(200);
  });

  it('reports an oversized line and a bad agent id in the error area', () => {
    x.mt_init();
    expect(x.mt_oversized_line(99_999n)).toBe(1);
    expect(error()).toBe('line too long (99999 bytes; the limit is 4096)');
    // 64-bit lengths, exact past 2^31 and 2^32 (a line longer than 2 GiB), up to 2^64 - 1
    for (const n of [2n ** 31n, 2n ** 32n + 5n, 2n ** 64n - 1n]) {
      expect(x.mt_oversized_line(n)).toBe(1);
      expect(error()).toBe(`line too long (${n} bytes; the limit is 4096)`);
    }
    expect(x.mt_set_agent_id(put('xyz'))).toBe(1);
    expect(error()).toMatch(/UUID/);
    expect(x.mt_set_agent_id(put('00000000-0000-0000-0000-00000000000A'))).toBe(0);
    expect(x.mt_tick(BigInt(T0))).toBe(0);
    expect(x.mt_set_agent_id(put('00000000-0000-0000-0000-000000000001'))).toBe(1);
    expect(error()).toMatch(/before the first input/);
  });
});
