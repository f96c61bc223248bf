// `replay --update-at` on every engine that can swap (docs/UPDATE.md, SPEC R9/R12): the same
// trace with the same packages prints the same stdout bytes, stderr and exit status on wasm3
// (native), qemu (the bare-metal board) and qemu-threadx (the ThreadX agent) as on V8, for each
// case of issue 21 by name. The C engines swap with the device's code (ports/common/mt_update.c,
// mt_agent.c; on ThreadX through mt_tx_update_*), V8 with host/update/swap.ts. Each run also
// keeps every event of the trace exactly once (the connections' hit counts add up, no Id twice).
// The packages come from scripts/make-test-packages.mjs, made here in a folder of this suite's.

import { readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { EngineUnavailable, SWAPPING_ENGINES, type EngineName, type ReplayOptions, type ReplayResult } from '../host/engine.js';
import { V8Engine } from '../host/engines/v8.js';
import { collect } from '../host/io.js';
import { decodeItem } from '../host/update/cbor.js';
import { VERSION } from '../host/version.js';
import { conn, config, engine, engineNames, root, T0, tick, validateMessage } from './helpers.js';
// @ts-expect-error: a plain ES module script
import { makeTestPackages } from '../scripts/make-test-packages.mjs';

let dir = '';
const pkg = (name: string) => `${dir}/${name}`;

/**
 * 60 connections 2 s apart (rtos windows: 30 s, the changed blob's 20 s), system information
 * switched off by the first line (every new core must have it again), a tick at the end. Short:
 * qemu runs it once per case and engine.
 */
function makeTrace(step = 2000, end = 120_000, configAt?: number): { text: string; connections: number } {
  const lines = [config(T0, { systemInformation: { enabled: false } })];
  let connections = 0;
  for (let t = T0 + step; t <= T0 + end; t += step) {
    lines.push(conn(t, { lport: 40000 + (connections % 7) }));
    connections++;
    // a configuration line (merged: system information stays off) that changes the output
    if (t === T0 + configAt!) lines.push(config(t, { network: { aggregation: false } }));
  }
  lines.push(tick(T0 + 180_000));
  return { text: lines.join('\n') + '\n', connections };
}
const TRACE = makeTrace();
/**
 * Connections 500 ms apart for 75 s: the probation journal (2,048 B, 56 B a connection) fills
 * within a window, so the C engines and V8 must take the same early checkpoints; one also with a
 * configuration line during the probation (at 40 s).
 */
const DENSE = makeTrace(500, 75_000);
const DENSE_CONFIG = makeTrace(500, 75_000, 40_000);
/**
 * TRACE with a configuration line of 3,000 bytes (JSON whitespace) before the connection at 88 s:
 * larger than the whole probation journal, so never kept, and trap-after-6's 30th input.
 */
const WITH_BIG_CONFIG = TRACE.text.replace(conn(T0 + 88_000, { lport: 40000 + (43 % 7) }),
  `{"kind":"config",${' '.repeat(2930)}"t":${T0 + 88_000},"config":{"network":{"aggregation":false}}}\n${conn(T0 + 88_000, { lport: 40000 + (43 % 7) })}`);
/** A line in the first window: the swap comes at its end (the first boundary after). */
const AT = 10;
/** A line after the probation of a swap at AT (two windows later). */
const LATE = 55;
/** Past the last line: delivered at the end of input. */
const END = 1000;

/** TRACE with a 5,000-byte line after its 22nd connection: longer than the core's input area
 * (4,096 B on rtos) and than qemu's agent line buffer, shorter than the native one's. */
const LONG_LINE = 24;
const traceLines = TRACE.text.split('\n');
const WITH_LONG_LINE = [...traceLines.slice(0, LONG_LINE - 1), `{"kind":"note","pad":"${'x'.repeat(4976)}"}`,
  ...traceLines.slice(LONG_LINE - 1)].join('\n');

interface Case {
  name: string;
  updates: [number, string][];
  options?: Partial<ReplayOptions>;
  /** Another trace than TRACE (its connection count, when another), and the stderr it must give (exit 1). */
  trace?: string;
  connections?: number;
  stderr?: string;
  /** What V8's run must show (so that equal bytes mean the case happened). */
  expect: (updates: any[], last: any, messages: any[]) => void;
}

const rejected = (reason: RegExp) => (u: any[]) => {
  expect(u).toHaveLength(1);
  expect(u[0]).toMatchObject({ FromVersion: VERSION, Result: 'rejected' });
  expect(u[0].Reason).toMatch(reason);
};
const rolledBack = (reason: RegExp) => (u: any[], last: any) => {
  expect(u.at(-1)).toMatchObject({ FromVersion: VERSION, Result: 'rolledBack' });
  expect(u.at(-1).Reason).toMatch(reason);
  expect(last.AgentVersion).toBe(VERSION);
};

const CASES: Case[] = [
  { name: 'changed-2 applied: the new core continues the run, visibly', updates: [[AT, 'changed-2.pkg']], expect: (u, last) => {
    expect(u).toEqual([{ FromVersion: VERSION, ToVersion: '0.1.0-changed', FromSequence: 0, ToSequence: 2, Result: 'applied' }]);
    expect(last.AgentVersion).toBe('0.1.0-changed');
  } },
  { name: 'another key\'s package refused', updates: [[AT, 'other-key-3.pkg']], expect: rejected(/^wrong key: signed by key [0-9a-f]{16}, this agent trusts [0-9a-f]{16}$/) },
  { name: 'a lower sequence than the installed one refused', updates: [[AT, 'changed-2.pkg']], options: { installedSequence: 3 },
    expect: (u) => expect(u).toEqual([{ FromVersion: VERSION, ToVersion: '0.1.0-changed', FromSequence: 3, ToSequence: 2, Result: 'rejected',
      Reason: 'sequence 2 is not above the installed 3 (an older or replayed package)' }]) },
  { name: 'one byte of the blob changed: refused', updates: [[AT, 'tampered-blob-2.pkg']], expect: rejected(/^blob digest mismatch: its SHA-256 is not the manifest's$/) },
  { name: 'tampered manifest refused', updates: [[AT, 'tampered-manifest-2.pkg']], expect: rejected(/^bad signature: the envelope is not signed by this agent's key$/) },
  { name: 'bad signature refused', updates: [[AT, 'bad-signature-2.pkg']], expect: rejected(/^bad signature: the envelope is not signed by this agent's key$/) },
  { name: 'truncated package refused', updates: [[AT, 'truncated-3.pkg']], expect: rejected(/^truncated: the blob is cut short \(a string of \d+ bytes at byte \d+, the package ends after \d+\)$/) },
  { name: 'a package cut inside its envelope refused', updates: [[AT, 'cut-envelope.pkg']],
    expect: rejected(/^truncated: the COSE_Sign1 envelope is cut short \(a string of \d+ bytes at byte \d+, the package ends after \d+\)$/) },
  { name: 'a package cut inside its blob\'s head refused', updates: [[AT, 'cut-head.pkg']],
    expect: rejected(/^truncated: the blob is cut short \(a head at byte \d+ needs 2 more bytes\)$/) },
  { name: 'a package for the other profile refused', updates: [[AT, 'linux-4.pkg']], expect: rejected(/^wrong profile: the package is for linux, this agent is rtos$/) },
  { name: 'a blob that traps at load: rolled back', updates: [[AT, 'trap-load-5.pkg']], expect: rolledBack(/^the new core does not load$/) },
  { name: 'a blob that traps after 30 inputs: rolled back within its first windows', updates: [[AT, 'trap-after-6.pkg']],
    expect: rolledBack(/^the new core trapped within 2 windows of the swap$/) },
  { name: 'self-test mismatch: rolled back', updates: [[AT, 'selftest-mismatch-7.pkg']],
    expect: rolledBack(/^self-test mismatch: the blob's self-test output is not the digest in the manifest$/) },
  { name: 'two packages at one line (one refused, one applied), then an older one refused', updates: [[AT, 'other-key-3.pkg'], [AT, 'changed-2.pkg'], [LATE, 'changed-1.pkg']],
    expect: (u, last) => {
      expect(u.map((x) => x.Result)).toEqual(['rejected', 'applied', 'rejected']);
      expect(u[2]).toMatchObject({ FromVersion: '0.1.0-changed', FromSequence: 2, Reason: 'sequence 1 is not above the installed 2 (an older or replayed package)' });
      expect(last.AgentVersion).toBe('0.1.0-changed');
    } },
  { name: 'a second package while one is staged: refused, the first applied', updates: [[AT, 'changed-2.pkg'], [AT, 'trap-after-6.pkg']],
    expect: (u, last) => {
      expect(u).toEqual([
        { FromVersion: VERSION, ToVersion: '', FromSequence: 0, ToSequence: 0, Result: 'rejected', Reason: 'another package is staged (sequence 2)' },
        { FromVersion: VERSION, ToVersion: '0.1.0-changed', FromSequence: 0, ToSequence: 2, Result: 'applied' }]);
      expect(last.AgentVersion).toBe('0.1.0-changed');
    } },
  { name: 'a line longer than the input area on probation: only measured, no payload in the journal', updates: [[AT, 'changed-2.pkg']],
    trace: WITH_LONG_LINE, stderr: `line ${LONG_LINE}: line too long (5000 bytes; the limit is 4096)\n`, expect: (u, last) => {
      expect(u).toMatchObject([{ Result: 'applied', ToSequence: 2 }]);
      expect(last.AgentVersion).toBe('0.1.0-changed');
    } },
  { name: 'a package during another swap\'s probation: refused (a device has no third slot)', updates: [[AT, 'changed-2.pkg'], [20, 'trap-after-6.pkg']],
    expect: (u, last) => {
      expect(u).toEqual([
        { FromVersion: VERSION, ToVersion: '0.1.0-changed', FromSequence: 0, ToSequence: 2, Result: 'applied' },
        { FromVersion: '0.1.0-changed', ToVersion: '', FromSequence: 2, ToSequence: 0, Result: 'rejected',
          Reason: 'a swap is on trial: it must end (confirmed or rolled back) before another package' }]);
      expect(last.AgentVersion).toBe('0.1.0-changed');
    } },
  { name: 'dense trace: the probation journal fills (early checkpoints), changed-2 applied', updates: [[AT, 'changed-2.pkg']],
    trace: DENSE.text, connections: DENSE.connections, expect: (u, last) => {
      expect(u).toMatchObject([{ Result: 'applied', ToSequence: 2 }]);
      expect(last.AgentVersion).toBe('0.1.0-changed');
    } },
  { name: 'dense trace: trap-after-6 rolled back from an early checkpoint, the inputs since given again', updates: [[AT, 'trap-after-6.pkg']],
    trace: DENSE.text, connections: DENSE.connections, expect: rolledBack(/^the new core trapped within 2 windows of the swap$/) },
  { name: 'dense trace, a configuration line during the probation: changed-2 applied, the configuration kept', updates: [[AT, 'changed-2.pkg']],
    trace: DENSE_CONFIG.text, connections: DENSE_CONFIG.connections, expect: (u, last) => {
      expect(u).toMatchObject([{ Result: 'applied', ToSequence: 2 }]);
      expect(last.AgentVersion).toBe('0.1.0-changed');
      // aggregation off from 40 s: no connection counted twice in one record
      expect(last.Events.filter((e: any) => e.Name === 'ConnectionCreate').flatMap((e: any) => e.Payload).every((p: any) => p.HitCount === 1)).toBe(true);
    } },
  { name: 'dense trace, a configuration line during the probation, trap-after-6: rolled back, the configuration kept', updates: [[AT, 'trap-after-6.pkg']],
    trace: DENSE_CONFIG.text, connections: DENSE_CONFIG.connections, expect: rolledBack(/^the new core trapped within 2 windows of the swap$/) },
  { name: 'an input larger than the probation journal traps: rolled back, then given to the previous core (not lost)', updates: [[AT, 'trap-after-6.pkg']],
    trace: WITH_BIG_CONFIG, expect: (u, last, messages) => {
      rolledBack(/^the new core trapped within 2 windows of the swap$/)(u, last);
      expect(WITH_BIG_CONFIG).not.toBe(TRACE.text);
      // its configuration (aggregation off) reached the core that runs on: after the rollback
      // no record counts a connection twice (aggregated, 7 ports, 2 s apart: it would)
      const back = messages.findIndex((m) => m.Events.some((e: any) => e.Payload[0]?.Result === 'rolledBack'));
      const after = messages.slice(back + 1).flatMap((m) => m.Events).filter((e: any) => e.Name === 'ConnectionCreate').flatMap((e: any) => e.Payload);
      expect(after.length).toBeGreaterThan(10);
      expect(after.every((p: any) => p.HitCount === 1)).toBe(true);
    } },
  { name: 'a package past the last line: installed at the end of input', updates: [[END, 'changed-2.pkg']], expect: (u, last) => {
    expect(u).toMatchObject([{ Result: 'applied', ToSequence: 2 }]);
    expect(last.AgentVersion).toBe('0.1.0-changed');
  } },
];

const options = (c: Case): ReplayOptions => ({ profile: 'rtos', pub: pkg('test.pub'), ...c.options,
  updates: c.updates.map(([line, file]) => ({ line, path: pkg(file) })) });

async function run(name: EngineName, o: ReplayOptions, trace = TRACE.text): Promise<ReplayResult> {
  return (await engine(name)).replay(Buffer.from(trace), o);
}

/** The trace with a line the core refuses (stderr `line N: …`, exit 1), for the options case. */
const WITH_BAD_LINE = TRACE.text.replace(/\n/, '\n{"kind":"connection"}\n');
/** CBOR, an agent id and --stats, a refusal and a swap at the end. */
const optionsCase = (): ReplayOptions => ({ profile: 'rtos', format: 'cbor', agentId: '12345678-1234-4234-8234-123456789abc', stats: true,
  pub: pkg('test.pub'),
  updates: [{ line: AT, path: pkg('tampered-blob-2.pkg') }, { line: END, path: pkg('changed-2.pkg') }] });

const messagesOf = (r: ReplayResult) => r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
const eventsOf = (r: ReplayResult) => messagesOf(r).flatMap((m) => m.Events);

/** Every event of the trace in a message once, system information off in every core, valid messages. */
function nothingLost(r: ReplayResult, c?: Case): void {
  expect(r.stderr).toBe(c?.stderr ?? '');
  expect(r.exitCode).toBe(c?.stderr === undefined ? 0 : 1);
  for (const m of messagesOf(r)) expect(validateMessage(m), JSON.stringify(validateMessage.errors)).toBe(true);
  const events = eventsOf(r);
  const ids = events.map((e) => e.Id);
  expect(new Set(ids).size).toBe(ids.length);
  const hits = events.filter((e) => e.Name === 'ConnectionCreate').flatMap((e) => e.Payload).reduce((n, p) => n + p.HitCount, 0);
  expect(hits).toBe(c?.connections ?? TRACE.connections);
  expect(events.some((e) => e.Name === 'SystemInformation')).toBe(false);
}

/** V8's run of each case, once: the reference every C engine must print. */
const reference = new Map<string, Promise<ReplayResult>>();
function v8(c: Case): Promise<ReplayResult> {
  let r = reference.get(c.name);
  if (!r) { r = run('v8', options(c), c.trace); reference.set(c.name, r); }
  return r;
}

beforeAll(async () => {
  ({ dir } = await makeTestPackages(`${root}build/test-packages-engines`));
  // Cuts the packages do not have: 100 bytes (inside the payload) and one byte into the blob's head.
  const good = readFileSync(pkg('changed-2.pkg'));
  writeFileSync(pkg('cut-envelope.pkg'), good.subarray(0, 100));
  const envelope = decodeItem(good, 0).end;
  writeFileSync(pkg('cut-head.pkg'), good.subarray(0, envelope + 1));
}, 300_000);

describe('replay --update-at on V8: each case happens (the reference)', () => {
  it('without a package the run is another one (the swap is visible)', async () => {
    const plain = await run('v8', { profile: 'rtos' });
    nothingLost(plain);
    const applied = await v8(CASES[0]);
    expect(applied.stdout).not.toBe(plain.stdout);
  });
  it('a long line costs the probation journal the same however it is read (one chunk or many)', async () => {
    const c = CASES.find((x) => x.trace === WITH_LONG_LINE)!;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const bytes = Buffer.from(WITH_LONG_LINE);
    // 1,000-byte reads, as through a pipe: the long line spans several
    const input = { name: 'the trace', close() {}, *chunks() { for (let at = 0; at < bytes.length; at += 1000) yield bytes.subarray(at, at + 1000); } };
    const code = await new V8Engine().replayStream(input, options(c), collect(out, err));
    const whole = await v8(c);
    expect(Buffer.concat(err).toString()).toBe(whole.stderr);
    expect(code).toBe(whole.exitCode);
    expect(Buffer.concat(out).toString()).toBe(whole.stdout);
  });
  for (const c of CASES) {
    it(c.name, async () => {
      const r = await v8(c);
      nothingLost(r, c);
      const messages = messagesOf(r);
      c.expect(eventsOf(r).filter((e) => e.Name === 'AgentUpdate').map((e) => e.Payload[0]), messages.at(-1), messages);
    });
  }
});

const swapping = SWAPPING_ENGINES.filter((e) => e !== 'v8');
for (const name of swapping) {
  describe(`replay --update-at on ${name}: the same bytes as V8`, () => {
    if (!engineNames().includes(name)) {
      it.skip(`every case [${name}: not in MICROTALLY_ENGINES]`, () => {});
      return;
    }
    // The engine's update program or image is built on first use (the ThreadX image compiles the
    // kernel, wasm3 and nx_crypto): here, with room for it, not inside one case's time.
    let unavailable: string | undefined;
    beforeAll(async () => {
      try {
        await run(name, optionsCase());
      } catch (e) {
        if (!(e instanceof EngineUnavailable)) throw e;
        unavailable = e.message;
        console.log(`skipped: replay --update-at on ${name} cannot be built here (${e.message})`);
      }
    }, 900_000);
    /** The engine's run, or undefined (the case skipped) when it cannot be built here. */
    const runOrSkip = async (ctx: { skip: () => void }, o: ReplayOptions, trace?: string): Promise<ReplayResult | undefined> => {
      if (unavailable !== undefined) { ctx.skip(); return undefined; }
      return run(name, o, trace);
    };
    it('CBOR, an agent id, --stats and a refused line: the same bytes, stderr and exit status', async (ctx) => {
      const r = await runOrSkip(ctx, optionsCase(), WITH_BAD_LINE);
      if (!r) return;
      const want = await run('v8', optionsCase(), WITH_BAD_LINE);
      expect(want.exitCode).toBe(1);
      expect(want.stderr).toMatch(/^line 2: missing field "t"\n\{"lines":63,/);
      expect(r.stderr).toBe(want.stderr);
      expect(r.exitCode).toBe(want.exitCode);
      expect(Buffer.from(r.stdoutBytes).equals(Buffer.from(want.stdoutBytes))).toBe(true);
    }, 120_000);
    it('the linux profile: another key\'s package refused, then the linux changed-2 applied', async (ctx) => {
      const o: ReplayOptions = { profile: 'linux', pub: pkg('test.pub'),
        updates: [{ line: 5, path: pkg('linux-other-key-3.pkg') }, { line: AT, path: pkg('linux-changed-2.pkg') }] };
      if (name === 'qemu-threadx') {
        // The ThreadX update layer (ports/threadx) is the rtos device's: refused in one line.
        await expect(run(name, o)).rejects.toThrow(/^engine qemu-threadx swaps cores on the rtos profile only/);
        return;
      }
      const r = await runOrSkip(ctx, o);
      if (!r) return;
      const want = await run('v8', o);
      expect(eventsOf(want).filter((e) => e.Name === 'AgentUpdate').map((e) => e.Payload[0].Result)).toEqual(['rejected', 'applied']);
      expect(r.stderr).toBe(want.stderr);
      expect(r.exitCode).toBe(want.exitCode);
      expect(Buffer.from(r.stdoutBytes).equals(Buffer.from(want.stdoutBytes))).toBe(true);
    }, 600_000);
    for (const c of CASES) {
      it(c.name, async (ctx) => {
        const r = await runOrSkip(ctx, options(c), c.trace);
        if (!r) return;
        const want = await v8(c);
        expect(r.stderr).toBe(want.stderr);
        expect(r.exitCode).toBe(want.exitCode);
        expect(Buffer.from(r.stdoutBytes).equals(Buffer.from(want.stdoutBytes)), `${name} differs from V8:\n${r.stdout}\n--- V8:\n${want.stdout}`).toBe(true);
        nothingLost(r, c);
      }, 120_000);
    }
  });
}
