// Issue 21 (SPEC R12): the core update package. keygen, sign and verify as a user runs them
// (bin/microtally.js, dist/ built by `npm ci`), and every refusal of docs/UPDATE.md: each one
// line `microtally: verify: <reason>` on stderr, nothing on stdout, exit 2.
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeItem, encode } from '../host/update/cbor.js';
import { inspectBlob, M, manifestMap, PackageError, sealPackage, SUPPORTED_ABI, verifyPackage, type Manifest } from '../host/update/package.js';
import { root } from './helpers.js';

const cli = `${root}bin/microtally.js`;
const dir = mkdtempSync(join(tmpdir(), 'microtally-update-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string) => join(dir, name);
const rtosBlob = `${root}build/microtally-rtos.wasm`;
const linuxBlob = `${root}build/microtally-linux.wasm`;

function mt(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** verify must refuse with exactly one line naming the reason, and print no manifest. */
function refused(args: string[], reason: RegExp): void {
  const r = mt(['verify', ...args]);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^microtally: verify: [^\n]+\n$/);
  expect(r.stderr).toMatch(reason);
  expect(r.code).toBe(2);
}

let manifest: Manifest;

beforeAll(() => {
  for (const k of ['k', 'other']) expect(mt(['keygen', '-o', at(k)]).code).toBe(0);
  const s = mt(['sign', '--key', at('k.key'), '--sequence', '5', rtosBlob, '-o', at('p.pkg')]);
  expect(s.stderr).toBe('');
  expect(s.code).toBe(0);
  manifest = JSON.parse(s.stdout);
});

/** The package with `f` applied to a copy of its bytes, written under `name`. */
function variant(name: string, f: (b: Buffer) => Buffer | void): string {
  const b = Buffer.from(readFileSync(at('p.pkg')));
  writeFileSync(at(name), f(b) ?? b);
  return at(name);
}

describe('update package: keygen, sign, verify', () => {
  it('keygen writes a P-256 pair, the private key mode 0600, and never overwrites it', () => {
    expect(statSync(at('k.key')).mode & 0o777).toBe(0o600);
    const key = createPrivateKey(readFileSync(at('k.key')));
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(createPublicKey(readFileSync(at('k.pub'))).type).toBe('public');
    const before = readFileSync(at('k.key'), 'utf8');
    const again = mt(['keygen', '-o', at('k')]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^microtally: keygen: "[^"]+k\.key" exists; it is not overwritten\n/);
    expect(readFileSync(at('k.key'), 'utf8')).toBe(before);
  });

  it('sign then verify round-trips the manifest, with the facts taken from the blob', () => {
    const blob = readFileSync(rtosBlob);
    expect(manifest).toMatchObject({ format: 1, sequence: 5, blobSize: blob.length, abiVersion: SUPPORTED_ABI[0], profile: 'rtos',
      agentVersion: JSON.parse(readFileSync(`${root}package.json`, 'utf8')).version });
    expect(manifest.blobSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.selfTestSha256).toBe(inspectBlob(blob).selfTestSha256);
    const v = mt(['verify', '--pub', at('k.pub'), '--installed-sequence', '4', '--profile', 'rtos', at('p.pkg')]);
    expect(v).toEqual({ code: 0, stdout: `${JSON.stringify(manifest)}\n`, stderr: '' });
  });

  it('the envelope is a tagged COSE_Sign1 with protected header {1: -7}, the blob a byte string after it', () => {
    const b = readFileSync(at('p.pkg'));
    expect(b[0]).toBe(0xd2);   // tag 18
    const env = decodeItem(b, 0);
    const parts = (env.item as { value: unknown[] }).value;
    expect(Buffer.from(parts[0] as Uint8Array).toString('hex')).toBe('a10126');
    expect((parts[3] as Uint8Array).length).toBe(64);
    expect(Buffer.from(decodeItem(b, env.end).item as Uint8Array).equals(readFileSync(rtosBlob))).toBe(true);
  });

  it('the self-test digest tells the rtos and linux blobs apart (the trace exercises the process collector)', () => {
    expect(inspectBlob(readFileSync(linuxBlob)).selfTestSha256).not.toBe(manifest.selfTestSha256);
  });

  it('refuses a package signed with another key', () => {
    refused(['--pub', at('other.pub'), at('p.pkg')], /: wrong key: signed by key [0-9a-f]{16}, this agent trusts [0-9a-f]{16}$/m);
  });

  it('refuses a sequence not above the installed one', () => {
    refused(['--pub', at('k.pub'), '--installed-sequence', '5', at('p.pkg')], /: sequence 5 is not above the installed 5 /);
    refused(['--pub', at('k.pub'), '--installed-sequence', '9', at('p.pkg')], /: sequence 5 is not above the installed 9 /);
  });

  it('refuses a package whose blob was changed by one byte', () => {
    const p = variant('blob1.pkg', (b) => { b[b.length - 100] ^= 0x01; });
    refused(['--pub', at('k.pub'), p], /: blob digest mismatch: its SHA-256 is not the manifest's$/m);
  });

  it('refuses a tampered manifest (sequence 5 made 6 after signing)', () => {
    const payload = encode(manifestMap(manifest));
    const p = variant('manifest.pkg', (b) => {
      const i = b.indexOf(payload);
      expect(i).toBeGreaterThan(0);
      const off = Buffer.from(payload).indexOf(Buffer.from([M.sequence, 5]));
      expect(off).toBeGreaterThan(0);
      const seq = i + off;
      expect(b[seq + 1]).toBe(5);
      b[seq + 1] = 6;
    });
    refused(['--pub', at('k.pub'), p], /: bad signature: the envelope is not signed by this agent's key$/m);
  });

  it('refuses a truncated package, cut in the envelope and in the blob', () => {
    refused(['--pub', at('k.pub'), variant('cut1.pkg', (b) => b.subarray(0, 40))], /: truncated: the COSE_Sign1 envelope is cut short/);
    refused(['--pub', at('k.pub'), variant('cut2.pkg', (b) => b.subarray(0, b.length - 1))], /: truncated: the blob is cut short/);
    refused(['--pub', at('k.pub'), variant('empty.pkg', (b) => b.subarray(0, 0))], /: truncated: /);
  });

  it('refuses a package for the other profile', () => {
    const s = mt(['sign', '--key', at('k.key'), '--sequence', '6', linuxBlob, '-o', at('linux.pkg')]);
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout).profile).toBe('linux');
    refused(['--pub', at('k.pub'), '--profile', 'rtos', at('linux.pkg')], /: wrong profile: the package is for linux, this agent is rtos$/m);
  });

  it('refuses what is not COSE_Sign1, another algorithm, and trailing bytes', () => {
    refused(['--pub', at('k.pub'), rtosBlob], /: not COSE_Sign1: the package does not start with tag 18$/m);
    const key = createPrivateKey(readFileSync(at('k.key')));
    const blob = readFileSync(rtosBlob);
    writeFileSync(at('es384.pkg'), sealPackage(encode(manifestMap(manifest)), blob, key, -35));
    refused(['--pub', at('k.pub'), at('es384.pkg')], /: wrong alg: -35 in the protected header, only ES256 \(-7\) is accepted$/m);
    // Nothing of an unverified package is echoed but a small integer: no forged line, no escape.
    writeFileSync(at('text-alg.pkg'), sealPackage(encode(manifestMap(manifest)), blob, key, 'x\nmicrotally: verify: ok\u001b[2J'));
    refused(['--pub', at('k.pub'), at('text-alg.pkg')], /: wrong alg: a string in the protected header, only ES256 \(-7\) is accepted$/m);
    refused(['--pub', at('k.pub'), variant('trail.pkg', (b) => Buffer.concat([b, Buffer.from([0])]))], /: 1 bytes after the blob$/m);
  });

  it('refuses a signed manifest with a field missing or out of range', () => {
    const key = createPrivateKey(readFileSync(at('k.key')));
    const blob = readFileSync(rtosBlob);
    const without = manifestMap(manifest);
    without.delete(M.selfTestSha256);
    writeFileSync(at('missing.pkg'), sealPackage(encode(without), blob, key));
    refused(['--pub', at('k.pub'), at('missing.pkg')], /: manifest field selfTestSha256 \(key 8\) missing$/m);
    const zero = manifestMap({ ...manifest, sequence: 0 });
    writeFileSync(at('zero.pkg'), sealPackage(encode(zero), blob, key));
    refused(['--pub', at('k.pub'), at('zero.pkg')], /: manifest field sequence \(key 2\) out of range: 0 /);
    const profile = manifestMap(manifest);
    profile.set(M.profile, 'zephyr');
    writeFileSync(at('profile.pkg'), sealPackage(encode(profile), blob, key));
    refused(['--pub', at('k.pub'), at('profile.pkg')], /: manifest field profile \(key 6\) out of range: "zephyr" \(rtos or linux\)$/m);
    const abi = manifestMap({ ...manifest, abiVersion: 2 });
    writeFileSync(at('abi.pkg'), sealPackage(encode(abi), blob, key));
    refused(['--pub', at('k.pub'), at('abi.pkg')], new RegExp(`: wrong ABI: the package's blob has ABI 2, this agent drives ${SUPPORTED_ABI.join(', ')}$`, 'm'));
    // 60 characters, 120 bytes of UTF-8: a device keeps 64 bytes (mt_update.c refuses it too)
    const version = manifestMap({ ...manifest, agentVersion: '\u00e9'.repeat(60) });
    writeFileSync(at('version.pkg'), sealPackage(encode(version), blob, key));
    refused(['--pub', at('k.pub'), at('version.pkg')], /: manifest field agentVersion \(key 7\) out of range: "/);
  });

  it('refuses a signed manifest whose self-test digest is not the blob\'s', () => {
    const key = createPrivateKey(readFileSync(at('k.key')));
    const wrong = manifestMap({ ...manifest, selfTestSha256: inspectBlob(readFileSync(linuxBlob)).selfTestSha256 });
    writeFileSync(at('selftest.pkg'), sealPackage(encode(wrong), readFileSync(rtosBlob), key));
    refused(['--pub', at('k.pub'), at('selftest.pkg')], /: self-test mismatch: /);
  });

  it('refuses the package with any one byte of its envelope changed, or a byte of its blob', () => {
    const pub = createPublicKey(readFileSync(at('k.pub')));
    const good = readFileSync(at('p.pkg'));
    const envEnd = decodeItem(good, 0).end;
    const blobBytes = Array.from({ length: 64 }, (_, i) => envEnd + Math.floor(((i + 0.5) / 64) * (good.length - envEnd)));
    for (const i of [...Array(envEnd + 4).keys(), ...blobBytes, good.length - 1]) {
      for (const x of [0x01, 0x80]) {
        const b = Buffer.from(good);
        b[i] ^= x;
        expect(() => verifyPackage(b, pub), `byte ${i} ^ ${x}`).toThrow(PackageError);
      }
    }
  });

  it('verifyPackage returns the blob it checked', () => {
    const pub = createPublicKey(readFileSync(at('k.pub')));
    const { blob, manifest: m } = verifyPackage(readFileSync(at('p.pkg')), pub);
    expect(m).toEqual(manifest);
    expect(Buffer.from(blob).equals(readFileSync(rtosBlob))).toBe(true);
  });

  it('sign refuses a blob that is not a core, and a usage error is one line, exit 2', () => {
    writeFileSync(at('junk.wasm'), Buffer.from('not wasm'));
    const j = mt(['sign', '--key', at('k.key'), '--sequence', '1', at('junk.wasm'), '-o', at('junk.pkg')]);
    expect(j.code).toBe(2);
    expect(j.stderr).toMatch(/^microtally: sign: the blob does not load on V8: [^\n]+\n$/);
    const u = mt(['sign', '--key', at('k.key'), rtosBlob, '-o', at('x.pkg')]);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/^microtally: sign: --sequence is required\n/);
    const n = mt(['verify', '--pub', at('k.pub'), '--installed-sequence', 'x', at('p.pkg')]);
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/^microtally: verify: --installed-sequence must be an integer of at least 0, got "x"\n/);
  });
});
