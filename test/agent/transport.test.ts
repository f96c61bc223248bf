// MQTT over WebSockets and through an HTTP CONNECT proxy (host/agent/sinks/transport.ts), all on
// loopback: a Node WebSocket listener (ws://, and wss:// with a test certificate) that hands each
// connection to a real mosquitto, and a proxy stand-in that checks its credentials, or refuses.

import { execFileSync } from 'node:child_process';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { StderrLogger } from '../../host/agent/log.js';
import { createSink, UsageError } from '../../host/agent/sinks/index.js';
import { chooseProxy } from '../../host/agent/sinks/transport.js';
import { telemetryTopic } from '../../host/agent/sinks/mqtt.js';
import { Mosquitto, subscriber, until } from './helpers/mosquitto.js';
import { runInProcess } from './helpers/run-command.js';
import { runOptions } from '../../host/commands/run.js';
import { loadClientCertificate, loadTrustedCa } from '../../host/agent/iothub/identity.js';
import { Pki } from './helpers/pki.js';

const KEY = Buffer.from('a device key for the websocket tests').toString('base64');
const PROXY_PASSWORD = 'pr0xy-s3cret!';
const PROXY_AUTH = `Basic ${Buffer.from(`gw:${PROXY_PASSWORD}`).toString('base64')}`;

/** MQTT over WebSockets on loopback, each connection piped to the broker's TCP listener. */
class WebSocketBridge {
  readonly upgrades: Array<{ path: string; protocol: string }> = [];
  /** The common name of each connection's client certificate ('' without one). */
  readonly peers: string[] = [];
  port = 0;
  private wss!: WebSocketServer;

  constructor(private readonly server: HttpServer, private readonly brokerPort: number) {}

  async start(): Promise<void> {
    this.wss = new WebSocketServer({ server: this.server, handleProtocols: (p) => (p.has('mqtt') ? 'mqtt' : false) });
    this.wss.on('connection', (ws, req: IncomingMessage) => {
      this.upgrades.push({ path: req.url ?? '', protocol: ws.protocol });
      const tlsSocket = req.socket as TLSSocket;
      this.peers.push(typeof tlsSocket.getPeerCertificate === 'function' ? String(tlsSocket.getPeerCertificate().subject?.CN ?? '') : '');
      const stream = createWebSocketStream(ws);
      const tcp = connect(this.brokerPort, '127.0.0.1');
      stream.pipe(tcp).pipe(stream);
      stream.on('error', () => tcp.destroy());
      tcp.on('error', () => stream.destroy());
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Drops every WebSocket connection (a network cut). */
  cut(): void { for (const c of this.wss.clients) c.terminate(); }

  async stop(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
    this.server.closeAllConnections?.();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** An HTTP CONNECT proxy: checks Proxy-Authorization, or refuses everything (403). */
class ConnectProxy {
  readonly requests: Array<{ target: string; auth?: string }> = [];
  port = 0;
  private readonly sockets = new Set<Socket>();

  /** `route` maps a CONNECT target to the loopback port that serves it; `server` an https one for an https:// proxy. */
  constructor(private readonly route: (target: string) => number | undefined, private readonly refuse = false,
    private readonly server: HttpServer = createHttpServer()) {}

  async start(): Promise<void> {
    this.server.on('connect', (req: IncomingMessage, client: Socket) => {
      this.sockets.add(client);
      client.on('error', () => {});
      const target = req.url ?? '';
      this.requests.push({ target, auth: req.headers['proxy-authorization'] });
      const port = this.route(target);
      if (this.refuse || req.headers['proxy-authorization'] !== PROXY_AUTH || port === undefined) {
        client.end(this.refuse ? 'HTTP/1.1 403 Forbidden\r\n\r\n' : 'HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
        return;
      }
      const upstream = connect(port, '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(client).pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(password = PROXY_PASSWORD): string {
    return `${this.server instanceof HttpsServer ? 'https' : 'http'}://gw:${encodeURIComponent(password)}@${this.server instanceof HttpsServer ? 'localhost' : '127.0.0.1'}:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

let dir: string;
let cert: Buffer;
let broker: Mosquitto;
let ws: WebSocketBridge;
let wss: WebSocketBridge;
let proxy: ConnectProxy;
let refusing: ConnectProxy;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mt-transport-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  cert = readFileSync(join(dir, 'cert.pem'));
  broker = await Mosquitto.start();
  ws = new WebSocketBridge(createHttpServer(), broker.port);
  await ws.start();
  wss = new WebSocketBridge(createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert }), broker.port);
  await wss.start();
  // IoT Hub's WebSockets port is 443: the proxy takes localhost:443 to the wss listener.
  const route = (target: string) => (target === 'localhost:443' ? wss.port : target === `127.0.0.1:${ws.port}` ? ws.port : undefined);
  proxy = new ConnectProxy(route);
  await proxy.start();
  refusing = new ConnectProxy(route, true);
  await refusing.start();
});
afterAll(async () => {
  await ws?.stop();
  await wss?.stop();
  await proxy?.stop();
  await refusing?.stop();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function logger() {
  const lines: string[] = [];
  return { log: new StderrLogger((l) => lines.push(l)), lines };
}

let devices = 0;
const backoff = { initialMs: 100, maxMs: 300 };

/** No secret of these tests in any log line, in any encoding the mask knows. */
function expectNoSecrets(lines: string[]): void {
  const all = lines.join('');
  for (const s of [KEY, PROXY_PASSWORD, encodeURIComponent(PROXY_PASSWORD), PROXY_AUTH.slice(6)]) expect(all).not.toContain(s);
}

describe('MQTT over WebSockets', () => {
  it('ws://: delivers every message through a WebSocket listener, subprotocol mqtt, on the URL path', async () => {
    const { log, lines } = logger();
    const deviceId = `ws-${process.pid}-${++devices}`;
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    const { sink, mqtt, description } = createSink({ spec: `ws://127.0.0.1:${ws.port}/mqtt`, deviceId, log, env: {}, mqtt: { backoff } });
    expect(description).toBe(`MQTT 127.0.0.1:${ws.port}`);
    for (let i = 0; i < 3; i++) sink.send(`{"n":${i}}`);
    await until('3 delivered', () => sub.got.length >= 3);
    expect(sub.got.map((m) => m.text)).toEqual(['{"n":0}', '{"n":1}', '{"n":2}']);
    expect(ws.upgrades.at(-1)).toEqual({ path: '/mqtt', protocol: 'mqtt' });
    // A cut connection: reconnected with backoff as over TCP, and what is sent meanwhile delivered.
    await until('acknowledged', () => mqtt!.outbox.length === 0);
    ws.cut();
    sink.send('{"n":3}');
    await until('4 delivered after the reconnect', () => sub.got.length >= 4);
    expect(sub.got[3].text).toBe('{"n":3}');
    expect(mqtt!.connects).toBe(2);
    expect(await sink.close(2000)).toBe(0);
    expect(lines.join('')).toMatch(/connected to ws:\/\/127\.0\.0\.1:\d+\/mqtt as ws-/);
    await sub.client.endAsync(true);
  });

  it('IoT Hub over wss:// (--sink wss://host:port): TLS checked against the CA, the path /$iothub/websocket, the telemetry topic', async () => {
    const { log, lines } = logger();
    const deviceId = `wss-${process.pid}-${++devices}`;
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    const { sink, description } = createSink({ spec: `wss://localhost:${wss.port}`, connectionString: `HostName=localhost;DeviceId=${deviceId};SharedAccessKey=${KEY}`,
      log, env: {}, mqtt: { tls: { ca: cert }, backoff } });
    expect(description).toBe('IoT Hub localhost over WebSockets');
    sink.send('{"AgentVersion":"test","Events":[]}');
    await until('delivered', () => sub.got.length >= 1);
    expect(sub.got[0]).toMatchObject({ topic: telemetryTopic(deviceId), text: '{"AgentVersion":"test","Events":[]}' });
    expect(wss.upgrades.at(-1)).toEqual({ path: '/$iothub/websocket', protocol: 'mqtt' });
    expect(await sink.close(2000)).toBe(0);
    expectNoSecrets(lines);
    await sub.client.endAsync(true);
  });
});

describe('an HTTP CONNECT proxy', () => {
  it('--proxy with a connection string and no --sink: IoT Hub over wss on 443 through the proxy, with its credentials; none logged', async () => {
    const { log, lines } = logger();
    const deviceId = `proxy-${process.pid}-${++devices}`;
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    const before = proxy.requests.length;
    const { sink, description } = createSink({ connectionString: `HostName=localhost;DeviceId=${deviceId};SharedAccessKey=${KEY}`,
      proxy: proxy.url(), log, env: {}, mqtt: { tls: { ca: cert }, backoff } });
    expect(description).toBe(`IoT Hub localhost over WebSockets via proxy 127.0.0.1:${proxy.port}`);
    for (let i = 0; i < 3; i++) sink.send(`{"n":${i}}`);
    await until('3 delivered', () => sub.got.length >= 3);
    expect(sub.got.map((m) => m.text)).toEqual(['{"n":0}', '{"n":1}', '{"n":2}']);
    expect(proxy.requests.slice(before)).toEqual([{ target: 'localhost:443', auth: PROXY_AUTH }]);
    expect(wss.upgrades.at(-1)).toEqual({ path: '/$iothub/websocket', protocol: 'mqtt' });
    expect(await sink.close(2000)).toBe(0);
    expect(lines.join('')).toMatch(/connected to wss:\/\/localhost\/\$iothub\/websocket as proxy-\S+ via proxy 127\.0\.0\.1:\d+/);
    expectNoSecrets(lines);
    await sub.client.endAsync(true);
  });

  it('HTTPS_PROXY carries a ws:// sink; NO_PROXY naming the broker goes direct', async () => {
    for (const noProxy of [undefined, '127.0.0.1']) {
      const { log, lines } = logger();
      const deviceId = `env-${process.pid}-${++devices}`;
      const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
      const before = proxy.requests.length;
      const { sink } = createSink({ spec: `ws://127.0.0.1:${ws.port}/mqtt`, deviceId, log, env: { HTTPS_PROXY: proxy.url(), NO_PROXY: noProxy }, mqtt: { backoff } });
      sink.send('{"via":"env"}');
      await until('delivered', () => sub.got.length >= 1);
      expect(proxy.requests.length - before).toBe(noProxy ? 0 : 1);
      if (!noProxy) expect(proxy.requests.at(-1)).toEqual({ target: `127.0.0.1:${ws.port}`, auth: PROXY_AUTH });
      expect(await sink.close(2000)).toBe(0);
      expectNoSecrets(lines);
      await sub.client.endAsync(true);
    }
  });

  it('a proxy that refuses: one line per attempt naming the proxy and its answer; the message stays queued, nothing dropped', async () => {
    const { log, lines } = logger();
    const { sink, mqtt } = createSink({ connectionString: `HostName=localhost;DeviceId=refused-${process.pid};SharedAccessKey=${KEY}`,
      proxy: refusing.url(), log, env: {}, mqtt: { tls: { ca: cert }, backoff } });
    sink.send('{"n":1}');
    await until('a refusal logged', () => lines.some((l) => l.includes('refused')));
    const refusal = lines.find((l) => l.includes('refused'))!;
    expect(refusal).toMatch(new RegExp(`^\\S+ microtally warn: MQTT wss://localhost/\\$iothub/websocket: proxy 127\\.0\\.0\\.1:${refusing.port} refused to connect to localhost: HTTP 403 Forbidden\\n$`));
    expect(mqtt!.outbox.length).toBe(1);
    expect(mqtt!.outbox.dropped).toBe(0);
    expect(await sink.close(200)).toBe(1); // the memory outbox: not delivered, said at exit
    expectNoSecrets(lines);
  });

  it('a proxy that asks for credentials it was not given (407) is named the same way', async () => {
    const { log, lines } = logger();
    const { sink } = createSink({ spec: `ws://127.0.0.1:${ws.port}/mqtt`, deviceId: `noauth-${process.pid}`, log,
      proxy: `http://127.0.0.1:${proxy.port}`, env: {}, mqtt: { backoff } });
    sink.send('{"n":1}');
    await until('a refusal logged', () => lines.some((l) => l.includes('refused')));
    expect(lines.find((l) => l.includes('refused'))).toMatch(/proxy 127\.0\.0\.1:\d+ refused to connect to 127\.0\.0\.1:\d+: HTTP 407 Proxy Authentication Required/);
    await sink.close(100);
  });

  it('a proxy that is not there: one line naming it', async () => {
    const { log, lines } = logger();
    const { sink } = createSink({ spec: `ws://127.0.0.1:${ws.port}/mqtt`, deviceId: `noproxy-${process.pid}`, log,
      proxy: 'http://127.0.0.1:1', env: {}, mqtt: { backoff } });
    sink.send('{"n":1}');
    await until('an error logged', () => lines.some((l) => l.includes('warn: MQTT')));
    expect(lines.find((l) => l.includes('warn: MQTT'))).toMatch(/: proxy 127\.0\.0\.1:1: connect ECONNREFUSED 127\.0\.0\.1:1$/m);
    await sink.close(100);
  });

  it('refuses what it cannot use, in one line, never repeating the proxy URL (it may hold a password)', () => {
    const { log, lines } = logger();
    const cs = `HostName=localhost;DeviceId=d;SharedAccessKey=${KEY}`;
    expect(() => createSink({ spec: broker.url, deviceId: 'd', proxy: proxy.url(), log, env: {} })).toThrow(UsageError);
    expect(() => createSink({ spec: broker.url, deviceId: 'd', proxy: proxy.url(), log, env: {} })).toThrow(/--proxy: a proxy carries MQTT over WebSockets only/);
    expect(() => createSink({ spec: `mqtts://localhost:${wss.port}`, connectionString: cs, proxy: proxy.url(), log, env: {} })).toThrow(/WebSockets only/);
    let message = '';
    try { createSink({ connectionString: cs, proxy: `socks5://gw:${PROXY_PASSWORD}@127.0.0.1:1080`, log, env: {} }); } catch (e) { message = (e as Error).message; }
    expect(message).toBe('--proxy: expected http://[user:password@]host:port or https://…, got a socks5:// URL');
    expect(() => createSink({ connectionString: cs, proxy: 'not a url', log, env: {} })).toThrow(/--proxy: expected .*got no URL/);
    expect(() => createSink({ connectionString: cs, log, env: { HTTPS_PROXY: 'ftp://x' } })).toThrow(/^HTTPS_PROXY: expected/);
    // HTTPS_PROXY with MQTT over TCP: said once, not used.
    const { sink } = createSink({ spec: broker.url, deviceId: `tcp-${process.pid}`, log, env: { HTTPS_PROXY: proxy.url() } });
    expect(lines.filter((l) => l.includes('HTTPS_PROXY ignored'))).toHaveLength(1);
    void sink.close(0);
    expectNoSecrets(lines);
    // The agent's own command line, as its process records report it, is masked the same way.
    const cmdline = log.mask.apply(`node microtally run --proxy ${proxy.url()} --proxy=http://gw:${PROXY_PASSWORD}@127.0.0.1:1`);
    expect(cmdline).toBe(`node microtally run --proxy http://***@127.0.0.1:${proxy.port} --proxy=http://***@127.0.0.1:1`);
  });

  it('a proxy credential that is a user name alone (http://token@host:port) is masked whole: log lines and reported command lines', () => {
    const TOKEN = 'pr0xy-t0ken/only';
    const broker = new URL('ws://127.0.0.1:1/mqtt');
    for (const [option, env] of [[`http://${encodeURIComponent(TOKEN)}@127.0.0.1:3128`, {}],
      [undefined, { HTTPS_PROXY: `http://${encodeURIComponent(TOKEN)}@127.0.0.1:3128` }]] as const) {
      const { log, lines } = logger();
      expect(chooseProxy(option, env, broker, log)?.username).toBe(encodeURIComponent(TOKEN));
      log.warn(`the proxy's user ${TOKEN}, as ${encodeURIComponent(TOKEN)}, in base64 ${Buffer.from(TOKEN).toString('base64')}`);
      expect(lines.join('')).not.toContain(TOKEN);
      expect(lines.join('')).not.toContain(encodeURIComponent(TOKEN));
      expect(lines.join('')).toContain("the proxy's user ***, as ***, in base64 ***");
      // reported command lines: the agent's own, and another program given the same proxy
      expect(log.mask.apply(`node microtally run --proxy http://${encodeURIComponent(TOKEN)}@127.0.0.1:3128`))
        .toBe('node microtally run --proxy http://***@127.0.0.1:3128');
      expect(log.mask.apply(`curl -x http://${TOKEN}@127.0.0.1:3128 https://h/`)).toBe('curl -x http://***@127.0.0.1:3128 https://h/');
    }
  });

  it('microtally run --sink ws://… --proxy <url> --outbox-max-bytes 1M: the agent sends through the proxy, its outbox on disk', async () => {
    const deviceId = `run-proxy-${process.pid}`;
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    const before = proxy.requests.length;
    const r = await runInProcess(['--sink', `ws://127.0.0.1:${ws.port}/mqtt`, '--device-id', deviceId, '--proxy', proxy.url(),
      '--state-dir', join(dir, 'run-state'), '--outbox-max-bytes', '1M', '--source', 'poll'], { stopAfterMs: 3000, env: {} });
    expect(r.code, r.stderr).toBe(0);
    await until('the pending messages delivered', () => sub.got.length >= 1);
    expect(JSON.parse(sub.got[0].text)).toHaveProperty('Events');
    expect(proxy.requests.slice(before)).toEqual([{ target: `127.0.0.1:${ws.port}`, auth: PROXY_AUTH }]);
    expect(r.stderr).toMatch(new RegExp(`running; sending to MQTT 127\\.0\\.0\\.1:${ws.port} via proxy 127\\.0\\.0\\.1:${proxy.port}`));
    expect(r.stderr).not.toMatch(/in memory only|outbox full/);
    expect(r.stderr).not.toContain(PROXY_PASSWORD);
    await sub.client.endAsync(true);
  });

  it('microtally run: --proxy with an mqtt:// sink and a malformed --outbox-max-bytes are usage errors (exit 2, one line)', async () => {
    const r = await runInProcess(['--sink', broker.url, '--proxy', proxy.url(), '--state-dir', join(dir, 'state')], { env: {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: --proxy: a proxy carries MQTT over WebSockets only/);
    expect(r.stderr).not.toContain(PROXY_PASSWORD);
    for (const [v, n] of [['4096', 4096], ['64k', 65536], ['16M', 16 << 20], ['1G', 1 << 30]] as const) {
      expect(runOptions({ 'outbox-max-bytes': v }).outboxMaxBytes).toBe(n);
    }
    for (const v of ['4095', '1.5M', '-1', '10m', '']) expect(() => runOptions({ 'outbox-max-bytes': v })).toThrow(/--outbox-max-bytes: expected/);
    const bad = await runInProcess(['--sink', broker.url, '--outbox-max-bytes', '12x'], { env: {} });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--outbox-max-bytes: expected a size in bytes of at least 4096 \(suffix k, M or G\), got "12x"/);
  });
});

// The two parts of issue 24 together: an IoT Hub identity (certificate, module, gateway) carried
// over WebSockets, directly and through the proxy.
describe('identities over WebSockets', () => {
  let mtls: WebSocketBridge;
  let mtlsProxy: ConnectProxy;
  let caFile: string;
  let device: { cert: string; key: string };
  beforeAll(async () => {
    const pki = new Pki(join(dir, 'pki'));
    const ca = pki.ca('ws-ca');
    caFile = ca.cert;
    const server = pki.issue(ca, 'ws-server', 'localhost', { san: ['DNS:localhost'] });
    device = pki.issue(ca, 'ws-device', 'x509-ws');
    // A hub that admits only clients with a certificate from its CA.
    mtls = new WebSocketBridge(createHttpsServer({ key: readFileSync(server.key), cert: readFileSync(server.cert), ca: readFileSync(ca.cert),
      requestCert: true, rejectUnauthorized: true }), broker.port);
    await mtls.start();
    mtlsProxy = new ConnectProxy((target) => (target === 'localhost:443' ? mtls.port : undefined));
    await mtlsProxy.start();
  });
  afterAll(async () => {
    await mtls?.stop();
    await mtlsProxy?.stop();
  });

  it('X.509 (x509=true) over wss://, directly and through the proxy: the hub sees the certificate, the key is never logged', async () => {
    for (const via of ['direct', 'proxy'] as const) {
      const { log, lines } = logger();
      const clientCert = loadClientCertificate(device.cert, device.key, false, log);
      const sub = await subscriber(broker.url, 'devices/x509-ws/messages/events/#');
      const peers = mtls.peers.length;
      const before = mtlsProxy.requests.length;
      const { sink, description } = createSink({
        ...(via === 'direct' ? { spec: `wss://localhost:${mtls.port}` } : { proxy: mtlsProxy.url() }),
        connectionString: 'HostName=localhost;DeviceId=x509-ws;x509=true', tls: { clientCert, ca: loadTrustedCa(caFile), caFile },
        log, env: {}, mqtt: { backoff } });
      expect(description).toBe(`IoT Hub localhost over WebSockets${via === 'proxy' ? ` via proxy 127.0.0.1:${mtlsProxy.port}` : ''}`);
      sink.send(`{"via":"${via}"}`);
      await until(`delivered ${via}`, () => sub.got.length >= 1);
      expect(sub.got[0]).toMatchObject({ topic: telemetryTopic('x509-ws'), text: `{"via":"${via}"}` });
      expect(mtls.peers.slice(peers)).toEqual(['x509-ws']);
      expect(mtlsProxy.requests.slice(before)).toEqual(via === 'proxy' ? [{ target: 'localhost:443', auth: PROXY_AUTH }] : []);
      expect(await sink.close(2000)).toBe(0);
      const keyBody = readFileSync(device.key, 'utf8').split('\n')[1];
      expect(lines.join('')).not.toContain(keyBody);
      expectNoSecrets(lines);
      await sub.client.endAsync(true);
    }
  });

  it('a wss:// broker (no IoT Hub) with --x509-cert and --ca-file: the certificate presented, the CA trusted', async () => {
    const { log, lines } = logger();
    const clientCert = loadClientCertificate(device.cert, device.key, false, log);
    const deviceId = `wss-broker-${process.pid}-${++devices}`;
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    const peers = mtls.peers.length;
    const { sink } = createSink({ spec: `wss://localhost:${mtls.port}/mqtt`, deviceId, tls: { clientCert, ca: loadTrustedCa(caFile), caFile },
      log, env: {}, mqtt: { backoff } });
    sink.send('{"broker":"wss"}');
    await until('delivered', () => sub.got.length >= 1);
    expect(sub.got[0].text).toBe('{"broker":"wss"}');
    expect(mtls.peers.slice(peers)).toEqual(['x509-ws']);
    expect(await sink.close(2000)).toBe(0);
    expectNoSecrets(lines);
    await sub.client.endAsync(true);
    expect(() => createSink({ spec: `ws://localhost:${mtls.port}/mqtt`, deviceId, tls: { clientCert }, log, env: {} }))
      .toThrow('--x509-cert and --ca-file are for TLS: an mqtts:// or wss:// sink, or IoT Hub');
  });

  it('through the proxy, a hub whose certificate is not trusted: the line says so and points at --ca-file, naming the proxy', async () => {
    const { log, lines } = logger();
    const clientCert = loadClientCertificate(device.cert, device.key, false, log);
    const { sink } = createSink({ proxy: mtlsProxy.url(), connectionString: 'HostName=localhost;DeviceId=x509-ws;x509=true', tls: { clientCert },
      log, env: {}, mqtt: { backoff } });
    sink.send('{"n":1}');
    await until('refused', () => lines.some((l) => l.includes('warn: MQTT wss://localhost')));
    expect(await sink.close(0)).toBeGreaterThan(0);
    expect(lines.find((l) => l.includes('warn: MQTT wss://localhost'))).toMatch(
      new RegExp(`: the server's certificate is not signed by a trusted CA \\([A-Z_]+\\): give its CA with --ca-file \\(via proxy 127\\.0\\.0\\.1:${mtlsProxy.port}\\)\\n$`));
  });

  it('an https:// proxy whose certificate --ca-file trusts: the TLS to the proxy checked against it, then the hub\'s', async () => {
    const server = readFileSync(join(dir, 'pki', 'ws-server.pem')); // for localhost, from the --ca-file CA
    const tlsProxy = new ConnectProxy((target) => (target === 'localhost:443' ? mtls.port : undefined), false,
      createHttpsServer({ key: readFileSync(join(dir, 'pki', 'ws-server.key')), cert: server }));
    await tlsProxy.start();
    try {
      const { log, lines } = logger();
      const clientCert = loadClientCertificate(device.cert, device.key, false, log);
      const sub = await subscriber(broker.url, 'devices/x509-ws/messages/events/#');
      const { sink, description } = createSink({ proxy: tlsProxy.url(), connectionString: 'HostName=localhost;DeviceId=x509-ws;x509=true',
        tls: { clientCert, ca: loadTrustedCa(caFile), caFile }, log, env: {}, mqtt: { backoff } });
      expect(description).toBe(`IoT Hub localhost over WebSockets via proxy localhost:${tlsProxy.port}`);
      sink.send('{"proxy":"https"}');
      await until('delivered', () => sub.got.length >= 1);
      expect(tlsProxy.requests).toEqual([{ target: 'localhost:443', auth: PROXY_AUTH }]);
      expect(await sink.close(2000)).toBe(0);
      expectNoSecrets(lines);
      await sub.client.endAsync(true);
    } finally {
      await tlsProxy.stop();
    }
  });

  it('the same hub without the certificate refuses the connection (the check above can fail)', async () => {
    const { log, lines } = logger();
    const { sink } = createSink({ spec: `wss://localhost:${mtls.port}`, connectionString: `HostName=localhost;DeviceId=no-cert;SharedAccessKey=${KEY}`,
      tls: { ca: loadTrustedCa(caFile), caFile }, log, env: {}, mqtt: { backoff } });
    sink.send('{"n":1}');
    await until('refused', () => lines.some((l) => l.includes('warn: MQTT wss://localhost')));
    expect(await sink.close(0)).toBeGreaterThan(0);
  });

  it('a module identity (ModuleId=) through the proxy: client id device/module, the module\'s telemetry topic', async () => {
    const { log, lines } = logger();
    const deviceId = `mod-${process.pid}-${++devices}`;
    const sub = await subscriber(broker.url, `devices/${deviceId}/modules/sensor/messages/events/#`);
    const { sink, mqtt } = createSink({ connectionString: `HostName=localhost;DeviceId=${deviceId};ModuleId=sensor;SharedAccessKey=${KEY}`,
      proxy: proxy.url(), log, env: {}, mqtt: { tls: { ca: cert }, backoff } });
    expect(mqtt!.clientId).toBe(`${deviceId}/sensor`);
    sink.send('{"module":true}');
    await until('delivered', () => sub.got.length >= 1);
    expect(sub.got[0]).toMatchObject({ topic: telemetryTopic(deviceId, 'json', 'sensor'), text: '{"module":true}' });
    expect(lines.join('')).toContain(`as ${deviceId}/sensor via proxy 127.0.0.1:${proxy.port}`);
    expect(await sink.close(2000)).toBe(0);
    expectNoSecrets(lines);
    await sub.client.endAsync(true);
  });

  it('GatewayHostName= with a proxy: the proxy is asked for the gateway on 443, never the hub', async () => {
    const { log, lines } = logger();
    const deviceId = `gw-${process.pid}-${++devices}`;
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    const before = proxy.requests.length;
    const { sink } = createSink({ connectionString: `HostName=hub.invalid;DeviceId=${deviceId};GatewayHostName=localhost;SharedAccessKey=${KEY}`,
      proxy: proxy.url(), log, env: {}, mqtt: { tls: { ca: cert }, backoff } });
    sink.send('{"gateway":true}');
    await until('delivered', () => sub.got.length >= 1);
    expect(proxy.requests.slice(before)).toEqual([{ target: 'localhost:443', auth: PROXY_AUTH }]);
    expect(await sink.close(2000)).toBe(0);
    expectNoSecrets(lines);
    await sub.client.endAsync(true);
  });
});
