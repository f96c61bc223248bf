// Footprint of a firmware image from its GNU ld map: flash and static RAM, split by component.
//
//   node ports/mps2-an385/size.mjs --map fw.map --elf fw.elf --out size.json \
//     --component wasm3=build/firmware/rtos/obj/wasm3/ --component port=... [--budget-flash N --budget-ram N]
//     [--measured footprint.json] [--regions regions.json]
//   (a component may also name input sections: --component stacks=section:.bss.agent_stack)
//
// Every input section the linker kept is charged to the component whose path prefix matches its
// object file; library archives (newlib, libgcc) are "toolchain", alignment fill is "fill".
// Flash = .text + .ARM.exidx + the .data image; RAM = .stack + .data + .bss (everything static:
// wasm3's heap or the translated blob's linear memory, and the stacks included; there is no
// other RAM use).

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    map: { type: 'string' },
    elf: { type: 'string' },
    out: { type: 'string' },
    component: { type: 'string', multiple: true, default: [] },
    'budget-flash': { type: 'string' },
    'budget-ram': { type: 'string' },
    label: { type: 'string', default: '' },
    measured: { type: 'string' },
    regions: { type: 'string' },
  },
});

const components = values.component.map((c) => {
  const i = c.indexOf('=');
  return { name: c.slice(0, i), prefix: c.slice(i + 1) };
});

// A prefix `section:<name>` charges input sections by name instead (e.g. one static array of a
// file: `stacks=section:.bss.agent_stack`, with -fdata-sections); those are matched first.
function componentOf(file, inputSection) {
  if (!file) return 'fill';
  for (const c of components) {
    if (c.prefix.startsWith('section:') && inputSection === c.prefix.slice(8)) return c.name;
  }
  for (const c of components) if (!c.prefix.startsWith('section:') && file.includes(c.prefix)) return c.name;
  if (/\.a\(|\/lib(c|g|gcc|nosys|m)[_a-z]*\.a/.test(file)) return 'toolchain';
  return 'other';
}

const FLASH_SECTIONS = new Set(['.text', '.ARM.exidx']);
const RAM_SECTIONS = new Set(['.stack', '.bss']);

const map = readFileSync(values.map, 'utf8');
const body = map.slice(map.indexOf('Linker script and memory map'));
const lines = body.split('\n');

const table = new Map(); // component -> { flash, ram }
const charge = (name, flash, ram) => {
  const t = table.get(name) ?? { flash: 0, ram: 0 };
  t.flash += flash;
  t.ram += ram;
  table.set(name, t);
};

const totals = { flash: 0, ram: 0 };
let section = null;
let sectionSize = 0;
let sectionCharged = 0;
let pendingName = null;
// Highest address charged so far in the section: merged string sections (.rodata.*.str1.1)
// are listed at their size before merging and overlap, so only what lies beyond is charged.
let cursor = 0;

function closeSection() {
  // Space the map does not attribute to an input section (e.g. the stack, end alignment).
  if (section && sectionSize > sectionCharged) {
    const rest = sectionSize - sectionCharged;
    const name = section === '.stack' ? 'stack' : 'fill';
    chargeSection(name, rest);
  }
}

function chargeSection(name, size, addr) {
  if (addr !== undefined) {
    const end = addr + size;
    size = Math.max(0, end - Math.max(addr, cursor));
    cursor = Math.max(cursor, end);
  }
  if (FLASH_SECTIONS.has(section)) charge(name, size, 0);
  else if (RAM_SECTIONS.has(section)) charge(name, 0, size);
  else if (section === '.data') charge(name, size, size);
  sectionCharged += size;
}

for (const line of lines) {
  const out = /^(\.[\w.]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)/.exec(line);
  if (out) {
    closeSection();
    section = out[1];
    sectionSize = parseInt(out[3], 16);
    sectionCharged = 0;
    cursor = 0;
    if (FLASH_SECTIONS.has(section)) totals.flash += sectionSize;
    else if (RAM_SECTIONS.has(section)) totals.ram += sectionSize;
    else if (section === '.data') { totals.flash += sectionSize; totals.ram += sectionSize; }
    continue;
  }
  if (/^\S/.test(line)) { closeSection(); section = null; continue; }
  if (!section) continue;
  const hex = (h) => parseInt(h, 16);
  const fill = /^ \*fill\*\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)/.exec(line);
  if (fill) { chargeSection(section === '.stack' ? 'stack' : 'fill', hex(fill[2]), hex(fill[1])); continue; }
  const one = /^ (\.\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$/.exec(line);
  if (one) { chargeSection(componentOf(one[4], one[1]), hex(one[3]), hex(one[2])); pendingName = null; continue; }
  const name = /^ (\.\S+|COMMON)\s*$/.exec(line);
  if (name) { pendingName = name[1]; continue; }
  const cont = /^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$/.exec(line);
  if (cont && pendingName) { chargeSection(componentOf(cont[3], pendingName), hex(cont[2]), hex(cont[1])); pendingName = null; }
}
closeSection();

// The largest symbols, to say what dominates.
function largest() {
  if (!values.elf) return [];
  const nm = execFileSync('arm-none-eabi-nm', ['-S', '--size-sort', '-r', values.elf], { encoding: 'utf8' });
  return nm.split('\n').filter(Boolean).slice(0, 12).map((l) => {
    const [addr, size, type, name] = l.split(/\s+/);
    const a = parseInt(addr, 16);
    return { name, bytes: parseInt(size, 16), in: a >= 0x20000000 ? 'ram' : 'flash', type };
  });
}

const componentTable = Object.fromEntries([...table.entries()]
  .filter(([, v]) => v.flash || v.ram)
  .sort((a, b) => (b[1].flash + b[1].ram) - (a[1].flash + a[1].ram)));

const result = {
  image: values.label,
  flash: totals.flash,
  ram: totals.ram,
  components: componentTable,
  largestSymbols: largest(),
};
if (values['budget-flash'] && values['budget-ram']) {
  const budget = { flash: Number(values['budget-flash']), ram: Number(values['budget-ram']) };
  result.budget = budget;
  result.withinBudget = result.flash <= budget.flash && result.ram <= budget.ram;
}
if (values.measured) {
  const m = JSON.parse(readFileSync(values.measured, 'utf8'));
  result.measured = m;
  // wasm3's one static heap, by use: what the blob's memory, the interpreter stack and the
  // compiled code (with wasm3's module tables) take, and what the image leaves unused.
  if (m.heapBytes !== undefined) {
    result.wasm3Heap = {
      bytes: m.heapBytes,
      linearMemory: m.linearMemory,
      interpreterStack: m.wasmStackBytes,
      interpreterStackUsed: m.wasmStackUsed,
      compiledCodeAndTables: m.heapUsed - m.linearMemory - m.wasmStackBytes,
      unused: m.heapBytes - m.heapUsed,
    };
  }
}

// The core's linear memory (part of the RAM above), by region (scripts/blob-regions.mjs).
if (values.regions) result.linearMemory = JSON.parse(readFileSync(values.regions, 'utf8'));

// Written whole and renamed, so a reader never sees half a file.
writeFileSync(`${values.out}.tmp`, JSON.stringify(result, null, 2) + '\n');
renameSync(`${values.out}.tmp`, values.out);

const kb = (n) => (n / 1024).toFixed(1).padStart(7);
const rows = Object.entries(componentTable).map(([k, v]) => `  ${k.padEnd(10)} ${kb(v.flash)} KB flash ${kb(v.ram)} KB RAM`);
process.stdout.write(`${values.label || values.elf}: flash ${result.flash} B (${kb(result.flash).trim()} KB), RAM ${result.ram} B (${kb(result.ram).trim()} KB)\n${rows.join('\n')}\n`);
if (result.wasm3Heap) {
  const h = result.wasm3Heap;
  process.stdout.write(`  wasm3 heap ${kb(h.bytes).trim()} KB: compiled code + tables ${kb(h.compiledCodeAndTables).trim()} KB, ` +
    `linear memory ${kb(h.linearMemory).trim()} KB, interpreter stack ${kb(h.interpreterStack).trim()} KB, unused ${kb(h.unused).trim()} KB\n`);
}
if (result.linearMemory) {
  const r = Object.entries(result.linearMemory.regions).map(([k, v]) => `${k} ${v}`).join(', ');
  process.stdout.write(`  core linear memory ${result.linearMemory.bytes} B${r ? `: ${r}` : ''}\n`);
}
if (result.budget) {
  process.stdout.write(`  budget: flash ${result.budget.flash} B, RAM ${result.budget.ram} B: ${result.withinBudget ? 'within' : 'OVER'}\n`);
}
