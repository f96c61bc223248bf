// IoT Hub device and module credentials: the connection string, the MQTT user name, and SAS
// tokens signed with node:crypto (for IoT Hub and for DPS). The key itself never leaves this
// module except inside a signature. X.509 authentication (`x509=true` in the connection string,
// the certificate and key given as files) is read in iothub/identity.ts; TLS carries it.

import { createHmac } from 'node:crypto';

export const IOTHUB_API_VERSION = '2021-04-12';

export interface DeviceCredentials {
  hostName: string;
  deviceId: string;
  /** A module identity (`ModuleId=`): client id `device/module`, the module's twin and SAS resource. */
  moduleId?: string;
  /** An IoT Edge (or other) gateway to connect to instead of HostName (`GatewayHostName=`). */
  gatewayHostName?: string;
  /** Absent when `x509` is set: TLS authenticates with the client certificate. */
  sharedAccessKey?: string;
  sharedAccessKeyName?: string;
  x509?: boolean;
}

/**
 * Parses `HostName=…;DeviceId=…[;ModuleId=…][;GatewayHostName=…];SharedAccessKey=…` or, for a
 * certificate, `…;x509=true`; throws an Error naming what is wrong (never echoing the key).
 */
export function parseConnectionString(cs: string): DeviceCredentials {
  const fields = new Map<string, string>();
  for (const part of cs.split(';')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error('connection string: each part must be Name=value');
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const need = (k: string, name: string): string => {
    const v = fields.get(k);
    if (!v) throw new Error(`connection string: ${name} is missing`);
    return v;
  };
  const creds: DeviceCredentials = { hostName: need('hostname', 'HostName'), deviceId: need('deviceid', 'DeviceId') };
  const x509 = fields.get('x509');
  if (x509 !== undefined && x509.toLowerCase() !== 'true') throw new Error('connection string: x509 must be true when given');
  if (x509 !== undefined && fields.has('sharedaccesskey')) throw new Error('connection string: give SharedAccessKey or x509=true, not both');
  if (x509 !== undefined) creds.x509 = true;
  else {
    creds.sharedAccessKey = need('sharedaccesskey', 'SharedAccessKey');
    if (Buffer.from(creds.sharedAccessKey, 'base64').length === 0) throw new Error('connection string: SharedAccessKey is not base64');
  }
  const keyName = fields.get('sharedaccesskeyname');
  if (keyName) creds.sharedAccessKeyName = keyName;
  const moduleId = fields.get('moduleid');
  if (moduleId) creds.moduleId = moduleId;
  const gateway = fields.get('gatewayhostname');
  if (gateway) creds.gatewayHostName = gateway;
  return creds;
}

/** The MQTT client id: the device id, or `device/module` for a module identity. */
export function iotHubClientId(c: Pick<DeviceCredentials, 'deviceId' | 'moduleId'>): string {
  return c.moduleId ? `${c.deviceId}/${c.moduleId}` : c.deviceId;
}

/** The MQTT user name IoT Hub expects from a device or module. */
export function iotHubUsername(c: Pick<DeviceCredentials, 'hostName' | 'deviceId' | 'moduleId'>): string {
  return `${c.hostName}/${iotHubClientId(c)}/?api-version=${IOTHUB_API_VERSION}`;
}

/** `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]`: HMAC-SHA256 with the base64 key over the encoded resource and expiry. */
export function signSas(resource: string, keyBase64: string, expirySeconds: number, keyName?: string): string {
  const sr = encodeURIComponent(resource);
  const sig = createHmac('sha256', Buffer.from(keyBase64, 'base64')).update(`${sr}\n${expirySeconds}`).digest('base64');
  let token = `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expirySeconds}`;
  if (keyName) token += `&skn=${encodeURIComponent(keyName)}`;
  return token;
}

/** A SAS token for the device (or module) resource, valid until `expirySeconds` (Unix time). */
export function sasToken(c: DeviceCredentials, expirySeconds: number): string {
  if (c.sharedAccessKey === undefined) throw new Error('no SharedAccessKey: this identity authenticates with a certificate');
  const resource = `${c.hostName}/devices/${c.deviceId}${c.moduleId ? `/modules/${c.moduleId}` : ''}`;
  return signSas(resource, c.sharedAccessKey, expirySeconds, c.sharedAccessKeyName);
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
