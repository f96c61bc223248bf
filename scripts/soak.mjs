#!/usr/bin/env node
// Conservation soak (issue 12): a seeded random trace of N events (default 1,000,000: every
// kind, repeated and new flows, IPv4 and IPv6, bad lines, configuration changes, time jumps)
// replayed with --stats on every engine named, each compared byte for byte with V8 and checked
// for conservation (received = sent + discarded + dropped + ignored, per collector), and the
// HitCounts in the output must add up to what the summary says was sent.
//   node scripts/soak.mjs [--events N] [--profile rtos|linux] [--engines v8,wasm3,aot,qemu,qemu-aot] [--seed S]
// Ends with `N passed, M failed`; the README quotes its last result.

import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    profile: { type: 'string', default: 'rtos' },
    engines: { type: 'string', default: 'v8,wasm3,aot,qemu,qemu-aot' },
    seed: { type: 'string', default: '20261201' },
  },
});
const events = Number(values.events);
const engines = values.engines.split(',').filter(Boolean);
if (!engines.includes('v8')) engines.unshift('v8');

// xorshift32: the same trace for the same seed on every machine.
let s = Number(values.seed) >>> 0 || 1;
const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const int = (n) => Math.floor(rnd() * n);

function* trace() {
  let t = Date.UTC(2027, 0, 1);
  for (let i = 0; i < events; i++) {
    t += rnd() < 0.0005 ? int(3_600_000) : int(40); // mostly steady, now and then an hour's gap
    const r = rnd();
    if (r < 0.80) {
      const flow = rnd() < 0.7 ? int(200) : int(100_000); // some flows repeat, many are new
      const v6 = flow % 7 === 0;
      yield JSON.stringify({ kind: 'connection', t, proto: pick(['tcp', 'udp', 'icmp']), dir: pick(['in', 'out']),
        local: v6 ? 'fd00::2' : '10.0.0.2', lport: 1024 + (flow % 60000),
        remote: v6 ? `2001:db8::${(flow % 65535).toString(16)}` : `52.${(flow >> 16) & 255}.${(flow >> 8) & 255}.${flow & 255}`,
        rport: pick([53, 443, 8883, 123]), bytesIn: int(100_000), bytesOut: int(100_000),
        ...(flow % 5 === 0 && { app: 'dns', host: `h${flow % 50}.example.net` }) });
    } else if (r < 0.90) {
      const p = int(300);
      yield JSON.stringify({ kind: 'process', t, pid: 1000 + p, ppid: 1, uid: p % 3, type: pick(['fork', 'exec']),
        cmd: `/usr/bin/job --n ${p}`, ...(p % 2 === 0 && { exe: '/usr/bin/job' }) });
    } else if (r < 0.95) {
      yield JSON.stringify({ kind: 'baseline', t, id: `CIS-${int(24)}`, group: pick(['fs', 'net']),
        result: pick(['pass', 'fail', 'error']), severity: pick(['critical', 'important', 'warning', 'informational']),
        description: 'd', remediation: 'r' });
    } else if (r < 0.97) {
      yield JSON.stringify({ kind: 'sysinfo', t, os: 'Linux', osVersion: '6', kernel: 'k', hw: 'x86_64', memTotal: 1 << 30 });
    } else if (r < 0.985) {
      yield JSON.stringify({ kind: 'tick', t });
    } else if (r < 0.9952) {
      yield pick(['not json', '{"kind":"connection"}', JSON.stringify({ kind: 'tick', t: t - 10_000 }), '']);
    } else {
      yield JSON.stringify({ kind: 'config', t, config: pick([
        { network: { cacheSize: 1 + int(256) } }, { priorityIntervals: { medium: 1 + int(120) } },
        { sendEmptyWindows: rnd() < 0.5 }, { network: { aggregation: rnd() < 0.8 } }, { maxMessageBytes: 100 }]) });
    }
  }
}

const dir = `${root}build/soak`;
mkdirSync(dir, { recursive: true });
const file = `${dir}/trace-${values.profile}-${events}.jsonl`;
await new Promise((resolve, reject) => {
  const out = createWriteStream(file);
  out.on('error', reject);
  out.on('finish', resolve);
  let buf = [];
  for (const line of trace()) {
    buf.push(line);
    if (buf.length === 10_000) { out.write(buf.join('\n') + '\n'); buf = []; }
  }
  out.end(buf.join('\n') + '\n');
});

/** Replays on one engine: sha-256 of stdout, HitCounts sent per collector, the stats line. */
function replay(engine) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('node', [`${root}bin/microtally.js`, 'replay', file, '--engine', engine, '--profile', values.profile, '--stats'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MICROTALLY_QEMU_TIMEOUT_MS: String(3_600_000) } });
    const hash = createHash('sha256');
    const hits = { process: 0, network: 0 };
    let rest = '';
    let err = '';
    child.stdout.on('data', (b) => {
      hash.update(b);
      const lines = (rest + b.toString('utf8')).split('\n');
      rest = lines.pop();
      for (const l of lines) {
        for (const e of JSON.parse(l).Events) {
          const c = e.Name === 'ProcessCreate' ? 'process' : e.Name === 'ConnectionCreate' ? 'network' : null;
          if (c) for (const p of e.Payload) hits[c] += p.HitCount;
        }
      }
    });
    child.stderr.on('data', (b) => { err = (err + b.toString('utf8')).slice(-100_000); });
    child.on('error', reject);
    child.on('close', (code) => {
      const stats = JSON.parse(err.trimEnd().split('\n').at(-1));
      resolve({ code, sha: hash.digest('hex'), hits, stats, seconds: (Date.now() - started) / 1000 });
    });
  });
}

let passed = 0, failed = 0;
const check = (ok, what) => { if (ok) passed++; else failed++; console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); };
let reference;
for (const engine of engines) {
  let r;
  try { r = await replay(engine); } catch (e) { check(false, `${engine}: ${e.message}`); continue; }
  const st = r.stats;
  console.log(`${engine}: ${st.lines} lines, ${st.accepted} accepted, ${st.skipped} skipped, ${st.messages} messages, ` +
    `${st.bytes} bytes in ${r.seconds} s (exit ${r.code})`);
  for (const c of ['process', 'network']) {
    const x = st[c];
    check(x.received === x.sent + x.discarded + x.dropped + x.ignored,
      `${engine} ${c}: received ${x.received} = sent ${x.sent} + discarded ${x.discarded} + dropped ${x.dropped} + ignored ${x.ignored}`);
    check(r.hits[c] === x.sent, `${engine} ${c}: HitCounts in the messages ${r.hits[c]} = sent ${x.sent}`);
  }
  if (!reference) reference = r;
  else check(r.sha === reference.sha && r.code === reference.code, `${engine}: stdout and exit identical to v8 (sha-256 ${r.sha.slice(0, 16)}…)`);
}
console.log(`soak: ${events} events, ${values.profile}, seed ${values.seed}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
