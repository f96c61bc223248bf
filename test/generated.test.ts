// Issue 16: what is defined once and generated elsewhere stays in step. The version lives in
// package.json (scripts/version.mjs writes the blob's AgentVersion bytes), the typed record layout
// in scripts/record-layout.mjs (assembly/layout.ts, host/layout.ts, checked against docs/ABI.md).
// Each script runs here on a copy of the files it reads, changed, to show its --check notices.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Core } from '../host/core.js';
import { VERSION } from '../host/version.js';
import { root } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'microtally-generated-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of `files` (repository paths) in a fresh folder. */
function copy(name: string, files: string[]): string {
  const to = join(dir, name);
  for (const f of files) {
    mkdirSync(join(to, f, '..'), { recursive: true });
    cpSync(`${root}${f}`, join(to, f));
  }
  return to;
}

const node = (cwd: string, args: string[]) => {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
};

describe('the version, defined in package.json', () => {
  it('is what --version prints and what every message carries', () => {
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
    expect(VERSION).toBe(pkg.version);
    const core = new Core('linux');
    const res = core.ingestLine('{"kind":"sysinfo","t":1798761600000,"os":"Debian","osVersion":"12","kernel":"6.1","hw":"x86_64","memTotal":1}');
    const messages = [...res.messages, ...core.finish().messages].map((m) => JSON.parse(m));
    expect(messages.length).toBeGreaterThan(0);
    for (const m of messages) expect(m.AgentVersion).toBe(pkg.version);
  });

  it('version.mjs --check fails when the blob\'s bytes differ, and a rewrite fixes them', () => {
    const tree = copy('version', ['package.json', 'assembly/words.ts', 'scripts/version.mjs']);
    expect(node(tree, ['scripts/version.mjs', '--check']).code).toBe(0);
    const pkg = JSON.parse(readFileSync(join(tree, 'package.json'), 'utf8'));
    writeFileSync(join(tree, 'package.json'), JSON.stringify({ ...pkg, version: '1.22.333' }));
    const stale = node(tree, ['scripts/version.mjs', '--check']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain("differs from package.json's 1.22.333");
    expect(node(tree, ['scripts/version.mjs']).code).toBe(0);
    const words = readFileSync(join(tree, 'assembly/words.ts'), 'utf8');
    expect(words).toContain(`memory.data<u8>([8, ${[...Buffer.from('1.22.333')].join(', ')}], 1); // "1.22.333"`);
    expect(node(tree, ['scripts/version.mjs', '--check']).code).toBe(0);
  });
});

describe('the typed record layout, named once per language', () => {
  const files = ['scripts/record-layout.mjs', 'assembly/layout.ts', 'host/layout.ts', 'docs/ABI.md'];

  it('is current in the repository', () => {
    const r = node(root, ['scripts/record-layout.mjs', '--check']);
    expect(r.stderr).toContain('bindings/mt_record_layout.h and docs/ABI.md agree (4 records)');
    expect(r.code).toBe(0);
  });

  it('--check fails on a generated file edited by hand, and on docs/ABI.md disagreeing', () => {
    const tree = copy('layout-edit', files);
    const host = readFileSync(join(tree, 'host/layout.ts'), 'utf8');
    writeFileSync(join(tree, 'host/layout.ts'), host.replace('CONN_PROTO = 60', 'CONN_PROTO = 59'));
    const edited = node(tree, ['scripts/record-layout.mjs', '--check']);
    expect(edited.code).toBe(1);
    expect(edited.stderr).toContain('host/layout.ts differs from the table');

    const tree2 = copy('layout-abi', files);
    const abi = readFileSync(join(tree2, 'docs/ABI.md'), 'utf8');
    writeFileSync(join(tree2, 'docs/ABI.md'), abi.replace('| 26 | u16 | user length |', '| 27 | u16 | user length |'));
    const docs = node(tree2, ['scripts/record-layout.mjs', '--check']);
    expect(docs.code).toBe(1);
    expect(docs.stderr).toContain("docs/ABI.md's Process table has offsets [0,8,12,16,20,21,22,24,27,28]");
  });
});
