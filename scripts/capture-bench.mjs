#!/usr/bin/env node
// Capture benchmark of the live agent (a measurement, not a test): how many short-lived
// processes and connections `microtally run` reports, from kernel events and by polling, at a
// stated rate, and the CPU the agent (with its helper) uses meanwhile. Needs root and a built tree
// (`npm run build`). Prints a Markdown table, and with --json one JSON line.
//
//   node scripts/capture-bench.mjs [--processes 1000] [--connections 500] [--rate 200] [--json]
//
// Each short process is `/bin/true <tag> <n>`-like (one command line per run so every capture
// is counted, not aggregated away: the tag and a per-run number); each connection is a loopback
// TCP connection that sends a known number of bytes and is answered, living about a millisecond.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: {
  processes: { type: 'string', default: '1000' }, connections: { type: 'string', default: '500' },
  rate: { type: 'string', default: '200' }, json: { type: 'boolean', default: false },
} });
const N_PROC = Number(values.processes);
const N_CONN = Number(values.connections);
const RATE = Number(values.rate);
if (process.getuid() !== 0) {
  console.error('capture-bench: needs root (the kernel sources, and /proc of every process)');
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TICK = 1e9 / 100; // clock ticks (USER_HZ 100) → ns: /proc/<pid>/stat utime, stime

/** CPU seconds used so far by pid and its children (the kernel event helper, ss). */
function cpuSeconds(pid) {
  let total = 0;
  const visit = (p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK / 1e9; // utime stime cutime cstime
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' ').filter(Boolean)) visit(c);
      }
    } catch { /* exited */ }
  };
  visit(pid);
  return total;
}

async function startAgent(source, out, config) {
  const agent = spawn(process.execPath, [join(root, 'bin/microtally.js'), 'run', '--config', config,
    '--sink', `file:${out}`, '--source', source], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  agent.stderr.on('data', (d) => { stderr += d; });
  const end = Date.now() + 20_000;
  while (!stderr.includes('running; sending to')) {
    if (Date.now() > end || agent.exitCode !== null) throw new Error(`agent did not start:\n${stderr}`);
    await sleep(25);
  }
  return { agent, stderr: () => stderr };
}

/** Runs n commands at `rate` per second (each started on time, not after the previous one ends). */
async function shortProcesses(tag, n, rate) {
  const t0 = performance.now();
  const done = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const c = spawn('/bin/true', [tag, String(i)], { stdio: 'ignore' });
    done.push(new Promise((r) => c.on('exit', r)));
  }
  await Promise.all(done);
}

async function shortConnections(n, rate) {
  const server = createServer((s) => {
    let got = 0;
    s.on('data', (d) => { got += d.length; });
    s.on('end', () => s.end(Buffer.alloc(got + 1)));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const t0 = performance.now();
  const conns = [];
  const lifetimes = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const bytes = 10 + (i % 1000);
    conns.push(new Promise((resolve) => {
      const start = performance.now();
      const c = connect(port, '127.0.0.1', () => {
        const lport = c.localPort;
        c.end(Buffer.alloc(bytes));
        c.resume();
        c.on('close', () => { lifetimes.push(performance.now() - start); resolve({ lport, bytes }); });
      });
    }));
  }
  const all = await Promise.all(conns);
  await new Promise((r) => server.close(r));
  lifetimes.sort((a, b) => a - b);
  return { port, conns: all, medianMs: lifetimes[lifetimes.length >> 1] };
}

function records(path, name) {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .flatMap((m) => m.Events).filter((e) => e.Name === name).flatMap((e) => e.Payload);
}

async function measure(source) {
  const dir = mkdtempSync(join(tmpdir(), 'mt-capture-'));
  const out = join(dir, 'out.jsonl');
  try {
    // 1 s windows and the largest caches, so that no record is evicted by other activity on the machine.
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ priorityIntervals: { high: 1, medium: 1, low: 1 },
      process: { cacheSize: 1024 }, network: { cacheSize: 1024 } }));
    const { agent, stderr } = await startAgent(source, out, config);
    await sleep(1000);
    const idle0 = cpuSeconds(agent.pid);
    await sleep(5000);
    const idleCpu = (cpuSeconds(agent.pid) - idle0) / 5;
    const tag = `capture${process.pid}${source}`;
    const cpu0 = cpuSeconds(agent.pid);
    const w0 = performance.now();
    await shortProcesses(tag, N_PROC, RATE);
    const { port, conns, medianMs } = await shortConnections(N_CONN, RATE);
    const wall = (performance.now() - w0) / 1000;
    const busyCpu = (cpuSeconds(agent.pid) - cpu0) / wall;
    await sleep(2500);
    agent.kill('SIGINT');
    await new Promise((r) => agent.on('exit', r));
    const procs = records(out, 'ProcessCreate');
    const seen = new Set(procs.filter((p) => p.CommandLine.startsWith(`/bin/true ${tag} `)).map((p) => p.CommandLine));
    // Processes that exited before the helper read them: reported by name only (or `[?]` once reaped).
    const gone = procs.filter((p) => /^\[(true|\?)\] \(exited before it was read\)$/.test(p.CommandLine)).reduce((n, p) => n + p.HitCount, 0);
    const evicted = records(out, 'CollectorStats').reduce((n, r) => n + r.Discarded + r.Dropped, 0);
    if (evicted) console.error(`capture-bench (${source}): ${evicted} hits discarded or dropped by full caches`);
    const cc = records(out, 'ConnectionCreate');
    const exact = conns.filter((c) => cc.some((r) => r.LocalPort === c.lport && r.RemotePort === port && r.BytesOut === c.bytes && r.BytesIn === c.bytes + 1)).length;
    const any = conns.filter((c) => cc.some((r) => r.LocalPort === c.lport && r.RemotePort === port)).length;
    const line = stderr().split('\n').find((l) => l.includes('sources:')) ?? '';
    const losses = stderr().split('\n').filter((l) => / (warn|error): .*(dropped|discarded|not delivered)/.test(l));
    if (losses.length) console.error(`capture-bench (${source}): ${losses.join('\n')}`);
    return { source, processes: seen.size, gone, connections: any, exactBytes: exact, medianConnMs: medianMs,
      idleCpuPct: idleCpu * 100, busyCpuPct: busyCpu * 100, sources: line.replace(/^.*sources: /, '') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (const source of ['kernel', 'poll']) results.push(await measure(source));
const pct = (a, b) => `${a} of ${b} (${((100 * a) / b).toFixed(1)} %)`;
console.log(`capture at ${RATE}/s: ${N_PROC} runs of /bin/true, then ${N_CONN} loopback TCP connections (median life ${results[0].medianConnMs.toFixed(2)} ms); ${cpus().length} cores, ${cpus()[0]?.model ?? ''}`);
console.log('');
console.log('| source | short processes reported | reported as exited before read | connections reported | with exact bytes | agent CPU idle | agent CPU during the load |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.source} | ${pct(r.processes, N_PROC)} | ${r.gone} | ${pct(r.connections, N_CONN)} | ${pct(r.exactBytes, N_CONN)} | ${r.idleCpuPct.toFixed(1)} % | ${r.busyCpuPct.toFixed(1)} % |`);
}
if (values.json) console.log(JSON.stringify({ rate: RATE, processes: N_PROC, connections: N_CONN, results }));
