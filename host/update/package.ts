// The core update package (SPEC R12, docs/UPDATE.md): a COSE_Sign1 (RFC 9052, ES256) over a CBOR
// manifest in the spirit of SUIT (RFC 9124), followed by the blob as a CBOR byte string (a CBOR
// sequence of two items, RFC 8742), so a device verifies the small envelope before it streams the
// blob into its staging slot and hashes it as it goes.

import { createHash, createPrivateKey, createPublicKey, sign as ecSign, verify as ecVerify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Core } from '../core.js';
import type { Profile } from '../engine.js';
import { CborError, decodeItem, encode, Tagged, type IntMap, type Item } from './cbor.js';

/** COSE_Sign1's tag (RFC 9052 section 4.2). */
export const COSE_SIGN1_TAG = 18;
/** COSE algorithm ES256 (RFC 9053): ECDSA P-256 with SHA-256. */
export const ES256 = -7;
/** COSE header labels (RFC 9052 section 3.1). */
const HEADER_ALG = 1;
const HEADER_KID = 4;
/** The manifest's keys (docs/UPDATE.md). */
export const M = { format: 1, sequence: 2, blobSize: 3, blobSha256: 4, abiVersion: 5, profile: 6, agentVersion: 7, selfTestSha256: 8 } as const;
/** The one manifest layout this host reads and writes. */
export const MANIFEST_FORMAT = 1;
/** The largest blob a package carries: the linux blob's linear memory is 42 pages, its code far less. */
export const MAX_BLOB_BYTES = 4 << 20;
/** The ABI versions this host drives (docs/ABI.md: mt_abi_version). */
export const SUPPORTED_ABI = [5];
/** The agent id the self-test runs with, so its digest does not depend on the core's default. */
export const SELFTEST_AGENT_ID = '00000000-0000-4000-8000-000000000012';

export interface Manifest {
  format: number;
  sequence: number;
  blobSize: number;
  blobSha256: string;
  abiVersion: number;
  profile: Profile;
  agentVersion: string;
  selfTestSha256: string;
}

/** A package refused: the reason is one line (docs/UPDATE.md, "Refusals"). */
export class PackageError extends Error {
  /** The manifest, when the refusal came after its signature verified (an AgentUpdate names its version). */
  manifest?: Manifest;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

/** The fixed self-test trace: host/update/selftest.jsonl, next to this module or (built) in the package. */
export function selfTestTrace(): Uint8Array {
  for (const rel of ['./selftest.jsonl', '../../../host/update/selftest.jsonl']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return readFileSync(url);
  }
  throw new Error('microtally: host/update/selftest.jsonl not found next to the host code');
}

/** What the blob says about itself: its ABI version, its profile (rtos: 1 page of memory), and its messages' AgentVersion. */
export interface BlobFacts { abiVersion: number; profile: Profile; agentVersion: string; selfTestSha256: string }

/**
 * Loads `blob` on V8 and runs the self-test trace through it (JSON messages, SELFTEST_AGENT_ID):
 * its output's SHA-256 is the digest the manifest carries. Throws PackageError when the blob does
 * not load, lacks the ABI's exports or traps.
 */
export function inspectBlob(blob: Uint8Array): BlobFacts {
  let abiVersion: number;
  let pages: number;
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(blob as Uint8Array<ArrayBuffer>), {});
    const x = instance.exports as { mt_abi_version?: () => number; memory?: WebAssembly.Memory };
    if (typeof x.mt_abi_version !== 'function' || !(x.memory instanceof WebAssembly.Memory)) throw new PackageError('the blob does not export mt_abi_version and memory (docs/ABI.md)');
    abiVersion = x.mt_abi_version();
    pages = x.memory.buffer.byteLength / 65536;
  } catch (e) {
    if (e instanceof PackageError) throw e;
    throw new PackageError(`the blob does not load on V8: ${(e as Error).message.split('\n')[0]}`);
  }
  const profile: Profile = pages === 1 ? 'rtos' : 'linux';
  let out: string;
  try {
    out = runSelfTest(new Core(profile, blob));
  } catch (e) {
    throw new PackageError(`the blob fails its self-test: ${(e as Error).message.split('\n')[0]}`);
  }
  const first = out.slice(0, out.indexOf('\n'));
  let agentVersion: unknown;
  try {
    agentVersion = (JSON.parse(first) as { AgentVersion?: unknown }).AgentVersion;
  } catch {
    throw new PackageError('the blob\'s self-test wrote no JSON message');
  }
  if (typeof agentVersion !== 'string') throw new PackageError('the blob\'s self-test message has no AgentVersion');
  return { abiVersion, profile, agentVersion, selfTestSha256: sha256(Buffer.from(out)).toString('hex') };
}

/** The self-test's output (JSON lines) from a freshly initialized core. */
export function runSelfTest(core: Core): string {
  let out = '';
  const bad = core.setAgentId(SELFTEST_AGENT_ID);
  if (bad) throw new Error(`agent id refused: ${bad}`);
  const lines = Buffer.from(selfTestTrace()).toString('utf8').split('\n').filter((l) => l.length > 0);
  lines.forEach((line, i) => {
    const r = core.ingestLine(line);
    if (r.status !== 0) throw new Error(`self-test line ${i + 1} refused: ${r.reason}`);
    for (const m of r.messages) out += `${m}\n`;
  });
  for (const m of core.finish().messages) out += `${m}\n`;
  return out;
}

/** The key id a package names (COSE kid): the first 8 bytes of SHA-256 over the public key's SPKI DER. */
export function keyId(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return sha256(pub.export({ type: 'spki', format: 'der' })).subarray(0, 8);
}

function p256(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new PackageError(`${what} is not a P-256 (prime256v1) EC key`);
  }
}

export function loadPrivateKey(pem: Buffer | string): KeyObject {
  let k: KeyObject;
  try { k = createPrivateKey(pem); } catch { throw new PackageError('the private key is not a PEM private key'); }
  p256(k, 'the private key');
  return k;
}

export function loadPublicKey(pem: Buffer | string): KeyObject {
  let k: KeyObject;
  try { k = createPublicKey(pem); } catch { throw new PackageError('the public key is not a PEM public key'); }
  p256(k, 'the public key');
  return k;
}

/** RFC 9052 section 4.4: the bytes ES256 signs. */
function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return encode(['Signature1', protectedBytes, new Uint8Array(0), payload]);
}

/** The longest profile or agentVersion text, in bytes of UTF-8 (ports/common/mt_update.h). */
export const MAX_TEXT_BYTES = 64;

export function manifestMap(m: Manifest): IntMap {
  return new Map<number, Item>([
    [M.format, m.format], [M.sequence, m.sequence], [M.blobSize, m.blobSize],
    [M.blobSha256, Buffer.from(m.blobSha256, 'hex')], [M.abiVersion, m.abiVersion], [M.profile, m.profile],
    [M.agentVersion, m.agentVersion], [M.selfTestSha256, Buffer.from(m.selfTestSha256, 'hex')],
  ]);
}

/** Makes a package of `blob` with the given sequence number, signed with `key` (P-256). */
export function makePackage(blob: Uint8Array, sequence: number, key: KeyObject): { bytes: Uint8Array; manifest: Manifest } {
  p256(key, 'the private key');
  if (!Number.isSafeInteger(sequence) || sequence < 1) throw new PackageError(`the sequence must be a positive integer, got ${sequence}`);
  if (blob.length === 0 || blob.length > MAX_BLOB_BYTES) throw new PackageError(`the blob is ${blob.length} bytes (1 to ${MAX_BLOB_BYTES})`);
  const facts = inspectBlob(blob);
  const versionBytes = Buffer.byteLength(facts.agentVersion, 'utf8');
  if (versionBytes === 0 || versionBytes > MAX_TEXT_BYTES) {
    throw new PackageError(`the blob's AgentVersion is ${versionBytes} bytes of UTF-8 (1 to ${MAX_TEXT_BYTES}: a device keeps 64)`);
  }
  const manifest: Manifest = { format: MANIFEST_FORMAT, sequence, blobSize: blob.length, blobSha256: sha256(blob).toString('hex'),
    abiVersion: facts.abiVersion, profile: facts.profile, agentVersion: facts.agentVersion, selfTestSha256: facts.selfTestSha256 };
  const bytes = sealPackage(encode(manifestMap(manifest)), blob, key);
  return { bytes, manifest };
}

/**
 * The package of a manifest already encoded: COSE_Sign1 over `payload`, then `blob`. Tests use it
 * to make packages makePackage never would (a field missing, another algorithm).
 */
export function sealPackage(payload: Uint8Array, blob: Uint8Array, key: KeyObject, alg: number | string = ES256): Uint8Array {
  const protectedBytes = encode(new Map([[HEADER_ALG, alg]]));
  const signature = ecSign('sha256', sigStructure(protectedBytes, payload), { key, dsaEncoding: 'ieee-p1363' });
  const envelope = encode(new Tagged(COSE_SIGN1_TAG, [protectedBytes, new Map([[HEADER_KID, keyId(key)]]), payload, signature]));
  return Buffer.concat([envelope, encode(blob)]);
}

export interface VerifyOptions {
  /** The sequence installed now: the package's must be above it (anti-rollback). */
  installedSequence?: number;
  /** The profile of the agent that would install it. */
  profile?: Profile;
  /**
   * false: stop after the blob's digest, without running the blob (what an agent checks when a
   * package arrives; it loads and self-tests the blob at the swap, docs/UPDATE.md). Default true.
   */
  inspect?: boolean;
}

const bad = (why: string): never => { throw new PackageError(why); };

function read(b: Uint8Array, at: number, what: string): { item: Item; end: number } {
  try {
    return decodeItem(b, at);
  } catch (e) {
    if (e instanceof CborError) bad(e.message.startsWith('truncated') ? `truncated: ${what} is cut short (${e.message.slice(11)})` : `${what} is not well-formed CBOR: ${e.message}`);
    throw e;
  }
}

function field(m: IntMap, key: number, name: string): Item {
  const v = m.get(key);
  if (v === undefined) bad(`manifest field ${name} (key ${key}) missing`);
  return v!;
}

function uint(m: IntMap, key: number, name: string, min: number, max: number): number {
  const v = field(m, key, name);
  if (typeof v !== 'number' || v < min || v > max) bad(`manifest field ${name} (key ${key}) out of range: ${typeof v === 'number' ? v : 'not an integer'} (${min} to ${max})`);
  return v as number;
}

function digest(m: IntMap, key: number, name: string): string {
  const v = field(m, key, name);
  if (!(v instanceof Uint8Array) || v.length !== 32) bad(`manifest field ${name} (key ${key}) out of range: not a 32-byte SHA-256`);
  return Buffer.from(v as Uint8Array).toString('hex');
}

function text(m: IntMap, key: number, name: string, allowed?: readonly string[]): string {
  const v = field(m, key, name);
  // bytes of UTF-8, not characters: a device keeps the text in 64 bytes (docs/UPDATE.md)
  if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v, 'utf8') > MAX_TEXT_BYTES || (allowed && !allowed.includes(v))) {
    bad(`manifest field ${name} (key ${key}) out of range: ${typeof v === 'string' ? JSON.stringify(v.slice(0, 64)) : 'not a text string'}${allowed ? ` (${allowed.join(' or ')})` : ''}`);
  }
  return v as string;
}

/**
 * Checks a package against `pub` and the options, in the order a device can (envelope, signature,
 * manifest, blob, self-test); returns the manifest and the blob, or throws PackageError with the
 * first reason found.
 */
export function verifyPackage(bytes: Uint8Array, pub: KeyObject, opts: VerifyOptions = {}): { manifest: Manifest; blob: Uint8Array } {
  const env = read(bytes, 0, 'the COSE_Sign1 envelope');
  const t = env.item;
  if (!(t instanceof Tagged) || t.tag !== COSE_SIGN1_TAG) bad('not COSE_Sign1: the package does not start with tag 18');
  const parts = (t as Tagged).value;
  if (!Array.isArray(parts) || parts.length !== 4 || !(parts[0] instanceof Uint8Array) || !(parts[1] instanceof Map)
    || !(parts[2] instanceof Uint8Array) || !(parts[3] instanceof Uint8Array)) {
    bad('not COSE_Sign1: not an array of protected header, unprotected header, payload and signature');
  }
  const [protectedBytes, unprotected, payload, signature] = parts as [Uint8Array, IntMap, Uint8Array, Uint8Array];
  const ph = protectedBytes.length === 0 ? new Map() : read(protectedBytes, 0, 'the protected header').item;
  if (!(ph instanceof Map)) bad('not COSE_Sign1: the protected header is not a map');
  const alg = (ph as IntMap).get(HEADER_ALG);
  // Not yet verified: only a small integer is echoed, never the package's own text.
  const shown = alg === undefined ? 'none' : Number.isSafeInteger(alg) && Math.abs(alg as number) < 1e6 ? String(alg) : `a ${typeof alg}`;
  if (alg !== ES256) bad(`wrong alg: ${shown} in the protected header, only ES256 (-7) is accepted`);
  const kid = unprotected.get(HEADER_KID);
  // The unprotected header is not signed: only the key id is read there, so nothing else may be.
  if (unprotected.size !== 1 || !(kid instanceof Uint8Array) || kid.length !== 8) bad('not COSE_Sign1 as made by sign: the unprotected header is not {4: an 8-byte key id}');
  const ours = keyId(pub);
  if (!Buffer.from(kid as Uint8Array).equals(Buffer.from(ours))) {
    bad(`wrong key: signed by key ${Buffer.from(kid as Uint8Array).toString('hex')}, this agent trusts ${Buffer.from(ours).toString('hex')}`);
  }
  if (signature.length !== 64 || !ecVerify('sha256', sigStructure(protectedBytes, payload), { key: pub, dsaEncoding: 'ieee-p1363' }, signature)) {
    bad('bad signature: the envelope is not signed by this agent\'s key');
  }
  const mi = read(payload, 0, 'the manifest');
  if (!(mi.item instanceof Map) || mi.end !== payload.length) bad('manifest is not one CBOR map');
  const m = mi.item as IntMap;
  const format = uint(m, M.format, 'format', MANIFEST_FORMAT, MANIFEST_FORMAT);
  const manifest: Manifest = {
    format,
    sequence: uint(m, M.sequence, 'sequence', 1, Number.MAX_SAFE_INTEGER),
    blobSize: uint(m, M.blobSize, 'blobSize', 1, MAX_BLOB_BYTES),
    blobSha256: digest(m, M.blobSha256, 'blobSha256'),
    abiVersion: uint(m, M.abiVersion, 'abiVersion', 1, 0xffff),
    profile: text(m, M.profile, 'profile', ['rtos', 'linux']) as Profile,
    agentVersion: text(m, M.agentVersion, 'agentVersion'),
    selfTestSha256: digest(m, M.selfTestSha256, 'selfTestSha256'),
  };
  try {
    return checkManifest(manifest, bytes, env.end, opts);
  } catch (e) {
    if (e instanceof PackageError) e.manifest = manifest;
    throw e;
  }
}

/** verifyPackage's checks once the manifest is read and its signature verified. */
function checkManifest(manifest: Manifest, bytes: Uint8Array, envEnd: number, opts: VerifyOptions): { manifest: Manifest; blob: Uint8Array } {
  if (!SUPPORTED_ABI.includes(manifest.abiVersion)) bad(`wrong ABI: the package's blob has ABI ${manifest.abiVersion}, this agent drives ${SUPPORTED_ABI.join(', ')}`);
  if (opts.profile !== undefined && manifest.profile !== opts.profile) bad(`wrong profile: the package is for ${manifest.profile}, this agent is ${opts.profile}`);
  if (opts.installedSequence !== undefined && manifest.sequence <= opts.installedSequence) {
    bad(`sequence ${manifest.sequence} is not above the installed ${opts.installedSequence} (an older or replayed package)`);
  }
  const bi = read(bytes, envEnd, 'the blob');
  if (!(bi.item instanceof Uint8Array)) bad('the blob (the item after the envelope) is not a byte string');
  if (bi.end !== bytes.length) bad(`${bytes.length - bi.end} bytes after the blob`);
  const blob = bi.item as Uint8Array;
  if (blob.length !== manifest.blobSize) bad(`blob size mismatch: ${blob.length} bytes, the manifest says ${manifest.blobSize}`);
  if (sha256(blob).toString('hex') !== manifest.blobSha256) bad('blob digest mismatch: its SHA-256 is not the manifest\'s');
  if (opts.inspect === false) return { manifest, blob };
  const facts = inspectBlob(blob);
  if (facts.abiVersion !== manifest.abiVersion) bad(`wrong ABI: the blob reports ${facts.abiVersion}, the manifest says ${manifest.abiVersion}`);
  if (facts.profile !== manifest.profile) bad(`wrong profile: the blob is a ${facts.profile} blob, the manifest says ${manifest.profile}`);
  if (facts.selfTestSha256 !== manifest.selfTestSha256) bad('self-test mismatch: the blob\'s self-test output is not the digest in the manifest');
  return { manifest, blob };
}
