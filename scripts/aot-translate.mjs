#!/usr/bin/env node
// Translates a blob to C ahead of time for the AOT engine (bindings/mt_engine_aot.c):
//   node scripts/aot-translate.mjs <blob.wasm> <name> <out-dir>
// writes <out-dir>/<name>.c and .h (Debian wabt's wasm2c, never edited) and <name>_aot.c,
// which includes them and defines:
//   <name>_wasm[], <name>_wasm_len, <name>_memory_end  the names bindings/microtally_blobs.h
//       declares; in this build <name>_wasm is a short tag standing for the translated blob
//   the blob's linear memory: one static array of exactly mt_memory_end() bytes
//   mt_aot_<name>: the module descriptor (bindings/aot/mt_aot.h)
// Call depth counting is left out when every cycle of the call graph (an indirect call counts
// as a call to every function in a table) is a recursion the core bounds itself
// (BOUNDED_RECURSION, named from the blob's .wat beside it): the depth is then bounded by the
// code. Otherwise every call counts against WASM_RT_MAX_CALL_STACK_DEPTH and a runaway
// recursion traps.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Recursions the core limits itself: nested JSON values, at most MAX_DEPTH levels (assembly/json.ts).
const BOUNDED_RECURSION = new Set(['assembly/json/value', 'assembly/json/scanObject']);

const [blobPath, name, outDir] = process.argv.slice(2);
if (!blobPath || !name || !outDir || !/^[a-z][a-z0-9_]*$/.test(name)) {
  console.error('usage: aot-translate.mjs <blob.wasm> <c_name> <out-dir>');
  process.exit(2);
}
const root = fileURLToPath(new URL('..', import.meta.url));
mkdirSync(outDir, { recursive: true });

const bytes = readFileSync(blobPath);
const { instance } = await WebAssembly.instantiate(bytes, {});
const exp = instance.exports;
const memoryEnd = typeof exp.mt_memory_end === 'function' ? exp.mt_memory_end() >>> 0 : exp.memory.buffer.byteLength;

execFileSync('wasm2c', [blobPath, '-n', name, '-o', join(outDir, `${name}.c`)], { stdio: 'inherit' });
const code = readFileSync(join(outDir, `${name}.c`), 'utf8');
const header = readFileSync(join(outDir, `${name}.h`), 'utf8');

// wasm2c's prefix for this module's symbols (its mangling of the module name).
const prefix = `Z_${name.replace(/Z/g, 'ZZ')}`;
const instanceType = `${prefix}_instance_t`;

// The exports the engine calls, by the names of mt_engine.h's enum (MT_FN_INGEST_LINE is
// the export mt_ingest_line), with the parameter types wasm2c gave them.
const engineHeader = readFileSync(join(root, 'bindings', 'mt_engine.h'), 'utf8');
const fns = [...new Set([...engineHeader.slice(engineHeader.indexOf('enum mt_fn {'), engineHeader.indexOf('MT_FN_COUNT'))
  .matchAll(/\b(MT_FN_[A-Z0-9_]+)\b/g)].map((m) => m[1]))].filter((f) => f !== 'MT_FN_REQUIRED');
const cases = [];
for (const fn of fns) {
  const exportName = `mt_${fn.slice('MT_FN_'.length).toLowerCase()}`;
  const m = header.match(new RegExp(`\\n(u32|u64) ${prefix}Z_${exportName}\\(${instanceType}\\*((?:, [us]\\d+)*)\\);`));
  if (!m) continue;
  const params = m[2].split(',').slice(1).map((s) => s.trim());
  const args = params.map((t, i) => `(${t})${i === 0 ? 'a' : 'b'}`);
  if (params.length > 2) throw new Error(`${exportName}: more parameters than the ABI has`);
  cases.push({ fn, line: `    case ${fn}: return (int32_t)${prefix}Z_${exportName}(${['&mt_instance', ...args].join(', ')});` });
}
if (!cases.some((c) => c.fn === 'MT_FN_INIT')) throw new Error(`${blobPath} exports no mt_init`);

// Call graph of the generated functions: w2c_* bodies calling w2c_* (and the exports' wrappers).
// A definition's parameter list may wrap onto further lines (wasm2c wraps long ones).
const defs = [...code.matchAll(/^(?:static )?(?:void|u32|u64|f32|f64) (w2c_\w+|Z_\w+)\([^;{]*\{$/gm)];
const graph = new Map();
for (let i = 0; i < defs.length; i++) {
  const body = code.slice(defs[i].index, i + 1 < defs.length ? defs[i + 1].index : code.length);
  graph.set(defs[i][1], [...new Set([...body.matchAll(/\b(w2c_f\d+|w2c_\w+)\(instance/g)].map((m) => m[1]))]);
}
// call_indirect may reach any function placed in a table.
const indirectTargets = [...new Set([...code.matchAll(/\(wasm_rt_function_ptr_t\)&(w2c_\w+)/g)].map((m) => m[1]))];
for (let i = 0; i < defs.length; i++) {
  const body = code.slice(defs[i].index, i + 1 < defs.length ? defs[i + 1].index : code.length);
  if (/CALL_INDIRECT\(instance/.test(body)) graph.get(defs[i][1]).push(...indirectTargets);
}
const tableEntries = [...code.matchAll(/wasm_rt_allocate_funcref_table\(&instance->\w+, (\d+)u?, /g)]
  .reduce((n, m) => n + Number(m[1]), 0);
if (/wasm_rt_allocate_externref_table/.test(code)) throw new Error('externref tables are not supported');
// Function N of the module is w2c_fN; asc's text output names it.
const watPath = blobPath.replace(/\.wasm$/, '.wat');
const watNames = existsSync(watPath)
  ? [...readFileSync(watPath, 'utf8').matchAll(/^ \(func \$(\S+)/gm)].map((m) => m[1]) : [];
const boundedRecursion = (f) => BOUNDED_RECURSION.has(watNames[Number(f.slice('w2c_f'.length))]);
const state = new Map();
const unbounded = [];
let depth = 0;
// Longest chain of calls from f, not counting the back edges of a bounded recursion.
function longest(f) {
  if (state.get(f) === 'open') {
    if (!boundedRecursion(f)) unbounded.push(f);
    return 0;
  }
  if (state.has(f)) return state.get(f);
  state.set(f, 'open');
  let d = 0;
  for (const g of graph.get(f) ?? []) d = Math.max(d, longest(g));
  state.set(f, d + 1);
  return d + 1;
}
for (const f of graph.keys()) depth = Math.max(depth, longest(f));
const recursive = [...graph.keys()].some((f) => boundedRecursion(f));
const bounded = unbounded.length === 0;
const depthText = `at most ${depth} frames deep${recursive ? ' plus the JSON nesting limit (assembly/json.ts MAX_DEPTH)' : ''}`;

const blobLen = bytes.length;
const exportsMask = cases.map((c) => `(1ul << ${c.fn})`).join(' | ');
const glue = `/* Generated by scripts/aot-translate.mjs from ${blobPath.replace(root, '')}: do not edit.
 * Call graph: ${bounded ? `no unbounded recursion (indirect calls counted as calls to every table entry), ${depthText}: no depth counting` : 'unbounded recursion: every call counts against WASM_RT_MAX_CALL_STACK_DEPTH'}. */
#define WASM_RT_USE_STACK_DEPTH_COUNT ${bounded ? 0 : 1}
#define MT_AOT_TRANSLATION 1
#define MT_AOT_MEMORY_BYTES ${memoryEnd}u
#include "${name}.c"

#include "mt_engine.h"
#include "aot/mt_aot.h"

const uint8_t ${name}_wasm[] = "aot:${name}";
const size_t ${name}_wasm_len = ${blobLen}u;
const uint32_t ${name}_memory_end = ${memoryEnd}u;

/* The instance holds the blob's globals and its linear memory (bindings/aot/wasm-rt.h). */
static ${instanceType} mt_instance;
static mt_aot_state_t mt_state;
${tableEntries ? `static wasm_rt_funcref_t mt_tables[${tableEntries}u];` : ''}

/* The memory is the instance's own array: only its used part exists (initial == maximum
 * pages is what the blob declares; nothing above mt_memory_end is ever touched). */
static void wasm_rt_allocate_memory(wasm_rt_memory_t *memory, uint32_t initial_pages, uint32_t max_pages)
{
    if ((uint64_t)initial_pages * 65536u < sizeof memory->data) {
        wasm_rt_trap(WASM_RT_TRAP_OOB);
    }
    memset(memory->data, 0, sizeof memory->data);
    memory->size = sizeof memory->data;
    memory->pages = initial_pages;
    memory->max_pages = max_pages;
}

static uint32_t wasm_rt_grow_memory(wasm_rt_memory_t *memory, uint32_t pages)
{
    (void)memory;
    (void)pages;
    return UINT32_MAX;
}

static void wasm_rt_free_memory(wasm_rt_memory_t *memory)
{
    memory->size = 0;
}

static void mt_instantiate(void)
{
    static bool module_ready;
    if (!wasm_rt_is_initialized()) {
        wasm_rt_init();
    }
    if (!module_ready) {
        ${prefix}_init_module();
        module_ready = true;
    }
    ${prefix}_instantiate(&mt_instance);
}

static int32_t mt_call(unsigned fn, int64_t a, int32_t b)
{
    (void)a;
    (void)b;
    switch (fn) {
${cases.map((c) => c.line).join('\n')}
    default: wasm_rt_trap(WASM_RT_TRAP_UNREACHABLE);
    }
}

const mt_aot_module_t mt_aot_${name} = {
    ${name}_wasm, mt_instance.w2c_memory.data, ${memoryEnd}u, ${tableEntries ? 'mt_tables' : 'NULL'}, ${tableEntries}u,
    ${exportsMask}, &mt_state, mt_instantiate, mt_call,
};
`;
writeFileSync(join(outDir, `${name}_aot.c`), glue);
console.error(`aot-translate: ${name}: ${cases.length} exports, memory ${memoryEnd} B, ` +
  (bounded ? depthText : `depth counted (recursion in ${unbounded.join(', ')})`));
