// IoT Hub device credentials: the connection string, the MQTT user name, and SAS tokens signed
// with node:crypto. The key itself never leaves this module except inside a signature.

import { createHmac } from 'node:crypto';

export const IOTHUB_API_VERSION = '2021-04-12';

export interface DeviceCredentials {
  hostName: string;
  deviceId: string;
  sharedAccessKey: string;
  sharedAccessKeyName?: string;
}

/** Parses `HostName=…;DeviceId=…;SharedAccessKey=…`; throws an Error naming what is wrong (never echoing the key). */
export function parseConnectionString(cs: string): DeviceCredentials {
  const fields = new Map<string, string>();
  for (const part of cs.split(';')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error('connection string: each part must be Name=value');
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  if (fields.has('x509')) throw new Error('connection string: X.509 authentication is not supported, use a SharedAccessKey');
  const need = (k: string, name: string): string => {
    const v = fields.get(k);
    if (!v) throw new Error(`connection string: ${name} is missing`);
    return v;
  };
  const creds: DeviceCredentials = {
    hostName: need('hostname', 'HostName'),
    deviceId: need('deviceid', 'DeviceId'),
    sharedAccessKey: need('sharedaccesskey', 'SharedAccessKey'),
  };
  if (Buffer.from(creds.sharedAccessKey, 'base64').length === 0) throw new Error('connection string: SharedAccessKey is not base64');
  const keyName = fields.get('sharedaccesskeyname');
  if (keyName) creds.sharedAccessKeyName = keyName;
  return creds;
}

/** The MQTT user name IoT Hub expects from a device. */
export function iotHubUsername(c: DeviceCredentials): string {
  return `${c.hostName}/${c.deviceId}/?api-version=${IOTHUB_API_VERSION}`;
}

/** A SAS token for the device resource, valid until `expirySeconds` (Unix time). */
export function sasToken(c: DeviceCredentials, expirySeconds: number): string {
  const sr = encodeURIComponent(`${c.hostName}/devices/${c.deviceId}`);
  const sig = createHmac('sha256', Buffer.from(c.sharedAccessKey, 'base64')).update(`${sr}\n${expirySeconds}`).digest('base64');
  let token = `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expirySeconds}`;
  if (c.sharedAccessKeyName) token += `&skn=${encodeURIComponent(c.sharedAccessKeyName)}`;
  return token;
}

/** Hands out a token, making a new one when the current one is within `renewBeforeMs` of expiring. */
export class SasTokenSource {
  private token = '';
  private expiresAt = 0;

  constructor(
    private readonly creds: DeviceCredentials,
    readonly ttlMs = 3600_000,
    readonly renewBeforeMs = 300_000,
    private readonly now: () => number = Date.now,
  ) {}

  current(): string {
    if (this.now() >= this.expiresAt - this.renewBeforeMs) {
      const se = Math.floor((this.now() + this.ttlMs) / 1000);
      this.token = sasToken(this.creds, se);
      this.expiresAt = se * 1000;
    }
    return this.token;
  }

  /** When the current token should be replaced (ms since the epoch). */
  renewAt(): number {
    return this.expiresAt - this.renewBeforeMs;
  }
}
