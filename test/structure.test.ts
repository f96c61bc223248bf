// The core's shape (issue 22): no import cycle, the collector table the one place that lists
// the collectors, the format switch the one place that knows CBOR.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './helpers.js';
// @ts-expect-error: a plain script, no declarations
import { findCycles } from '../scripts/check-cycles.mjs';

const core = `${root}assembly`;
const sources = readdirSync(core).filter((f) => f.endsWith('.ts'));
/** The modules of assembly/ that import `./name`. */
const importers = (name: string) => sources.filter((f) =>
  new RegExp(`from\\s+"\\./${name}"`).test(readFileSync(join(core, f), 'utf8')));

describe('the core (assembly/)', () => {
  it('has no import cycle', () => {
    expect(findCycles(core)).toEqual([]);
    execFileSync('node', [`${root}scripts/check-cycles.mjs`, 'assembly'], { cwd: root });
  });

  it('the cycle check names a cycle it finds, and fails', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cycles-'));
    try {
      writeFileSync(join(dir, 'a.ts'), 'import { b } from "./b";\nexport const a = 1;\n');
      writeFileSync(join(dir, 'b.ts'), 'import { c } from "./c";\nexport const b = 2;\n');
      writeFileSync(join(dir, 'c.ts'), '// import { a } from "./x";\nimport { a } from "./a";\nexport const c = 3;\n');
      writeFileSync(join(dir, 'd.ts'), 'import { a } from "./a";\n');
      const cycles: string[] = findCycles(dir);
      expect(cycles).toHaveLength(1);
      expect(cycles[0]).toMatch(/a\.ts -> .*b\.ts -> .*c\.ts -> .*a\.ts$/);
      let status = 0;
      try { execFileSync('node', [`${root}scripts/check-cycles.mjs`, dir], { stdio: 'pipe' }); } catch (e) { status = (e as { status: number }).status; }
      expect(status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists the collectors in one place: only the table imports them', () => {
    for (const c of ['process', 'baseline', 'sysinfo', 'collectorstats']) expect(importers(c), c).toEqual(['collectors.ts']);
  });

  it('knows CBOR in the format switch only: collectors write through it', () => {
    expect(importers('cbor')).toEqual(['format.ts']);
    expect(importers('jsonout')).toEqual(['format.ts']);
  });
});
