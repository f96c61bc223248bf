// Fails when the TypeScript modules under the given directories import each other in a cycle,
// printing each cycle as `a.ts → b.ts → a.ts`. Every relative import counts: static, dynamic
// (`import('…')`), re-exports and type-only ones (a cycle of types still ties two modules).
//   node scripts/check-cycles.mjs host [assembly …]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error('usage: node scripts/check-cycles.mjs <directory> [<directory> …]');
  process.exit(2);
}

/** Every .ts file under `dir` (declaration files aside). */
function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [resolve(p)] : [];
  });
}

const isFile = (p) => { try { return statSync(p).isFile(); } catch { return false; } };
const isDirectory = (p) => { try { return statSync(p).isDirectory(); } catch { return false; } };

/** The file a relative specifier names: `./x.js` is x.ts under NodeNext, `./x` is x.ts in AssemblyScript. */
function resolveImport(from, spec) {
  const base = resolve(dirname(from), spec);
  return [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts'), base].find(isFile);
}

const absent = dirs.filter((d) => !isDirectory(d));
if (absent.length > 0) {
  console.error(`check-cycles: no directory ${absent.join(', ')}`);
  process.exit(2);
}

const files = [...new Set(dirs.flatMap(sources))].sort();
const known = new Set(files);
/** file → the files (under the directories given) it imports, in source order. */
const graph = new Map(files.map((f) => {
  const { importedFiles } = ts.preProcessFile(readFileSync(f, 'utf8'), true, true);
  const targets = importedFiles.map((i) => i.fileName).filter((s) => s.startsWith('.'))
    .map((s) => resolveImport(f, s)).filter((t) => t !== undefined && known.has(t));
  return [f, [...new Set(targets)]];
}));

// Tarjan's strongly connected components: every component of more than one module (or a module
// importing itself) holds at least one cycle; one cycle of each is printed.
let index = 0;
const stack = [];
const state = new Map();
const components = [];
function connect(v) {
  const s = { index, low: index, onStack: true };
  index++;
  state.set(v, s);
  stack.push(v);
  for (const w of graph.get(v)) {
    const t = state.get(w);
    if (t === undefined) { connect(w); s.low = Math.min(s.low, state.get(w).low); }
    else if (t.onStack) s.low = Math.min(s.low, t.index);
  }
  if (s.low !== s.index) return;
  const component = [];
  let w;
  do { w = stack.pop(); state.get(w).onStack = false; component.push(w); } while (w !== v);
  if (component.length > 1 || graph.get(v).includes(v)) components.push(component);
}
for (const f of files) if (!state.has(f)) connect(f);

/** A shortest cycle through `start` inside its component (breadth-first). */
function cycleThrough(start, component) {
  const inside = new Set(component);
  const prev = new Map();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of graph.get(v)) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = prev.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!prev.has(w)) { prev.set(w, v); queue.push(w); }
    }
  }
  return [start, start];
}

const name = (f) => relative(process.cwd(), f);
for (const c of components) {
  const start = [...c].sort()[0];
  console.log(`import cycle: ${cycleThrough(start, c).map(name).join(' → ')}`);
}
console.log(`check-cycles: ${files.length} modules under ${dirs.join(', ')}, ${components.length === 0 ? 'no import cycle' : `${components.length} cycle${components.length === 1 ? '' : 's'}`}`);
process.exit(components.length === 0 ? 0 : 1);
