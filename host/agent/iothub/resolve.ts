// The agent's identity from its options, before the sink is made: the client certificate and
// trusted CAs, then (with --dps-scope) a DPS registration whose assignment becomes the IoT Hub
// identity. Usage problems are UsageError, refusals (a readable key, an expired certificate, DPS
// refusing or assigning nothing) RefusedError: one line each, before anything is collected.

import { DEFAULT_STATE_DIR } from '../../update/state.js';
import { RefusedError, UsageError } from '../errors.js';
import type { StderrLogger } from '../log.js';
import { deriveGroupKey, DPS_GLOBAL_ENDPOINT, DpsError, dpsEndpointUrl, provision } from './dps.js';
import { loadClientCertificate, loadTrustedCa, readSecretFile, type HubIdentity, type TlsIdentity } from './identity.js';

/** `microtally run`'s identity options (a part of RunOptions). */
export interface IdentityOptions {
  /** PEM client certificate (and chain) and its key: X.509 authentication to IoT Hub, DPS or a broker. */
  x509Cert?: string;
  x509Key?: string;
  /** PEM certificates trusted in addition to the system's roots (a private hub, a gateway, a test broker). */
  caFile?: string;
  allowReadableSecret?: boolean;
  /** The agent's state directory (default /var/lib/microtally, made 0700): the DPS assignment is kept there. */
  stateDir?: string;
  /** DPS: the ID scope; with it the agent registers rather than reading a connection string. */
  dpsScope?: string;
  /** DPS registration id (default for X.509: the certificate's common name). */
  dpsRegistrationId?: string;
  /** DPS endpoint: a host name or mqtts://host[:port] (default global.azure-devices-provisioning.net). */
  dpsEndpoint?: string;
  /** A file holding an individual enrollment's symmetric key. */
  dpsKeyFile?: string;
  /** A file holding a group enrollment's symmetric key: the device key is derived from it and the registration id. */
  dpsGroupKeyFile?: string;
}

/** A stop request (SIGTERM, SIGINT, the abort signal) came while DPS was still being waited for: nothing was made. */
export class StoppedBeforeStart extends Error {}

export interface ResolvedIdentity {
  /** Undefined when no identity option was given (the sink's defaults). */
  tls?: TlsIdentity;
  /** Set by a DPS assignment. */
  hub?: HubIdentity;
}

/**
 * A DPS registration id: up to 128 letters, digits, '-', '.', '_' and ':', the last a letter, digit
 * or '-' (Azure DPS's "Registration ID"). It reaches log lines, the MQTT client id and topic.
 */
const REGISTRATION_ID = /^[A-Za-z0-9._:-]{0,127}[A-Za-z0-9-]$/;
const REGISTRATION_ID_RULE = "1 to 128 of A-Z, a-z, 0-9, '-', '.', '_', ':', the last no '.', '_' or ':'";
/** An ID scope as DPS hands them out (e.g. 0ne00000A0A): letters and digits. */
const ID_SCOPE = /^[A-Za-z0-9]{1,64}$/;

/** `s` quoted for a log line: JSON-escaped, and every character outside printable ASCII as \uXXXX. */
function quoted(s: string): string {
  const cut = s.length > 64 ? `${s.slice(0, 64)}...` : s;
  return JSON.stringify(cut).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Checks the combinations of the identity options; throws UsageError naming the first wrong one. */
export function checkIdentityOptions(o: IdentityOptions, hasConnectionString: boolean): void {
  if ((o.x509Cert === undefined) !== (o.x509Key === undefined)) throw new UsageError('--x509-cert and --x509-key: give both');
  const dpsDetail = o.dpsRegistrationId ?? o.dpsEndpoint ?? o.dpsKeyFile ?? o.dpsGroupKeyFile;
  if (o.dpsScope === undefined) {
    if (dpsDetail !== undefined) throw new UsageError('--dps-registration-id, --dps-endpoint, --dps-key-file and --dps-group-key-file need --dps-scope');
    return;
  }
  if (!ID_SCOPE.test(o.dpsScope)) throw new UsageError(`--dps-scope ${quoted(o.dpsScope)}: not a DPS ID scope (letters and digits, e.g. 0ne00000A0A)`);
  if (o.dpsRegistrationId && !REGISTRATION_ID.test(o.dpsRegistrationId)) {
    throw new UsageError(`--dps-registration-id ${quoted(o.dpsRegistrationId)}: not a DPS registration id (${REGISTRATION_ID_RULE})`);
  }
  if (hasConnectionString) throw new UsageError('--dps-scope and a connection string: give one (DPS hands out the hub)');
  const ways = [o.dpsKeyFile, o.dpsGroupKeyFile, o.x509Cert].filter((v) => v !== undefined).length;
  if (ways !== 1) throw new UsageError('--dps-scope needs one of --dps-key-file, --dps-group-key-file or --x509-cert/--x509-key');
  if (o.x509Cert === undefined && !o.dpsRegistrationId) throw new UsageError('--dps-scope with a symmetric key needs --dps-registration-id');
}

/**
 * Reads the certificate, key and CA files, then registers with DPS when asked. `signal` (and
 * SIGINT/SIGTERM meanwhile) stops a registration waiting for DPS to come back.
 */
export async function resolveIdentity(o: IdentityOptions, hasConnectionString: boolean, log: StderrLogger, signal?: AbortSignal): Promise<ResolvedIdentity> {
  checkIdentityOptions(o, hasConnectionString);
  if (o.x509Cert === undefined && o.caFile === undefined && o.dpsScope === undefined) return {};
  const tls: TlsIdentity = {};
  if (o.x509Cert !== undefined && o.x509Key !== undefined) tls.clientCert = loadClientCertificate(o.x509Cert, o.x509Key, o.allowReadableSecret, log);
  if (o.caFile !== undefined) { tls.ca = loadTrustedCa(o.caFile); tls.caFile = o.caFile; }
  if (o.dpsScope === undefined) return { tls };

  let key: string | undefined;
  if (o.dpsKeyFile !== undefined) key = symmetricKey(o.dpsKeyFile, '--dps-key-file', o, log);
  const registrationId = o.dpsRegistrationId || tls.clientCert?.commonName || '';
  if (!registrationId) throw new UsageError(`--x509-cert ${o.x509Cert}: no common name to register with: give --dps-registration-id`);
  if (!REGISTRATION_ID.test(registrationId)) {
    throw new UsageError(`--x509-cert ${o.x509Cert}: its common name ${quoted(registrationId)} is not a DPS registration id (${REGISTRATION_ID_RULE}): give --dps-registration-id`);
  }
  if (o.dpsGroupKeyFile !== undefined) {
    key = deriveGroupKey(symmetricKey(o.dpsGroupKeyFile, '--dps-group-key-file', o, log), registrationId);
    log.redact(key);
  }
  let endpoint: string;
  try {
    endpoint = dpsEndpointUrl(o.dpsEndpoint ?? DPS_GLOBAL_ENDPOINT);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const stop = new AbortController();
  const onStop = (): void => stop.abort();
  signal?.addEventListener('abort', onStop, { once: true });
  if (signal?.aborted) stop.abort();
  process.once('SIGINT', onStop);
  process.once('SIGTERM', onStop);
  try {
    const a = await provision({ endpoint, idScope: o.dpsScope, registrationId, key, tls, log, stateDir: o.stateDir ?? DEFAULT_STATE_DIR, signal: stop.signal });
    const hub: HubIdentity = { hostName: a.assignedHub, deviceId: a.deviceId };
    if (key !== undefined) hub.sharedAccessKey = key;
    else { hub.x509 = true; hub.clientCert = tls.clientCert; }
    return { tls, hub };
  } catch (e) {
    if (stop.signal.aborted) throw new StoppedBeforeStart('stopped before DPS assigned a hub: nothing was collected');
    if (e instanceof DpsError) throw new RefusedError(e.message);
    throw e;
  } finally {
    signal?.removeEventListener('abort', onStop);
    process.removeListener('SIGINT', onStop);
    process.removeListener('SIGTERM', onStop);
  }
}

/** A key file's base64 symmetric key (mode checked like every secret file). */
function symmetricKey(path: string, option: string, o: IdentityOptions, log: StderrLogger): string {
  const key = readSecretFile(path, option, o.allowReadableSecret, log).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || Buffer.from(key, 'base64').length < 16) {
    throw new UsageError(`${option} ${path}: not a base64 symmetric key (16 bytes or more)`);
  }
  return key;
}
