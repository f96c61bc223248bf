#!/usr/bin/env node
// Regenerates the README's measured tables from what the build and the bench wrote, so no
// figure in them is typed by hand:
//   bash scripts/build-firmware.sh                       build/firmware/size.json, size-aot.json
//   npx microtally bench --json > build/bench/report.json
//   node scripts/readme-numbers.mjs [--check]            rewrites README.md between the markers
// Each table sits between `<!-- numbers:NAME -->` and `<!-- /numbers -->`. With --check it
// only says whether the README's deterministic tables (sizes, instruction counts) match.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (f) => (existsSync(`${root}${f}`) ? JSON.parse(readFileSync(`${root}${f}`, 'utf8')) : null);
const n = (v) => (typeof v === 'number' ? v.toLocaleString('en') : '—');
const kb = (v) => `${(v / 1024).toFixed(1)} KB`;

function blobs() {
  const row = (f) => readFileSync(`${root}build/${f}`).length;
  const memEnd = (f) => new WebAssembly.Instance(new WebAssembly.Module(readFileSync(`${root}build/${f}`)), {})
    .exports.mt_memory_end() >>> 0;
  return [
    '| blob | bytes | linear memory used (`mt_memory_end`) |',
    '|---|---|---|',
    ...['microtally-rtos.wasm', 'microtally-rtos-small.wasm', 'microtally-linux.wasm']
      .map((f) => `| \`${f}\` | ${n(row(f))} B | ${n(memEnd(f))} B |`),
  ];
}

function footprint() {
  const w = read('build/firmware/size.json');
  const a = read('build/firmware/size-aot.json');
  if (!w || !a) throw new Error('run bash scripts/build-firmware.sh first');
  const names = [...new Set([...Object.keys(w.components), ...Object.keys(a.components)])].filter((c) => c !== 'fill');
  const cell = (s, c) => (s.components[c] ? `${kb(s.components[c].flash)} / ${kb(s.components[c].ram)}` : '—');
  const verdict = (s) => (s.withinBudget ? 'within' : '**over**');
  const lm = w.linearMemory;
  const regions = Object.entries(lm.regions).map(([k, v]) => `${k} ${n(v)}`).join(', ');
  return [
    '| component (flash / RAM) | wasm3 image | ahead-of-time image |',
    '|---|---|---|',
    ...names.map((c) => `| ${c} | ${cell(w, c)} | ${cell(a, c)} |`),
    `| **total** | **${n(w.flash)} B / ${n(w.ram)} B** | **${n(a.flash)} B / ${n(a.ram)} B** |`,
    `| budget (issue 11) | ${n(w.budget.flash)} B / ${n(w.budget.ram)} B: ${verdict(w)} | ${n(a.budget.flash)} B / ${n(a.budget.ram)} B: ${verdict(a)} |`,
    '',
    `wasm3's heap (${n(w.wasm3Heap.bytes)} B, what \`mt_init\` takes: all code is compiled at init) holds the compiled code and ` +
    `module tables (${n(w.wasm3Heap.compiledCodeAndTables)} B), the core's linear memory and the interpreter stack ` +
    `(${n(w.wasm3Heap.interpreterStack)} B, of which ${n(w.wasm3Heap.interpreterStackUsed)} B used at most). ` +
    `Main stack used at most: ${n(w.measured.stackUsed)} B (wasm3), ${n(a.measured.stackUsed)} B (ahead of time), of ${n(w.measured.stackBytes)} B.`,
    '',
    `The core's linear memory, ${n(lm.bytes)} B${regions ? `: ${regions}` : ''}.`,
  ];
}

function performance() {
  const r = read('build/bench/report.json');
  if (!r) throw new Error('run npx microtally bench --json > build/bench/report.json first');
  const e = r.engines;
  const host = (name, label) => (e[name]
    ? [`| ${label} | ${e[name].nsPerEvent} | ${e[name].ratio}${e[name].ratioRange ? ` (${e[name].ratioRange[0]}–${e[name].ratioRange[1]})` : ''} | ${e[name].sendNsPerEvent ?? '—'} |`] : []);
  const board = (name, label) => (e[name]
    ? [`| ${label} | ${n(e[name].instructionsPerEvent)} instructions | — | ${n(e[name].sendInstructionsPerEvent)} instructions |`] : []);
  const perSecond = (name) => Math.round(25e6 / (e[name].instructionsPerEvent + e[name].sendInstructionsPerEvent));
  return [
    `${n(r.trace.events)} events of \`${r.trace.scenario}\`, rtos blob, median of ${r.trace.rounds} interleaved rounds; ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}.`,
    '',
    '| engine | ingest ns/event | × native (median; rounds) | building messages, per event |',
    '|---|---|---|---|',
    ...host('native', 'native C reference (gcc `-O2`)'),
    ...host('v8', 'V8 (copy into linear memory included)'),
    ...host('wasm3', 'wasm3 0.5.0 (x86-64)'),
    ...host('aot', 'ahead of time (wasm2c, x86-64)'),
    ...board('qemu', 'Cortex-M3, wasm3 (QEMU)'),
    ...board('qemuAot', 'Cortex-M3, ahead of time (QEMU)'),
    '',
    ...(e.qemu && e.qemuAot ? [`At 25 MHz, counting ingest **and** message building: ${n(perSecond('qemu'))} events/s under wasm3, ` +
      `${n(perSecond('qemuAot'))} events/s ahead of time. RAM per cached connection: ${r.footprint.bytesPerCachedConnection} B.`] : []),
  ];
}

function quota() {
  const r = read('build/bench/report.json');
  if (!r) throw new Error('run npx microtally bench --json > build/bench/report.json first');
  return [
    `IoT Hub quota for ${n(r.quota[0].events)} events per scenario (4 KB billing blocks; "fewer blocks" is against one JSON message per event):`,
    '',
    '| scenario | format | packing | bytes sent | messages | billed blocks | fewer blocks | bytes per ConnectionCreate |',
    '|---|---|---|---|---|---|---|---|',
    ...r.quota.map((q) => `| ${q.scenario} (${q.profile}) | ${q.format} | ${q.maxPackingDelay ? `${q.maxPackingDelay} s` : 'none'} | ` +
      `${n(q.aggregatedBytes)} B | ${n(q.messages)} | ${n(q.billedBlocks4k)} | ${q.reduction}× | ` +
      `${q.bytesPerConnectionRecord !== undefined ? `${q.bytesPerConnectionRecord} B` : '—'} |`),
  ];
}

const tables = { blobs, footprint, performance, quota };
const check = process.argv.includes('--check');
const readme = readFileSync(`${root}README.md`, 'utf8');
let out = readme;
const stale = [];
for (const [name, make] of Object.entries(tables)) {
  const re = new RegExp(`(<!-- numbers:${name} -->\\n)[\\s\\S]*?(<!-- /numbers -->)`);
  if (!re.test(out)) continue;
  if (check && (name === 'performance' || name === 'quota')) continue; // from a bench run: timings differ run to run
  const body = make().join('\n') + '\n';
  const next = out.replace(re, (_, a, b) => `${a}${body}${b}`);
  if (next !== out) stale.push(name);
  out = next;
}
if (check) {
  if (stale.length) { console.error(`README tables out of date: ${stale.join(', ')} (node scripts/readme-numbers.mjs)`); process.exit(1); }
  console.error('README tables match the build');
} else {
  writeFileSync(`${root}README.md`, out);
  console.error(`README tables written: ${Object.keys(tables).filter((k) => out.includes(`<!-- numbers:${k} -->`)).join(', ')}`);
}
