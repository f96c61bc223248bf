// SPEC R2: the rtos host name table's capacity is a build option (MT_HOST_NAMES) with its RAM
// cost per slot; a blob built with another capacity keeps that many names per window.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Core } from '../host/core.js';
import { LineReplay } from '../host/engines/v8.js';
import { collect } from '../host/io.js';
import { T0, conn, root, trace } from './helpers.js';

/** 60 connections in one window, each with a host name of its own, on the given blob (V8). */
async function run(blob?: string): Promise<{ hosts: string[]; truncated: number; warnings: string[] }> {
  const lines = Array.from({ length: 60 }, (_, i) => conn(T0 + i, { lport: 1000 + i, host: `h${i}.example` }));
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const r = new LineReplay(new Core('rtos', blob), { profile: 'rtos' }, collect(out, err));
  expect(r.start()).toBeUndefined();
  r.push(Buffer.from(trace(...lines)));
  expect(await r.end()).toBe(0);
  const events = Buffer.concat(out).toString('utf8').trim().split('\n').flatMap((l) => JSON.parse(l).Events);
  const recs = events.filter((e: any) => e.Name === 'ConnectionCreate').flatMap((e: any) => e.Payload);
  const stats = events.filter((e: any) => e.Name === 'CollectorStats').flatMap((e: any) => e.Payload)
    .filter((s: any) => s.Collector === 'network');
  expect(recs).toHaveLength(60);
  expect(stats).toHaveLength(1);
  return {
    hosts: recs.filter((x: any) => x.ExtraDetails?.HostName).map((x: any) => x.ExtraDetails.HostName),
    truncated: recs.filter((x: any) => x.Truncated).length,
    warnings: stats[0].Warnings,
  };
}

describe('MT_HOST_NAMES: the host name table capacity as a build option', () => {
  let dir: string;
  let built: any;
  let defaults: any;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mt-host-names-'));
    const cmd = (args: string[]) => JSON.parse(execFileSync(process.execPath, [join(root, 'scripts/build-host-names.mjs'), ...args],
      { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
    built = cmd(['48', '-o', join(dir, 'hosts48.wasm')]);
    const x = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(join(root, 'build/microtally-rtos.wasm'))), {}).exports as any;
    x.mt_init();
    defaults = { memoryEnd: x.mt_memory_end(), hostTable: JSON.parse(Buffer.from(x.memory.buffer, x.mt_output_ptr(), x.mt_regions()).toString('utf8')).hostTable };
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the RAM cost per slot: 36 bytes (4 of header, 32 of name), all within the one 64 KiB page', () => {
    expect(defaults.hostTable).toBe(32 * 36);
    expect(built).toMatchObject({ target: 'rtos', hostNames: 48, hostTable: 48 * 36, slotBytes: 36, memoryBytes: 65536 });
    // the table is the only thing that grew: 16 more slots, 16 x 36 bytes more of mt_memory_end
    expect(built.memoryEnd).toBe(defaults.memoryEnd + 16 * 36);
    expect(built.free).toBe(65536 - built.memoryEnd);
    expect(built.slotsThatFit).toBe(256);
  });

  it('the default blob keeps 32 names per window, the built one 48: the overflow warning count changes', async () => {
    const def = await run();
    expect(def.hosts).toEqual(Array.from({ length: 32 }, (_, i) => `h${i}.example`));
    expect(def.truncated).toBe(28);
    expect(def.warnings).toEqual(['name table full: 28 host names or application protocols not kept, records marked Truncated']);
    const big = await run(built.out);
    expect(big.hosts).toEqual(Array.from({ length: 48 }, (_, i) => `h${i}.example`));
    expect(big.truncated).toBe(12);
    expect(big.warnings).toEqual(['name table full: 12 host names or application protocols not kept, records marked Truncated']);
  });

  it('asc refuses a capacity a one-byte reference cannot name, in one line naming the option', () => {
    let stderr = '';
    try {
      execFileSync(join(root, 'node_modules/.bin/asc'), ['--config', 'asconfig.json', '--target', 'rtos', '--use', 'MT_HOST_NAMES=257',
        '-o', join(dir, 'hosts257.wasm'), '-t', join(dir, 'hosts257.wat')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e: any) { stderr = e.stderr; }
    expect(stderr).toContain('MT_HOST_NAMES must be 1 to 256');
  }, 60_000);
});
