// X.509 client certificates, the trusted CA option and module identity, on loopback: a real
// mosquitto with TLS and `require_certificate true`, and an IoT Hub stand-in that checks the
// client certificate or the module's SAS token, client id and topics. Certificates are made with
// openssl when the suite starts. Bad input: an expired certificate, one from another CA, the wrong
// CA, a key others may read: each one line naming the file, and no message lost without a word.

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClientCertificate, loadTrustedCa, type TlsIdentity } from '../../host/agent/iothub/identity.js';
import { StderrLogger } from '../../host/agent/log.js';
import { createSink, RefusedError, UsageError } from '../../host/agent/sinks/index.js';
import { telemetryTopic } from '../../host/agent/sinks/mqtt.js';
import { Twin } from '../../host/agent/twin.js';
import { HubStandIn } from './helpers/iothub-standins.js';
import { until } from './helpers/mosquitto.js';
import { MosquittoTls } from './helpers/mosquitto-tls.js';
import { Pki, type Pem } from './helpers/pki.js';
import { runInProcess } from './helpers/run-command.js';

const dir = mkdtempSync(join(tmpdir(), 'mt-x509-'));
const pki = new Pki(dir);
let ca: Pem, otherCa: Pem, server: Pem, device: Pem, expired: Pem, foreign: Pem;
let broker: MosquittoTls;
const open: Array<{ close(t: number): Promise<unknown> } | MqttClient> = [];

beforeAll(async () => {
  ca = pki.ca('ca');
  otherCa = pki.ca('other-ca');
  server = pki.issue(ca, 'server', 'localhost', { san: ['DNS:localhost', 'IP:127.0.0.1'] });
  device = pki.issue(ca, 'device', 'gw-x509');
  expired = pki.issue(ca, 'expired', 'gw-x509', { days: -1 });
  foreign = pki.issue(otherCa, 'foreign', 'gw-x509');
  broker = await MosquittoTls.start(server, ca.cert);
});
afterAll(async () => {
  for (const o of open) await ('endAsync' in o ? o.endAsync(true) : o.close(0));
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function logger() {
  const lines: string[] = [];
  return { log: new StderrLogger((l) => lines.push(l)), lines };
}

function identity(pem: Pem, caFile = ca.cert): TlsIdentity {
  const { log } = logger();
  return { clientCert: loadClientCertificate(pem.cert, pem.key, false, log), ca: loadTrustedCa(caFile), caFile };
}

/** A subscriber with its own certificate (the broker lets nobody in without one). */
async function subscriber(filter: string) {
  const sub = pki.issue(ca, `sub-${open.length}`, 'subscriber');
  const client = await connectAsync(broker.url, { ca: readFileSync(ca.cert), cert: readFileSync(sub.cert), key: readFileSync(sub.key), reconnectPeriod: 0 });
  open.push(client);
  const got: string[] = [];
  client.on('message', (_t, p) => got.push(p.toString('utf8')));
  await client.subscribeAsync(filter, { qos: 1 });
  return got;
}

const msg = (i: number) => JSON.stringify({ AgentVersion: 'test', Events: [], n: i });

describe('X.509 client certificate against mosquitto (require_certificate true)', () => {
  it('the broker admits no client without a certificate (the test checks something)', async () => {
    await expect(connectAsync(broker.url, { ca: readFileSync(ca.cert), reconnectPeriod: 0, connectTimeout: 5000 })).rejects.toThrow();
  });

  it('delivers every message with the certificate and key from files, trusting the --ca-file CA', async () => {
    const got = await subscriber('devices/gw-x509/messages/events/#');
    const { log, lines } = logger();
    const { sink, mqtt } = createSink({ spec: broker.url, deviceId: 'gw-x509', tls: identity(device), log, mqtt: { backoff: { initialMs: 100, maxMs: 400 } } });
    open.push(sink);
    for (let i = 0; i < 5; i++) sink.send(msg(i));
    await until('5 messages', () => got.length >= 5);
    expect(got).toEqual([0, 1, 2, 3, 4].map(msg));
    await until('acknowledged', () => mqtt!.outbox.length === 0);
    expect(lines.join('')).toContain(`connected to ${broker.url}`);
    expect(lines.join('')).not.toContain('PRIVATE KEY');
  });

  it('a certificate from another CA: one line saying the broker refused it and naming the file; the messages stay queued and are counted', async () => {
    const { log, lines } = logger();
    const { sink, mqtt } = createSink({ spec: broker.url, deviceId: 'gw-x509', tls: identity(foreign), log, mqtt: { backoff: { initialMs: 100, maxMs: 400 } } });
    sink.send(msg(1));
    sink.send(msg(2));
    await until('the refusal logged', () => lines.some((l) => l.includes('refused the TLS handshake')));
    const line = lines.find((l) => l.includes('refused the TLS handshake'))!;
    expect(line).toContain(`--x509-cert ${foreign.cert}`);
    expect(line.trim().split('\n')).toHaveLength(1);
    expect(mqtt!.outbox.length).toBe(2);
    expect(await sink.close(300)).toBe(2);
    expect(lines.join('')).toContain('2 message(s) not delivered');
  });

  it('the wrong CA: one line saying the server certificate is not signed by a CA in --ca-file', async () => {
    const { log, lines } = logger();
    const { sink } = createSink({ spec: broker.url, deviceId: 'gw-x509', tls: identity(device, otherCa.cert), log, mqtt: { backoff: { initialMs: 100, maxMs: 400 } } });
    sink.send(msg(1));
    await until('the untrusted server logged', () => lines.some((l) => l.includes('not signed by a CA in --ca-file')));
    expect(lines.find((l) => l.includes('--ca-file'))).toContain(`--ca-file ${otherCa.cert} (`);
    expect(await sink.close(300)).toBe(1);
  });
});

describe('certificate and key files checked before anything connects', () => {
  it('an expired certificate is refused at start: one line, exit 2, nothing collected or sent', async () => {
    expect(() => identity(expired)).toThrow(RefusedError);
    expect(() => identity(expired)).toThrow(new RegExp(`^--x509-cert ${expired.cert}: expired on \\d{4}-`));
    const r = await runInProcess(['--sink', broker.url, '--x509-cert', expired.cert, '--x509-key', expired.key, '--ca-file', ca.cert, '--source', 'poll']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').filter((l) => /microtally (error|warn):/.test(l))).toHaveLength(1);
    expect(r.stderr).toContain(`--x509-cert ${expired.cert}: expired on`);
    expect(r.stdout).toBe('');
  });

  it('a key file group or others may read is refused unless --allow-readable-secret, like the connection-string file', async () => {
    const key = join(dir, 'readable.key');
    writeFileSync(key, readFileSync(device.key));
    chmodSync(key, 0o644);
    const r = await runInProcess(['--sink', broker.url, '--x509-cert', device.cert, '--x509-key', key, '--source', 'poll']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--x509-key ${key}: readable by group and others (mode 0644): chmod 600 it, or pass --allow-readable-secret`);
    expect(r.stderr).not.toContain('PRIVATE KEY');
    const { log, lines } = logger();
    expect(loadClientCertificate(device.cert, key, true, log).commonName).toBe('gw-x509');
    expect(lines.join('')).toContain('accepted (--allow-readable-secret)');
  });

  it('the key\'s contents are masked in every form a line may carry them: the PEM, its base64 body on one line, the DER in hex and base64url', () => {
    const { log } = logger();
    loadClientCertificate(device.cert, device.key, false, log);
    const pem = readFileSync(device.key, 'utf8');
    const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    const der = Buffer.from(body, 'base64');
    for (const form of [pem.trim(), body, der.toString('hex'), der.toString('base64url'), encodeURIComponent(body)]) {
      const masked = log.mask.apply(`sh -c "echo ${form} | base64 -d > /tmp/k" KEY=${form}`);
      expect(masked).not.toContain(form);
      expect(masked).not.toContain(body.slice(8, 40));
    }
    // The key's path is no secret: it stays readable.
    expect(log.mask.apply(`microtally run --x509-key ${device.key}`)).toBe(`microtally run --x509-key ${device.key}`);
  });

  it('a key that is not the certificate\'s, a file that is no certificate, a CA file without one', () => {
    const { log } = logger();
    expect(() => loadClientCertificate(device.cert, foreign.key, false, log)).toThrow(`--x509-key ${foreign.key}: not the key of the certificate in ${device.cert}`);
    expect(() => loadClientCertificate(device.key, device.key, false, log)).toThrow(UsageError);
    expect(() => loadTrustedCa(device.key)).toThrow(`--ca-file ${device.key}: no PEM certificate in it`);
    expect(() => loadClientCertificate(join(dir, 'none.pem'), device.key, false, log)).toThrow(`--x509-cert ${join(dir, 'none.pem')}: ENOENT`);
  });

  it('option combinations: both files or neither, TLS only', async () => {
    for (const [args, err] of [
      [['--x509-cert', device.cert], '--x509-cert and --x509-key: give both'],
      [['--x509-cert', device.cert, '--x509-key', device.key], '--x509-cert and --ca-file are for TLS'],
      [['--connection-string', 'HostName=h;DeviceId=d;x509=true'], 'x509=true needs --x509-cert and --x509-key'],
    ] as const) {
      const r = await runInProcess([...args, '--source', 'poll']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(err);
    }
  });
});

describe('IoT Hub identities (a stand-in checks them)', () => {
  const HUB = 'identity-test.azure-devices.net';
  const KEY = Buffer.from('a module key that is never printed').toString('base64');
  const standIns: HubStandIn[] = [];
  afterAll(async () => { for (const s of standIns) await s.stop(); });

  async function hub(id: ConstructorParameters<typeof HubStandIn>[1]): Promise<HubStandIn> {
    const h = new HubStandIn({ cert: readFileSync(server.cert, 'utf8'), key: readFileSync(server.key, 'utf8'), ca: readFileSync(ca.cert, 'utf8') }, id);
    await h.start();
    standIns.push(h);
    return h;
  }

  it('a module (ModuleId=): client id device/module, the module SAS resource, its telemetry topic and its twin', async () => {
    const h = await hub({ hub: HUB, deviceId: 'gw-1', moduleId: 'microtally', key: KEY });
    h.desired = { microtally: { sendEmptyWindows: true } };
    const { log, lines } = logger();
    const { sink, mqtt, deviceId } = createSink({ spec: `mqtts://localhost:${h.port}`, connectionString: `HostName=${HUB};DeviceId=gw-1;ModuleId=microtally;SharedAccessKey=${KEY}`,
      tls: { ca: loadTrustedCa(ca.cert), caFile: ca.cert }, log, mqtt: { backoff: { initialMs: 100, maxMs: 400 } } });
    open.push(sink);
    expect(deviceId).toBe('gw-1');
    const twin = new Twin({ log, apply: () => ({ ok: true }), agentVersion: '1.2.3' });
    mqtt!.onConnect((s) => void twin.connected(s));
    mqtt!.onMessage((t, p) => twin.message(t, p));
    sink.send(msg(1));
    await until('telemetry', () => h.telemetry.length >= 1);
    await until('reported', () => h.reported.length >= 1);
    expect(h.connects).toEqual([{ clientId: 'gw-1/microtally', username: `${HUB}/gw-1/microtally/?api-version=2021-04-12`, reason: '' }]);
    expect(h.telemetry[0].topic).toBe(telemetryTopic('gw-1', 'json', 'microtally'));
    expect(h.telemetry[0].topic.startsWith('devices/gw-1/modules/microtally/messages/events/')).toBe(true);
    expect(h.twinTopics.map((t) => t.replace(/\d+$/, 'N'))).toEqual(['$iothub/twin/GET/?$rid=N', '$iothub/twin/PATCH/properties/reported/?$rid=N']);
    expect(h.reported[0]).toEqual({ microtally: { configuration: { version: 1, status: 'applied', reason: null }, agentVersion: '1.2.3', coreSequence: 0 } });
    expect(h.strayTopics).toEqual([]);
    expect(lines.join('')).not.toContain(KEY);
  });

  it('the same module with a wrong key is refused by the stand-in (the check above can fail)', async () => {
    const h = await hub({ hub: HUB, deviceId: 'gw-1', moduleId: 'microtally', key: KEY });
    const other = Buffer.from('another key, not the module one').toString('base64');
    const { log } = logger();
    const { sink } = createSink({ spec: `mqtts://localhost:${h.port}`, connectionString: `HostName=${HUB};DeviceId=gw-1;ModuleId=microtally;SharedAccessKey=${other}`,
      tls: { ca: loadTrustedCa(ca.cert), caFile: ca.cert }, log, mqtt: { backoff: { initialMs: 100, maxMs: 400 } } });
    sink.send(msg(1));
    await until('refused', () => h.connects.length >= 1);
    expect(h.connects[0].reason).toBe('signature does not match the key');
    expect(await sink.close(200)).toBe(1);
  });

  it('a device authenticated by its certificate (x509=true): no password, the hub checks the certificate', async () => {
    const h = await hub({ hub: HUB, deviceId: 'gw-x509' });
    const { log } = logger();
    const { sink } = createSink({ spec: `mqtts://localhost:${h.port}`, connectionString: `HostName=${HUB};DeviceId=gw-x509;x509=true`,
      tls: identity(device), log, mqtt: { backoff: { initialMs: 100, maxMs: 400 } } });
    open.push(sink);
    sink.send(msg(7));
    await until('telemetry', () => h.telemetry.length >= 1);
    expect(h.connects).toEqual([{ clientId: 'gw-x509', username: `${HUB}/gw-x509/?api-version=2021-04-12`, reason: '' }]);
    expect(h.telemetry[0].payload.toString()).toBe(msg(7));
  });
});
