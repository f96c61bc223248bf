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
import { jsonText, root } from './helpers.js';

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
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('the version, defined in package.json', () => {
  it('is what --version prints and what every message carries', () => {
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
    expect(node(root, ['bin/microtally.js', '--version']).stdout.trim()).toBe(pkg.version);
    const core = new Core('linux');
    const res = core.ingestLine('{"kind":"sysinfo","t":1798761600000,"os":"Debian","osVersion":"12","kernel":"6.1","hw":"x86_64","memTotal":1}');
    const messages = [...res.messages, ...core.finish().messages].map((m) => JSON.parse(jsonText(m)));
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
  const files = ['scripts/record-layout.mjs', 'assembly/layout.ts', 'host/layout.ts', 'bindings/mt_record_layout.h', 'docs/ABI.md'];

  it('is current in the repository', () => {
    const r = node(root, ['scripts/record-layout.mjs', '--check']);
    expect(r.stderr).toContain('bindings/mt_record_layout.h and docs/ABI.md agree (4 records)');
    expect(r.code).toBe(0);
  });

  /** A copy of the files, checked clean, then with `file` edited: --check must fail saying `message`. */
  const breaks = (name: string, file: string, from: string, to: string, message: string) => {
    const tree = copy(name, files);
    expect(node(tree, ['scripts/record-layout.mjs', '--check']).code).toBe(0);
    const text = readFileSync(join(tree, file), 'utf8');
    expect(text).toContain(from);
    writeFileSync(join(tree, file), text.replace(from, to));
    const r = node(tree, ['scripts/record-layout.mjs', '--check']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
  };

  it('--check fails on a generated file edited by hand', () => {
    breaks('layout-edit', 'host/layout.ts', 'CONN_PROTO = 60', 'CONN_PROTO = 59', 'host/layout.ts differs from the table');
    breaks('layout-c', 'bindings/mt_record_layout.h', 'MT_CONN_PROTO 60u', 'MT_CONN_PROTO 59u',
      'bindings/mt_record_layout.h differs from the table');
  });

  it('--check fails on docs/ABI.md disagreeing', () => {
    breaks('layout-abi', 'docs/ABI.md', '| 26 | u16 | user length |', '| 27 | u16 | user length |',
      "docs/ABI.md's Process table has offsets [0,8,12,16,20,21,22,24,27,28]");
  });

  it('--check fails on a table that splits what the code reads as one word', () => {
    breaks('layout-word', 'scripts/record-layout.mjs', "['DIR', 61], ['FAMILY', 62]", "['FAMILY', 61], ['DIR', 62]",
      'CONN_PROTO, DIR, FAMILY and REMOTE_FAMILY are not one word');
  });
});
