// `microtally bench --json` (issue 7's contract): every figure present, consistent with itself,
// and every engine doing the native reference's work (bench checks the counts and fails if not).
// A small run: the numbers themselves are measured by the real bench, not asserted here.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { quotaLabel } from '../host/bench/html.js';
import { engineNames, root } from './helpers.js';

describe('bench --json --html', () => {
  it('reports engines, fill, footprint and quota in the documented shape', () => {
    const dir = mkdtempSync(join(tmpdir(), 'microtally-bench-'));
    const page = join(dir, 'bench.html');
    const out = execFileSync('node', [`${root}bin/microtally.js`, 'bench', '--json', '--html', page, '--events', '20000',
      '--quota-events', '4000', '--repeat', '1'], { encoding: 'utf8', timeout: 300_000 });
    const r = JSON.parse(out);
    // --html writes the same report as a page (its drawing is tested in bench-html.test.ts).
    const html = readFileSync(page, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    expect(html).toContain(`${r.trace.events.toLocaleString('en')} events of <code>gateway-flows</code>`);
    for (const q of r.quota) expect(html).toContain(`${quotaLabel(q)}, aggregated, aggregated: ${q.aggregatedBytes.toLocaleString('en')} B`);
    expect(new Set(r.quota.map(quotaLabel)).size).toBe(r.quota.length);
    const positive = (n: unknown) => typeof n === 'number' && n > 0;

    expect(r.engines.native).toMatchObject({ ratio: 1 });
    expect(positive(r.engines.native.nsPerEvent)).toBe(true);
    expect(positive(r.engines.v8.nsPerEvent)).toBe(true);
    for (const name of ['v8', 'wasm3', 'aot'] as const) {
      if (!r.engines[name]) continue;
      const e = r.engines[name];
      expect(e.ratioRange[0]).toBeLessThanOrEqual(e.ratio);
      expect(e.ratio).toBeLessThanOrEqual(e.ratioRange[1]);
    }
    if (engineNames().includes('wasm3')) expect(positive(r.engines.wasm3.nsPerEvent)).toBe(true);
    if (engineNames().includes('aot')) expect(positive(r.engines.aot.nsPerEvent)).toBe(true);
    for (const [engine, key] of [['qemu', 'qemu'], ['qemu-aot', 'qemuAot']] as const) {
      if (!engineNames().includes(engine)) continue;
      expect(positive(r.engines[key].instructionsPerEvent)).toBe(true);
      expect(positive(r.engines[key].sendInstructionsPerEvent)).toBe(true);
      expect(r.engines[key].events).toBe(r.trace.events);
    }

    expect(r.fill.map((f: any) => f.percent)).toEqual([10, 50, 100]);
    for (const f of r.fill) expect(positive(f.nsPerEvent)).toBe(true);

    expect(positive(r.footprint.blobBytes.rtos)).toBe(true);
    expect(positive(r.footprint.blobBytes.linux)).toBe(true);
    expect(r.footprint.bytesPerCachedConnection).toBe(76);
    expect(positive(r.footprint.linearMemory)).toBe(true);
    if (engineNames().includes('qemu')) {
      expect(positive(r.footprint.flash)).toBe(true);
      expect(positive(r.footprint.ram)).toBe(true);
    }
    if (engineNames().includes('qemu-aot')) {
      expect(positive(r.footprint.aot.flash)).toBe(true);
      expect(positive(r.footprint.aot.ram)).toBe(true);
    }

    // Per scenario: JSON and CBOR, each without and with block packing at 600 s.
    const variants = ['json/0', 'json/600', 'cbor/0', 'cbor/600'];
    expect(r.quota.map((q: any) => `${q.scenario} ${q.format}/${q.maxPackingDelay}`)).toEqual(
      ['mqtt-sensor', 'gateway-flows', 'process-churn'].flatMap((s) => variants.map((v) => `${s} ${v}`)));
    for (const q of r.quota) {
      expect(q.events).toBe(4000);
      expect(q.aggregatedBytes).toBeLessThan(q.unaggregatedBytes);
      // IoT Hub bills each message by 4 KB blocks, at least one per message.
      expect(q.billedBlocks4k).toBeGreaterThanOrEqual(q.messages);
      expect(q.billedBlocks4k).toBeGreaterThanOrEqual(Math.ceil(q.aggregatedBytes / 4096));
      // One message per event costs at least one block per event.
      expect(q.perEventBlocks4k).toBeGreaterThanOrEqual(q.events);
      expect(q.reduction).toBe(Math.round((q.perEventBlocks4k / q.billedBlocks4k) * 10) / 10);
      expect('bytesPerConnectionRecord' in q).toBe(q.scenario !== 'process-churn');
    }
    const find = (s: string, f: string, d: number) => r.quota.find((q: any) => q.scenario === s && q.format === f && q.maxPackingDelay === d);
    for (const s of ['mqtt-sensor', 'gateway-flows', 'process-churn']) {
      // CBOR is smaller than JSON; packing never costs more blocks.
      expect(find(s, 'cbor', 0).aggregatedBytes).toBeLessThan(find(s, 'json', 0).aggregatedBytes / 3);
      expect(find(s, 'cbor', 600).billedBlocks4k).toBeLessThanOrEqual(find(s, 'cbor', 0).billedBlocks4k);
      expect(find(s, 'json', 600).billedBlocks4k).toBeLessThanOrEqual(find(s, 'json', 0).billedBlocks4k);
    }
  }, 300_000);
});
