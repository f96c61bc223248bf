// `microtally bench --html`: the report as one self-contained page (no script, no network: inline
// SVG drawn here, numbers in tables beside each chart).

/** What sending one scenario's events costs in IoT Hub quota (bench's `quota`). */
export interface Quota {
  scenario: string; profile: string; events: number;
  /** messageFormat of the run, and its maxPackingDelay in seconds (0: one message per window). */
  format: 'json' | 'cbor'; maxPackingDelay: number;
  aggregatedBytes: number; messages: number; billedBlocks4k: number;
  /** One message per event, in JSON (what an agent without aggregation sends): its billed blocks. */
  perEventBlocks4k: number;
  /** perEventBlocks4k / billedBlocks4k. */
  reduction: number;
  /** Every event as its own record, packed as tightly as maxMessageBytes allows (JSON). */
  unaggregatedBytes: number; unaggregatedBlocks4k: number;
  /** Mean size of a ConnectionCreate record in this format (connection scenarios only). */
  bytesPerConnectionRecord?: number;
}

/** The parts of bench's report the page draws (see runBench). */
export interface BenchReport {
  engines: Record<string, { nsPerEvent?: number; ratio?: number; ratioRange?: number[]; sendNsPerEvent?: number;
    instructionsPerEvent?: number; sendInstructionsPerEvent?: number; events?: number }>;
  fill: { percent: number; nsPerEvent: number }[];
  footprint: {
    flash: number | null; ram: number | null;
    components?: Record<string, { flash: number; ram: number }> | null;
    budget?: { flash: number; ram: number } | null;
    aot: { flash: number | null; ram: number | null; components?: Record<string, { flash: number; ram: number }> | null;
      budget?: { flash: number; ram: number } | null };
    blobBytes: { rtos: number; linux: number }; linearMemory: number; bytesPerCachedConnection: number;
  };
  /** One entry per scenario, message format and packing delay. */
  quota: Quota[];
  machine: { cpu: string; cores: number; node: string };
  trace: { scenario: string; events: number; rounds: number; repeatsPerRun: number };
}

const PALETTE = ['#3b6ea5', '#e08a2c', '#4f9a5a', '#b8504b', '#7d62a8', '#8c6d3f', '#c76fa5', '#6b7b8c', '#a6a23a', '#3aa6a0'];

export function esc(s: string | number): string {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const num = (v: number) => v.toLocaleString('en');

interface Segment { value: number; series: string }
interface Row { label: string; segments: Segment[]; note?: string; marker?: { value: number; label: string } }

/** Horizontal bars, stacked by series, on one linear scale from 0; a legend when there are several series. */
export function barChart(title: string, unit: string, rows: Row[]): string {
  const series = [...new Set(rows.flatMap((r) => r.segments.map((s) => s.series)))];
  const color = (s: string) => PALETTE[series.indexOf(s) % PALETTE.length];
  const max = Math.max(1e-9, ...rows.map((r) => Math.max(r.segments.reduce((n, s) => n + s.value, 0), r.marker?.value ?? 0)));
  const labelW = 190, barW = 460, noteW = 170, rowH = 26, top = 28;
  const legendH = series.length > 1 ? 22 * Math.ceil(series.length / 4) : 0;
  const height = top + rows.length * rowH + 24 + legendH;
  const width = labelW + barW + noteW;
  const scale = (v: number) => (v / max) * barW;
  const parts: string[] = [`<svg role="img" aria-label="${esc(title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<text x="0" y="16" class="t">${esc(title)}</text>`];
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${labelW - 8}" y="${y + 16}" text-anchor="end">${esc(r.label)}</text>`);
    let x = labelW;
    for (const s of r.segments) {
      const w = scale(s.value);
      parts.push(`<rect x="${x.toFixed(1)}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${color(s.series)}">` +
        `<title>${esc(`${r.label}, ${s.series}: ${num(s.value)} ${unit}`)}</title></rect>`);
      x += w;
    }
    const total = r.segments.reduce((n, s) => n + s.value, 0);
    parts.push(`<text x="${(x + 6).toFixed(1)}" y="${y + 16}" class="v">${esc(num(total))}${r.note ? ` · ${esc(r.note)}` : ''}</text>`);
    if (r.marker) {
      const mx = labelW + scale(r.marker.value);
      parts.push(`<line x1="${mx.toFixed(1)}" x2="${mx.toFixed(1)}" y1="${y + 1}" y2="${y + rowH - 1}" class="m"><title>${esc(`${r.marker.label}: ${num(r.marker.value)} ${unit}`)}</title></line>`);
    }
  });
  const axisY = top + rows.length * rowH + 4;
  parts.push(`<line x1="${labelW}" x2="${labelW + barW}" y1="${axisY}" y2="${axisY}" class="a"/>`,
    `<text x="${labelW}" y="${axisY + 14}" class="v">0</text>`,
    `<text x="${labelW + barW}" y="${axisY + 14}" text-anchor="end" class="v">${esc(num(Math.round(max * 100) / 100))} ${esc(unit)}</text>`);
  series.forEach((s, i) => {
    if (series.length < 2) return;
    const lx = labelW + (i % 4) * 150, ly = axisY + 24 + 22 * Math.floor(i / 4);
    parts.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${color(s)}"/><text x="${lx + 16}" y="${ly + 11}">${esc(s)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function table(head: string[], rows: (string | number)[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c) => `<td>${esc(typeof c === 'number' ? num(c) : c)}</td>`).join('')}</tr>`).join('') + '</tbody></table>';
}

const HOST_ENGINES: [string, string][] = [['native', 'native C reference'], ['v8', 'V8'], ['wasm3', 'wasm3'], ['aot', 'ahead of time (wasm2c)']];
const BOARD_ENGINES: [string, string][] = [['qemu', 'Cortex-M3, wasm3'], ['qemuAot', 'Cortex-M3, ahead of time']];

function engines(r: BenchReport): string {
  const host = HOST_ENGINES.filter(([k]) => r.engines[k]?.nsPerEvent !== undefined);
  const board = BOARD_ENGINES.filter(([k]) => r.engines[k]?.instructionsPerEvent !== undefined);
  const out = [`<h2>Engines side by side</h2><p>${num(r.trace.events)} events of <code>${esc(r.trace.scenario)}</code> on the rtos blob, ` +
    `median of ${r.trace.rounds} interleaved rounds, each the best of ${r.trace.repeatsPerRun} runs. Host times are this machine's; ` +
    'the board counts instructions (QEMU <code>-icount</code>), the same on every run.</p>'];
  if (host.length) {
    out.push(barChart('host engines: time per event', 'ns/event', host.map(([k, label]) => {
      const e = r.engines[k];
      return { label, note: e.ratio !== undefined ? `${e.ratio}× native` : undefined,
        segments: [{ series: 'ingest', value: e.nsPerEvent! }, ...(e.sendNsPerEvent !== undefined ? [{ series: 'building messages', value: e.sendNsPerEvent }] : [])] };
    })));
    out.push(table(['engine', 'ingest ns/event', '× native (median)', 'rounds', 'building messages ns/event'], host.map(([k, label]) => {
      const e = r.engines[k];
      return [label, e.nsPerEvent!, e.ratio ?? '—', e.ratioRange ? `${e.ratioRange[0]}–${e.ratioRange[1]}` : '—', e.sendNsPerEvent ?? '—'];
    })));
  }
  if (board.length) {
    out.push(barChart('emulated Cortex-M3: instructions per event', 'instructions/event', board.map(([k, label]) => {
      const e = r.engines[k];
      return { label, segments: [{ series: 'ingest', value: e.instructionsPerEvent! },
        ...(e.sendInstructionsPerEvent !== undefined ? [{ series: 'building messages', value: e.sendInstructionsPerEvent }] : [])] };
    })));
    out.push(table(['engine', 'ingest instructions/event', 'building messages instructions/event'], board.map(([k, label]) =>
      [label, r.engines[k].instructionsPerEvent!, r.engines[k].sendInstructionsPerEvent ?? '—'])));
  } else {
    out.push('<p>The emulated board was not measured (QEMU or the firmware images are missing here).</p>');
  }
  return out.join('\n');
}

function fill(r: BenchReport): string {
  return ['<h2>Cost as the cache fills</h2><p>V8, every event hitting a flow already cached, with the 256-entry cache filled to each level.</p>',
    barChart('ingest time by cache fill', 'ns/event', r.fill.map((f) => ({ label: `${f.percent} % full`, segments: [{ series: 'ingest', value: f.nsPerEvent }] }))),
    table(['cache fill', 'ns/event'], r.fill.map((f) => [`${f.percent} %`, f.nsPerEvent]))].join('\n');
}

function footprint(r: BenchReport): string {
  const f = r.footprint;
  const images = [['wasm3 image', f.components, f.budget, f.flash, f.ram], ['ahead-of-time image', f.aot.components, f.aot.budget, f.aot.flash, f.aot.ram]] as const;
  const rows: Row[] = [];
  const tableRows: (string | number)[][] = [];
  for (const [name, comps, budget, flash, ram] of images) {
    if (!comps) continue;
    for (const kind of ['flash', 'ram'] as const) {
      rows.push({ label: `${name}, ${kind === 'ram' ? 'RAM' : 'flash'}`,
        segments: Object.entries(comps).filter(([, v]) => v[kind] > 0).map(([c, v]) => ({ series: c, value: v[kind] })),
        marker: budget ? { value: budget[kind], label: 'budget' } : undefined,
        note: budget ? `budget ${num(budget[kind])}` : undefined });
    }
    for (const [c, v] of Object.entries(comps)) tableRows.push([name, c, v.flash, v.ram]);
    tableRows.push([name, 'total', flash ?? '—', ram ?? '—']);
  }
  const out = ['<h2>Firmware footprint by component</h2>'];
  if (rows.length) {
    out.push('<p>The rtos images for the mps2-an385 board (Cortex-M3), from the linker map (<code>scripts/build-firmware.sh</code>); the line marks the budget.</p>',
      barChart('flash and RAM by component', 'B', rows), table(['image', 'component', 'flash B', 'RAM B'], tableRows));
  } else {
    out.push('<p>The firmware images were not built here (<code>bash scripts/build-firmware.sh</code> in the repository).</p>');
  }
  out.push(`<p>Blobs: rtos ${num(f.blobBytes.rtos)} B, linux ${num(f.blobBytes.linux)} B; the rtos core's linear memory ${num(f.linearMemory)} B, ` +
    `${f.bytesPerCachedConnection} B per cached connection.</p>`);
  return out.join('\n');
}

/** A quota entry's name on the page: its scenario, format and packing delay. */
export function quotaLabel(q: BenchReport['quota'][number]): string {
  const how = [q.format, q.maxPackingDelay ? `packed ${q.maxPackingDelay} s` : undefined].filter(Boolean);
  return how.length > 0 ? `${q.scenario} (${how.join(', ')})` : q.scenario;
}

function quota(r: BenchReport): string {
  const name = quotaLabel;
  const rows: Row[] = r.quota.flatMap((q) => [
    { label: `${name(q)}, without aggregation`, segments: [{ series: 'without aggregation', value: q.unaggregatedBytes }] },
    { label: `${name(q)}, aggregated`, segments: [{ series: 'aggregated', value: q.aggregatedBytes }],
      note: `${q.reduction}× fewer 4 KB blocks than a message per event` },
  ]);
  return [`<h2>IoT Hub quota per scenario</h2><p>${num(r.quota[0]?.events ?? 0)} events per scenario; IoT Hub bills messages by 4 KB blocks.</p>`,
    barChart('bytes sent', 'B', rows),
    table(['scenario', 'profile', 'without aggregation B', 'aggregated B', 'messages', '4 KB blocks (a message per event → aggregated)', 'fewer blocks by'],
      r.quota.map((q) => [name(q), q.profile, q.unaggregatedBytes, q.aggregatedBytes, q.messages, `${num(q.perEventBlocks4k)} → ${num(q.billedBlocks4k)}`, `${q.reduction}×`]))].join('\n');
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;max-width:900px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
svg{display:block;margin:1em 0;font-size:12px}svg .t{font-weight:600}svg .v{fill:#555}svg .a{stroke:#999}svg .m{stroke:#000;stroke-width:2;stroke-dasharray:3 2}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
code{background:#f3f3f3;padding:0 3px}`;

/** The whole page. `command` is the command line that produced it, shown at the top. */
export function benchHtml(r: BenchReport, command: string, version: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>microtally bench</title>
<style>${STYLE}</style></head><body>
<h1>microtally ${esc(version)}: benchmark report</h1>
<p>Made by <code>${esc(command)}</code> on ${esc(r.machine.cpu)} (${r.machine.cores} cores), Node ${esc(r.machine.node)}.
Times are this machine's and vary from run to run; sizes and instruction counts do not.</p>
${engines(r)}
${fill(r)}
${footprint(r)}
${quota(r)}
</body></html>
`;
}
