// Azure IoT Hub Device Provisioning Service over MQTT: register (`$dps/registrations/PUT/
// iotdps-register/`), poll the operation (`…/GET/iotdps-get-operationstatus/`) until DPS has
// assigned a hub, and keep the assignment in the state directory, so that a DPS outage at the
// next start does not keep the agent from its hub. Symmetric keys (individual enrollment, or a
// group enrollment's key from which the device key is derived) and X.509 (TLS client certificate).
// mqtt.js speaks it: the same client the agent's IoT Hub connection uses.

import { createHmac } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { StderrLogger } from '../log.js';
import { signSas } from '../sas.js';
import { openStateDir, StateError, syncDir } from '../../update/state.js';
import { explainTlsError, isTlsRefusal, tlsOptions, type TlsIdentity } from './identity.js';

export const DPS_GLOBAL_ENDPOINT = 'global.azure-devices-provisioning.net';
export const DPS_API_VERSION = '2019-03-31';
/** The assignment kept in the state directory. */
export const DPS_CACHE_FILE = 'dps.json';

export interface DpsRequest {
  /** mqtts://host[:port] (default port 8883). */
  endpoint: string;
  idScope: string;
  registrationId: string;
  /** The device's symmetric key (base64): an individual enrollment's, or derived from a group's. Absent for X.509. */
  key?: string;
  /** The client certificate (X.509 attestation) and the trusted CAs. */
  tls: TlsIdentity;
  log: StderrLogger;
  /** How long one registration may take before it counts as DPS unreachable (ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What DPS assigned: the hub's host name and the device id there. */
export interface Assignment { assignedHub: string; deviceId: string }

/** A registration that failed: `permanent` when DPS refused or assigned nothing (trying again will not help). */
export class DpsError extends Error {
  /** retryAfterMs: how long DPS asked to be left alone (a 429's or 5xx's retry-after). */
  constructor(message: string, readonly permanent: boolean, readonly retryAfterMs?: number) { super(message); }
}

/** How often the operation status is asked at most, whatever retry-after says (a tight loop would hammer DPS). */
export const DPS_MIN_POLL_MS = 1000;

/** A hub name DPS may hand out: a host name only (no port, path, user or space), and a device id. */
const HUB_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const usableAssignment = (hub: unknown, deviceId: unknown): boolean =>
  typeof hub === 'string' && hub.length <= 253 && HUB_NAME.test(hub) && typeof deviceId === 'string' && deviceId.length > 0 && deviceId.length <= 128
  && !/[\u0000-\u001f\u007f]/.test(deviceId);

/** The device key of a group enrollment: HMAC-SHA256 over the registration id with the group key, base64. */
export function deriveGroupKey(groupKeyBase64: string, registrationId: string): string {
  return createHmac('sha256', Buffer.from(groupKeyBase64, 'base64')).update(registrationId, 'utf8').digest('base64');
}

/** DPS's SAS token: resource `<scope>/registrations/<id>`, key name `registration`. */
export function dpsSasToken(idScope: string, registrationId: string, keyBase64: string, expirySeconds: number): string {
  return signSas(`${idScope}/registrations/${registrationId}`, keyBase64, expirySeconds, 'registration');
}

/** The endpoint option as a URL: a host name, or mqtts://host[:port]. */
export function dpsEndpointUrl(endpoint: string): string {
  const url = new URL(endpoint.includes('://') ? endpoint : `mqtts://${endpoint}`);
  if (url.protocol !== 'mqtts:' || !url.hostname || url.pathname.replace(/^\/$/, '') !== '') {
    throw new DpsError(`--dps-endpoint ${endpoint}: expected a host name or mqtts://host[:port]`, true);
  }
  if (!url.port) url.port = '8883';
  return url.href;
}

/** Text from DPS as one short line in a log: no control characters, bounded. */
const oneLine = (s: unknown): string => String(s).replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 200);

/** One registration against DPS: resolves with the assignment, or rejects with a DpsError. */
export async function register(req: DpsRequest): Promise<Assignment> {
  const timeoutMs = req.timeoutMs ?? 60_000;
  const where = `DPS ${new URL(req.endpoint).host}`;
  const options: IClientOptions = {
    clientId: req.registrationId,
    username: `${req.idScope}/registrations/${req.registrationId}/api-version=${DPS_API_VERSION}`,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: Math.min(timeoutMs, 10_000),
    rejectUnauthorized: true,
    ...tlsOptions(req.tls),
  };
  if (req.key !== undefined) {
    const password = dpsSasToken(req.idScope, req.registrationId, req.key, Math.floor(Date.now() / 1000) + 3600);
    req.log.redact(password);
    options.password = password;
  }
  let client: MqttClient;
  try {
    client = await connected(req.endpoint, options);
  } catch (e) {
    const code = (e as { code?: number | string }).code;
    // CONNACK 4 (bad user name or password) and 5 (not authorized): DPS refused these credentials.
    if (code === 4 || code === 5) throw new DpsError(`${where} refused the registration of ${req.registrationId}: ${(e as Error).message}`, true);
    throw new DpsError(`${where}: ${explainTlsError(e as Error, req.tls)}`, isTlsRefusal(e as Error));
  }
  try {
    return await registerOn(client, req, where, timeoutMs);
  } finally {
    await client.endAsync(true).catch(() => {});
  }
}

/** Connects once: resolves on the CONNACK, rejects with the error (or the close) that came first. */
function connected(url: string, options: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = connect(url, options);
    let failed: Error | undefined;
    client.once('connect', () => resolve(client));
    client.on('error', (e) => { failed ??= e; });
    client.once('close', () => {
      client.end(true);
      reject(failed ?? new Error('the connection closed before DPS accepted it'));
    });
  });
}

interface DpsResponse { status: number; rid: string; retryAfterS?: number; body: Record<string, unknown> }

async function registerOn(client: MqttClient, req: DpsRequest, where: string, timeoutMs: number): Promise<Assignment> {
  const responses: DpsResponse[] = [];
  /** The request id of the one request waiting for its answer; any other answer is dropped at once. */
  let waitingFor: string | undefined;
  let wake = (): void => {};
  client.on('message', (topic, payload) => {
    const m = /^\$dps\/registrations\/res\/(\d+)\/\?(.*)$/.exec(topic);
    if (!m) return;
    const q = new URLSearchParams(m[2]);
    const rid = q.get('$rid') ?? '';
    if (rid !== waitingFor || responses.length > 0) {
      req.log.debug?.(`${where}: an answer to request ${oneLine(rid).slice(0, 32) || '(none)'} dropped (${waitingFor === undefined ? 'no request waiting' : `waiting for ${waitingFor}`}${rid === waitingFor ? ', answered already' : ''})`);
      return;
    }
    let body: Record<string, unknown> = {};
    try {
      const v: unknown = JSON.parse(payload.toString('utf8'));
      if (v && typeof v === 'object' && !Array.isArray(v)) body = v as Record<string, unknown>;
    } catch { /* an empty or non-JSON body: its status speaks */ }
    const retry = Number(q.get('retry-after'));
    responses.push({ status: Number(m[1]), rid, retryAfterS: Number.isFinite(retry) && retry > 0 ? retry : undefined, body });
    wake();
  });
  let closed = false;
  client.on('close', () => { closed = true; wake(); });
  const deadline = Date.now() + timeoutMs;
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    req.signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
  const answer = async (rid: string): Promise<DpsResponse> => {
    for (;;) {
      const i = responses.findIndex((r) => r.rid === rid);
      if (i >= 0) { waitingFor = undefined; return responses.splice(i, 1)[0]; }
      if (req.signal?.aborted) throw new DpsError(`${where}: registration stopped`, false);
      if (closed) throw new DpsError(`${where} closed the connection during the registration`, false);
      const left = deadline - Date.now();
      if (left <= 0) throw new DpsError(`${where}: no assignment within ${Math.round(timeoutMs / 1000)} s`, false);
      await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, Math.min(left, 250)); });
    }
  };
  await client.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
  let rid = 1;
  waitingFor = String(rid);
  await client.publishAsync(`$dps/registrations/PUT/iotdps-register/?$rid=${rid}`, JSON.stringify({ registrationId: req.registrationId }), { qos: 1 });
  for (;;) {
    const res = await answer(String(rid));
    if (res.status >= 300) {
      const what = oneLine(res.body.message ?? res.body.errorCode ?? 'no reason given');
      // 429 (throttled) and 5xx are DPS's own trouble: try again later. Any other refusal stands.
      const transient = res.status === 429 || res.status >= 500;
      throw new DpsError(`${where} refused the registration of ${req.registrationId} (status ${res.status}): ${what}`, !transient,
        res.retryAfterS === undefined ? undefined : res.retryAfterS * 1000);
    }
    const status = String(res.body.status ?? '');
    const state = (res.body.registrationState ?? {}) as Record<string, unknown>;
    if (status === 'assigned') {
      const assignedHub = typeof state.assignedHub === 'string' ? state.assignedHub : '';
      const deviceId = typeof state.deviceId === 'string' ? state.deviceId : '';
      if (!usableAssignment(assignedHub, deviceId)) {
        throw new DpsError(`${where} assigned ${req.registrationId} no usable hub (assignedHub "${oneLine(assignedHub)}", deviceId "${oneLine(deviceId)}")`, true);
      }
      return { assignedHub, deviceId };
    }
    if (status === 'failed' || status === 'disabled') {
      const why = oneLine(state.errorMessage ?? state.errorCode ?? 'no reason given');
      throw new DpsError(`${where}: registration of ${req.registrationId} ${status}: ${why}`, true);
    }
    const operationId = typeof res.body.operationId === 'string' ? res.body.operationId : '';
    if (!operationId) throw new DpsError(`${where} answered status "${oneLine(status)}" without an operation id`, true);
    await sleep(Math.min(Math.max((res.retryAfterS ?? 3) * 1000, DPS_MIN_POLL_MS), Math.max(0, deadline - Date.now())));
    rid++;
    waitingFor = String(rid);
    await client.publishAsync(`$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid}&operationId=${encodeURIComponent(operationId)}`, '', { qos: 1 });
  }
}

interface CachedAssignment extends Assignment { endpoint: string; idScope: string; registrationId: string }

/**
 * The cached assignment for this registration (another scope, id or endpoint: none). One that is
 * not what writeCachedAssignment writes (not JSON, a hub that is no host name) is none too, said
 * in one line: it is checked as DPS's own answer is.
 */
export function readCachedAssignment(stateDir: string, req: Pick<DpsRequest, 'endpoint' | 'idScope' | 'registrationId'>, log?: StderrLogger): Assignment | undefined {
  const path = join(stateDir, DPS_CACHE_FILE);
  let c: Partial<CachedAssignment> | null;
  try {
    c = JSON.parse(readFileSync(path, 'utf8')) as Partial<CachedAssignment> | null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log?.warn(`${path}: unreadable (${oneLine((e as NodeJS.ErrnoException).code ?? (e as Error).message)}), not used`);
    return undefined; // none yet, or unreadable: registering again is the remedy
  }
  if (typeof c !== 'object' || c === null) { log?.warn(`${path}: not an assignment this agent wrote, not used`); return undefined; }
  if (c.endpoint !== req.endpoint || c.idScope !== req.idScope || c.registrationId !== req.registrationId) return undefined;
  if (!usableAssignment(c.assignedHub, c.deviceId)) { log?.warn(`${path}: not an assignment this agent wrote (no usable hub or device id), not used`); return undefined; }
  return { assignedHub: c.assignedHub!, deviceId: c.deviceId! };
}

/** Writes the assignment through a synced temporary file renamed over the old one (0600). */
export function writeCachedAssignment(stateDir: string, req: Pick<DpsRequest, 'endpoint' | 'idScope' | 'registrationId'>, a: Assignment): void {
  const c: CachedAssignment = { endpoint: req.endpoint, idScope: req.idScope, registrationId: req.registrationId, ...a };
  const tmp = join(stateDir, `${DPS_CACHE_FILE}.${process.pid}.tmp`); // its own: another agent's write is no concern of this one
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
    try {
      const b = Buffer.from(`${JSON.stringify(c)}\n`);
      for (let off = 0; off < b.length;) off += writeSync(fd, b, off, b.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(stateDir, DPS_CACHE_FILE));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(stateDir); // else a power cut may bring back the old assignment, or none
}

/**
 * Registers at start and caches the assignment. DPS refusing, or assigning nothing, is a
 * DpsError (permanent). DPS unreachable (or throttling): the cached assignment when there is one,
 * else tries again with a capped backoff until it answers or `signal` aborts.
 */
export async function provision(req: DpsRequest & { stateDir: string; backoff?: { initialMs: number; maxMs: number } }): Promise<Assignment> {
  try {
    openStateDir(req.stateDir);
  } catch (e) {
    if (e instanceof StateError) throw new DpsError(`--state-dir: ${e.message}`, true);
    throw e;
  }
  const { initialMs, maxMs } = req.backoff ?? { initialMs: 2000, maxMs: 60_000 };
  for (let attempt = 0; ; attempt++) {
    try {
      const a = await register(req);
      const before = readCachedAssignment(req.stateDir, req);
      if (before && (before.assignedHub !== a.assignedHub || before.deviceId !== a.deviceId)) {
        // Messages kept on disk for the old hub go to the new one: the device is there now.
        req.log.info(`DPS moved ${req.registrationId} from ${before.assignedHub} (device ${before.deviceId}) to ${a.assignedHub} (device ${a.deviceId})`);
      }
      let kept = `kept in ${join(req.stateDir, DPS_CACHE_FILE)}`;
      try {
        writeCachedAssignment(req.stateDir, req, a);
      } catch (w) {
        // The hub is known: the agent goes on; only a DPS outage at the next start would find nothing kept.
        kept = `not kept: ${join(req.stateDir, DPS_CACHE_FILE)}: ${(w as NodeJS.ErrnoException).code ?? (w as Error).message}`;
      }
      (kept.startsWith('not') ? req.log.warn : req.log.info).call(req.log, `DPS assigned ${req.registrationId} to ${a.assignedHub} as device ${a.deviceId} (${kept})`);
      return a;
    } catch (e) {
      if (!(e instanceof DpsError) || e.permanent || req.signal?.aborted) throw e;
      const cached = readCachedAssignment(req.stateDir, req, req.log);
      if (cached) {
        req.log.warn(`${e.message}; using the assignment kept from before: ${cached.assignedHub} as device ${cached.deviceId}`);
        return cached;
      }
      // DPS's retry-after (a throttled registration) is waited out, up to the backoff's cap.
      const backoff = Math.round(Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20)) * (0.8 + 0.4 * Math.random()));
      const delay = Math.max(backoff, Math.min(maxMs, e.retryAfterMs ?? 0));
      req.log.warn(`${e.message}; no assignment kept from before: trying again in ${(delay / 1000).toFixed(1)} s`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        req.signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
      });
      if (req.signal?.aborted) throw new DpsError('stopped before DPS assigned a hub', false);
    }
  }
}
