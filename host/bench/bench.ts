// `microtally bench`: engines against the native C reference, cost as the cache fills,
// footprint, and IoT Hub quota per scenario. `--json` prints the report as one JSON object.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Core, encodeConnection, type ConnectionRecord, type Message } from '../core.js';
import { EngineUnavailable, type BenchResult, type EngineName } from '../engine.js';
import { engineByName } from '../engines/index.js';
import { VERSION } from '../version.js';
import { benchHtml, type BenchReport, type Quota } from './html.js';
import { gatewayFlows, scenarios, traceLine, type Scenario } from './scenarios.js';
import { decodeSequence, type RecordSpan } from '../decode.js';

const root = fileURLToPath(new URL('../../', import.meta.url)).replace(/dist\/$/, '');
/** Scratch files: build/bench in the repository; a temporary folder for an installed package. */
const out = existsSync(`${root}scripts/test.sh`) ? `${root}build/bench` : join(tmpdir(), `microtally-bench-${process.getuid?.() ?? 'user'}`);

export interface BenchOptions {
  json: boolean;
  /** Also write the report as a self-contained HTML page to this file. */
  html?: string;
  events: number;
  quotaEvents: number;
  repeat: number;
}

const progress = (s: string) => { if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${s}`); };

/** Writes the gateway scenario as typed records, the input every engine is timed on. */
function recordsFile(events: number): string {
  const file = `${out}/gateway-${events}.bin`;
  if (existsSync(file)) return file;
  const parts: Uint8Array[] = [];
  for (const e of gatewayFlows.events(events)) if (e.kind === 'connection') parts.push(encodeConnection(e));
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

/** Whether an executable of this name is on PATH. */
function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, program)));
}

function nativeReference(file: string, repeat: number): BenchResult {
  const exe = `${out}/reference`;
  const src = `${root}bench/native/reference.c`;
  if (!existsSync(src)) throw new EngineUnavailable(`the native reference's source ${src} is missing`);
  if (!onPath('cc')) throw new EngineUnavailable('the native reference needs a C compiler (cc), not found on PATH');
  if (!existsSync(exe) || statSync(exe).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', exe, src]);
  }
  const r = JSON.parse(execFileSync(exe, [file, String(repeat)], { encoding: 'utf8' }));
  return { events: r.events, ns: r.ns, stats: r };
}

/** Ingest cost with the cache at p% of its 256 entries, every event hitting a cached flow. */
function fillCost(percent: number, events: number): number {
  const entries = Math.max(1, Math.round((256 * percent) / 100));
  const t = Date.UTC(2027, 0, 1);
  const flow = (i: number): ConnectionRecord => ({ t, proto: 'tcp', dir: 'out', local: new Uint8Array([10, 0, i >> 8, i & 255]),
    remote: new Uint8Array([20, 0, 0, 1]), lport: 40000 + i, rport: 443, bytesIn: 1, bytesOut: 1 });
  const prefill = Buffer.concat(Array.from({ length: entries }, (_, i) => encodeConnection(flow(i))));
  let seed = 12345;
  const picks = Buffer.concat(Array.from({ length: events }, () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return encodeConnection(flow(seed % entries));
  }));
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const core = new Core('rtos');
    core.ingestConnectionBatch(prefill);
    const start = process.hrtime.bigint();
    core.ingestConnectionBatch(picks);
    best = Math.min(best, Number(process.hrtime.bigint() - start));
  }
  return best / events;
}


const size = (m: Message) => (typeof m === 'string' ? Buffer.byteLength(m) : m.length);
const blocks = (messages: Message[], s: number) => messages.reduce((n, m) => n + Math.ceil(size(m) / s), 0);

function replayLines(profile: 'rtos' | 'linux', lines: string[], format: 'json' | 'cbor' = 'json'): Message[] {
  const core = new Core(profile);
  if (format === 'cbor') core.setFormat('cbor');
  const msgs: Message[] = [];
  for (const l of lines) msgs.push(...core.ingestLine(l).messages);
  msgs.push(...core.finish().messages);
  return msgs;
}

/** What every event sent alone, or packed without aggregation, costs (JSON). */
interface Baseline { unaggregatedBytes: number; unaggregatedBlocks4k: number; perEventBlocks4k: number }

/**
 * Unaggregated: every event as its own record (the core with aggregation off and 1 s windows,
 * so no cache fills), those records then packed into messages as tightly as the aggregated
 * run's limit allows, so both sides pay the same envelope and event-header overhead per
 * message. Per event: each of those records alone in a message (one block at least each).
 */
function baseline(s: Scenario, lines: string[]): Baseline {
  const t0 = JSON.parse(lines[0]).t;
  const maxMessageBytes = s.profile === 'linux' ? 65536 : 4096;
  const off = { aggregation: false, priority: 'high' };
  const cfg = JSON.stringify({ kind: 'config', t: t0, config: { network: off, process: off, priorityIntervals: { high: 1 } } });
  const flat = (replayLines(s.profile, [cfg, ...lines]) as string[]).map((m) => JSON.parse(m));
  const stats = flat.flatMap((m) => m.Events).filter((e: any) => e.Name === 'CollectorStats').flatMap((e: any) => e.Payload);
  const lost = stats.reduce((n: number, x: any) => n + x.Dropped + x.Discarded, 0);
  if (lost > 0) throw new Error(`quota baseline for ${s.name} lost ${lost} events`);
  const sample = flat[0];
  const envelope = Buffer.byteLength(JSON.stringify({ ...sample, Events: [] })) - 1;   // up to "Events":[
  const unaggregated: number[] = [];
  let perEventBlocks4k = 0;
  for (const name of ['ProcessCreate', 'ConnectionCreate']) {
    const evs = flat.flatMap((m) => m.Events).filter((e: any) => e.Name === name);
    if (evs.length === 0) continue;
    const header = Buffer.byteLength(JSON.stringify({ ...evs[0], Payload: [] })) - 2;    // up to "Payload":[
    let size = 0;
    for (const rec of evs.flatMap((e: any) => e.Payload)) {
      const r = Buffer.byteLength(JSON.stringify(rec));
      perEventBlocks4k += Math.ceil((envelope + header + r + 4) / 4096);
      if (size > 0 && size + 1 + r + 4 <= maxMessageBytes) { size += 1 + r; continue; }
      if (size > 0) unaggregated.push(size + 4);
      size = envelope + header + r;
    }
    if (size > 0) unaggregated.push(size + 4);
  }
  const sum = (xs: number[]) => xs.reduce((n, x) => n + x, 0);
  return { unaggregatedBytes: sum(unaggregated), unaggregatedBlocks4k: sum(unaggregated.map((n) => Math.ceil(n / 4096))), perEventBlocks4k };
}

/** Mean bytes of a ConnectionCreate record in the messages (CBOR: its data item; JSON: its text). */
function connectionRecordBytes(messages: Message[], format: 'json' | 'cbor'): number | undefined {
  let bytes = 0, records = 0;
  if (format === 'cbor') {
    const spans: RecordSpan[] = [];
    decodeSequence(Buffer.concat(messages as Uint8Array[]), spans);
    for (const sp of spans) if (sp.name === 'ConnectionCreate') { bytes += sp.bytes; records++; }
  } else {
    for (const m of messages as string[]) {
      for (const e of JSON.parse(m).Events) {
        if (e.Name !== 'ConnectionCreate') continue;
        for (const r of e.Payload) { bytes += Buffer.byteLength(JSON.stringify(r)); records++; }
      }
    }
  }
  return records > 0 ? Math.round((bytes / records) * 10) / 10 : undefined;
}

/** The scenario in JSON and CBOR, each with and without block packing (maxPackingDelay 600 s). */
export function quota(s: Scenario, events: number): Quota[] {
  const lines: string[] = [];
  for (const e of s.events(events)) lines.push(traceLine(e));
  const t0 = JSON.parse(lines[0]).t;
  const base = baseline(s, lines);
  const connections = lines.some((l) => l.startsWith('{"kind":"connection"'));
  const out: Quota[] = [];
  for (const format of ['json', 'cbor'] as const) {
    for (const maxPackingDelay of [0, 600]) {
      const packing = maxPackingDelay > 0 ? [JSON.stringify({ kind: 'config', t: t0, config: { maxPackingDelay } })] : [];
      const messages = replayLines(s.profile, [...packing, ...lines], format);
      const billedBlocks4k = blocks(messages, 4096);
      const q: Quota = {
        scenario: s.name, profile: s.profile, events, format, maxPackingDelay,
        aggregatedBytes: messages.reduce((n, m) => n + size(m), 0), messages: messages.length, billedBlocks4k,
        perEventBlocks4k: base.perEventBlocks4k, reduction: Math.round((base.perEventBlocks4k / billedBlocks4k) * 10) / 10,
        unaggregatedBytes: base.unaggregatedBytes, unaggregatedBlocks4k: base.unaggregatedBlocks4k,
      };
      if (connections) q.bytesPerConnectionRecord = connectionRecordBytes(messages, format);
      out.push(q);
    }
  }
  return out;
}

type Sizes = Record<string, { flash: number; ram: number }>;

/** An rtos firmware image's flash and RAM, in all and by component, from its size file (scripts/build-firmware.sh). */
function firmwareSize(file: 'size.json' | 'size-aot.json'):
  { flash: number | null; ram: number | null; components: Sizes | null; budget: { flash: number; ram: number } | null } {
  const f = `${root}build/firmware/${file}`;
  if (!existsSync(f)) return { flash: null, ram: null, components: null, budget: null };
  const j = JSON.parse(readFileSync(f, 'utf8'));
  return { flash: j.flash ?? null, ram: j.ram ?? null, components: j.components ?? null, budget: j.budget ?? null };
}

/** Rounds of interleaved engine runs (see runBench). */
const ROUNDS = 5;

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
}

/** Every engine must have done the native reference's work: same counts. */
function checkCounts(name: string, r: BenchResult, native: BenchResult): void {
  const st = r.stats as any;
  if (st && (st.network.received !== native.events || st.network.dropped !== (native.stats as any).dropped)) {
    throw new Error(`${name} counts differ from the native reference: ${JSON.stringify(st.network)}`);
  }
}

async function engineResult(name: EngineName, file: string, repeat: number): Promise<BenchResult | undefined> {
  try {
    const e = await engineByName(name);
    return e.benchConnections ? await e.benchConnections(file, repeat) : undefined;
  } catch (err) {
    progress('');
    process.stderr.write(`microtally: bench: ${name} skipped: ${(err as Error).message.split('\n')[0]}\n`);
    return undefined;
  }
}

export async function runBench(o: BenchOptions): Promise<number> {
  mkdirSync(out, { recursive: true });
  progress('writing the gateway trace…');
  const file = recordsFile(o.events);

  // Interleaved rounds: native, then each engine, again and again. The VM this runs on speeds
  // up and slows down over seconds, so each engine is compared with the native run next to it,
  // and the median over rounds is reported (each run is itself the best of `repeat`).
  const hosts: EngineName[] = ['v8', 'wasm3', 'aot'];
  const rounds: { native: number; ns: Partial<Record<EngineName, number>> }[] = [];
  const last: Partial<Record<EngineName, BenchResult>> = {};
  const skipped = new Set<EngineName>();
  let native: BenchResult | undefined;
  let skippedNative = false;
  for (let round = 0; round < ROUNDS; round++) {
    progress(`round ${round + 1}/${ROUNDS}: native reference…`);
    if (!skippedNative) {
      try {
        native = nativeReference(file, o.repeat);
      } catch (e) {
        if (!(e instanceof EngineUnavailable)) throw e;
        progress('');
        process.stderr.write(`microtally: bench: native reference skipped (no ratios): ${e.message}\n`);
        skippedNative = true;
      }
    }
    const entry = { native: native ? native.ns! / native.events : NaN, ns: {} as Partial<Record<EngineName, number>> };
    for (const name of hosts) {
      if (skipped.has(name)) continue;
      progress(`round ${round + 1}/${ROUNDS}: ${name}…`);
      const r = await engineResult(name, file, o.repeat);
      if (!r) { skipped.add(name); continue; }
      if (native) checkCounts(name, r, native);
      entry.ns[name] = r.ns! / r.events;
      last[name] = r;
    }
    rounds.push(entry);
  }
  const engines: BenchReport['engines'] = native ? { native: { nsPerEvent: round2(median(rounds.map((r) => r.native))), ratio: 1 } } : {};
  for (const name of hosts) {
    const got = rounds.filter((r) => r.ns[name] !== undefined);
    if (got.length === 0) continue;
    const ns = median(got.map((r) => r.ns[name]!));
    const ratios = got.map((x) => x.ns[name]! / x.native);
    const r = last[name]!;
    engines[name] = {
      nsPerEvent: round2(ns),
      ...(native && { ratio: round2(median(ratios)), ratioRange: [round2(Math.min(...ratios)), round2(Math.max(...ratios))] }),
      ...(r.sendNs !== undefined && { sendNsPerEvent: round2(r.sendNs / r.events) }),
    };
  }
  // The board counts instructions, the same on every run: one run of each image is enough.
  for (const [name, key] of [['qemu', 'qemu'], ['qemu-aot', 'qemuAot']] as const) {
    progress(`${name}…`);
    const q = await engineResult(name, file, 1);
    if (!q) continue;
    if (native) checkCounts(name, q, native);
    engines[key] = { instructionsPerEvent: round2(q.instructions! / q.events), events: q.events,
      ...(q.sendInstructions !== undefined && { sendInstructionsPerEvent: round2(q.sendInstructions / q.events) }) };
  }

  const fill = [10, 50, 100].map((percent) => {
    progress(`cache fill ${percent}%…`);
    return { percent, nsPerEvent: round2(fillCost(percent, Math.min(o.events, 500_000))) };
  });

  const blobBytes = { rtos: statSync(`${root}build/microtally-rtos.wasm`).size, linux: statSync(`${root}build/microtally-linux.wasm`).size };
  // The wasm3 image's figures at the top (as before), the translated one's beside them.
  const rtos = new Core('rtos');
  const footprint = { ...firmwareSize('size.json'), aot: firmwareSize('size-aot.json'), blobBytes,
    linearMemory: rtos.memoryEnd, bytesPerCachedConnection: rtos.networkBytesPerEntry };

  const quotas = scenarios.flatMap((s) => { progress(`quota: ${s.name}…`); return quota(s, o.quotaEvents); });
  progress('');

  const report = {
    engines, fill, footprint, quota: quotas,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
    trace: { scenario: gatewayFlows.name, events: native?.events ?? (last.v8 as BenchResult).events, rounds: ROUNDS, repeatsPerRun: o.repeat },
  };
  if (o.html !== undefined) {
    const command = ['microtally bench', ...(o.json ? ['--json'] : []), '--html', o.html,
      `--events ${o.events} --quota-events ${o.quotaEvents} --repeat ${o.repeat}`].join(' ');
    writeFileSync(o.html, benchHtml(report, command, VERSION));
    process.stderr.write(`microtally: bench: wrote ${o.html}\n`);
  }
  if (o.json) { process.stdout.write(JSON.stringify(report) + '\n'); return 0; }
  printTable(report);
  return 0;
}

function round2(n: number): number { return Math.round(n * 100) / 100; }

function printTable(r: any): void {
  const w = (s: string) => process.stdout.write(s + '\n');
  w(`engines (${r.trace.events.toLocaleString('en')} events of ${r.trace.scenario}, rtos blob, median of ${r.trace.rounds} interleaved rounds, ${r.machine.cpu})`);
  for (const [name, v] of Object.entries<any>(r.engines)) {
    w(v.instructionsPerEvent !== undefined ? `  ${name.padEnd(7)} ${String(v.instructionsPerEvent).padStart(10)} instructions/event` +
        (v.sendInstructionsPerEvent !== undefined ? `   (+${v.sendInstructionsPerEvent} building messages)` : '')
      : `  ${name.padEnd(7)} ${String(v.nsPerEvent).padStart(10)} ns/event` + (v.ratio !== undefined ? `   ${v.ratio}× native` : '') +
        (v.ratioRange ? ` (rounds ${v.ratioRange[0]}–${v.ratioRange[1]}×)` : '') +
        (v.sendNsPerEvent !== undefined ? `   (+${v.sendNsPerEvent} ns/event building messages)` : ''));
  }
  w('cache fill (v8)');
  for (const f of r.fill) w(`  ${String(f.percent).padStart(3)} %   ${f.nsPerEvent} ns/event`);
  w('footprint');
  w(`  firmware, wasm3: flash ${r.footprint.flash ?? 'not built'} B, RAM ${r.footprint.ram ?? 'not built'} B`);
  w(`  firmware, aot:   flash ${r.footprint.aot.flash ?? 'not built'} B, RAM ${r.footprint.aot.ram ?? 'not built'} B`);
  w(`  core linear memory (rtos): ${r.footprint.linearMemory} B`);
  w(`  blobs: rtos ${r.footprint.blobBytes.rtos} B, linux ${r.footprint.blobBytes.linux} B; ${r.footprint.bytesPerCachedConnection} B per cached connection`);
  w('quota (IoT Hub, 4 KB blocks; reduction against one JSON message per event)');
  for (const q of r.quota) {
    w(`  ${q.scenario.padEnd(14)} ${q.format} packing ${String(q.maxPackingDelay).padStart(3)} s: ${q.events} events → ` +
      `${q.aggregatedBytes} B in ${q.messages} messages, ${q.billedBlocks4k} blocks (${q.perEventBlocks4k} one per event), ` +
      `${q.reduction}× fewer` + (q.bytesPerConnectionRecord !== undefined ? `; ${q.bytesPerConnectionRecord} B per ConnectionCreate record` : ''));
  }
}
