#!/usr/bin/env node
// Builds a core blob whose host name table holds another number of names (SPEC R2, the build
// option `--use MT_HOST_NAMES=<1..256>` of asc) and prints what the table costs, as the blob
// itself reports it (mt_regions, docs/ABI.md):
//   node scripts/build-host-names.mjs <names> [--target rtos|rtos-small|linux] [-o <out.wasm>]
// prints {"target","hostNames","hostTable","slotBytes","memoryEnd","memoryBytes","free","slotsThatFit","out"}:
// slotBytes is one name's RAM, free what the fixed memory leaves above mt_memory_end (a device
// sizes the core's memory to mt_memory_end, so every slot is RAM), slotsThatFit the most names
// that memory can hold (at most 256: a record refers to a name by one byte).
// Default output: build/microtally-<target>-hosts<names>.wasm (the default blobs stay as built).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const usage = 'usage: node scripts/build-host-names.mjs <names 1..256> [--target rtos|rtos-small|linux] [-o <out.wasm>]';
const args = process.argv.slice(2);
let names, target = 'rtos', out;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--target') target = args[++i];
  else if (args[i] === '-o' || args[i] === '--out') out = args[++i];
  else if (names === undefined && /^\d+$/.test(args[i])) names = Number(args[i]);
  else { console.error(`build-host-names: unknown argument ${JSON.stringify(args[i])}\n${usage}`); process.exit(2); }
}
if (!(names >= 1 && names <= 256) || !['rtos', 'rtos-small', 'linux'].includes(target) || out === '') {
  console.error(`build-host-names: ${names === undefined ? 'the number of names is missing' : 'names must be 1 to 256, target rtos, rtos-small or linux'}\n${usage}`);
  process.exit(2);
}
out = resolve(out ?? `${root}build/microtally-${target}-hosts${names}.wasm`);

execFileSync(`${root}node_modules/.bin/asc`, ['--config', 'asconfig.json', '--target', target,
  '--use', `MT_HOST_NAMES=${names}`, '-o', out, '-t', out.replace(/\.wasm$/, '') + '.wat'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
// The same data segment packing as the default blobs (npm run build:core).
execFileSync(process.execPath, [`${root}scripts/pack-data-segments.mjs`, out], { stdio: ['ignore', 'ignore', 'inherit'] });

const x = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(out)), {}).exports;
x.mt_init();
const regions = JSON.parse(Buffer.from(x.memory.buffer, x.mt_output_ptr(), x.mt_regions()).toString('utf8'));
const memoryEnd = x.mt_memory_end() >>> 0;
const memoryBytes = x.memory.buffer.byteLength;
const slotBytes = regions.hostTable / names;
const free = memoryBytes - memoryEnd;
process.stdout.write(JSON.stringify({
  target, hostNames: names, hostTable: regions.hostTable, slotBytes, memoryEnd, memoryBytes, free,
  slotsThatFit: Math.min(256, names + Math.floor(free / slotBytes)), out,
}) + '\n');
