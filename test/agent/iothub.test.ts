// The IoT Hub device protocol end to end, against a small fake hub on loopback: TLS, the client id,
// the IoT Hub user name, a SAS token the hub can verify with the device key, the telemetry topic.

import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StderrLogger } from '../../host/agent/log.js';
import { createSink, UsageError } from '../../host/agent/sinks/index.js';
import { telemetryTopic } from '../../host/agent/sinks/mqtt.js';
import { until } from './helpers/mosquitto.js';

const KEY = Buffer.from('a device key that must never be printed!').toString('base64');
const HUB = 'microtally-test.azure-devices.net';
const DEVICE = 'gateway-7';
const CS = `HostName=${HUB};DeviceId=${DEVICE};SharedAccessKey=${KEY}`;

interface Connect { clientId: string; username?: string; password?: string }
interface Publish { topic: string; payload: string }

/** Just enough of an MQTT 3.1.1 server: CONNECT, PUBLISH (QoS 0/1), SUBSCRIBE, PINGREQ. */
class FakeHub {
  connects: Connect[] = [];
  publishes: Publish[] = [];
  server!: Server;
  port = 0;
  private sockets = new Set<TLSSocket>();

  async start(key: Buffer, cert: Buffer): Promise<void> {
    this.server = createServer({ key, cert }, (sock) => this.serve(sock));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private serve(sock: TLSSocket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        let len = 0, mul = 1, i = 1;
        for (; i < buf.length; i++) { len += (buf[i] & 127) * mul; mul *= 128; if (!(buf[i] & 128)) break; }
        if (i >= buf.length || buf.length < i + 1 + len) return;
        this.packet(sock, buf[0], buf.subarray(i + 1, i + 1 + len));
        buf = buf.subarray(i + 1 + len);
      }
    });
  }

  private packet(sock: TLSSocket, head: number, body: Buffer): void {
    let at = 0;
    const str = (): string => { const n = body.readUInt16BE(at); at += 2 + n; return body.subarray(at - n, at).toString('utf8'); };
    switch (head >> 4) {
      case 1: { // CONNECT
        str(); // protocol name
        const flags = body[at + 1];
        at += 4; // level, flags, keep-alive
        const c: Connect = { clientId: str() };
        if (flags & 0x80) c.username = str();
        if (flags & 0x40) c.password = str();
        this.connects.push(c);
        sock.write(Buffer.from([0x20, 2, 0, 0]));
        break;
      }
      case 3: { // PUBLISH
        const topic = str();
        const qos = (head >> 1) & 3;
        const id = qos ? body.readUInt16BE(at) : 0;
        if (qos) at += 2;
        this.publishes.push({ topic, payload: body.subarray(at).toString('utf8') });
        if (qos) sock.write(Buffer.from([0x40, 2, id >> 8, id & 255]));
        break;
      }
      case 8: { // SUBSCRIBE: grant QoS 0 to each filter
        const id = body.readUInt16BE(0);
        at = 2;
        const granted: number[] = [];
        while (at < body.length) { str(); at++; granted.push(0); }
        sock.write(Buffer.from([0x90, 2 + granted.length, id >> 8, id & 255, ...granted]));
        break;
      }
      case 12: sock.write(Buffer.from([0xd0, 0])); break;
      default: break;
    }
  }
}

let dir: string;
let cert: Buffer;
const hub = new FakeHub();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mt-hub-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  cert = readFileSync(join(dir, 'cert.pem'));
  await hub.start(readFileSync(join(dir, 'key.pem')), cert);
});
afterAll(async () => {
  await hub.stop();
  rmSync(dir, { recursive: true, force: true });
});

function logger() {
  const lines: string[] = [];
  return { log: new StderrLogger((l) => lines.push(l)), lines };
}

describe('IoT Hub transport', () => {
  it('connects over TLS with the IoT Hub user name and a SAS token signed with the device key', async () => {
    const { log, lines } = logger();
    const t0 = Math.floor(Date.now() / 1000);
    const { sink, deviceId } = createSink({
      spec: `mqtts://localhost:${hub.port}`, connectionString: CS, log, mqtt: { tls: { ca: cert }, backoff: { initialMs: 100, maxMs: 200 } },
    });
    expect(deviceId).toBe(DEVICE);
    sink.send('{"AgentVersion":"test","Events":[]}');
    await until('published', () => hub.publishes.length >= 1);
    expect(await sink.close(2000)).toBe(0);

    const c = hub.connects[0];
    expect(c.clientId).toBe(DEVICE);
    expect(c.username).toBe(`${HUB}/${DEVICE}/?api-version=2021-04-12`);
    // Verify the token as the hub would: recompute the signature from the resource and the expiry.
    const m = /^SharedAccessSignature sr=([^&]+)&sig=([^&]+)&se=(\d+)$/.exec(c.password ?? '');
    expect(m, c.password).toBeTruthy();
    const [, sr, sig, se] = m!;
    expect(decodeURIComponent(sr)).toBe(`${HUB}/devices/${DEVICE}`);
    expect(Number(se)).toBeGreaterThan(t0 + 3000);
    expect(Number(se)).toBeLessThanOrEqual(t0 + 3601 + 5);
    const expected = createHmac('sha256', Buffer.from(KEY, 'base64')).update(`${sr}\n${se}`).digest('base64');
    expect(decodeURIComponent(sig)).toBe(expected);

    expect(hub.publishes[0]).toEqual({ topic: telemetryTopic(DEVICE), payload: '{"AgentVersion":"test","Events":[]}' });
    expect(lines.join('')).not.toContain(KEY);
  });

  it('refuses a server whose certificate it cannot verify, and never logs the key', async () => {
    const { log, lines } = logger();
    const { sink } = createSink({ spec: `mqtts://localhost:${hub.port}`, connectionString: CS, log, mqtt: { backoff: { initialMs: 100, maxMs: 200 } } });
    const before = hub.connects.length;
    sink.send('{"x":1}');
    await until('a TLS error logged', () => lines.some((l) => /certificate/i.test(l)));
    expect(await sink.close(200)).toBe(1);
    expect(hub.connects.length).toBe(before);
    const all = lines.join('');
    expect(all).not.toContain(KEY);
    expect(all).not.toContain(encodeURIComponent(KEY));
  });

  it('rejects combinations that would leak or mislabel credentials', () => {
    const { log } = logger();
    expect(() => createSink({ spec: 'mqtt://127.0.0.1:1883', connectionString: CS, log })).toThrow(UsageError);
    expect(() => createSink({ spec: 'stdout', connectionString: CS, log })).toThrow(/over TLS/);
    expect(() => createSink({ connectionString: CS, deviceId: 'other', log })).toThrow(/differs/);
    expect(() => createSink({ connectionString: 'HostName=x;DeviceId=y', log })).toThrow(/SharedAccessKey is missing/);
    expect(() => createSink({ spec: 'ftp://x', log })).toThrow(UsageError);
    expect(() => createSink({ spec: 'file:', log })).toThrow(/needs a path/);
  });
});
