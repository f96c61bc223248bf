// Fails when the TypeScript modules under the given directories import each other in a cycle
// (a module then depends on one that is not finished loading; in assembly/ the order of static
// data would hinge on it), printing each cycle as `a.ts -> b.ts -> a.ts`. Every relative import
// counts: static, dynamic (`import('…')`), re-exports and type-only ones. Imports are read by
// TypeScript's own pre-processor (comments and strings are not imports).
//
//   node scripts/check-cycles.mjs [dir…]      default: assembly host
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

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

/** One cycle per group of modules that import each other, as `a.ts -> b.ts -> a.ts` (paths as given). */
export function findCycles(...dirs) {
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
  function cycleThrough(graph, start, component) {
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
  return components.map((c) => cycleThrough(graph, [...c].sort()[0], c).map(name).join(' -> '));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dirs = process.argv.length > 2 ? process.argv.slice(2) : ['assembly', 'host'];
  const absent = dirs.filter((d) => !isDirectory(d));
  if (absent.length > 0) {
    console.error(`check-cycles: no directory ${absent.join(', ')}`);
    process.exit(2);
  }
  const cycles = findCycles(...dirs);
  for (const c of cycles) console.log(`import cycle: ${c}`);
  const modules = new Set(dirs.flatMap(sources)).size;
  console.log(`check-cycles: ${modules} modules under ${dirs.join(', ')}, ${cycles.length === 0 ? 'no import cycle' : `${cycles.length} cycle${cycles.length === 1 ? '' : 's'}`}`);
  process.exit(cycles.length === 0 ? 0 : 1);
}
