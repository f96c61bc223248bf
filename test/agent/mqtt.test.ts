// The MQTT sink and the twin against a real mosquitto on loopback.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { StderrLogger } from '../../host/agent/log.js';
import { MqttSink, telemetryTopic } from '../../host/agent/sinks/mqtt.js';
import { Twin, type ApplyOutcome } from '../../host/agent/twin.js';
import { Mosquitto, subscriber, until } from './helpers/mosquitto.js';
import { Core } from '../../host/core.js';
import { decodeSequence } from '../../host/decode.js';
import { createSink } from '../../host/agent/sinks/index.js';
import { T0, conn } from '../helpers.js';

let broker: Mosquitto;
beforeAll(async () => { broker = await Mosquitto.start(); });
afterAll(async () => { await broker?.stop(); });

const open: Array<{ close(t: number): Promise<unknown> } | MqttClient> = [];
afterAll(async () => {
  for (const o of open) await ('endAsync' in o ? o.endAsync(true) : o.close(0));
});

function logger(): { log: StderrLogger; lines: string[] } {
  const lines: string[] = [];
  return { log: new StderrLogger((l) => lines.push(l)), lines };
}

let devices = 0;
function sink(extra: Partial<ConstructorParameters<typeof MqttSink>[0]> = {}) {
  const { log, lines } = logger();
  const deviceId = `dev-${process.pid}-${++devices}`;
  const s = new MqttSink({ url: broker.url, deviceId, log, backoff: { initialMs: 100, maxMs: 400 }, ...extra });
  open.push(s);
  return { s, lines, deviceId };
}

const msg = (i: number) => JSON.stringify({ AgentVersion: 'test', Events: [], n: i });

describe('MqttSink', () => {
  it('publishes each message on the IoT Hub telemetry topic with the security message properties', async () => {
    const { s, deviceId } = sink();
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    open.push(sub.client);
    [0, 1, 2].forEach((i) => s.send(msg(i)));
    await until('3 messages', () => sub.got.length >= 3);
    expect(sub.got.map((m) => m.text)).toEqual([msg(0), msg(1), msg(2)]);
    for (const m of sub.got) {
      expect(m.topic).toBe(telemetryTopic(deviceId));
      const bag = m.topic.slice(`devices/${deviceId}/messages/events/`.length);
      expect(Object.fromEntries(new URLSearchParams(bag))).toEqual({
        '$.ifid': 'urn:azureiot:Security:SecurityAgent:1', '$.ct': 'application/json', '$.ce': 'utf-8',
      });
    }
    await until('acknowledged', () => s.outbox.length === 0);
  });

  it('sends a CBOR message (messageFormat "cbor") as is, with $.ct=application/cbor', async () => {
    const { s, deviceId } = sink();
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    open.push(sub.client);
    const core = new Core('rtos');
    core.setFormat('cbor');
    core.ingestLine(JSON.stringify({ kind: 'connection', t: 1e12, proto: 'tcp', dir: 'out', local: '10.0.0.2', lport: 1,
      remote: '10.0.0.9', rport: 2, bytesIn: 0, bytesOut: 0 }));
    const [cbor] = core.finish().messages;
    expect(cbor).toBeInstanceOf(Uint8Array);
    s.send(cbor);
    s.send(msg(1));
    await until('2 messages', () => sub.got.length >= 2);
    expect(sub.got[0].payload.equals(Buffer.from(cbor as Uint8Array))).toBe(true);
    expect(JSON.parse(decodeSequence(sub.got[0].payload)).Events[0].Payload[0].RemoteAddress).toBe('10.0.0.9');
    const bag = (topic: string) => Object.fromEntries(new URLSearchParams(topic.slice(`devices/${deviceId}/messages/events/`.length)));
    expect(sub.got[0].topic).toBe(telemetryTopic(deviceId, 'cbor'));
    expect(bag(sub.got[0].topic)).toEqual({ '$.ifid': 'urn:azureiot:Security:SecurityAgent:1', '$.ct': 'application/cbor' });
    expect(bag(sub.got[1].topic)['$.ct']).toBe('application/json');
    await until('acknowledged', () => s.outbox.length === 0);
  });

  it('keeps messages while the broker is down and delivers every one after it restarts', async () => {
    const { s, lines, deviceId } = sink();
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    open.push(sub.client);
    for (let i = 0; i < 5; i++) s.send(msg(i));
    await until('first 5', () => sub.got.length >= 5 && s.outbox.length === 0);
    await broker.pause('SIGTERM');
    await until('disconnect noticed', () => !s.connected);
    for (let i = 5; i < 25; i++) s.send(msg(i));
    expect(s.outbox.length).toBe(20);
    await broker.resume();
    await until('all 25 delivered', () => new Set(sub.got.map((m) => m.text)).size === 25 && s.outbox.length === 0, 20_000);
    expect(new Set(sub.got.map((m) => m.text))).toEqual(new Set(Array.from({ length: 25 }, (_, i) => msg(i))));
    expect(s.outbox.dropped).toBe(0);
    expect(s.connects).toBe(2);
    expect(lines.some((l) => /disconnected from .*; 20 message\(s\) queued|disconnected from /.test(l))).toBe(true);
  });

  it('loses nothing when the broker crashes mid-stream: all acknowledged after restart', async () => {
    const { s } = sink();
    await until('connected', () => s.connected);
    let i = 0;
    const timer = setInterval(() => s.send(msg(i++)), 5);
    await until('some sent', () => i >= 40);
    await broker.pause('SIGKILL');
    await until('disconnect noticed', () => !s.connected);
    await new Promise((r) => setTimeout(r, 200));
    clearInterval(timer);
    const sent = i;
    expect(s.outbox.length).toBeGreaterThan(0);
    await broker.resume();
    await until('outbox empty', () => s.outbox.length === 0, 20_000);
    expect(sent).toBeGreaterThan(40);
    expect(s.outbox.dropped).toBe(0);
  });

  it('counts and reports overflow of the bounded outbox; keeps the newest within the bound', async () => {
    const { s, lines, deviceId } = sink({ outbox: { maxBytes: 1 << 20, maxMessages: 5 } });
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    open.push(sub.client);
    await until('connected', () => s.connected);
    await broker.pause('SIGTERM');
    await until('disconnect noticed', () => !s.connected);
    for (let i = 0; i < 8; i++) s.send(msg(i));
    expect(s.outbox.dropped).toBe(3);
    expect(lines.filter((l) => l.includes('outbox full'))).toHaveLength(1);
    await broker.resume();
    await until('5 delivered', () => sub.got.length >= 5 && s.outbox.length === 0, 20_000);
    expect(sub.got.map((m) => m.text)).toEqual([3, 4, 5, 6, 7].map(msg));
    expect(lines.some((l) => l.includes('outbox overflow: 3 message(s) dropped'))).toBe(true);
  });

  it('close() waits for delivery, and counts what could not be delivered', async () => {
    const { s, lines } = sink();
    await until('connected', () => s.connected);
    await broker.pause('SIGTERM');
    await until('disconnect noticed', () => !s.connected);
    s.send(msg(1));
    s.send(msg(2));
    const t0 = Date.now();
    expect(await s.close(300)).toBe(2);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(lines.some((l) => l.includes('2 message(s) not delivered'))).toBe(true);
    await broker.resume();
  });

  it('reconnects with a fresh password before the token expires', async () => {
    let tokens = 0;
    const { s, deviceId, lines } = sink({ username: 'hub/dev/?api-version=2021-04-12', password: () => `token-${++tokens}`, renewAt: () => Date.now() + 1000 });
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    open.push(sub.client);
    await until('renewed twice', () => s.connects >= 3, 10_000);
    expect(tokens).toBeGreaterThanOrEqual(3);
    expect(lines.filter((l) => l.includes('renewing the SAS token')).length).toBeGreaterThanOrEqual(2);
    expect(lines.some((l) => l.includes('disconnected'))).toBe(false); // a planned reconnect, not an outage
    s.send(msg(9));
    await until('delivered after renewal', () => sub.got.some((m) => m.text === msg(9)));
  });
});

describe('Twin over MQTT', () => {
  it('applies the desired microtally section (full twin, then patches) and reports the outcome', async () => {
    const applied: Array<Record<string, unknown>> = [];
    let outcome: ApplyOutcome = { ok: true };
    // Play IoT Hub, subscribed before the device connects so its twin GET is seen: answer the
    // GET, and watch the reported properties.
    const hub = await subscriber(broker.url, '$iothub/twin/#');
    open.push(hub.client);
    hub.client.on('message', (topic) => {
      const rid = /^\$iothub\/twin\/GET\/\?\$rid=(\d+)/.exec(topic)?.[1];
      if (rid) hub.client.publish(`$iothub/twin/res/200/?$rid=${rid}`, JSON.stringify({ desired: { microtally: { sendEmptyWindows: true }, $version: 1 }, reported: {} }));
    });
    const { log, lines } = logger();
    const twin = new Twin({ log, apply: (sec) => { applied.push(sec); return outcome; }, agentVersion: '9.8.7', coreSequence: () => 3,
      status: () => ({ outboxDropped: 0 }) });
    const { s } = sink({ log });
    s.onConnect((session) => void twin.connected(session));
    s.onMessage((t, p) => twin.message(t, p));

    await until('full twin applied', () => applied.length === 1);
    expect(applied[0]).toEqual({ sendEmptyWindows: true });

    const patch = (body: unknown, version: number) => hub.client.publishAsync(`$iothub/twin/PATCH/properties/desired/?$version=${version}`, JSON.stringify(body));
    await patch({ microtally: { process: { enabled: false }, network: null }, $version: 2 }, 2);
    await until('patch applied', () => applied.length === 2);
    expect(applied[1]).toEqual({ process: { enabled: false } }); // null deletes: nothing to change

    const reports = () => hub.got.filter((m) => m.topic.startsWith('$iothub/twin/PATCH/properties/reported/')).map((m) => JSON.parse(m.text).microtally);
    await until('reported', () => reports().length >= 2);
    // SPEC section 2's shape, as ports/azure-iot writes it (a null reason deletes a stale one).
    expect(reports()[1]).toEqual({ configuration: { version: 2, status: 'applied', reason: null }, agentVersion: '9.8.7', coreSequence: 3, outboxDropped: 0 });

    await patch({ other: 1, $version: 3 }, 3); // not ours
    await patch({ microtally: { process: { enabled: true } }, $version: 2 }, 2); // stale
    outcome = { ok: false, reason: 'config.bogus: unknown key' };
    await patch({ microtally: { bogus: 1 }, $version: 4 }, 4);
    await until('rejection reported', () => reports().length >= 3);
    expect(applied).toHaveLength(3);
    expect(applied[2]).toEqual({ bogus: 1 });
    expect(reports()[2]).toEqual({ configuration: { version: 4, status: 'rejected', reason: 'config.bogus: unknown key' },
      agentVersion: '9.8.7', coreSequence: 3, outboxDropped: 0 });
    expect(lines.some((l) => l.includes('rejected: config.bogus: unknown key'))).toBe(true);
  });
});

describe('transport losses reach the messages (SPEC R8: CollectorStats "transport")', () => {
  const transport = (text: string): number => {
    const m = JSON.parse(text);
    const recs = m.Events.filter((e: any) => e.Name === 'CollectorStats').flatMap((e: any) => e.Payload)
      .filter((p: any) => p.Collector === 'transport');
    expect(recs.length).toBeLessThanOrEqual(1);
    return recs[0]?.Dropped ?? 0;
  };

  it('a frozen broker drops N messages → the messages delivered next carry `transport` Dropped N', async () => {
    const core = new Core('rtos');
    const { log } = logger();
    const setup = createSink({ spec: broker.url, deviceId: `dev-${process.pid}-${++devices}`, log,
      outbox: { maxBytes: 1 << 20, maxMessages: 5 }, mqtt: { backoff: { initialMs: 100, maxMs: 400 }, maxInFlight: 2 },
      onDropped: (n) => expect(core.reportLoss('transport', n)).toBeUndefined() });
    const s = setup.mqtt!;
    open.push(s);
    const sub = await subscriber(broker.url, `devices/${setup.deviceId}/messages/events/#`);
    open.push(sub.client);
    await until('connected', () => s.connected);
    // One message per 30 s window of the rtos core: a connection, then the tick that ends the window.
    let t = T0;
    const window = (): void => {
      expect(core.ingestLine(conn(t)).messages).toEqual([]);
      t += 30_000;
      const out = core.tick(t).messages;
      expect(out).toHaveLength(1);
      for (const m of out) setup.sink.send(m);
    };
    window();
    await until('first delivered', () => sub.got.length === 1 && s.outbox.length === 0);
    broker.freeze();
    try {
      // Spread over time, so the client writes to a broker that reads nothing.
      for (let i = 0; i < 20; i++) { window(); await new Promise((r) => setTimeout(r, 20)); }
    } finally {
      broker.thaw();
    }
    const dropped = s.outbox.dropped;
    // 2 in flight and 3 queued of 20: 15 dropped.
    expect(dropped).toBe(15);
    await until('the kept ones delivered', () => s.outbox.length === 0, 20_000);
    window(); // the next message: it carries what the last drops left in the core
    await until('all received', () => sub.got.length >= 1 + 5 + 1 && s.outbox.length === 0, 20_000);
    expect(sub.got).toHaveLength(1 + 5 + 1);
    expect(s.outbox.dropped).toBe(dropped);
    const counts = sub.got.map((m) => transport(m.text));
    expect(counts[0]).toBe(0);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(dropped);
    expect(counts.at(-1)).toBeGreaterThan(0);
    // Counted once: later messages carry no transport record.
    window();
    await until('one more', () => sub.got.length === 8);
    expect(transport(sub.got[7].text)).toBe(0);
  });

  it('CBOR: a dropped message hands its own transport count on; every drop is counted once', () => {
    const core = new Core('rtos');
    core.setFormat('cbor');
    let reported = 0;
    // Not connected (nothing listens on port 1): everything stays in the outbox of 3.
    const { log } = logger();
    const setup = createSink({ spec: 'mqtt://127.0.0.1:1', deviceId: 'offline', log, outbox: { maxBytes: 1 << 20, maxMessages: 3 },
      mqtt: { backoff: { initialMs: 60_000, maxMs: 60_000 } }, onDropped: (n) => { reported += n; core.reportLoss('transport', n); } });
    open.push(setup.mqtt!);
    let t = T0;
    for (let i = 0; i < 10; i++) {
      core.ingestLine(conn(t));
      t += 30_000;
      for (const m of core.tick(t).messages) setup.sink.send(m);
    }
    expect(setup.mqtt!.outbox.dropped).toBe(7);
    // What is still queued plus what the core holds for its next message is every drop.
    const queued: number[] = [];
    for (let e = setup.mqtt!.outbox.nextUnsent(); e; e = setup.mqtt!.outbox.nextUnsent()) {
      queued.push(transport(decodeSequence(e.text as Uint8Array)));
      setup.mqtt!.outbox.ack(e.id);
    }
    core.ingestLine(conn(t));
    const next = core.tick(t + 30_000).messages.map((m) => transport(decodeSequence(m as Uint8Array)));
    expect([...queued, ...next].reduce((a, b) => a + b, 0)).toBe(7);
    expect(reported).toBeGreaterThan(7); // messages that carried counts were dropped too, and handed them on
  });
});
