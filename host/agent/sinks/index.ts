// Builds the sink named by `--sink` (and `--connection-string`).

import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import type { StderrLogger } from '../log.js';
import type { OutboxLimits } from '../outbox.js';
import { iotHubUsername, parseConnectionString, SasTokenSource } from '../sas.js';
import { FileSink } from './file.js';
import { MqttSink, type MqttSinkOptions } from './mqtt.js';
import type { Sink } from './sink.js';
import { StreamSink } from './stdout.js';

export class UsageError extends Error {}
/** Refused for safety (a readable secret, a sink file not the agent's): one line, no usage text, exit 2. */
export class RefusedError extends Error {}

export interface SinkRequest {
  /** `stdout`, `file:<path>`, `mqtt://host:port` or `mqtts://host:port`. */
  spec?: string;
  connectionString?: string;
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
  const spec = req.spec ?? (req.connectionString ? undefined : 'stdout');
  if (req.connectionString !== undefined) return iotHub(req, spec);
  const deviceId = req.deviceId ?? hostname();
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

/** IoT Hub: TLS on 8883 (or a gateway given as `--sink mqtts://…`), SAS token renewed before expiry. */
function iotHub(req: SinkRequest, spec: string | undefined): SinkSetup {
  let creds;
  try {
    creds = parseConnectionString(req.connectionString ?? '');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  req.log.redact(creds.sharedAccessKey);
  if (req.deviceId !== undefined && req.deviceId !== creds.deviceId) {
    throw new UsageError(`--device-id ${req.deviceId} differs from the connection string's DeviceId ${creds.deviceId}`);
  }
  if (spec !== undefined && !spec.startsWith('mqtts://')) {
    throw new UsageError('--connection-string sends to IoT Hub over TLS: leave --sink out, or give an mqtts:// gateway');
  }
  const url = spec === undefined ? new URL(`mqtts://${creds.hostName}:8883`) : brokerUrl(spec);
  if (!url.port) url.port = '8883';
  const tokens = new SasTokenSource(creds, req.mqtt?.tokenTtlMs, req.mqtt?.renewBeforeMs);
  const mqtt = new MqttSink({
    url: url.href,
    deviceId: creds.deviceId,
    log: req.log,
    username: iotHubUsername(creds),
    password: () => tokens.current(),
    renewAt: () => tokens.renewAt(),
    tls: { rejectUnauthorized: true, ...req.mqtt?.tls },
    outbox: req.outbox,
    onDropped: req.onDropped,
    backoff: req.mqtt?.backoff,
    maxInFlight: req.mqtt?.maxInFlight,
  });
  return { sink: mqtt, mqtt, deviceId: creds.deviceId, description: `IoT Hub ${creds.hostName}` };
}
