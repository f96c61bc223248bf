// IoT Hub and DPS stand-ins on loopback for the identity tests: MQTT 3.1.1 over TLS (mqtt-packet
// for the wire format), each asking for a client certificate and checking the CONNECT as the
// service does: a SAS password verified with the key (for DPS: an individual key, or the key
// derived from a group key, computed here on its own), or a client certificate signed by the CA it
// trusts with the expected common name. Everything a client does is recorded for the assertions.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Packet = any;

export interface TlsFiles { cert: string; key: string; ca: string }

/** Checks `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]` for `resource` with `keyBase64`; '' when valid. */
export function sasProblem(password: string, resource: string, keyBase64: string, skn?: string): string {
  const prefix = 'SharedAccessSignature ';
  if (!password.startsWith(prefix)) return 'not a SharedAccessSignature';
  const f = new Map(password.slice(prefix.length).split('&').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const sr = f.get('sr'), sig = f.get('sig'), se = f.get('se');
  if (!sr || !sig || !se) return 'sr, sig or se missing';
  if (decodeURIComponent(sr) !== resource) return `resource ${decodeURIComponent(sr)} is not ${resource}`;
  if (skn !== undefined && f.get('skn') !== skn) return `key name ${f.get('skn')} is not ${skn}`;
  if (Number(se) <= Date.now() / 1000) return 'expired';
  const expected = createHmac('sha256', Buffer.from(keyBase64, 'base64')).update(`${sr}\n${se}`).digest();
  const given = Buffer.from(decodeURIComponent(sig), 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'signature does not match the key';
  return '';
}

/** The common name of the client certificate TLS verified against the server's CA ('' when none or not verified). */
function verifiedCn(socket: TLSSocket): string {
  if (!socket.authorized) return '';
  return String(socket.getPeerCertificate()?.subject?.CN ?? '');
}

type Client = TLSSocket & { ok?: boolean; clientId?: string };

abstract class MqttTlsServer {
  server?: Server;
  port = 0;
  readonly sockets = new Set<Client>();
  /** Every CONNECT: who, and why refused ('' accepted). */
  connects: Array<{ clientId: string; username: string; reason: string }> = [];

  constructor(protected readonly tls: TlsFiles) {}

  async start(host = '127.0.0.1', port = 0): Promise<void> {
    // Asks for a certificate but lets the CONNECT decide (as the services do), so a refusal is recorded.
    this.server = createServer({ cert: this.tls.cert, key: this.tls.key, ca: this.tls.ca, requestCert: true, rejectUnauthorized: false },
      (s) => this.serve(s));
    this.server.on('tlsClientError', () => {});
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  protected write(s: TLSSocket, packet: Packet): void { if (!s.destroyed) s.write(mqttPacket.generate(packet)); }

  private serve(s: Client): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => {});
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'connect') {
        const reason = this.authenticate(s, p);
        this.connects.push({ clientId: p.clientId, username: p.username ?? '', reason });
        s.clientId = p.clientId;
        this.write(s, { cmd: 'connack', returnCode: reason ? 5 : 0, sessionPresent: false });
        if (reason) s.end(); else s.ok = true;
        return;
      }
      if (!s.ok) { s.destroy(); return; }
      if (p.cmd === 'subscribe') this.write(s, { cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map((x: Packet) => Math.min(x.qos, 1)) });
      else if (p.cmd === 'pingreq') this.write(s, { cmd: 'pingresp' });
      else if (p.cmd === 'disconnect') s.end();
      else if (p.cmd === 'publish') {
        if (p.qos === 1) this.write(s, { cmd: 'puback', messageId: p.messageId });
        this.publish(s, p.topic, Buffer.from(p.payload));
      }
    });
    parser.on('error', () => s.destroy());
    s.on('data', (d) => parser.parse(d));
  }

  protected abstract authenticate(s: TLSSocket, p: Packet): string;
  protected abstract publish(s: Client, topic: string, payload: Buffer): void;
}

export interface HubIdentityExpected {
  hub: string;
  deviceId: string;
  moduleId?: string;
  /** The SAS key; absent: a client certificate with CN = deviceId is required. */
  key?: string;
}

/** IoT Hub: the device or module's CONNECT, telemetry on its topic, the twin (GET, reported PATCH, desired pushes). */
export class HubStandIn extends MqttTlsServer {
  telemetry: Array<{ topic: string; payload: Buffer }> = [];
  /** Publishes on a topic that is neither this identity's telemetry nor the twin's. */
  strayTopics: string[] = [];
  twinTopics: string[] = [];
  reported: Array<Record<string, any>> = [];
  desired: Record<string, unknown> = {};
  desiredVersion = 1;

  constructor(tls: TlsFiles, readonly id: HubIdentityExpected) { super(tls); }

  get clientId(): string { return this.id.moduleId ? `${this.id.deviceId}/${this.id.moduleId}` : this.id.deviceId; }

  protected authenticate(s: TLSSocket, p: Packet): string {
    const { hub, deviceId, moduleId, key } = this.id;
    if (p.clientId !== this.clientId) return `client id ${p.clientId} is not ${this.clientId}`;
    if (!String(p.username).startsWith(`${hub}/${this.clientId}/?api-version=`)) return `user name ${p.username} is not IoT Hub's for ${this.clientId}`;
    if (key === undefined) {
      const cn = verifiedCn(s);
      return cn === deviceId ? '' : `no client certificate for ${deviceId} signed by the hub's CA (${cn || s.authorizationError || 'none'})`;
    }
    const resource = `${hub}/devices/${deviceId}${moduleId ? `/modules/${moduleId}` : ''}`;
    return sasProblem(p.password ? p.password.toString('utf8') : '', resource, key);
  }

  protected publish(s: TLSSocket, topic: string, payload: Buffer): void {
    const events = `devices/${this.id.deviceId}${this.id.moduleId ? `/modules/${this.id.moduleId}` : ''}/messages/events/`;
    const rid = /[?&]\$rid=([^&]*)/.exec(topic)?.[1];
    if (topic.startsWith(events)) this.telemetry.push({ topic, payload });
    else if (topic.startsWith('$iothub/twin/')) {
      this.twinTopics.push(topic);
      if (topic.startsWith('$iothub/twin/GET/')) {
        const body = { desired: { ...this.desired, $version: this.desiredVersion }, reported: {} };
        this.write(s, { cmd: 'publish', topic: `$iothub/twin/res/200/?$rid=${rid}`, payload: Buffer.from(JSON.stringify(body)), qos: 0, retain: false });
      } else if (topic.startsWith('$iothub/twin/PATCH/properties/reported/')) {
        this.reported.push(JSON.parse(payload.toString('utf8')));
        this.write(s, { cmd: 'publish', topic: `$iothub/twin/res/204/?$rid=${rid}&$version=${this.reported.length + 1}`, payload: Buffer.alloc(0), qos: 0, retain: false });
      }
    } else this.strayTopics.push(topic);
  }

  /** Pushes a desired-properties patch to the connected client. */
  sendDesired(patch: Record<string, unknown>): number {
    this.desiredVersion++;
    Object.assign(this.desired, patch);
    const body = Buffer.from(JSON.stringify({ ...patch, $version: this.desiredVersion }));
    for (const s of this.sockets) {
      this.write(s, { cmd: 'publish', topic: `$iothub/twin/PATCH/properties/desired/?$version=${this.desiredVersion}`, payload: body, qos: 0, retain: false });
    }
    return this.desiredVersion;
  }
}

/** One enrollment: an individual key, a group key (the device key derived), or X.509 (CN = registration id). */
export type Enrollment = { key: string } | { groupKey: string } | { x509: true };

/** What the stand-in answers a registration with. */
export type Verdict =
  | { assignedHub: string; deviceId: string }
  | { refuse: number; message: string; retryAfter?: number }
  /** The operation stays "assigning", each answer asking to be polled again after retryAfter seconds. */
  | { pending: true; retryAfter: number }
  | { status: 'failed' | 'disabled'; errorMessage: string }
  | { nothing: true }
  /** Answers the registration with status 200 and this body as it is (JSON or not). */
  | { raw: string };

/** DPS: checks the registration CONNECT and answers register / operation-status requests (202, then the verdict). */
export class DpsStandIn extends MqttTlsServer {
  registrations: Array<{ registrationId: string; payload: unknown }> = [];
  polls = 0;
  /** Answers with request ids no request has (and one repeat of the real answer) sent around each real answer. */
  strays = 0;
  private readonly operations = new Map<string, string>();

  constructor(tls: TlsFiles, readonly idScope: string, readonly enrollments: Map<string, Enrollment>,
    public verdict: (registrationId: string) => Verdict) { super(tls); }

  protected authenticate(s: TLSSocket, p: Packet): string {
    const rid = String(p.clientId);
    const e = this.enrollments.get(rid);
    if (!e) return `no enrollment for ${rid}`;
    if (p.username !== `${this.idScope}/registrations/${rid}/api-version=2019-03-31`) return `user name ${p.username}`;
    if ('x509' in e) {
      const cn = verifiedCn(s);
      return cn === rid ? '' : `no client certificate for ${rid} signed by an enrolled CA (${cn || s.authorizationError || 'none'})`;
    }
    // A group enrollment: the device's key is HMAC-SHA256(group key, registration id).
    const key = 'key' in e ? e.key : createHmac('sha256', Buffer.from(e.groupKey, 'base64')).update(rid).digest('base64');
    return sasProblem(p.password ? p.password.toString('utf8') : '', `${this.idScope}/registrations/${rid}`, key, 'registration');
  }

  protected publish(s: Client, topic: string, payload: Buffer): void {
    const rid = /[?&]\$rid=([^&]*)/.exec(topic)?.[1];
    const send = (status: number, to: string | undefined, body: unknown, retryAfter?: number): void => this.write(s, {
      cmd: 'publish', topic: `$dps/registrations/res/${status}/?$rid=${to}${retryAfter ? `&retry-after=${retryAfter}` : ''}`,
      payload: Buffer.from(JSON.stringify(body)), qos: 0, retain: false,
    });
    const answer = (status: number, body: unknown, retryAfter?: number): void => {
      for (let i = 0; i < this.strays; i++) send(200, `${rid}${i}0`, { status: 'assigned', note: 'x'.repeat(1000) });
      send(status, rid, body, retryAfter);
      if (this.strays > 0) send(500, rid, { message: 'a repeat of an answer already given' });
    };
    const registrationId = s.clientId ?? '';
    if (topic.startsWith('$dps/registrations/PUT/iotdps-register/')) {
      const body = JSON.parse(payload.toString('utf8'));
      this.registrations.push({ registrationId, payload: body });
      if (body.registrationId !== registrationId) { answer(400, { errorCode: 400004, message: 'registrationId differs from the client id' }); return; }
      const v = this.verdict(registrationId);
      if ('refuse' in v) { answer(v.refuse, { errorCode: v.refuse * 1000 + 1, message: v.message }, v.retryAfter); return; }
      if ('raw' in v) {
        this.write(s, { cmd: 'publish', topic: `$dps/registrations/res/200/?$rid=${rid}`, payload: Buffer.from(v.raw), qos: 0, retain: false });
        return;
      }
      const operationId = `op-${this.registrations.length}`;
      this.operations.set(operationId, registrationId);
      answer(202, { operationId, status: 'assigning' }, 1);
    } else if (topic.startsWith('$dps/registrations/GET/iotdps-get-operationstatus/')) {
      this.polls++;
      const operationId = new URLSearchParams(topic.slice(topic.indexOf('?') + 1)).get('operationId') ?? '';
      const reg = this.operations.get(operationId);
      if (!reg) { answer(404, { message: 'no such operation' }); return; }
      const v = this.verdict(reg);
      if ('pending' in v) {
        answer(202, { operationId, status: 'assigning' }, v.retryAfter);
      } else if ('assignedHub' in v) {
        answer(200, { operationId, status: 'assigned', registrationState: { registrationId: reg, assignedHub: v.assignedHub, deviceId: v.deviceId, status: 'assigned' } });
      } else if ('status' in v) {
        answer(200, { operationId, status: v.status, registrationState: { registrationId: reg, status: v.status, errorMessage: v.errorMessage } });
      } else {
        answer(200, { operationId, status: 'assigned', registrationState: { registrationId: reg, status: 'assigned' } });
      }
    }
  }
}
