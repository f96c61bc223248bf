// An IoT Hub stand-in for the device tests, inside the test's network namespace: MQTT 3.1.1 over
// TLS 1.2 (a test CA's server certificate), the CONNECT authenticated as IoT Hub does it (client
// id = device id, user name `<hub>/<device>/?api-version=...`, a SAS password whose HMAC-SHA256
// over `<url-encoded hub/devices/id>\n<expiry>` is checked with the device key), the device twin
// (GET, reported PATCH, desired patches pushed) and every telemetry message recorded with its
// topic, its property bag and its bytes.
//
// Why not a broker (mosquitto, aedes): IoT Hub is not one. It answers twin requests itself and
// never relays, so a broker would still need a second client playing the hub next to it, and
// mosquitto cannot check a SAS password. MQTT's wire format is left to mqtt-packet (mqtt.js's
// own parser and generator, already installed with the `mqtt` dependency).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:tls';
import mqttPacket from 'mqtt-packet';

/** Checks an IoT Hub SAS password; returns '' when valid, else the reason. */
export function sasProblem(password, hub, deviceId, keyBase64, nowSeconds) {
  const prefix = 'SharedAccessSignature ';
  if (typeof password !== 'string' || !password.startsWith(prefix)) return 'not a SharedAccessSignature';
  const fields = new Map();
  for (const part of password.slice(prefix.length).split('&')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at), part.slice(at + 1));
  }
  const sr = fields.get('sr'), sig = fields.get('sig'), se = fields.get('se');
  if (!sr || !sig || !se) return 'sr, sig or se missing';
  if (decodeURIComponent(sr).toLowerCase() !== `${hub}/devices/${deviceId}`.toLowerCase()) return `resource ${decodeURIComponent(sr)} is not this device`;
  if (!/^[0-9]+$/.test(se) || Number(se) <= nowSeconds) return `expiry ${se} is not in the future`;
  const expected = createHmac('sha256', Buffer.from(keyBase64, 'base64')).update(`${sr}\n${se}`).digest();
  const given = Buffer.from(decodeURIComponent(sig), 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'signature does not match the device key';
  return '';
}

/** Checks the device's X.509 certificate (CA-signed authentication): it chains to the device CA
 * and its subject's CN is the device id. Returns '' when valid, else the reason. */
export function certificateProblem(socket, deviceId) {
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.subject) return 'no client certificate';
  if (!socket.authorized) return `client certificate not from the device CA (${socket.authorizationError})`;
  if (cert.subject.CN !== deviceId) return `client certificate CN ${cert.subject.CN} is not ${deviceId}`;
  return '';
}

/** RFC 7386 merge of a patch into a twin section. */
function merge(target, patch) {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === 'object' && !Array.isArray(v)) {
      if (typeof target[k] !== 'object' || target[k] === null) target[k] = {};
      merge(target[k], v);
    } else target[k] = v;
  }
}

export class HubStandIn {
  /** opts: { hub, deviceId, key (base64), cert, privateKey (PEM), address, port, clientCa (PEM,
   * optional: X.509 device authentication, below) } */
  constructor(opts) {
    this.opts = opts;
    this.connects = [];   // { clientId, username, accepted, reason, at, port (the device's TCP port), certificate (its CN, if any) }
    this.telemetry = [];  // { topic, properties, payload: Buffer, at }
    this.twinGets = 0;
    this.reportedPatches = []; // parsed bodies, in order
    this.desired = {};
    this.desiredVersion = 1;
    this.reported = {};
    this.reportedVersion = 1;
    this.sockets = new Set();
    this.methodWaits = new Map(); // $rid -> (status, payload) => void
    this.methodRid = 0;
    this.server = null;
    this.onChange = () => {};
  }

  start() {
    // With clientCa the hub asks every device for its certificate (X.509 authentication, as IoT
    // Hub does for CA-signed devices); the TLS layer never refuses one, the CONNECT check does,
    // so a refusal is recorded with its reason like a wrong SAS key.
    const x509 = this.opts.clientCa ? { requestCert: true, rejectUnauthorized: false, ca: this.opts.clientCa } : {};
    this.server = createServer({ cert: this.opts.cert, key: this.opts.privateKey, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ...x509 },
      (socket) => this.serve(socket));
    this.server.on('tlsClientError', () => {});
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.address, () => resolve());
    });
  }

  /** Closes the listener and every connection (the device sees the hub go away). */
  stop() {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = null;
    return server ? new Promise((resolve) => server.close(() => resolve())) : Promise.resolve();
  }

  /** Pushes a desired-properties patch to the connected device, with the next $version. */
  sendDesired(patch) {
    this.desiredVersion += 1;
    merge(this.desired, patch);
    const body = Buffer.from(JSON.stringify({ ...patch, $version: this.desiredVersion }));
    for (const s of this.sockets) {
      if (s.authenticated) this.write(s, { cmd: 'publish', topic: `$iothub/twin/PATCH/properties/desired/?$version=${this.desiredVersion}`, payload: body, qos: 0, retain: false });
    }
    return this.desiredVersion;
  }

  /** Invokes a direct method on the connected device: resolves with { status, body } (its JSON answer). */
  invokeMethod(name, payload, ms = 30000) {
    const rid = (this.methodRid += 1).toString(16);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.methodWaits.delete(rid); reject(new Error(`direct method ${name}: no answer within ${ms} ms`)); }, ms);
      this.methodWaits.set(rid, (status, answer) => {
        clearTimeout(timer);
        let body;
        try { body = JSON.parse(answer.toString('utf8')); } catch { body = undefined; }
        resolve({ status, body });
      });
      for (const s of this.sockets) {
        if (s.authenticated) this.write(s, { cmd: 'publish', topic: `$iothub/methods/POST/${name}/?$rid=${rid}`, payload: Buffer.from(JSON.stringify(payload)), qos: 0, retain: false });
      }
    });
  }

  write(socket, packet) {
    if (!socket.destroyed) socket.write(mqttPacket.generate(packet));
  }

  serve(socket) {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => this.packet(socket, p));
    parser.on('error', () => socket.destroy());
    socket.on('data', (d) => parser.parse(d));
  }

  packet(socket, p) {
    const { hub, deviceId, key } = this.opts;
    if (p.cmd === 'connect') {
      const password = p.password ? p.password.toString('utf8') : '';
      let reason = '';
      if (p.clientId !== deviceId) reason = `client id ${p.clientId} is not ${deviceId}`;
      else if (!p.username || !p.username.startsWith(`${hub}/${deviceId}/?api-version=`)) reason = `user name ${p.username} is not IoT Hub's`;
      else if (this.opts.clientCa) reason = certificateProblem(socket, deviceId);
      else reason = sasProblem(password, hub, deviceId, key, Math.floor(Date.now() / 1000));
      this.connects.push({ clientId: p.clientId, username: p.username, accepted: !reason, reason, at: Date.now(), port: socket.remotePort,
        certificate: socket.getPeerCertificate?.()?.subject?.CN, password: p.password !== undefined });
      this.write(socket, { cmd: 'connack', returnCode: reason ? 5 : 0, sessionPresent: false });
      if (reason) socket.end();
      else socket.authenticated = true;
      this.onChange();
      return;
    }
    if (!socket.authenticated) { socket.destroy(); return; }
    switch (p.cmd) {
      case 'subscribe':
        this.write(socket, { cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map((s) => Math.min(s.qos, 1)) });
        break;
      case 'pingreq':
        this.write(socket, { cmd: 'pingresp' });
        break;
      case 'disconnect':
        socket.end();
        break;
      case 'publish':
        if (p.qos === 1) this.write(socket, { cmd: 'puback', messageId: p.messageId });
        this.publish(socket, p);
        break;
      default:
        break;
    }
    this.onChange();
  }

  publish(socket, p) {
    const { deviceId } = this.opts;
    const events = `devices/${deviceId}/messages/events/`;
    const rid = /[?&]\$rid=([^&]*)/.exec(p.topic)?.[1];
    if (p.topic.startsWith(events)) {
      const properties = {};
      for (const pair of p.topic.slice(events.length).split('&')) {
        if (!pair) continue;
        const at = pair.indexOf('=');
        properties[decodeURIComponent(at < 0 ? pair : pair.slice(0, at))] = at < 0 ? '' : decodeURIComponent(pair.slice(at + 1));
      }
      this.telemetry.push({ topic: p.topic, properties, payload: Buffer.from(p.payload), at: Date.now() });
    } else if (p.topic.startsWith('$iothub/methods/res/')) {
      const status = Number(/^\$iothub\/methods\/res\/(\d+)\//.exec(p.topic)?.[1]);
      const wait = this.methodWaits.get(rid);
      this.methodWaits.delete(rid);
      if (wait) wait(status, Buffer.from(p.payload));
    } else if (p.topic.startsWith('$iothub/twin/GET/')) {
      this.twinGets += 1;
      const body = { desired: { ...this.desired, $version: this.desiredVersion }, reported: { ...this.reported, $version: this.reportedVersion } };
      this.write(socket, { cmd: 'publish', topic: `$iothub/twin/res/200/?$rid=${rid}`, payload: Buffer.from(JSON.stringify(body)), qos: 0, retain: false });
    } else if (p.topic.startsWith('$iothub/twin/PATCH/properties/reported/')) {
      let patch;
      try { patch = JSON.parse(Buffer.from(p.payload).toString('utf8')); } catch { patch = undefined; }
      if (!patch || typeof patch !== 'object') {
        this.write(socket, { cmd: 'publish', topic: `$iothub/twin/res/400/?$rid=${rid}`, payload: Buffer.alloc(0), qos: 0, retain: false });
        return;
      }
      this.reportedPatches.push(patch);
      merge(this.reported, patch);
      this.reportedVersion += 1;
      this.write(socket, { cmd: 'publish', topic: `$iothub/twin/res/204/?$rid=${rid}&$version=${this.reportedVersion}`, payload: Buffer.alloc(0), qos: 0, retain: false });
    }
  }
}
