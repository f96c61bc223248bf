#!/usr/bin/env node
// Builds the live agent's kernel event helper (host/native/microtally-events.c →
// build/native/microtally-events) when a C compiler is there, and with it the exec probe
// (host/native/microtally-exec.bpf.c → build/native/microtally-exec.bpf.o) when clang and libbpf
// are there too. Without the probe the helper reads each exec from /proc (a process that exits
// first is reported without its command line); without a C compiler the agent polls /proc.
// Each fallback is said in one line here and again in the agent's log.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (process.platform !== 'linux') {
  process.stderr.write('microtally: kernel event helper not built (Linux only)\n');
  process.exit(0);
}
const cc = process.env.CC || 'cc';
const clang = process.env.BPF_CLANG || 'clang';
const helper = 'build/native/microtally-events';
const probe = 'build/native/microtally-exec.bpf.o';
const flags = ['-O2', '-Wall', '-Wextra', '-std=c11', '-o', helper, 'host/native/microtally-events.c'];
mkdirSync(`${root}build/native`, { recursive: true });

const run = (file, args) => execFileSync(file, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
const why = (e, tool) => (e.code === 'ENOENT' ? `no ${tool}` : String(e.stderr ?? e.message).trim().split('\n')[0]);

let probeWhyNot = '';
try {
  // The kernel's uapi headers live under the host's multiarch folder on Debian (asm/types.h).
  let multiarch = '';
  try { multiarch = run(cc, ['-print-multiarch']).toString().trim(); } catch { /* not Debian-like */ }
  run(clang, ['-O2', '-g', '-target', 'bpf', ...(multiarch ? [`-I/usr/include/${multiarch}`] : []),
    '-Wall', '-c', 'host/native/microtally-exec.bpf.c', '-o', probe]);
  run(cc, [...flags, '-DMT_WITH_BPF', '-lbpf']);
} catch (e) {
  probeWhyNot = why(e, e.path === cc || e.spawnargs?.[0] === cc ? `C compiler "${cc}"` : `"${clang}" for the BPF target`);
  rmSync(`${root}${probe}`, { force: true });
}
if (!probeWhyNot) process.exit(0);
try {
  run(cc, flags);
  process.stderr.write(`microtally: exec probe not built (${probeWhyNot}; needs clang and libbpf-dev): the helper reads each exec from /proc\n`);
} catch (e) {
  process.stderr.write(`microtally: kernel event helper not built (${why(e, `C compiler "${cc}"`)}); the live agent will poll /proc\n`);
}
