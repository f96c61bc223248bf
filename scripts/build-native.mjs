#!/usr/bin/env node
// Builds the live agent's kernel event helper (host/native/microtally-events.c →
// build/native/microtally-events) when a C compiler is there. Without one the agent still runs:
// it polls /proc and says so in its log.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (process.platform !== 'linux') {
  process.stderr.write('microtally: kernel event helper not built (Linux only)\n');
  process.exit(0);
}
const cc = process.env.CC || 'cc';
mkdirSync(`${root}build/native`, { recursive: true });
try {
  execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-std=c11', '-o', 'build/native/microtally-events', 'host/native/microtally-events.c'],
    { cwd: root, stdio: 'inherit' });
} catch (e) {
  const missing = e.code === 'ENOENT';
  process.stderr.write(`microtally: kernel event helper not built (${missing ? `no C compiler "${cc}"` : 'compile failed'}); the live agent will poll /proc\n`);
}
