#!/usr/bin/env node
// Builds the live agent's native programs when a C compiler is there: the kernel event helper
// (host/native/microtally-events.c → build/native/microtally-events), with the exec probe
// (host/native/microtally-exec.bpf.c → build/native/microtally-exec.bpf.o) when clang and libbpf
// are there too, and the systemd notification sender (host/native/microtally-notify.c →
// build/native/microtally-notify). Runs at `npm run build` and as the package's `postinstall`
// (`npm install -g microtally-<version>.tgz`). Without the probe the helper reads each exec from
// /proc (a process that exits first is reported without its command line); without a C compiler
// the agent polls /proc. What was not built and exactly why is one line here and is kept in
// build/native/not-built.json, which the agent's log quotes (npm hides an install script's output).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const notBuilt = {};
const NAMES = { helper: 'kernel event helper', probe: 'exec probe', notify: 'systemd notification sender' };
const THEN = { helper: 'the live agent polls /proc', probe: 'the helper reads each exec from /proc', notify: 'the agent runs systemd-notify instead' };
const finish = () => {
  writeFileSync(`${root}build/native/not-built.json`, `${JSON.stringify(notBuilt)}\n`);
  for (const [what, why] of Object.entries(notBuilt)) process.stderr.write(`microtally: ${NAMES[what]} not built: ${why}; ${THEN[what] ?? ''}\n`);
  process.exit(0);
};
mkdirSync(`${root}build/native`, { recursive: true });
if (process.platform !== 'linux') {
  notBuilt.helper = notBuilt.probe = notBuilt.notify = `Linux only (this is ${process.platform})`;
  finish();
}
const cc = process.env.CC || 'cc';
const clang = process.env.BPF_CLANG || 'clang';
const helper = 'build/native/microtally-events';
const probe = 'build/native/microtally-exec.bpf.o';
const notify = 'build/native/microtally-notify';
const flags = ['-O2', '-Wall', '-Wextra', '-std=c11', '-o', helper, 'host/native/microtally-events.c'];

const run = (file, args) => execFileSync(file, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
/** The first error line a tool printed, or which tool is missing. */
const why = (e, tool) => {
  if (e.code === 'ENOENT') return `no ${tool} (install it, or set ${tool.startsWith('C compiler') ? 'CC' : 'BPF_CLANG'})`;
  const text = String(e.stderr ?? e.message);
  const line = text.split('\n').find((l) => /error|cannot find|not found/i.test(l)) ?? text.split('\n')[0];
  const missing = /fatal error: ([^:]+): No such file/.exec(line)?.[1] ?? /cannot find -l([\w.+-]+)/.exec(line)?.[1];
  if (missing === 'bpf/libbpf.h' || missing === 'bpf') return `libbpf missing (${line.trim()}): install libbpf-dev`;
  if (missing) return `${missing} missing (${line.trim()})`;
  return `${tool}: ${line.trim()}`;
};
const ccName = `C compiler "${cc}"`;

try {
  run(cc, ['-O2', '-Wall', '-Wextra', '-std=c11', '-o', notify, 'host/native/microtally-notify.c']);
} catch (e) {
  notBuilt.notify = why(e, ccName);
  rmSync(`${root}${notify}`, { force: true });
}

let probeWhyNot = '';
try {
  // The kernel's uapi headers live under the host's multiarch folder on Debian (asm/types.h).
  let multiarch = '';
  try { multiarch = run(cc, ['-print-multiarch']).toString().trim(); } catch { /* not Debian-like */ }
  const step = (tool, file, args) => { try { run(file, args); } catch (e) { e.tool = tool; throw e; } };
  step(`"${clang}" for the BPF target`, clang, ['-O2', '-g', '-target', 'bpf', ...(multiarch ? [`-I/usr/include/${multiarch}`] : []),
    '-Wall', '-c', 'host/native/microtally-exec.bpf.c', '-o', probe]);
  step(ccName, cc, [...flags, '-DMT_WITH_BPF', '-lbpf']);
} catch (e) {
  probeWhyNot = why(e, e.tool);
  rmSync(`${root}${probe}`, { force: true });
}
if (probeWhyNot) {
  try {
    run(cc, flags);
    notBuilt.probe = probeWhyNot;
  } catch (e) {
    rmSync(`${root}${helper}`, { force: true });
    notBuilt.helper = why(e, ccName);
  }
}
if (!existsSync(`${root}${helper}`)) notBuilt.helper ??= 'not made by the compiler';
finish();
