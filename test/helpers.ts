// Shared test plumbing: the engines under test, replay on all of them with a byte-for-byte
// comparison against V8, schema validation of every message, and small trace builders.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import Ajv2020 from 'ajv/dist/2020.js';
import type { Message } from '../host/core.js';
import type { Engine, EngineName, Profile, ReplayResult } from '../host/engine.js';
import { ENGINE_NAMES, engineByName } from '../host/engines/index.js';

export const root = fileURLToPath(new URL('..', import.meta.url));

const schema = JSON.parse(readFileSync(`${root}schema/message.schema.json`, 'utf8'));
const ajv = new (Ajv2020 as unknown as typeof Ajv2020.default)({ allErrors: true, strict: true, strictTypes: false });
export const validateMessage = ajv.compile(schema);

/**
 * Engines the suites run on: V8 always, plus those named in MICROTALLY_ENGINES
 * (comma-separated; `.ci/run` and `npm test` set it to every engine they built).
 */
export function engineNames(): EngineName[] {
  const extra = (process.env.MICROTALLY_ENGINES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return ['v8', ...extra.filter((e) => e !== 'v8')] as EngineName[];
}

/** The engines this run does not test (not named in MICROTALLY_ENGINES, e.g. not built). */
export function enginesNotUnderTest(): EngineName[] {
  const under = engineNames();
  return ENGINE_NAMES.filter((e) => !under.includes(e));
}

/**
 * `it` for a test that compares engines (replayAll, or a loop over engineNames()): it runs on the
 * engines under test, and each engine not under test is one skipped test of the same name, so a
 * run on V8 alone reports what it did not compare instead of passing V8 against itself.
 */
export function itOnEngines(name: string, fn: () => Promise<unknown>, timeout?: number): void {
  it(name, fn, timeout);
  for (const e of enginesNotUnderTest()) it.skip(`${name} [${e}: not in MICROTALLY_ENGINES]`, () => {});
}

const cache = new Map<EngineName, Promise<Engine>>();
export function engine(name: EngineName): Promise<Engine> {
  let e = cache.get(name);
  if (!e) { e = engineByName(name); cache.set(name, e); }
  return e;
}

export interface Replay extends ReplayResult {
  /** Parsed messages (JSON.parse: byte sums above 2^53 lose precision, use `lines` for those). */
  messages: any[];
  lines: string[];
}

/** A message the core sent as JSON text; fails the test when it is CBOR bytes instead. */
export function jsonText(m: Message): string {
  if (typeof m !== 'string') throw new Error(`expected a JSON message, got ${m.byteLength} bytes (CBOR?)`);
  return m;
}

/** Every message as JSON text (jsonText on each). */
export function jsonTexts(ms: readonly Message[]): string[] {
  return ms.map(jsonText);
}

/** JSON messages from the core's API as the CLI would print them: one per line, exit 0. */
export function asReplay(ms: readonly Message[]): ReplayResult {
  const stdout = jsonTexts(ms).map((m) => `${m}\n`).join('');
  return { stdout, stdoutBytes: Buffer.from(stdout), stderr: '', exitCode: 0 };
}

export function parse(result: ReplayResult): Replay {
  const lines = result.stdout === '' ? [] : result.stdout.replace(/\n$/, '').split('\n');
  const messages = lines.map((l) => JSON.parse(l));
  return { ...result, lines, messages };
}

/** Checks every message against the JSON Schema and the size limit. */
export function checkMessages(r: Replay, maxMessageBytes: number): void {
  for (const [i, m] of r.messages.entries()) {
    if (!validateMessage(m)) throw new Error(`message ${i} fails the schema: ${ajv.errorsText(validateMessage.errors)}`);
    expect(Buffer.byteLength(r.lines[i])).toBeLessThanOrEqual(maxMessageBytes);
  }
}

export interface ReplayAllOptions {
  profile?: Profile;
  agentId?: string;
  stats?: boolean;
  /** Limit to check every message against (default: the profile default). */
  maxMessageBytes?: number;
}

/**
 * Replays a trace on every engine under test; each must print exactly V8's bytes and exit
 * status. Returns V8's result, parsed and schema-checked.
 */
export async function replayAll(trace: string | Uint8Array, opts: ReplayAllOptions = {}): Promise<Replay> {
  const profile = opts.profile ?? 'rtos';
  const bytes = typeof trace === 'string' ? Buffer.from(trace) : trace;
  const options = { profile, agentId: opts.agentId, stats: opts.stats };
  const names = engineNames();
  const results = await Promise.all(names.map(async (n) => (await engine(n)).replay(bytes, options)));
  const v8 = results[0];
  for (let i = 1; i < names.length; i++) {
    expect(results[i].stdout, `${names[i]} stdout`).toBe(v8.stdout);
    expect(results[i].stderr, `${names[i]} stderr`).toBe(v8.stderr);
    expect(results[i].exitCode, `${names[i]} exit status`).toBe(v8.exitCode);
  }
  const r = parse(v8);
  checkMessages(r, opts.maxMessageBytes ?? (profile === 'linux' ? 65536 : 4096));
  return r;
}

/** All events named `name`, across messages, in order. */
export function events(r: Replay, name: string): any[] {
  return r.messages.flatMap((m) => m.Events.filter((e: any) => e.Name === name));
}

/** All payload records of events named `name`, in order. */
export function records(r: Replay, name: string): any[] {
  return events(r, name).flatMap((e) => e.Payload);
}

export const T0 = Date.UTC(2026, 0, 1);

export function line(o: object): string { return JSON.stringify(o); }

export function conn(t: number, over: Record<string, unknown> = {}): string {
  return line({ kind: 'connection', t, proto: 'tcp', dir: 'out', local: '10.0.0.2', lport: 40000,
    remote: '20.1.2.3', rport: 8883, bytesIn: 100, bytesOut: 50, ...over });
}

export function proc(t: number, over: Record<string, unknown> = {}): string {
  return line({ kind: 'process', t, pid: 100, ppid: 1, uid: 0, type: 'exec', cmd: '/usr/bin/true', ...over });
}

export function base(t: number, over: Record<string, unknown> = {}): string {
  return line({ kind: 'baseline', t, id: 'CIS-debian-12-1.1.1', group: 'filesystem', result: 'fail',
    severity: 'important', description: 'd', remediation: 'r', ...over });
}

export function sys(t: number, over: Record<string, unknown> = {}): string {
  return line({ kind: 'sysinfo', t, os: 'Debian', osVersion: '12', kernel: '6.1.0', hw: 'x86_64', memTotal: 1024, ...over });
}

export function config(t: number, c: object): string { return line({ kind: 'config', t, config: c }); }
export function tick(t: number): string { return line({ kind: 'tick', t }); }

export function trace(...lines: string[]): string { return lines.join('\n') + '\n'; }

export function iso(t: number): string { return new Date(t).toISOString(); }
