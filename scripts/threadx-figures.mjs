#!/usr/bin/env node
// Turns what scripts/test-threadx.sh measured on the Cortex-M3 build into build/threadx/figures.json,
// which scripts/readme-numbers.mjs puts into ports/threadx/README.md:
//   node scripts/threadx-figures.mjs <arm-none-eabi-size output> <target log> <out.json>
// The size output lists the port, bindings, wasm3 and blob objects; the target log has the
// image's `target:` lines (stack high-water marks and the heap of one core, measured on QEMU).
import { readFileSync, writeFileSync } from 'node:fs';

const [sizeFile, targetLog, outFile] = process.argv.slice(2);
const objects = {};
const add = (name, text, data, bss) => {
  const o = (objects[name] ??= { text: 0, data: 0, bss: 0 });
  o.text += text; o.data += data; o.bss += bss;
};
for (const line of readFileSync(sizeFile, 'utf8').split('\n').slice(1)) {
  const f = line.trim().split(/\s+/);
  if (f.length < 6) continue;
  const [text, data, bss] = f.slice(0, 3).map(Number);
  const file = f[5].replace(/.*\//, '').replace(/\.c\.obj$/, '');
  const name = { microtally_threadx: 'agent', microtally_netx: 'netx', mt_packet: 'parser', microtally: 'bindings' }[file]
    ?? (file.startsWith('microtally-') ? 'blob' : 'wasm3');
  add(name, text, data, bss);
}
const log = readFileSync(targetLog, 'utf8');
const grab = (re, what) => {
  const m = log.match(re);
  if (!m) throw new Error(`threadx-figures: no ${what} in ${targetLog}`);
  return Number(m[1]);
};
const figures = {
  objects,
  portStaticRam: ['agent', 'netx', 'parser'].reduce((n, k) => n + (objects[k]?.data ?? 0) + (objects[k]?.bss ?? 0), 0),
  startStack: grab(/target: stack of mt_tx_start (\d+) B/, 'mt_tx_start stack'),
  stepStack: grab(/of the agent steps (\d+) B/, 'agent step stack'),
  minStack: grab(/\(MT_TX_MIN_STACK_BYTES (\d+)\)/, 'MT_TX_MIN_STACK_BYTES'),
  heapOneCore: grab(/target: wasm3 heap of one rtos core (\d+) B/, 'heap of one core'),
};
for (const k of ['agent', 'netx', 'parser', 'bindings', 'wasm3', 'blob']) {
  if (!objects[k]) throw new Error(`threadx-figures: no ${k} object in ${sizeFile}`);
}
writeFileSync(outFile, JSON.stringify(figures, null, 2) + '\n');
