// `microtally bench --html` (issue 16): one self-contained page, charts drawn to scale from the
// report. The report here is fixed, so the drawing itself is what is checked.
import { describe, expect, it } from 'vitest';
import { barChart, benchHtml, type BenchReport } from '../host/bench/html.js';

const report: BenchReport = {
  engines: {
    native: { nsPerEvent: 20, ratio: 1 },
    v8: { nsPerEvent: 50, ratio: 2.5, ratioRange: [2.2, 2.9], sendNsPerEvent: 10 },
    wasm3: { nsPerEvent: 400, ratio: 20, ratioRange: [18, 22], sendNsPerEvent: 90 },
    qemu: { instructionsPerEvent: 6000, sendInstructionsPerEvent: 2000, events: 1000 },
    qemuAot: { instructionsPerEvent: 1000, sendInstructionsPerEvent: 365, events: 1000 },
  },
  fill: [{ percent: 10, nsPerEvent: 30 }, { percent: 50, nsPerEvent: 45 }, { percent: 100, nsPerEvent: 60 }],
  footprint: {
    flash: 70000, ram: 150000, components: { wasm3: { flash: 35000, ram: 140000 }, blob: { flash: 35000, ram: 0 }, stack: { flash: 0, ram: 10000 } },
    budget: { flash: 98304, ram: 180224 },
    aot: { flash: 60000, ram: 49000, components: { blob: { flash: 60000, ram: 45000 }, stack: { flash: 0, ram: 4000 } }, budget: { flash: 65536, ram: 49152 } },
    blobBytes: { rtos: 46567, linux: 48626 }, linearMemory: 40528, bytesPerCachedConnection: 76,
  },
  quota: [
    { scenario: 'mqtt-sensor', profile: 'rtos', format: 'json', maxPackingDelay: 0, events: 4000, unaggregatedBytes: 1_000_000, aggregatedBytes: 100_000,
      messages: 30, billedBlocks4k: 30, perEventBlocks4k: 4000, reduction: 133.33, unaggregatedBlocks4k: 250 },
    { scenario: 'a<b&"c"', profile: 'linux', format: 'json', maxPackingDelay: 0, events: 4000, unaggregatedBytes: 500_000, aggregatedBytes: 50_000,
      messages: 2, billedBlocks4k: 13, perEventBlocks4k: 4000, reduction: 307.69, unaggregatedBlocks4k: 123 },
  ],
  machine: { cpu: 'Test CPU <x>', cores: 2, node: 'v20.0.0' },
  trace: { scenario: 'gateway-flows', events: 20000, rounds: 5, repeatsPerRun: 1 },
};

/** The rects of the chart titled `title`: [tooltip, width]. */
function bars(html: string, title: string): Map<string, number> {
  const svg = html.match(new RegExp(`<svg role="img" aria-label="${title}"[\\s\\S]*?</svg>`))?.[0];
  expect(svg, title).toBeDefined();
  return new Map([...svg!.matchAll(/<rect [^>]*width="([\d.]+)"[^>]*><title>([^<]*)<\/title>/g)].map((m) => [m[2], Number(m[1])]));
}

describe('bench --html page', () => {
  const html = benchHtml(report, 'microtally bench --html x.html', '9.9.9');

  it('is one self-contained page: no script, stylesheet, image or address to fetch', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|src=|url\(|https?:|@import/i);
    expect(html.match(/<svg /g)).toHaveLength(5);
    expect(html).toContain('microtally 9.9.9');
    expect(html).toContain('<code>microtally bench --html x.html</code>');
  });

  it('draws the engines side by side to one scale, ingest and message building stacked', () => {
    const host = bars(html, 'host engines: time per event');
    const nativeW = host.get('native C reference, ingest: 20 ns/event')!;
    expect(nativeW).toBeGreaterThan(0);
    expect(host.get('V8, ingest: 50 ns/event')! / nativeW).toBeCloseTo(2.5, 1);
    expect(host.get('wasm3, ingest: 400 ns/event')! / nativeW).toBeCloseTo(20, 0);
    expect(host.get('wasm3, ingest: 400 ns/event')! + host.get('wasm3, building messages: 90 ns/event')!).toBeCloseTo(460, 0); // the longest fills the axis
    const board = bars(html, 'emulated Cortex-M3: instructions per event');
    expect(board.get('Cortex-M3, wasm3, ingest: 6,000 instructions/event')! / board.get('Cortex-M3, ahead of time, ingest: 1,000 instructions/event')!).toBeCloseTo(6, 1);
  });

  it('draws the cost as the cache fills, the footprint by component with its budget, and the quota', () => {
    const f = bars(html, 'ingest time by cache fill');
    expect(f.get('100 % full, ingest: 60 ns/event')! / f.get('10 % full, ingest: 30 ns/event')!).toBeCloseTo(2, 2);
    const fp = bars(html, 'flash and RAM by component');
    expect(fp.get('wasm3 image, RAM, wasm3: 140,000 B')! / fp.get('wasm3 image, RAM, stack: 10,000 B')!).toBeCloseTo(14, 1);
    expect([...fp.keys()].some((k) => k.includes(': 0 B'))).toBe(false); // empty parts are not drawn
    expect(html).toMatch(/<line [^>]*class="m"><title>budget: 180,224 B<\/title>/);
    const q = bars(html, 'bytes sent');
    expect(q.get('mqtt-sensor (json), without aggregation, without aggregation: 1,000,000 B')! / q.get('mqtt-sensor (json), aggregated, aggregated: 100,000 B')!).toBeCloseTo(10, 1);
    // The reduction is in 4 KB blocks against a message per event, and the table says so beside it.
    expect(html).toContain('133.33× fewer 4 KB blocks than a message per event');
    expect(html).toContain('<td>4,000 → 30</td><td>133.33×</td>');
  });

  it('escapes every text it shows', () => {
    expect(html).toContain('a&lt;b&amp;&quot;c&quot;');
    expect(html).toContain('Test CPU &lt;x&gt;');
    expect(html).not.toContain('a<b');
  });

  it('says what was not measured instead of drawing empty charts', () => {
    const bare = benchHtml({ ...report, engines: { v8: { nsPerEvent: 50 } },
      footprint: { ...report.footprint, components: null, aot: { flash: null, ram: null, components: null } } }, 'c', '1');
    expect(bare.match(/<svg /g)).toHaveLength(3);
    expect(bare).toContain('The emulated board was not measured');
    expect(bare).toContain('The firmware images were not built here');
  });

  it('puts a legend under a chart with several series only', () => {
    expect(barChart('one', 'B', [{ label: 'a', segments: [{ series: 's', value: 1 }] }])).not.toMatch(/width="12" height="12"/);
    expect(barChart('two', 'B', [{ label: 'a', segments: [{ series: 's', value: 1 }, { series: 't', value: 2 }] }]).match(/width="12" height="12"/g)).toHaveLength(2);
  });
});

describe('bench --html with a quota per message format', () => {
  it('names each row by scenario and format', () => {
    const q = report.quota[0];
    const html = benchHtml({ ...report, quota: [q, { ...q, format: 'cbor', aggregatedBytes: 50_000 }] }, 'c', '1');
    const svg = html.match(/<svg role="img" aria-label="bytes sent"[\s\S]*?<\/svg>/)![0];
    expect(svg).toContain('<title>mqtt-sensor (json), aggregated, aggregated: 100,000 B</title>');
    expect(svg).toContain('<title>mqtt-sensor (cbor), aggregated, aggregated: 50,000 B</title>');
  });
});
