// What the package's native build (scripts/build-native.mjs, its postinstall) says when a tool is
// missing, and that the agent's log quotes it (npm hides an install script's output): no C
// compiler, no clang, no libbpf. Each case builds a copy of the native sources in a temporary
// folder laid out as the package is.

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startKernelEvents } from '../../host/agent/collectors/kernel-events.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mt-native-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { info() {}, warn() {}, error() {} };
const hasCc = spawnSync('cc', ['--version'], { stdio: 'ignore' }).status === 0;

/** A package-shaped copy with the native sources; runs its build with `env`; what it said and recorded. */
function build(name: string, env: NodeJS.ProcessEnv): { root: string; said: string; notBuilt: Record<string, string> } {
  const root = join(dir, name);
  mkdirSync(join(root, 'scripts'), { recursive: true });
  cpSync(join(repo, 'scripts/build-native.mjs'), join(root, 'scripts/build-native.mjs'));
  cpSync(join(repo, 'host/native'), join(root, 'host/native'), { recursive: true });
  const r = spawnSync(process.execPath, ['scripts/build-native.mjs'], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return { root, said: r.stderr, notBuilt: JSON.parse(readFileSync(join(root, 'build/native/not-built.json'), 'utf8')) };
}

describe('native build: what is missing, said exactly', () => {
  it('no C compiler: nothing built, the compiler named, and the agent quotes it instead of guessing', async () => {
    const { root, said, notBuilt } = build('nocc', { CC: '/nonexistent/cc', BPF_CLANG: '/nonexistent/clang' });
    const reason = 'no C compiler "/nonexistent/cc" (install it, or set CC)';
    expect(notBuilt).toEqual({ notify: reason, helper: reason });
    expect(said).toContain(`microtally: kernel event helper not built: ${reason}; the live agent polls /proc\n`);
    expect(said).toContain(`microtally: systemd notification sender not built: ${reason}; the agent runs systemd-notify instead\n`);
    expect(existsSync(join(root, 'build/native/microtally-events'))).toBe(false);
    const helperPath = join(root, 'build/native/microtally-events');
    const k = await startKernelEvents({ onProcess() {}, onConnection() {}, log: quiet, helperPath });
    expect(k.proc).toBe(`helper ${helperPath} not built (${reason})`);
  });

  it('nothing recorded (installed with --ignore-scripts): the agent says which command builds it', async () => {
    const helperPath = join(dir, 'bare/build/native/microtally-events');
    const k = await startKernelEvents({ onProcess() {}, onConnection() {}, log: quiet, helperPath });
    expect(k.proc).toBe(`helper ${helperPath} not built (run \`node scripts/build-native.mjs\` in ${join(dir, 'bare')})`);
  });

  it.skipIf(!hasCc)('no clang: the helper without the probe, the missing tool named (needs cc)', () => {
    const { root, said, notBuilt } = build('noclang', { BPF_CLANG: '/nonexistent/clang' });
    expect(notBuilt).toEqual({ probe: 'no "/nonexistent/clang" for the BPF target (install it, or set BPF_CLANG)' });
    expect(said).toBe('microtally: exec probe not built: no "/nonexistent/clang" for the BPF target (install it, or set BPF_CLANG); the helper reads each exec from /proc\n');
    expect(existsSync(join(root, 'build/native/microtally-events'))).toBe(true);
    expect(existsSync(join(root, 'build/native/microtally-notify'))).toBe(true);
  });

  it.skipIf(!hasCc || spawnSync('clang', ['--version'], { stdio: 'ignore' }).status !== 0)(
    'no libbpf (a compiler whose linker finds no -lbpf): "install libbpf-dev", and the helper\'s exec status quotes it (needs cc and clang)', async () => {
      const fakeCc = join(dir, 'cc-without-libbpf');
      writeFileSync(fakeCc, '#!/bin/sh\nfor a; do [ "$a" = -lbpf ] && { echo "/usr/bin/ld: cannot find -lbpf: No such file or directory" >&2; exit 1; }; done\nexec cc "$@"\n');
      chmodSync(fakeCc, 0o755);
      const { root, notBuilt } = build('nolibbpf', { CC: fakeCc });
      const reason = 'libbpf missing (/usr/bin/ld: cannot find -lbpf: No such file or directory): install libbpf-dev';
      expect(notBuilt).toEqual({ probe: reason });
      const helperPath = join(root, 'build/native/microtally-events');
      // The helper itself says only that it was built without the probe; the agent adds why.
      expect(execFileSync('sh', ['-c', `timeout 2 ${helperPath} --proc 2>/dev/null | head -1; true`], { encoding: 'utf8' }))
        .toMatch(/"exec":"built without the exec probe \(needs clang and libbpf-dev at build time\)"/);
      const k = await startKernelEvents({ onProcess() {}, onConnection() {}, log: quiet, helperPath });
      k.stop();
      expect(k.exec).toBe(`built without the exec probe: ${reason}`);
    });
});
