#!/usr/bin/env node
// Regenerates the README's measured tables from what the build and the bench wrote, so no
// figure in them is typed by hand:
//   bash scripts/build-firmware.sh                       build/firmware/size.json, size-aot.json
//   npx microtally bench --json > build/bench/report.json
//   bash scripts/test-threadx.sh                         build/threadx/figures.json
//   bash scripts/build-threadx-firmware.sh               build/firmware/size-threadx.json, size-threadx-aot.json
//   bash scripts/build-iot-example.sh                    build/firmware/size-iot-example.json
//   node scripts/readme-numbers.mjs [--check] [--only=NAME,…]
//                                                        rewrites README.md, ports/threadx/README.md and
//                                                        ports/qemu-threadx/README.md between the markers
// Each table sits between `<!-- numbers:NAME -->` and `<!-- /numbers -->` (on lines of their own,
// or around a figure inside a line). With --check it only says whether the READMEs'
// deterministic tables (sizes, instruction counts) match.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const check = process.argv.includes('--check');
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

/** The command line's synopses, from the command table itself (dist/host/cli.js, `npm run build`). */
async function usage() {
  const cli = `${root}dist/host/cli.js`;
  if (!existsSync(cli)) throw new Error('run npm run build first (dist/host/cli.js)');
  const { COMMANDS } = await import(cli);
  const { synopsis } = await import(`${root}dist/host/commands/command.js`);
  return ['```', ...COMMANDS.map((c) => synopsis(c)), 'microtally --version', '```'];
}

/** ports/threadx/README.md's table, from what scripts/test-threadx.sh measured on the Cortex-M3 build. */
function threadx() {
  const f = read('build/threadx/figures.json');
  if (!f) throw new Error('run bash scripts/test-threadx.sh first (build/threadx/figures.json)');
  const o = f.objects;
  // The port's own objects as built against the real ThreadX / NetX Duo headers when they were available.
  const p = f.realPort ?? o;
  const against = f.realPort ? 'the real ThreadX control blocks (`cortex-m3-real` build)' : "the test double's control blocks (ThreadX's own are larger)";
  const cmd = '`bash scripts/test-threadx.sh`';
  return [
    '| what | value | measured by |',
    '|---|---|---|',
    `| agent thread stack, high-water mark of \`mt_tx_agent_step\` (events and window sends) | ${n(f.stepStack)} B (\`MT_TX_MIN_STACK_BYTES\` ${n(f.minStack)} B default) | ${cmd} (\`target:\` lines, on QEMU) |`,
    `| stack of the caller of \`mt_tx_start\` (wasm3 loads and compiles the blob) | ${n(f.startStack)} B | same |`,
    `| wasm3 heap of one rtos core (\`MT_WASM3_HEAP_BYTES\` must cover it) | ${n(f.heapOneCore)} B (\`rtos-small\` blob) | same |`,
    `| port's static RAM (core handle, queue, semaphore and thread control blocks, counters, hook slots, the update buffer and journal) | ${n(f.portStaticRam)} B with ${against}, most of it \`MT_TX_CONFIG_BYTES\` + \`MT_TX_CONFIG_JOURNAL_BYTES\`; + your queue storage and stack | same (data + bss of the port objects) |`,
    `| flash: agent / NetX hook / parser${f.realPort ? ' (real ThreadX / NetX Duo headers)' : ''} | ${n(p.agent.text)} / ${n(p.netx.text)} / ${n(p.parser.text)} B | same (arm-none-eabi-size) |`,
    `| flash: bindings / wasm3 (no float) / rtos-small blob | ${n(o.bindings.text)} / ${n(o.wasm3.text)} / ${n(o.blob.text)} B | same |`,
    '',
    `So a device needs about ${kb(f.heapOneCore + f.portStaticRam)} of RAM for microtally (the heap and the port's static RAM) plus the queue and the agent stack.`,
  ];
}

/** The rtos-small blob's mt_memory_end, for ports/threadx/README.md's text (one figure in a line). */
function rtosSmallMemoryEnd() {
  const wasm = readFileSync(`${root}build/microtally-rtos-small.wasm`);
  return [`${n(new WebAssembly.Instance(new WebAssembly.Module(wasm), {}).exports.mt_memory_end() >>> 0)} B`];
}

/** Whether a ThreadX tree is there (as scripts/test.sh looks for it): without one the qemu-threadx
 * images cannot be built, and their table is not checked. */
function threadxTree() {
  return existsSync(`${process.env.THREADX_DIR ?? `${root}../shared/third_party/threadx`}/common/inc/tx_api.h`);
}

/** ports/qemu-threadx/README.md's footprint table, from scripts/build-threadx-firmware.sh's size files. */
function threadxBoard() {
  const w = read('build/firmware/size-threadx.json');
  const a = read('build/firmware/size-threadx-aot.json');
  if (!w || !a) {
    if (check && !threadxTree()) return null;
    throw new Error('run bash scripts/build-threadx-firmware.sh first (build/firmware/size-threadx.json, size-threadx-aot.json)');
  }
  const cell = (s, ...names) => {
    const parts = names.map((c) => s.components[c]).filter(Boolean);
    if (!parts.length) return '—';
    return `${n(parts.reduce((x, c) => x + c.flash, 0))} / ${n(parts.reduce((x, c) => x + c.ram, 0))}`;
  };
  const sym = (s, name) => s.largestSymbols?.find((x) => x.name === name)?.bytes;
  const [upd, jrn] = [sym(w, 'update'), sym(w, 'journal')];
  const m = w.measured, am = a.measured;
  const rows = [
    [['threadx'], '`threadx`: the kernel (its timer thread and stack included)'],
    [['agent'], `\`agent\`: \`microtally_threadx.c\` (the ThreadX layer, control blocks, update buffer and journal${upd && jrn ? ` ${n(upd + jrn)} B` : ''}) with \`../common/mt_agent.c\` (core handle) and \`mt_message.c\``],
    [['queue'], `\`queue\`: the agent's event queue, ${n(m.queueBytes)} B`],
    [['stacks'], `\`stacks\`: agent ${n(m.agentStackBytes)} B + feeder ${n(m.feederStackBytes)} B`],
    [['stack'], "`stack`: main stack, ThreadX's system stack once the kernel runs"],
    [['wasm3'], '`wasm3`: interpreter and its fixed heap (compiled code, linear memory, wasm stack)'],
    [['blob'], '`blob`: the rtos-small blob (wasm3) / the translated blob with its linear memory (aot)'],
    [['bindings'], '`bindings`'],
    [['replay'], "`replay`: feeder, `--check-api`, the board's startup, semihosting and console, shared replay loop, their buffers (not part of a product)"],
    [['toolchain', 'fill'], '`toolchain` (newlib-nano, libgcc) and fill'],
  ];
  const known = new Set(rows.flatMap(([c]) => c));
  const unknown = Object.keys({ ...w.components, ...a.components }).filter((c) => !known.has(c));
  if (unknown.length) throw new Error(`threadxBoard: components without a row: ${unknown.join(', ')}`);
  const pair = (x, y) => (x === y ? `${n(x)} B` : `${n(x)} B (wasm3) / ${n(y)} B (aot)`);
  return [
    '| component (flash / RAM, bytes) | wasm3 image | ahead-of-time image |',
    '|---|---|---|',
    ...rows.map(([c, what]) => `| ${what} | ${cell(w, ...c)} | ${cell(a, ...c)} |`),
    `| **total** | **${n(w.flash)} / ${n(w.ram)}** | **${n(a.flash)} / ${n(a.ram)}** |`,
    '',
    `Stacks used at most on that run: agent ${pair(m.agentStackUsed, am.agentStackUsed)} of ${n(m.agentStackBytes)}; ` +
    `feeder ${pair(m.feederStackUsed, am.feederStackUsed)} of ${n(m.feederStackBytes)} (under wasm3 the feeder's ` +
    `\`mt_tx_start\` compiles the blob); system stack ${pair(m.stackUsed, am.stackUsed)} of ${n(m.stackBytes)}.`,
  ];
}

/** The device's update verifier on the Cortex-M3 board, from scripts/test-update-c.sh's bench. */
function update() {
  const r = read('build/update-c/m3.json');
  if (!r) {
    const nx = `${process.env.NETXDUO_DIR ?? `${root}../shared/third_party/netxduo`}/crypto_libraries`;
    if (check && !existsSync(nx)) return null;
    throw new Error('run bash scripts/test-update-c.sh first (build/update-c/m3.json)');
  }
  const m = (v) => `${(v / 1e6).toFixed(1)} M`;
  return [
    '| step (rtos-small blob, 1 KiB chunks) | instructions | at 25 MHz |',
    '|---|---|---|',
    `| envelope: key id, ES256 signature (nx_crypto), manifest | ${m(r.envelopeInstructions)} | ${(r.envelopeInstructions / 25e6).toFixed(2)} s |`,
    `| blob: ${n(r.blobBytes)} B copied into the slot, read back, SHA-256 | ${m(r.blobInstructions)} | ${(r.blobInstructions / 25e6).toFixed(2)} s |`,
    `| commit: digest compared, state record saved | ${n(r.commitInstructions)} | — |`,
    `| swap, at the window boundary a trace line makes (its window sent first): old core finished and unloaded, new one loaded, checked, self-tested, unloaded, loaded live | ${m(r.swapInstructions)} | ${(r.swapInstructions / 25e6).toFixed(2)} s |`,
    '',
    `wasm3's heap during the swap: at most ${n(r.heapPeakSwap)} B, what one core takes (${n(r.heapOneCore)} B): the old blob is unloaded before the new one loads, so the swap runs in the heap the rtos image already has (${n(r.heapBytes)} B, \`build/firmware/wasm3-heap-rtos.h\`).`,
    '',
    `RAM: the \`mt_update_t\` context ${n(r.contextBytes)} B (its 512-byte envelope buffer included), nx_crypto's ECDSA scratch 3,016 B (static), the agent's probation journal ${n(r.trialJournalBytes)} B (\`MT_AGENT_TRIAL_JOURNAL_BYTES\`, static: the inputs since the new core's last checkpoint, given again to the previous core after a trap), main stack ${n(r.stackUsed)} B at most.`,
  ];
}

/** The Azure IoT example firmware's flash/RAM split on Cortex-M3, from scripts/build-iot-example.sh's
 * size file (for examples/threadx-azure-iot/README.md and README.md's firmware section). */
function iotExample() {
  const s = read('build/firmware/size-iot-example.json');
  if (!s) {
    if (check && (!threadxTree() || !existsSync(`${process.env.NETXDUO_DIR ?? `${root}../shared/third_party/netxduo`}/addons/azure_iot`))) return null;
    throw new Error('run bash scripts/build-iot-example.sh first (build/firmware/size-iot-example.json)');
  }
  const rows = [
    [['microtally'], '**microtally**: the agent, its NetX Duo hook, the bindings, wasm3 with its heap (208 KiB: one rtos-small core), the rtos-small blob, the Azure IoT adapter (with the direct method\'s handler) and its outbox; the agent\'s stack and queue, the adapter\'s stack'],
    [['middleware'], '**Azure IoT middleware** (`nx_azure_iot*`, `nx_cloud`, NetX Duo\'s MQTT client) with the Azure SDK for Embedded C; its thread\'s stack and the hub client'],
    [['tls'], '**TLS**: NetX Secure (TLS 1.2, X.509) and NetX Crypto (RSA, AES-CBC, SHA-256, HMAC); the TLS session\'s metadata buffer'],
    [['threadx'], 'the rest: ThreadX'],
    [['netxduo'], 'the rest: NetX Duo (IPv4/IPv6, TCP, UDP, ARP, ICMP, the DNS and SNTP clients)'],
    [['example'], 'the rest: the example and its board (`main.c`, packet pool 40 × 1,536 B, stacks, startup, semihosting)'],
    [['toolchain', 'fill', 'stack'], 'the rest: newlib-nano, libgcc, alignment fill, the main stack'],
  ];
  const known = new Set(rows.flatMap(([c]) => c));
  const unknown = Object.keys(s.components).filter((c) => !known.has(c));
  if (unknown.length) throw new Error(`iotExample: components without a row: ${unknown.join(', ')}`);
  const sum = (names, k) => names.reduce((x, c) => x + (s.components[c]?.[k] ?? 0), 0);
  return [
    '| component | flash (bytes) | RAM (bytes) |',
    '|---|---|---|',
    ...rows.map(([c, what]) => `| ${what} | ${n(sum(c, 'flash'))} | ${n(sum(c, 'ram'))} |`),
    `| **total** | **${n(s.flash)}** | **${n(s.ram)}** |`,
  ];
}

/** Each file's generated blocks; `checked` are deterministic (sizes, counts), the others are timings. */
const FILES = [
  { file: 'README.md', tables: { blobs, footprint, performance, quota, usage, update, iotExample }, unchecked: ['performance', 'quota', 'update'] },
  { file: 'ports/threadx/README.md', tables: { threadx, rtosSmallMemoryEnd }, unchecked: [] },
  { file: 'ports/qemu-threadx/README.md', tables: { threadxBoard }, unchecked: [] },
  { file: 'examples/threadx-azure-iot/README.md', tables: { iotExample }, unchecked: [] },
];
// --only a,b: regenerate (or check) just those tables, e.g. after changing the command line.
const onlyArg = process.argv.find((a) => a.startsWith('--only='));
const only = onlyArg ? onlyArg.slice('--only='.length).split(',') : undefined;
const stale = [];
for (const { file, tables, unchecked } of FILES) {
  const readme = readFileSync(`${root}${file}`, 'utf8');
  let out = readme;
  for (const [name, make] of Object.entries(tables)) {
    // A block on lines of its own, or a figure inside a line (no newline after the marker).
    const re = new RegExp(`(<!-- numbers:${name} -->(\\n?))[\\s\\S]*?(<!-- /numbers -->)`);
    const found = re.exec(out);
    if (!found || (only && !only.includes(name))) continue;
    if (check && unchecked.includes(name)) continue; // from a bench run: timings differ run to run
    const lines = await make();
    if (!lines) { console.error(`${file} ${name}: not checked (no ThreadX / NetX Duo tree, so no images to measure)`); continue; }
    const body = found[2] ? lines.join('\n') + '\n' : lines.join(' ');
    const next = out.replace(re, (_, a, _nl, b) => `${a}${body}${b}`);
    if (next !== out) stale.push(`${file} ${name}`);
    out = next;
  }
  if (!check) {
    if (out !== readme) writeFileSync(`${root}${file}`, out);
    console.error(`${file}: tables written: ${Object.keys(tables).filter((k) => out.includes(`<!-- numbers:${k} -->`) && (!only || only.includes(k))).join(', ')}`);
  }
}
if (check) {
  if (stale.length) { console.error(`README tables out of date: ${stale.join(', ')} (node scripts/readme-numbers.mjs)`); process.exit(1); }
  console.error('README tables match the build');
}
