// Builds the sink named by `--sink` (and `--connection-string`).

import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import type { StderrLogger } from '../log.js';
import type { OutboxLimits } from '../outbox.js';
import { RefusedError, UsageError } from '../errors.js';
import { explainTlsError, hubIdentity, tlsOptions, type HubIdentity, type TlsIdentity } from '../iothub/identity.js';
import { iotHubUsername, SasTokenSource } from '../sas.js';
import { FileSink } from './file.js';
import { MqttSink, type MqttSinkOptions } from './mqtt.js';
import type { Sink } from './sink.js';
import { StreamSink } from './stdout.js';

export { RefusedError, UsageError };

export interface SinkRequest {
  /** `stdout`, `file:<path>`, `mqtt://host:port` or `mqtts://host:port`. */
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
  if (req.tls && !spec?.startsWith('mqtts://')) throw new UsageError('--x509-cert and --ca-file are for TLS: an mqtts:// sink or IoT Hub');
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
  const mqtt = new MqttSink({
    url: url.href,
    deviceId,
    log: req.log,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? () => decodeURIComponent(url.password) : undefined,
    outbox: req.outbox,
    onDropped: req.onDropped,
    ...(req.tls ? { tls: tlsOptions(req.tls), explainError: (e: Error) => explainTlsError(e, req.tls!) } : {}),
    ...req.mqtt,
  });
  return { sink: mqtt, mqtt, deviceId, description: `MQTT ${url.host}` };
}

function brokerUrl(spec: string): URL {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new UsageError(`--sink: expected stdout, file:<path> or mqtt://host:port, got "${spec}"`);
  }
  if ((url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') || !url.hostname) {
    throw new UsageError(`--sink: expected stdout, file:<path> or mqtt://host:port, got "${spec}"`);
  }
  return url;
}

/**
 * IoT Hub: TLS on 8883 (or a gateway: `GatewayHostName=`, or `--sink mqtts://…`), as a device or
 * module, with a SAS token renewed before expiry or with the client certificate.
 */
function iotHub(req: SinkRequest, spec: string | undefined): SinkSetup {
  const tls = req.tls ?? {};
  const creds = req.hub ?? hubIdentity(req.connectionString ?? '', tls);
  req.log.redact(creds.sharedAccessKey);
  if (req.deviceId !== undefined && req.deviceId !== creds.deviceId) {
    throw new UsageError(`--device-id ${req.deviceId} differs from the connection string's DeviceId ${creds.deviceId}`);
  }
  if (spec !== undefined && !spec.startsWith('mqtts://')) {
    throw new UsageError('--connection-string sends to IoT Hub over TLS: leave --sink out, or give an mqtts:// gateway');
  }
  const url = spec === undefined ? new URL(`mqtts://${creds.gatewayHostName ?? creds.hostName}:8883`) : brokerUrl(spec);
  if (!url.port) url.port = '8883';
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
    outbox: req.outbox,
    onDropped: req.onDropped,
    backoff: req.mqtt?.backoff,
    maxInFlight: req.mqtt?.maxInFlight,
  });
  return { sink: mqtt, mqtt, deviceId: creds.deviceId, description: `IoT Hub ${creds.hostName}` };
}
