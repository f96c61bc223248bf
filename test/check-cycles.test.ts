// scripts/check-cycles.mjs: the CI check that no module imports itself through others.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { root } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mt-cycles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function check(...dirs: string[]) {
  const r = spawnSync(process.execPath, [`${root}scripts/check-cycles.mjs`, ...dirs], { cwd: dir, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

function tree(name: string, files: Record<string, string>): string {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, path, '..'), { recursive: true });
    writeFileSync(join(dir, name, path), text);
  }
  return name;
}

describe('check-cycles', () => {
  it('passes a tree without a cycle', () => {
    const t = tree('acyclic', { 'a.ts': "import { b } from './b.js';\n", 'b.ts': "export const b = 1;\n", 'c/d.ts': "import '../a.js';\n" });
    expect(check(t)).toEqual({ code: 0, out: 'check-cycles: 3 modules under acyclic, no import cycle\n' });
  });

  it('prints a cycle through a dynamic import and a type-only import, and fails', () => {
    const t = tree('node', {
      'agent/run.ts': "import type { X } from '../commands/run.js';\n",
      'commands/run.ts': "export type X = 1;\nexport const f = () => import('../agent/run.js');\n",
    });
    const r = check(t);
    expect(r.code).toBe(1);
    expect(r.out).toContain('import cycle: node/agent/run.ts -> node/commands/run.ts -> node/agent/run.ts\n');
  });

  it('resolves AssemblyScript imports without an extension, across the directories given', () => {
    const t = tree('as', { 'baseline.ts': "import { x } from './config';\n", 'config.ts': "import { y } from './limits';\n", 'limits.ts': "import { z } from './baseline';\n" });
    const other = tree('other', { 'o.ts': 'export {};\n' });
    const r = check(t, other);
    expect(r.code).toBe(1);
    expect(r.out).toContain('import cycle: as/baseline.ts -> as/config.ts -> as/limits.ts -> as/baseline.ts\n');
    expect(r.out).toContain('4 modules under as, other, 1 cycle');
  });

  it('refuses a directory that is not there (exit 2)', () => {
    expect(check('nowhere')).toEqual({ code: 2, out: 'check-cycles: no directory nowhere\n' });
  });

  it('finds no cycle in host/', () => {
    const r = spawnSync(process.execPath, ['scripts/check-cycles.mjs', 'host'], { cwd: root, encoding: 'utf8' });
    expect(r.stdout).toMatch(/no import cycle/);
    expect(r.status).toBe(0);
  });
});
