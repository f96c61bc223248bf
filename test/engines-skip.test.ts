// A cross-engine suite run with fewer engines reports the engines it did not compare as skipped
// tests (vitest's skip, which scripts/vitest-summary.mjs counts), instead of passing V8 against itself.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ENGINE_NAMES } from '../host/engines/index.js';
import { enginesNotUnderTest, root } from './helpers.js';

/** Runs test/split.test.ts (seven cross-engine tests) in its own vitest with MICROTALLY_ENGINES set so. */
function splitSuite(engines: string) {
  const r = spawnSync(process.execPath, [`${root}node_modules/vitest/vitest.mjs`, 'run', 'test/split.test.ts', '--reporter=json'],
    { cwd: root, env: { ...process.env, MICROTALLY_ENGINES: engines }, encoding: 'utf8', maxBuffer: 16 << 20, timeout: 120_000 });
  const report = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
  const skipped: string[] = report.testResults.flatMap((f: { assertionResults: Array<{ status: string; title: string }> }) =>
    f.assertionResults.filter((a) => a.status !== 'passed').map((a) => `${a.status} ${a.title}`));
  return { passed: report.numPassedTests as number, pending: report.numPendingTests as number, failed: report.numFailedTests as number, skipped };
}

describe('engines not under test', () => {
  it('V8 alone: every cross-engine test is also reported skipped once per other engine, named', () => {
    const r = splitSuite('');
    expect(r.failed).toBe(0);
    expect(r.passed).toBe(7);
    expect(r.pending).toBe(7 * (ENGINE_NAMES.length - 1));
    for (const e of ENGINE_NAMES.filter((n) => n !== 'v8')) {
      expect(r.skipped.filter((s) => s.startsWith('skipped ') && s.endsWith(`[${e}: not in MICROTALLY_ENGINES]`))).toHaveLength(7);
    }
  }, 180_000);

  it('names exactly the engines MICROTALLY_ENGINES leaves out', () => {
    const saved = process.env.MICROTALLY_ENGINES;
    try {
      process.env.MICROTALLY_ENGINES = ENGINE_NAMES.join(',');
      expect(enginesNotUnderTest()).toEqual([]);
      process.env.MICROTALLY_ENGINES = ' wasm3, aot ';
      expect(enginesNotUnderTest()).toEqual(['qemu', 'qemu-aot', 'qemu-threadx']);
      delete process.env.MICROTALLY_ENGINES;
      expect(enginesNotUnderTest()).toEqual(ENGINE_NAMES.filter((n) => n !== 'v8'));
    } finally {
      if (saved === undefined) delete process.env.MICROTALLY_ENGINES; else process.env.MICROTALLY_ENGINES = saved;
    }
  });
});
