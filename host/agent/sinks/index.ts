// Builds the sink named by `--sink` (and `--connection-string`).

import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import { DEFAULT_DISK_OUTBOX_BYTES, DiskOutbox } from '../diskoutbox.js';
import type { StderrLogger } from '../log.js';
import { DEFAULT_OUTBOX, Outbox, type OutboxLimits } from '../outbox.js';
import { openStateDir } from '../../update/state.js';
import { RefusedError, UsageError } from '../errors.js';
import { explainTlsError, hubIdentity, tlsOptions, type HubIdentity, type TlsIdentity } from '../iothub/identity.js';
import { iotHubUsername, SasTokenSource } from '../sas.js';
import { FileSink } from './file.js';
import { MqttSink, type MqttSinkOptions } from './mqtt.js';
import type { Sink } from './sink.js';
import { StreamSink } from './stdout.js';
import { chooseProxy, IOT_HUB_WEBSOCKET_PATH, isWebSocket, ProxyError, transportFor, type Transport } from './transport.js';

export { RefusedError, UsageError };

export interface SinkRequest {
  /** `stdout`, `file:<path>`, `mqtt://host:port`, `mqtts://host:port`, `ws://host:port/path` or `wss://host:port/path`. */
  spec?: string;
  connectionString?: string;
  /** An IoT Hub identity already resolved (DPS); else the connection string's, when there is one. */
  hub?: HubIdentity;
  /** The client certificate (--x509-cert/--x509-key) and trusted CAs (--ca-file), for IoT Hub and brokers alike. */
  tls?: TlsIdentity;
  deviceId?: string;
  log: StderrLogger;
  stdout?: Writable;
  outbox?: OutboxLimits;
  /** MQTT sinks keep their outbox on disk here (created 0700); none: in memory. */
  stateDir?: string;
  /** The state directory is the default one: when unusable, a warning and the memory outbox (else refused). */
  stateDirOptional?: boolean;
  /** The disk outbox's size limit (default DEFAULT_DISK_OUTBOX_BYTES); the memory outbox's too. */
  outboxMaxBytes?: number;
  /** --proxy: an HTTP(S) proxy for MQTT over WebSockets. */
  proxy?: string;
  /** Where HTTPS_PROXY and NO_PROXY are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Messages the sink could not keep or write (every sink): see MqttSinkOptions.onDropped. */
  onDropped?: (messages: number) => void;
  /** Test seams for the MQTT transport (backoff, TLS trust, token lifetime). */
  mqtt?: Partial<Pick<MqttSinkOptions, 'backoff' | 'tls' | 'maxInFlight'>> & { tokenTtlMs?: number; renewBeforeMs?: number };
}

export interface SinkSetup {
  sink: Sink;
  /** Set for MQTT sinks: the twin rides on this connection. */
  mqtt?: MqttSink;
  deviceId: string;
  description: string;
}

export function createSink(req: SinkRequest): SinkSetup {
  const spec = req.spec ?? (req.connectionString || req.hub ? undefined : 'stdout');
  if (req.connectionString !== undefined || req.hub) return iotHub(req, spec);
  const deviceId = req.deviceId ?? hostname();
  if (req.tls && !spec?.startsWith('mqtts://') && !spec?.startsWith('wss://')) throw new UsageError('--x509-cert and --ca-file are for TLS: an mqtts:// or wss:// sink, or IoT Hub');
  if (spec === 'stdout') return { sink: new StreamSink(req.stdout, req.log, undefined, req.onDropped), deviceId, description: 'stdout' };
  if (spec?.startsWith('file:')) {
    const path = spec.slice('file:'.length);
    if (!path) throw new UsageError('--sink file:<path> needs a path');
    try {
      return { sink: new FileSink(path, req.log, req.onDropped), deviceId, description: `file ${path}` };
    } catch (e) {
      throw new RefusedError(`--sink ${spec}: ${(e as Error).message}`);
    }
  }
  const url = brokerUrl(spec ?? '');
  if (url.password) req.log.redact(decodeURIComponent(url.password));
  const transport = proxied(req, url);
  const mqtt = new MqttSink({
    url: url.href,
    deviceId,
    log: req.log,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? () => decodeURIComponent(url.password) : undefined,
    ...outbox(req),
    transport,
    onDropped: req.onDropped,
    ...(req.tls ? { tls: tlsOptions(req.tls), explainError: (e: Error) => explainTlsError(e, req.tls!) } : {}),
    ...req.mqtt,
  });
  return { sink: mqtt, mqtt, deviceId, description: `MQTT ${url.host}${transport.via ? ` ${transport.via}` : ''}` };
}

/** The proxy for this broker (sinks/transport.ts); its errors as usage errors. */
function proxied(req: SinkRequest, url: URL): Transport {
  try {
    return transportFor(url, chooseProxy(req.proxy, req.env ?? process.env, url, req.log), req.tls?.ca);
  } catch (e) {
    if (e instanceof ProxyError) throw new UsageError(e.message);
    throw e;
  }
}

/**
 * The MQTT outbox: on disk in the state directory when there is one (diskoutbox.ts), else in
 * memory. A directory given that cannot be used is refused; the default one is only warned about.
 */
function outbox(req: SinkRequest): Pick<MqttSinkOptions, 'outbox' | 'createOutbox'> {
  const memory: OutboxLimits = { ...DEFAULT_OUTBOX, ...req.outbox, ...(req.outboxMaxBytes ? { maxBytes: req.outboxMaxBytes } : {}) };
  const dir = req.stateDir;
  if (dir === undefined) return { outbox: memory };
  try {
    openStateDir(dir);
  } catch (e) {
    if (!req.stateDirOptional) throw new RefusedError(`--state-dir: ${(e as Error).message}`);
    req.log.warn(`${(e as Error).message}: the outbox is kept in memory only (lost on restart); give --state-dir`);
    return { outbox: memory };
  }
  const limits: OutboxLimits = { maxBytes: req.outboxMaxBytes ?? DEFAULT_DISK_OUTBOX_BYTES, maxMessages: 100_000, ...req.outbox };
  return {
    outbox: memory,
    createOutbox: (onDrop) => {
      try {
        return new DiskOutbox({ dir, limits, log: req.log, onDrop });
      } catch (e) {
        req.log.warn(`${(e as Error).message}: the outbox is kept in memory only`);
        return new Outbox(memory, onDrop);
      }
    },
  };
}

function brokerUrl(spec: string): URL {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new UsageError(`--sink: expected stdout, file:<path> or mqtt://host:port, got "${spec}"`);
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol) || !url.hostname) {
    throw new UsageError(`--sink: expected stdout, file:<path> or mqtt://host:port, got "${spec}"`);
  }
  return url;
}

/**
 * IoT Hub: TLS on 8883 (or a gateway: `GatewayHostName=`, or `--sink mqtts://…`), or MQTT over
 * WebSockets on 443 (`--sink wss://…`, or a proxy), as a device or module, with a SAS token renewed
 * before expiry or with the client certificate.
 */
function iotHub(req: SinkRequest, spec: string | undefined): SinkSetup {
  const tls = req.tls ?? {};
  const creds = req.hub ?? hubIdentity(req.connectionString ?? '', tls);
  req.log.redact(creds.sharedAccessKey);
  if (req.deviceId !== undefined && req.deviceId !== creds.deviceId) {
    throw new UsageError(`--device-id ${req.deviceId} differs from the connection string's DeviceId ${creds.deviceId}`);
  }
  if (spec !== undefined && !spec.startsWith('mqtts://') && !spec.startsWith('wss://')) {
    throw new UsageError('--connection-string sends to IoT Hub over TLS: leave --sink out, or give an mqtts:// or wss:// gateway');
  }
  // Without --sink: WebSockets on 443 when a proxy is to be used, else MQTT on 8883.
  const host = creds.gatewayHostName ?? creds.hostName;
  const given = spec === undefined ? new URL(`wss://${host}:443${IOT_HUB_WEBSOCKET_PATH}`) : brokerUrl(spec);
  if (!given.port) given.port = isWebSocket(given) ? '443' : '8883';
  if (isWebSocket(given) && given.pathname === '/') given.pathname = IOT_HUB_WEBSOCKET_PATH;
  const transport = proxied(req, given);
  const url = spec === undefined && !transport.via ? new URL(`mqtts://${host}:8883`) : given;
  const tokens = creds.x509 ? undefined : new SasTokenSource(creds, req.mqtt?.tokenTtlMs, req.mqtt?.renewBeforeMs);
  const mqtt = new MqttSink({
    url: url.href,
    deviceId: creds.deviceId,
    moduleId: creds.moduleId,
    log: req.log,
    username: iotHubUsername(creds),
    password: tokens && (() => tokens.current()),
    renewAt: tokens && (() => tokens.renewAt()),
    tls: { rejectUnauthorized: true, ...tlsOptions({ ...tls, clientCert: creds.clientCert }), ...req.mqtt?.tls },
    explainError: (e) => explainTlsError(e, { ...tls, clientCert: creds.clientCert }),
    ...outbox(req),
    transport,
    onDropped: req.onDropped,
    backoff: req.mqtt?.backoff,
    maxInFlight: req.mqtt?.maxInFlight,
  });
  return { sink: mqtt, mqtt, deviceId: creds.deviceId, description: `IoT Hub ${creds.hostName}${isWebSocket(url) ? ' over WebSockets' : ''}${transport.via ? ` ${transport.via}` : ''}` };
}
