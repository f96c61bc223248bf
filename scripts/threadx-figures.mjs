#!/usr/bin/env node
// Turns what scripts/test-threadx.sh measured on the Cortex-M3 build into build/threadx/figures.json,
// which scripts/readme-numbers.mjs puts into ports/threadx/README.md:
//   node scripts/threadx-figures.mjs <arm-none-eabi-size output> <target log> <out.json> [<size output, real trees>]
// The size output lists the port, bindings, wasm3 and blob objects; the target log has the
// image's `target:` lines (stack high-water marks and the heap of one core, measured on QEMU).
import { readFileSync, writeFileSync } from 'node:fs';

const [sizeFile, targetLog, outFile, realSizeFile] = process.argv.slice(2);
/** Objects of an arm-none-eabi-size listing, summed by part: agent, netx, parser, update, bindings, blob, wasm3. */
function objectsOf(file) {
  const objects = {};
  for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    const [text, data, bss] = f.slice(0, 3).map(Number);
    const base = f[5].replace(/.*\//, '').replace(/\.c\.obj$/, '');
    // The agent: the ThreadX layer and the RTOS-neutral agent of ports/common with its drain.
    const name = { microtally_threadx: 'agent', mt_agent: 'agent', mt_message: 'agent', microtally_netx: 'netx',
      mt_packet: 'parser', microtally: 'bindings',
      microtally_threadx_update: 'update', mt_update: 'update', mt_update_nx_crypto: 'update' }[base]
      ?? (base.startsWith('microtally-') ? 'blob' : 'wasm3');
    const o = (objects[name] ??= { text: 0, data: 0, bss: 0 });
    o.text += text; o.data += data; o.bss += bss;
  }
  return objects;
}
const objects = objectsOf(sizeFile);
// The port built against the real ThreadX / NetX Duo headers (their control blocks), when built.
const real = realSizeFile ? objectsOf(realSizeFile) : undefined;
const port = real ?? objects;
const log = readFileSync(targetLog, 'utf8');
const grab = (re, what) => {
  const m = log.match(re);
  if (!m) throw new Error(`threadx-figures: no ${what} in ${targetLog}`);
  return Number(m[1]);
};
const figures = {
  objects,
  ...(real && { realPort: { agent: real.agent, netx: real.netx, parser: real.parser } }),
  portStaticRam: ['agent', 'netx', 'parser'].reduce((n, k) => n + (port[k]?.data ?? 0) + (port[k]?.bss ?? 0), 0),
  startStack: grab(/target: stack of mt_tx_start (\d+) B/, 'mt_tx_start stack'),
  stepStack: grab(/of the agent steps (\d+) B/, 'agent step stack'),
  minStack: grab(/\(MT_TX_MIN_STACK_BYTES (\d+)\)/, 'MT_TX_MIN_STACK_BYTES'),
  heapOneCore: grab(/target: wasm3 heap of one rtos core (\d+) B/, 'heap of one core'),
};
for (const k of ['agent', 'netx', 'parser', 'bindings', 'wasm3', 'blob']) {
  if (!objects[k]) throw new Error(`threadx-figures: no ${k} object in ${sizeFile}`);
  if (real && ['agent', 'netx', 'parser'].includes(k) && !real[k]) throw new Error(`threadx-figures: no ${k} object in ${realSizeFile}`);
}
writeFileSync(outFile, JSON.stringify(figures, null, 2) + '\n');
