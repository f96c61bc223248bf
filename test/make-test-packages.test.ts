// scripts/make-test-packages.mjs shared by test workers and scripts: one folder is made once
// (under its lock) and reused while its sources stay the same, so no caller's key is replaced
// under the packages it reads.

import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPublicKey, verifyPackage } from '../host/update/package.js';
// @ts-expect-error: a plain ES module script
import { makeTestPackages } from '../scripts/make-test-packages.mjs';

const root = new URL('..', import.meta.url).pathname;
const script = `${root}scripts/make-test-packages.mjs`;
const work = mkdtempSync(join(tmpdir(), 'mt-make-packages-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let shared = '';

beforeAll(async () => { ({ dir: shared } = await makeTestPackages()); }, 300_000);

/** A fresh folder with the compiled variants of the shared one (same sources): no compile, only keys and packages. */
function seeded(name: string): string {
  const out = join(work, name);
  mkdirSync(join(out, 'src'), { recursive: true });
  for (const f of readdirSync(join(shared, 'src'))) {
    if (f.endsWith('.wasm') || f.endsWith('.sources')) copyFileSync(join(shared, 'src', f), join(out, 'src', f));
  }
  return out;
}

/** Every package made with the folder's test key verifies with its test.pub (the rest name another key or a bad byte). */
function signedWithItsKey(out: string): void {
  const pub = loadPublicKey(readFileSync(join(out, 'test.pub')));
  for (const file of ['changed-2.pkg', 'changed-small-2.pkg', 'trap-after-6.pkg', 'linux-changed-2.pkg']) {
    expect(() => verifyPackage(readFileSync(join(out, file)), pub), file).not.toThrow();
  }
}

function run(out: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('node', [script, out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('make-test-packages.mjs: one folder, made once', () => {
  it('a second call reuses a finished folder: the same key and the same package bytes', async () => {
    const out = seeded('again');
    const first = await run(out);
    expect(first.code, first.stderr).toBe(0);
    const key = readFileSync(join(out, 'test.pub'), 'utf8');
    const pkg = readFileSync(join(out, 'changed-2.pkg'));
    const second = await run(out);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    // ES256 signatures are randomised: equal bytes mean the package was not made again.
    expect(readFileSync(join(out, 'test.pub'), 'utf8')).toBe(key);
    expect(readFileSync(join(out, 'changed-2.pkg'))).toEqual(pkg);
    signedWithItsKey(out);
  }, 120_000);

  it('two at once on a fresh folder: one key, every package signed with it', async () => {
    for (let i = 0; i < 3; i++) {
      const out = seeded(`race-${i}`);
      // What the first to finish leaves is what its caller reads next: the other must not change it.
      let first = '';
      const keyNow = (r: Awaited<ReturnType<typeof run>>) => { first ||= readFileSync(join(out, 'test.pub'), 'utf8'); return r; };
      const [a, b] = await Promise.all([run(out).then(keyNow), run(out).then(keyNow)]);
      expect(readFileSync(join(out, 'test.pub'), 'utf8')).toBe(first);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      expect(a.stdout).toBe(b.stdout);
      signedWithItsKey(out);
      expect(readdirSync(out)).not.toContain('.lock');
    }
  }, 240_000);

  it('a lock left by a process that died is taken over', async () => {
    const out = seeded('stale');
    // A pid that no longer runs: a finished child's.
    const dead = spawnSync('node', ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(join(out, '.lock'), dead);
    const r = await run(out);
    expect(r.code, r.stderr).toBe(0);
    signedWithItsKey(out);
  }, 120_000);
});
