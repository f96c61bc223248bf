// Who the agent is to IoT Hub (or to a broker) and whom it trusts: the X.509 client certificate
// and key files, the trusted CA file for private hubs and gateways, secret files checked for
// their mode, and the IoT Hub identity (device or module, SAS key or certificate) from a
// connection string or a DPS assignment. Each problem is one line naming the option and file.

import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import type { StderrLogger } from '../log.js';
import { parseConnectionString, type DeviceCredentials } from '../sas.js';
import { RefusedError, UsageError } from '../errors.js';

/** A client certificate and its key, read and checked (valid now, the key its own). */
export interface ClientCertificate {
  certFile: string;
  /** PEM: the certificate, then any intermediates from the same file (sent as the chain). */
  cert: string;
  /** PEM: the private key (masked in every log line). */
  key: string;
  /** The subject's common name (DPS takes it as the registration id of an individual X.509 enrollment). */
  commonName: string;
  notAfter: Date;
}

/** The TLS side of the agent's identity: what it presents and whom it trusts. */
export interface TlsIdentity {
  clientCert?: ClientCertificate;
  /** Trusted CAs: the system's roots plus the --ca-file ones (undefined: the system's only). */
  ca?: string[];
  caFile?: string;
}

/** An IoT Hub identity: the hub's name (user name, SAS resource) and how the agent proves it is the device. */
export interface HubIdentity extends DeviceCredentials {
  /** Set when `x509` is: the certificate TLS presents. */
  clientCert?: ClientCertificate;
}

/**
 * Reads a secret file (a key, a connection string) from one open descriptor and masks it in the
 * log at once (`redact`); refuses one that group or others may read unless `allowReadable` (then warns). Throws UsageError (unreadable,
 * empty) or RefusedError (its mode), each one line naming `option` and the file.
 */
export function readSecretFile(path: string, option: string, allowReadable: boolean | undefined, log: StderrLogger,
  redact: (text: string) => void = (text) => log.redact(text.trim())): string {
  let text: string;
  let mode: number;
  try {
    const fd = openSync(path, 'r');
    try {
      mode = fstatSync(fd).mode; // of the file read, not of whatever the path names a moment later
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new UsageError(`${option} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  redact(text);
  if (!text.trim()) throw new UsageError(`${option} ${path}: the file is empty`);
  if ((mode & 0o044) !== 0) {
    const who = [mode & 0o040 ? 'group' : '', mode & 0o004 ? 'others' : ''].filter(Boolean).join(' and ');
    const why = `${option} ${path}: readable by ${who} (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`;
    if (!allowReadable) throw new RefusedError(`${why}: chmod 600 it, or pass --allow-readable-secret`);
    log.warn(`${why}: accepted (--allow-readable-secret)`);
  }
  return text;
}

function readPublic(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${option} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Reads --x509-cert and --x509-key and checks them before any connection: PEM, valid now (an
 * expired certificate is refused here, not as a TLS alert later), the key the certificate's.
 */
export function loadClientCertificate(certFile: string, keyFile: string, allowReadable: boolean | undefined, log: StderrLogger,
  now = Date.now()): ClientCertificate {
  const cert = readPublic(certFile, '--x509-cert');
  const keyPem = readSecretFile(keyFile, '--x509-key', allowReadable, log);
  // The key as one line (its base64 body; the mask adds the DER's hex and base64url): how a command line or an env value carries it.
  for (const body of keyPem.match(/-----BEGIN [^-]+-----[\s\S]*?-----END [^-]+-----/g) ?? []) log.redact(body.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new UsageError(`--x509-cert ${certFile}: not a PEM certificate`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new UsageError(`--x509-key ${keyFile}: not a PEM private key (an encrypted key is not supported)`);
  }
  const notBefore = new Date(x509.validFrom);
  const notAfter = new Date(x509.validTo);
  if (now > notAfter.getTime()) throw new RefusedError(`--x509-cert ${certFile}: expired on ${notAfter.toISOString()}`);
  if (now < notBefore.getTime()) throw new RefusedError(`--x509-cert ${certFile}: not valid before ${notBefore.toISOString()} (check the clock)`);
  if (!x509.checkPrivateKey(key)) throw new UsageError(`--x509-key ${keyFile}: not the key of the certificate in ${certFile}`);
  const commonName = /(?:^|\n)CN=([^\n]*)/.exec(x509.subject)?.[1] ?? '';
  return { certFile, cert, key: keyPem, commonName, notAfter };
}

/** Reads --ca-file: its certificates are trusted in addition to the system's roots. */
export function loadTrustedCa(caFile: string): string[] {
  const text = readPublic(caFile, '--ca-file');
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new UsageError(`--ca-file ${caFile}: no PEM certificate in it`);
  for (const pem of pems) {
    try {
      new X509Certificate(pem); // eslint-disable-line no-new
    } catch {
      throw new UsageError(`--ca-file ${caFile}: a certificate in it cannot be parsed`);
    }
  }
  return [...rootCertificates, ...pems];
}

/** The connection string's identity; `x509=true` needs --x509-cert/--x509-key, a SAS key must not have them. */
export function hubIdentity(connectionString: string, tls: TlsIdentity): HubIdentity {
  let creds: DeviceCredentials;
  try {
    creds = parseConnectionString(connectionString);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (creds.x509 && !tls.clientCert) throw new UsageError('connection string: x509=true needs --x509-cert and --x509-key');
  if (!creds.x509 && tls.clientCert) throw new UsageError('--x509-cert: the connection string has a SharedAccessKey; use x509=true in it for a certificate');
  return { ...creds, clientCert: creds.x509 ? tls.clientCert : undefined };
}

/** The TLS options an MQTT connection gets from the identity (mqtt.js passes them to tls.connect). */
export function tlsOptions(tls: TlsIdentity): { cert?: string; key?: string; ca?: string[] } {
  return {
    ...(tls.clientCert ? { cert: tls.clientCert.cert, key: tls.clientCert.key } : {}),
    ...(tls.ca ? { ca: tls.ca } : {}),
  };
}

const UNTRUSTED_SERVER = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_SIGNATURE_FAILURE']);

/** A TLS failure that trying again will not mend: the server's certificate not trusted, or the server refusing ours. */
export function isTlsRefusal(e: Error): boolean {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return UNTRUSTED_SERVER.has(code) || code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_/.test(code);
}

/**
 * A TLS failure as one line saying which side refused and what to fix: the server's certificate
 * not trusted (--ca-file), or the server refusing ours (--x509-cert); anything else as it came.
 */
export function explainTlsError(e: Error, tls: TlsIdentity): string {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (UNTRUSTED_SERVER.has(code)) {
    return tls.caFile
      ? `the server's certificate is not signed by a CA in --ca-file ${tls.caFile} (${code})`
      : `the server's certificate is not signed by a trusted CA (${code}): give its CA with --ca-file`;
  }
  if (code === 'CERT_HAS_EXPIRED') return "the server's certificate has expired (CERT_HAS_EXPIRED)";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `the server's certificate is not for this host name: ${e.message}`;
  const alert = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(.+)$/.exec(code)?.[1];
  if (alert) {
    const what = alert.toLowerCase().replace(/_/g, ' ');
    return tls.clientCert
      ? `the server refused the TLS handshake (alert: ${what}): is --x509-cert ${tls.clientCert.certFile} signed by a CA it trusts?`
      : `the server refused the TLS handshake (alert: ${what}): does it require a client certificate (--x509-cert)?`;
  }
  return e.message.split('\n')[0];
}
