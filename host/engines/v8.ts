// The V8 engine: the blob instantiated in this Node process.

import { Core, Status } from '../core.js';
import { readFileSync } from 'node:fs';
import type { BenchResult, Engine, ReplayOptions, ReplayResult } from '../engine.js';

/** Splits a trace into lines on '\n' (the last line may lack one). */
export function* traceLines(trace: Uint8Array): Generator<Uint8Array> {
  let start = 0;
  for (let i = 0; i < trace.length; i++) {
    if (trace[i] === 0x0a) {
      yield trace.subarray(start, i);
      start = i + 1;
    }
  }
  if (start < trace.length) yield trace.subarray(start);
}

/** The host's part of replay (docs/ABI.md), writing through the given callbacks. */
export function replayWith(core: Core, trace: Uint8Array, options: ReplayOptions,
  out: (s: string) => void, err: (s: string) => void): number {
  if (options.agentId !== undefined) {
    const reason = core.setAgentId(options.agentId);
    if (reason) { err(`microtally: --agent-id: ${reason}\n`); return 2; }
  }
  let lineNo = 0;
  let skipped = 0;
  for (const line of traceLines(trace)) {
    lineNo++;
    const r = core.ingestLine(line);
    if (r.status === Status.Skipped) { skipped++; err(`line ${lineNo}: ${r.reason}\n`); }
    for (const m of r.messages) out(m + '\n');
  }
  for (const m of core.finish().messages) out(m + '\n');
  if (options.stats) err(core.stats() + '\n');
  return skipped > 0 ? 1 : 0;
}

export class V8Engine implements Engine {
  readonly name = 'v8' as const;

  async replay(trace: Uint8Array, options: ReplayOptions): Promise<ReplayResult> {
    const core = new Core(options.profile);
    const out: string[] = [];
    const err: string[] = [];
    const exitCode = replayWith(core, trace, options, (s) => out.push(s), (s) => err.push(s));
    return { stdout: out.join(''), stderr: err.join(''), exitCode };
  }

  async benchConnections(recordsFile: string, repeat: number): Promise<BenchResult> {
    const records = readFileSync(recordsFile);
    const count = countRecords(records);
    let best = Infinity;
    let bestSend = Infinity;
    let stats: unknown;
    for (let r = 0; r < repeat; r++) {
      const core = new Core('rtos');
      const timing = { ingestNs: 0n, sendNs: 0n };
      core.ingestConnectionBatch(records, { discard: true, timing });
      core.finish();
      best = Math.min(best, Number(timing.ingestNs));
      bestSend = Math.min(bestSend, Number(timing.sendNs));
      stats = JSON.parse(core.stats());
    }
    return { events: count, ns: best, sendNs: bestSend, stats };
  }
}

/** Number of typed connection records laid back to back. */
export function countRecords(records: Uint8Array): number {
  let n = 0;
  for (let at = 0; at + 68 <= records.length; n++) {
    at += 68 + (records[at + 64] | (records[at + 65] << 8)) + (records[at + 66] | (records[at + 67] << 8));
  }
  return n;
}
