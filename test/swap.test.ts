// ABI 5 (docs/ABI.md, "Swapping cores"): the carry-over record that lets a new core continue a
// run where the old one stopped (mt_state_save / mt_state_restore), the AgentUpdate record
// (mt_report_update) and the Heartbeat (mt_heartbeat). The scenarios below are repeated step for
// step by test/c/test_bindings.c (test_swap_state, test_heartbeat) on wasm3 and ahead of time:
// both check the same FNV-1a digest of the output, so every engine prints the same bytes.

import { describe, expect, it } from 'vitest';
import { Core, Status, type Message } from '../host/core.js';
import { decodeSequence } from '../host/decode.js';
import { validateMessage } from './helpers.js';

const AGENT = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const T0 = 1700000000000;

/** The C test's conn_line at time t. */
function connLine(t: number): string {
  return `{"kind":"connection","t":${t},"proto":"tcp","dir":"out","local":"10.0.0.2","lport":50000,"remote":"52.1.2.3",`
    + '"rport":443,"bytesIn":100,"bytesOut":200,"app":"https","host":"example.com"}';
}

const REJECTED = { FromVersion: '0.1.0', ToVersion: '0.2.0', FromSequence: 1, ToSequence: 2, Result: 'rejected' as const,
  Reason: "bad signature: the envelope is not signed by this agent's key" };
const APPLIED = { FromVersion: '0.1.0', ToVersion: '0.2.0', FromSequence: 1, ToSequence: 2, Result: 'applied' as const };
const HEARTBEAT = { UptimeSeconds: 3600, EventsSeen: 12, OutboxMessages: 3, OutboxBytes: 4096 };

/** FNV-1a, 64 bits: the digest the C test compares too. */
export function fnv1a64(bytes: Uint8Array): string {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

function bytesOf(ms: Message[]): Uint8Array {
  return Buffer.concat(ms.map((m) => (typeof m === 'string' ? Buffer.from(`${m}\n`) : Buffer.from(m))));
}

function fresh(profile: 'rtos' | 'linux', format: 'json' | 'cbor'): Core {
  const c = new Core(profile);
  expect(c.setAgentId(AGENT)).toBeUndefined();
  expect(c.setFormat(format)).toBeUndefined();
  return c;
}

function ok(r: { status: Status; reason?: string; messages: Message[] }, out: Message[]): void {
  expect(r.reason).toBeUndefined();
  expect(r.status).toBe(Status.Ok);
  out.push(...r.messages);
}

/** The rtos swap scenario (test_swap_state in C): old core A, its record, new core B. */
function swapScenario(format: 'json' | 'cbor'): Message[] {
  const out: Message[] = [];
  const a = fresh('rtos', format);
  ok(a.ingestLine(connLine(T0)), out);
  expect(a.reportUpdate(REJECTED)).toBeUndefined();
  expect(a.reportUpdate(REJECTED)).toBe('an AgentUpdate record waits');
  expect(a.saveState()).toBe('data waits to be sent (mt_finish)');
  ok(a.tick(T0 + 30000), out);
  ok(a.ingestLine(connLine(T0 + 31000)), out);
  expect(a.saveState()).toBe('data waits to be sent (mt_finish)');
  ok(a.finish(), out);
  const record = a.saveState();
  expect(record).toBeInstanceOf(Uint8Array);
  const rec = record as Uint8Array;
  expect(rec.length).toBe(280);

  const b = fresh('rtos', format);
  expect(b.restoreState(rec.subarray(0, 279))).toBe('state record malformed');
  expect(b.restoreState(rec)).toBeUndefined();
  expect(b.reportUpdate(APPLIED)).toBeUndefined();
  ok(b.ingestLine(connLine(T0 + 40000)), out);
  ok(b.tick(T0 + 61000), out);
  const hb = b.heartbeat(T0 + 62000, HEARTBEAT);
  expect(hb.status).toBe(Status.Skipped);
  expect(hb.reason).toBe('the heartbeat is linux only');
  ok(b.finish(), out);
  return out;
}

/** The linux heartbeat scenario (test_heartbeat in C). */
function heartbeatScenario(format: 'json' | 'cbor'): Message[] {
  const out: Message[] = [];
  const c = fresh('linux', format);
  ok(c.ingestLine(connLine(T0)), out);
  ok(c.heartbeat(T0 + 5000, HEARTBEAT), out);
  ok(c.finish(), out);
  return out;
}

/** Digests test/c/test_bindings.c checks on wasm3 and ahead of time. */
export const SWAP_DIGEST = '4f7386ef08e5f643';
export const HEARTBEAT_DIGEST = '6bb6a2a03793ed5b';

describe('core swap: the carry-over record (ABI 5)', () => {
  it('a new core continues the run: event Ids never repeat, windows keep their timing, totals go on', () => {
    const ms = swapScenario('json').map((m) => JSON.parse(m as string));
    for (const m of ms) expect(validateMessage(m), JSON.stringify(validateMessage.errors)).toBe(true);
    expect(ms.length).toBe(3);
    const ids = ms.flatMap((m) => m.Events.map((e: any) => e.Id));
    expect(new Set(ids).size).toBe(ids.length);
    // The old core's window (started at T0, 30 s) goes on in the new one: it closes at T0 + 60 s.
    expect(ms[2].Events[0].TimestampUTC).toBe(new Date(T0 + 60000).toISOString());
    const updates = ms.flatMap((m) => m.Events.filter((e: any) => e.Name === 'AgentUpdate'));
    expect(updates.map((e: any) => e.Payload)).toEqual([[REJECTED], [APPLIED]]);
    expect(updates.every((e: any) => e.EventType === 'Diagnostic' && e.Category === 'Triggered')).toBe(true);
    // Every connection before and after the swap is in a message, counted once.
    const conns = ms.flatMap((m) => m.Events.filter((e: any) => e.Name === 'ConnectionCreate').flatMap((e: any) => e.Payload));
    expect(conns.length).toBe(3);
  });

  it('the same run without a swap gives the same event Ids (the record carries the event number)', () => {
    const out: Message[] = [];
    const c = fresh('rtos', 'json');
    ok(c.ingestLine(connLine(T0)), out);
    expect(c.reportUpdate(REJECTED)).toBeUndefined();
    ok(c.tick(T0 + 30000), out);
    ok(c.ingestLine(connLine(T0 + 31000)), out);
    ok(c.finish(), out);
    expect(c.reportUpdate(APPLIED)).toBeUndefined();
    ok(c.ingestLine(connLine(T0 + 40000)), out);
    ok(c.tick(T0 + 61000), out);
    ok(c.finish(), out);
    expect(out).toEqual(swapScenario('json'));
    const stats = JSON.parse(c.stats());
    expect(stats.messages).toBe(3);
  });

  it('CBOR: decode gives back the JSON lines of the swap and of the heartbeat', () => {
    expect(decodeSequence(bytesOf(swapScenario('cbor')))).toBe(Buffer.from(bytesOf(swapScenario('json'))).toString());
    expect(decodeSequence(bytesOf(heartbeatScenario('cbor')))).toBe(Buffer.from(bytesOf(heartbeatScenario('json'))).toString());
  });

  it('restore refuses a record of another version, profile or agent id, or a malformed one, and changes nothing', () => {
    const a = fresh('rtos', 'json');
    a.ingestLine(connLine(T0));
    a.finish();
    const rec = a.saveState() as Uint8Array;
    const b = fresh('rtos', 'json');
    const v2 = rec.slice(); v2[4] = 2;
    expect(b.restoreState(v2)).toBe('unknown state record version 2');
    const magic = rec.slice(); magic[0] ^= 1;
    expect(b.restoreState(magic)).toBe('state record malformed');
    const profile = rec.slice(); profile[6] = 1;
    expect(b.restoreState(profile)).toBe('state record of another agent or profile');
    const badStart = rec.slice(); new DataView(badStart.buffer).setBigInt64(40, BigInt(T0 + 1), true);
    expect(b.restoreState(badStart)).toBe('state record malformed');
    const other = new Core('rtos');
    expect(other.restoreState(rec)).toBe('state record of another agent or profile');
    const l = fresh('linux', 'json');
    expect(l.restoreState(rec)).toBe('state record of another agent or profile');
    // Nothing changed: b still starts a fresh run.
    expect(b.saveState()).toBeInstanceOf(Uint8Array);
    expect(JSON.parse(b.stats()).lines).toBe(0);
  });

  it('wasm3 and ahead of time print the same bytes (digests the C test checks)', () => {
    expect(fnv1a64(bytesOf(swapScenario('json')))).toBe(SWAP_DIGEST);
    expect(fnv1a64(bytesOf(heartbeatScenario('json')))).toBe(HEARTBEAT_DIGEST);
  });
});

describe('AgentUpdate and Heartbeat records', () => {
  it('an AgentUpdate goes out with the next message that leaves, once', () => {
    const c = fresh('rtos', 'json');
    c.ingestLine(connLine(T0));
    expect(c.reportUpdate(REJECTED)).toBeUndefined();
    const first = c.tick(T0 + 30000).messages.map((m) => JSON.parse(m as string));
    expect(first.flatMap((m) => m.Events.map((e: any) => e.Name))).toEqual(['ConnectionCreate', 'CollectorStats', 'AgentUpdate']);
    c.ingestLine(connLine(T0 + 31000));
    const second = c.tick(T0 + 60000).messages.map((m) => JSON.parse(m as string));
    expect(second.flatMap((m) => m.Events.map((e: any) => e.Name))).toEqual(['ConnectionCreate', 'CollectorStats']);
  });

  it('refuses a bad report naming the field, and keeps nothing of it', () => {
    const c = fresh('rtos', 'json');
    const bad = (r: object) => c.reportUpdate(r as any);
    expect(bad({ ...APPLIED, Reason: 'x' })).toBe('field "Reason": out of range');
    expect(bad({ ...REJECTED, Reason: undefined })).toBe('missing field "Reason"');
    expect(bad({ ...APPLIED, Result: 'done' })).toBe('field "Result": expected "applied", "rejected" or "rolledBack"');
    expect(bad({ ...APPLIED, ToSequence: -1 })).toBe('field "ToSequence": expected an integer from 0 to 9007199254740991');
    expect(bad({ ...APPLIED, FromVersion: 1 })).toBe('field "FromVersion": expected a string');
    c.ingestLine(connLine(T0));
    const ms = c.tick(T0 + 30000).messages.map((m) => JSON.parse(m as string));
    expect(ms.flatMap((m) => m.Events.map((e: any) => e.Name))).not.toContain('AgentUpdate');
  });

  it('cuts long texts to the profile\'s bound and marks the record Truncated', () => {
    const c = fresh('rtos', 'json');
    expect(c.reportUpdate({ ...REJECTED, Reason: 'r'.repeat(500) })).toBeUndefined();
    c.ingestLine(connLine(T0));
    const [m] = c.tick(T0 + 30000).messages.map((x) => JSON.parse(x as string));
    const rec = m.Events.find((e: any) => e.Name === 'AgentUpdate').Payload[0];
    expect(rec.Reason).toBe('r'.repeat(64));
    expect(rec.Truncated).toBe(true);
  });

  it('a heartbeat makes a message at its time with what waits for one, and sends due windows first', () => {
    const ms = heartbeatScenario('json').map((m) => JSON.parse(m as string));
    for (const m of ms) expect(validateMessage(m), JSON.stringify(validateMessage.errors)).toBe(true);
    expect(ms[0].Events.map((e: any) => e.Name)).toEqual(['Heartbeat']);
    expect(ms[0].Events[0]).toMatchObject({ EventType: 'Diagnostic', Category: 'Periodic', Payload: [HEARTBEAT],
      TimestampUTC: new Date(T0 + 5000).toISOString() });
    expect(ms[1].Events.map((e: any) => e.Name)).toEqual(['ConnectionCreate', 'CollectorStats']);
    // A heartbeat past a window's end (linux network: 7,200 s) sends that window first.
    const c = fresh('linux', 'json');
    c.ingestLine(connLine(T0));
    expect(c.reportUpdate(APPLIED)).toBeUndefined();
    const due = c.heartbeat(T0 + 7200 * 1000 + 1, HEARTBEAT).messages.map((m) => JSON.parse(m as string));
    // One message: the window that ended, then the heartbeat at its own time.
    expect(due.map((m) => m.Events.map((e: any) => e.Name))).toEqual([['ConnectionCreate', 'CollectorStats', 'AgentUpdate', 'Heartbeat']]);
    expect(due[0].Events[0].TimestampUTC).toBe(new Date(T0 + 7200 * 1000).toISOString());
    expect(due[0].Events[3].TimestampUTC).toBe(new Date(T0 + 7200 * 1000 + 1).toISOString());
    const late = c.heartbeat(T0, HEARTBEAT);
    expect(late.status).toBe(Status.Skipped);
    expect(late.reason).toMatch(/^time .* is earlier than the previous input's time/);
  });
});
