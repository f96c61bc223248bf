// Issue 21 step 4 (SPEC R12): the Linux agent's state directory. A package is installed only when
// verify accepts it above the highest sequence ever installed; the running blob is kept for
// rollback; a failed install changes nothing; a crash between the steps of an install leaves a
// blob that state.json names (found by its digest).
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePackage } from '../host/update/package.js';
import { installedBlob, installPackage, readState, rollBack, StateError } from '../host/update/state.js';
import { root } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'microtally-state-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const linux = readFileSync(`${root}build/microtally-linux.wasm`);
const debug = readFileSync(`${root}build/microtally-debug.wasm`);   // another linux-profile blob
const rtos = readFileSync(`${root}build/microtally-rtos.wasm`);
let pkgA5: Uint8Array, pkgB6: Uint8Array, pkgRtos7: Uint8Array;

beforeAll(() => {
  pkgA5 = makePackage(linux, 5, privateKey).bytes;
  pkgB6 = makePackage(debug, 6, privateKey).bytes;
  pkgRtos7 = makePackage(rtos, 7, privateKey).bytes;
});

/** Every file of the directory and its bytes, to prove a refusal changed nothing. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

describe('state directory of the Linux agent', () => {
  it('refuses a state.json it cannot read or that is not its shape, never taking it for sequence 0', () => {
    const dir = join(base, 'unreadable');
    installPackage(dir, pkgA5, publicKey, 'linux', 'builtin');
    // Cannot be read (here: a folder where the file goes; EACCES as another user is the same path).
    rmSync(join(dir, 'state.json'));
    mkdirSync(join(dir, 'state.json'));
    expect(() => readState(dir)).toThrow(/state\.json unreadable: EISDIR/);
    expect(() => installPackage(dir, pkgA5, publicKey, 'linux', 'builtin')).toThrow(StateError);
    rmSync(join(dir, 'state.json'), { recursive: true });
    for (const bad of ['{"sequence":"9"}', '[]', 'null', '{"sequence":9,"current":{"sequence":"x","agentVersion":"v","blobSha256":"00"}}']) {
      writeFileSync(join(dir, 'state.json'), bad);
      expect(() => readState(dir), bad).toThrow(/is not a state this agent wrote/);
    }
  });

  it('creates the directory 0700 and installs a package, then the next, keeping the previous blob', () => {
    const dir = join(base, 'a', 'microtally');
    expect(installedBlob(join(base, 'none'))).toBeUndefined();
    expect(installPackage(dir, pkgA5, publicKey, 'linux', 'builtin')).toEqual(
      { FromVersion: 'builtin', FromSequence: 0, ToVersion: '0.1.0', ToSequence: 5, Result: 'applied' });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(Buffer.from(installedBlob(dir)!.blob).equals(linux)).toBe(true);
    expect(installPackage(dir, pkgB6, publicKey, 'linux', 'builtin')).toMatchObject({ FromSequence: 5, ToSequence: 6, Result: 'applied' });
    expect(Buffer.from(installedBlob(dir)!.blob).equals(debug)).toBe(true);
    expect(readFileSync(join(dir, 'core.previous.wasm')).equals(linux)).toBe(true);
    expect(readState(dir)).toMatchObject({ sequence: 6, current: { sequence: 6 }, previous: { sequence: 5 } });
  });

  it('refuses an older or replayed sequence and another profile, changing nothing', () => {
    const dir = join(base, 'b');
    installPackage(dir, pkgB6, publicKey, 'linux', 'builtin');
    const before = snapshot(dir);
    expect(installPackage(dir, pkgA5, publicKey, 'linux', 'builtin')).toEqual({ FromVersion: '0.1.0', FromSequence: 6, ToVersion: '', ToSequence: 0,
      Result: 'rejected', Reason: 'sequence 5 is not above the installed 6 (an older or replayed package)' });
    expect(installPackage(dir, pkgB6, publicKey, 'linux', 'builtin')).toMatchObject({ Result: 'rejected', Reason: 'sequence 6 is not above the installed 6 (an older or replayed package)' });
    expect(installPackage(dir, pkgRtos7, publicKey, 'linux', 'builtin')).toMatchObject({ Result: 'rejected', Reason: 'wrong profile: the package is for rtos, this agent is linux' });
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    expect(installPackage(dir, makePackage(linux, 9, privateKey).bytes, other, 'linux', 'builtin').Reason).toMatch(/^wrong key: /);
    expect(snapshot(dir)).toEqual(before);
  });

  it('rolls back to the previous blob and keeps refusing the failed sequence', () => {
    const dir = join(base, 'c');
    installPackage(dir, pkgA5, publicKey, 'linux', 'builtin');
    installPackage(dir, pkgB6, publicKey, 'linux', 'builtin');
    expect(rollBack(dir, 'trapped at start', 'builtin')).toEqual(
      { FromVersion: '0.1.0', FromSequence: 6, ToVersion: '0.1.0', ToSequence: 5, Result: 'rolledBack', Reason: 'trapped at start' });
    expect(Buffer.from(installedBlob(dir)!.blob).equals(linux)).toBe(true);
    expect(installPackage(dir, pkgB6, publicKey, 'linux', 'builtin').Reason).toBe('sequence 6 is not above the installed 6 (an older or replayed package)');
  });

  it('rolls back to the built-in blob when nothing came before, and the sequence stays', () => {
    const dir = join(base, 'd');
    installPackage(dir, pkgB6, publicKey, 'linux', 'builtin');
    expect(rollBack(dir, 'x', 'builtin')).toMatchObject({ ToVersion: 'builtin', ToSequence: 0, Result: 'rolledBack' });
    expect(installedBlob(dir)).toBeUndefined();
    expect(installPackage(dir, pkgA5, publicKey, 'linux', 'builtin').Reason).toBe('sequence 5 is not above the installed 6 (an older or replayed package)');
    expect(() => rollBack(dir, 'y', 'builtin')).toThrow(StateError);
  });

  it('after a crash between writing the new blob and the state, runs the blob the state names', () => {
    const dir = join(base, 'e');
    installPackage(dir, pkgA5, publicKey, 'linux', 'builtin');
    // An install of B stopped after core.previous.wasm (A) and core.wasm (B) were written, before state.json.
    writeFileSync(join(dir, 'core.previous.wasm'), linux);
    writeFileSync(join(dir, 'core.wasm'), debug);
    expect(Buffer.from(installedBlob(dir)!.blob).equals(linux)).toBe(true);
    // The retried install keeps A as the previous blob, not the orphan.
    installPackage(dir, pkgB6, publicKey, 'linux', 'builtin');
    expect(readFileSync(join(dir, 'core.previous.wasm')).equals(linux)).toBe(true);
    expect(Buffer.from(installedBlob(dir)!.blob).equals(debug)).toBe(true);
  });

  it('refuses a state directory others can read or change', () => {
    const dir = join(base, 'f');
    installPackage(dir, pkgA5, publicKey, 'linux', 'builtin');
    chmodSync(dir, 0o755);
    expect(() => installPackage(dir, pkgB6, publicKey, 'linux', 'builtin')).toThrow(/mode 755, others may read or change it \(0700 expected\)/);
  });

  it('verify --state-dir refuses a package not above the highest sequence the directory recorded', () => {
    const dir = join(base, 'g');
    installPackage(dir, pkgB6, publicKey, 'linux', 'builtin');
    rollBack(dir, 'x', 'builtin');
    writeFileSync(join(base, 'g.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(base, 'a5.pkg'), pkgA5);
    writeFileSync(join(base, 'a7.pkg'), makePackage(linux, 7, privateKey).bytes);
    const verify = (...args: string[]) => spawnSync(process.execPath, [`${root}bin/microtally.js`, 'verify', '--pub', join(base, 'g.pub'), ...args], { encoding: 'utf8' });
    const old = verify('--state-dir', dir, join(base, 'a5.pkg'));
    expect(old.stderr).toBe('microtally: verify: sequence 5 is not above the installed 6 (an older or replayed package)\n');
    expect(old.status).toBe(2);
    const next = verify('--state-dir', dir, '--profile', 'linux', join(base, 'a7.pkg'));
    expect(next.stderr).toBe('');
    expect(JSON.parse(next.stdout).sequence).toBe(7);
    expect(next.status).toBe(0);
    const missing = verify('--state-dir', join(base, 'nowhere'), join(base, 'a7.pkg'));
    expect(missing.stderr).toMatch(/^microtally: verify: --state-dir \S+nowhere: no such directory\n/);
    expect(missing.status).toBe(2);
    const both = verify('--state-dir', dir, '--installed-sequence', '1', join(base, 'a7.pkg'));
    expect(both.stderr).toMatch(/^microtally: verify: --installed-sequence and --state-dir: give one\n/);
    expect(both.status).toBe(2);
  });
});
