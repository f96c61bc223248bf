#!/usr/bin/env node
// npm's `prepare` step: builds the blobs and the host unless they are newer than every source.
// npm runs `prepare` on `npm ci` and also whenever `npx microtally` links this folder into its
// cache, so an up-to-date tree should not pay for a full rebuild there. `npm run build` always
// builds. The package ships built and without the core's sources: there it has nothing to do (its
// native helpers are built by `postinstall`).
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outputs = ['build/microtally-rtos.wasm', 'build/microtally-rtos-small.wasm', 'build/microtally-linux.wasm',
  'build/microtally-debug.wasm', 'dist/host/cli.js'];
const sources = ['assembly', 'host', 'asconfig.json', 'tsconfig.json', 'package.json', 'package-lock.json',
  'scripts/pack-data-segments.mjs'];

/** Newest modification time under a file or folder (0 when missing). */
function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((m, name) => Math.max(m, newest(join(path, name))), st.mtimeMs);
}

if (!existsSync(join(root, 'assembly'))) process.exit(0);

const oldestOutput = Math.min(...outputs.map((p) => (existsSync(join(root, p)) ? statSync(join(root, p)).mtimeMs : 0)));
const newestSource = Math.max(...sources.map((p) => newest(join(root, p))));
if (oldestOutput > newestSource) {
  process.stderr.write('microtally: blobs and host are up to date\n');
} else {
  execSync('npm run build', { cwd: root, stdio: 'inherit' });
}
