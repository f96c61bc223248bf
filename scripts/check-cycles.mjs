// Fails when the TypeScript modules under a directory import each other in a cycle (a module
// then depends on one that is not finished loading; in assembly/ the order of static data
// would hinge on it). Only relative imports count; type-only imports count too.
//
//   node scripts/check-cycles.mjs [dir…]      default: assembly host
//
// Prints each cycle found as `a.ts -> b.ts -> a.ts` and exits 1; prints nothing and exits 0
// when there is none.

import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname, resolve, relative } from 'node:path';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');

function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) { if (name !== 'node_modules') out.push(...sources(p)); }
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const SPECIFIER = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The files a module imports (relative specifiers only, resolved to .ts files that exist). */
function importsOf(file) {
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out = new Set();
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec.startsWith('.')) continue;
    const base = resolve(dirname(file), spec).replace(/\.(js|mjs|ts)$/, '');
    for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
      if (existsSync(candidate)) { out.add(candidate); break; }
    }
  }
  return [...out];
}

/** Every elementary cycle's first sighting in a depth-first walk (one line per distinct cycle). */
export function findCycles(dir) {
  const files = sources(dir).sort();
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const state = new Map(); // 1 on the current path, 2 done
  const path = [];
  const cycles = new Map();
  const visit = (f) => {
    state.set(f, 1);
    path.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 1) {
        const loop = path.slice(path.indexOf(g));
        // One cycle, whatever module the walk entered it by.
        const key = [...loop].sort().join('|');
        if (!cycles.has(key)) cycles.set(key, [...loop, g].map((p) => relative(ROOT, p)).join(' -> '));
      } else if (!state.has(g) && graph.has(g)) visit(g);
    }
    path.pop();
    state.set(f, 2);
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return [...cycles.values()];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dirs = process.argv.length > 2 ? process.argv.slice(2) : ['assembly', 'host'];
  let found = 0;
  for (const d of dirs) {
    const dir = resolve(process.cwd(), d);
    if (!existsSync(dir)) { console.error(`check-cycles: no directory ${d}`); process.exit(2); }
    for (const c of findCycles(dir)) { console.error(`import cycle: ${c}`); found++; }
  }
  process.exit(found > 0 ? 1 : 0);
}
