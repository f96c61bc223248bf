// The swap of a core at a window boundary (docs/UPDATE.md, "Installing: the swap"), through
// `replay --update-at` on V8: one named test per bad input of issue 21. Each ends with the
// previous blob running, the reason in an AgentUpdate record, and every event of the trace in a
// message exactly once (the connections' hit counts add up to the trace's connection lines, and
// no event Id repeats). The packages come from scripts/make-test-packages.mjs, made here.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeSequence } from '../host/decode.js';
import { Core } from '../host/core.js';
import { V8Engine } from '../host/engines/v8.js';
import { encode } from '../host/update/cbor.js';
import { loadPrivateKey, loadPublicKey, manifestMap, MAX_BLOB_BYTES, sealPackage } from '../host/update/package.js';
import { TRIAL_ENTRY_HEADER, TRIAL_JOURNAL_BYTES, UpdatableCore } from '../host/update/swap.js';
import { VERSION } from '../host/version.js';
import { conn, config, sys, T0, tick, validateMessage } from './helpers.js';
// @ts-expect-error: a plain ES module script
import { makeTestPackages, TRAP_AFTER_INPUTS } from '../scripts/make-test-packages.mjs';

const root = new URL('..', import.meta.url).pathname;
const cli = `${root}bin/microtally.js`;
let dir = '';
const pkg = (name: string) => join(dir, name);

/**
 * Connections every 500 ms for 3 minutes (rtos windows: 30 s, the changed blob's 20 s), system
 * information switched off by the first line (a swap must re-apply it) and sent now and then.
 */
function makeTrace(step = 500): { text: string; connections: number } {
  const lines = [config(T0, { systemInformation: { enabled: false } })];
  let connections = 0;
  for (let t = T0 + step; t <= T0 + 180_000; t += step) {
    lines.push(conn(t, { lport: 40000 + (connections % 7) }));
    connections++;
    if (t % 20_000 === 0) lines.push(sys(t));
  }
  lines.push(tick(T0 + 240_000));
  return { text: lines.join('\n') + '\n', connections };
}
let TRACE = makeTrace();
/** A line in the first window: the swap comes at its end (the first boundary after). */
const AT = 10;

interface Run { messages: any[]; stdout: Buffer; stderr: string; exitCode: number }

async function replay(updates: { line: number; path: string }[], over: object = {}): Promise<Run> {
  const r = await new V8Engine().replay(Buffer.from(TRACE.text), { profile: 'rtos', updates, pub: pkg('test.pub'), ...over });
  const cbor = (over as { format?: string }).format === 'cbor';
  const messages = r.stdout === '' || cbor ? [] : r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
  return { messages, stdout: Buffer.from(r.stdoutBytes), stderr: r.stderr, exitCode: r.exitCode };
}

const events = (r: Run) => r.messages.flatMap((m) => m.Events);
const updates = (r: Run) => events(r).filter((e) => e.Name === 'AgentUpdate').map((e) => e.Payload[0]);

/** Every event in a message once: valid messages, no Id twice, every connection's hits counted once. */
function nothingLost(r: Run): void {
  for (const m of r.messages) expect(validateMessage(m), JSON.stringify(validateMessage.errors)).toBe(true);
  const ids = events(r).map((e) => e.Id);
  expect(new Set(ids).size).toBe(ids.length);
  const hits = events(r).filter((e) => e.Name === 'ConnectionCreate').flatMap((e) => e.Payload).reduce((n, p) => n + p.HitCount, 0);
  expect(hits).toBe(TRACE.connections);
  // The configuration (system information off) holds in every core.
  expect(events(r).some((e) => e.Name === 'SystemInformation')).toBe(false);
  expect(r.exitCode).toBe(0);
}

/** The previous blob runs at the end, and the attempt was reported once, with this result and reason. */
function refused(r: Run, result: 'rejected' | 'rolledBack', reason: RegExp, to?: { version: string; sequence: number }, fromSequence = 0): void {
  nothingLost(r);
  expect(r.messages.at(-1).AgentVersion).toBe(VERSION);
  const [u, ...more] = updates(r);
  expect(more).toEqual([]);
  expect(u).toMatchObject({ FromVersion: VERSION, FromSequence: fromSequence, Result: result });
  if (to) expect(u).toMatchObject({ ToVersion: to.version, ToSequence: to.sequence });
  expect(u.Reason).toMatch(reason);
  expect(u.Truncated).toBeUndefined();
}

beforeAll(async () => {
  ({ dir } = await makeTestPackages());
}, 300_000);

describe('replay --update-at: a package installed at the next window boundary', () => {
  it('applied: the new core continues the run, its behaviour visible, nothing lost or repeated', async () => {
    const plain = await replay([]);
    const r = await replay([{ line: AT, path: pkg('changed-2.pkg') }]);
    nothingLost(plain);
    nothingLost(r);
    expect(updates(r)).toEqual([{ FromVersion: VERSION, ToVersion: '0.1.0-changed', FromSequence: 0, ToSequence: 2, Result: 'applied' }]);
    // Before the swap the messages are the plain run's; the swap sends the open windows (a
    // forced send at the last input), then the new core's windows last 20 s instead of 30.
    const firstWindow = plain.messages[0];
    expect(r.messages[0]).toEqual(firstWindow);
    const versions = r.messages.map((m) => m.AgentVersion);
    const swappedAt = versions.indexOf('0.1.0-changed');
    expect(swappedAt).toBeGreaterThan(0);
    expect(versions.slice(swappedAt).every((v) => v === '0.1.0-changed')).toBe(true);
    // Window ends: 30 s apart in the plain run, 20 s apart once the new core runs.
    const gaps = (ms: any[]) => {
      const t = [...new Set(ms.flatMap((m) => m.Events.filter((e: any) => e.Name === 'ConnectionCreate').map((e: any) => Date.parse(e.TimestampUTC))))];
      return t.slice(1).map((x, i) => x - t[i]);
    };
    expect(new Set(gaps(plain.messages))).toEqual(new Set([30_000]));
    expect(gaps(r.messages.slice(swappedAt))).toContain(20_000);
    expect(gaps(r.messages.slice(swappedAt))).not.toContain(30_000);
  });

  it('the same bytes in CBOR: decode of the CBOR run gives the JSON run', async () => {
    const json = await replay([{ line: AT, path: pkg('changed-2.pkg') }]);
    const cbor = await replay([{ line: AT, path: pkg('changed-2.pkg') }], { format: 'cbor' });
    expect(decodeSequence(cbor.stdout)).toBe(json.stdout.toString());
  });

  it('replayed older sequence: refused after a newer one, the newer core runs on', async () => {
    const r = await replay([{ line: AT, path: pkg('changed-2.pkg') }, { line: 200, path: pkg('changed-1.pkg') }]);
    nothingLost(r);
    const [applied, older] = updates(r);
    expect(applied.Result).toBe('applied');
    expect(older).toMatchObject({ FromVersion: '0.1.0-changed', FromSequence: 2, ToSequence: 1, Result: 'rejected',
      Reason: 'sequence 1 is not above the installed 2 (an older or replayed package)' });
    expect(r.messages.at(-1).AgentVersion).toBe('0.1.0-changed');
  });

  it('replayed older sequence: --installed-sequence is the anti-rollback floor', async () => {
    refused(await replay([{ line: AT, path: pkg('changed-2.pkg') }], { installedSequence: 2 }), 'rejected',
      /^sequence 2 is not above the installed 2 \(an older or replayed package\)$/, { version: '0.1.0-changed', sequence: 2 }, 2);
  });

  it('truncated package', async () => {
    refused(await replay([{ line: AT, path: pkg('truncated-3.pkg') }]), 'rejected', /^truncated: the blob is cut short \(/);
  });

  it('bad signature', async () => {
    refused(await replay([{ line: AT, path: pkg('bad-signature-2.pkg') }]), 'rejected',
      /^bad signature: the envelope is not signed by this agent's key$/, { version: '', sequence: 0 });
  });

  it('wrong key', async () => {
    refused(await replay([{ line: AT, path: pkg('other-key-3.pkg') }]), 'rejected', /^wrong key: signed by key [0-9a-f]{16}, this agent trusts [0-9a-f]{16}$/,
      { version: '', sequence: 0 });
  });

  it('tampered blob (one byte)', async () => {
    refused(await replay([{ line: AT, path: pkg('tampered-blob-2.pkg') }]), 'rejected', /^blob digest mismatch: its SHA-256 is not the manifest's$/,
      { version: '0.1.0-changed', sequence: 2 });
  });

  it('tampered manifest', async () => {
    refused(await replay([{ line: AT, path: pkg('tampered-manifest-2.pkg') }]), 'rejected', /^bad signature: /, { version: '', sequence: 0 });
  });

  it('other profile', async () => {
    refused(await replay([{ line: AT, path: pkg('linux-4.pkg') }]), 'rejected', /^wrong profile: the package is for linux, this agent is rtos$/,
      { version: VERSION, sequence: 4 });
  });

  it('package larger than the limit', async () => {
    const big = new Uint8Array(MAX_BLOB_BYTES + 1);
    const m = { format: 1, sequence: 9, blobSize: big.length, blobSha256: '00'.repeat(32), abiVersion: 5, profile: 'rtos' as const,
      agentVersion: 'x', selfTestSha256: '00'.repeat(32) };
    writeFileSync(pkg('big-9.pkg'), sealPackage(encode(manifestMap(m)), big, loadPrivateKey(readFileSync(pkg('test.key')))));
    refused(await replay([{ line: AT, path: pkg('big-9.pkg') }]), 'rejected', /^manifest field blobSize \(key 3\) out of range: 4194305 \(1 to 4194304\)$/);
  });

  it('blob that traps at load: rolled back at the swap', async () => {
    refused(await replay([{ line: AT, path: pkg('trap-load-5.pkg') }]), 'rolledBack', /^the new core does not load$/,
      { version: '0.1.0-changed', sequence: 5 });
  });

  it(`blob that traps after ${TRAP_AFTER_INPUTS} inputs: rolled back within its first windows, the inputs since the checkpoint replayed`, async () => {
    const r = await replay([{ line: AT, path: pkg('trap-after-6.pkg') }]);
    nothingLost(r);
    // Its first window's lines filled the probation journal (TRIAL_JOURNAL_BYTES, the device's)
    // before the trap: an early checkpoint sent what the new core held, its applied record too.
    expect(updates(r)).toMatchObject([{ Result: 'applied', ToSequence: 6 }, { FromVersion: VERSION, FromSequence: 0, ToSequence: 6,
      Result: 'rolledBack', Reason: 'the new core trapped within 2 windows of the swap' }]);
    expect(r.messages.at(-1).AgentVersion).toBe(VERSION);
  });

  it('the probation journal bounded as on the device: an early checkpoint when it fills, the trap rolled back from there, nothing lost', async () => {
    const lines = TRACE.text.trimEnd().split('\n');
    const bytes = readFileSync(pkg('trap-after-6.pkg'));
    const direct = (journalBytes?: number) => {
      const core = new Core('rtos');
      const up = new UpdatableCore(core, { wasm: core.blob, version: VERSION, sequence: 0 },
        { profile: 'rtos', pub: loadPublicKey(readFileSync(pkg('test.pub'))), highestSequence: 0, journalBytes });
      const out: string[] = [];
      lines.forEach((line, i) => {
        if (i + 1 === AT) up.deliver(bytes);
        const copy = Buffer.from(line);
        out.push(...up.call((c) => c.ingestLine(copy), line.includes('"kind":"config"'), copy.length).messages as string[]);
      });
      out.push(...up.finish().messages as string[]);
      return { messages: out.map((m) => JSON.parse(m)), stdout: Buffer.from(out.map((m) => m + '\n').join('')), stderr: '', exitCode: 0 };
    };
    const unbounded = direct();
    const bounded = direct(TRIAL_JOURNAL_BYTES);
    const small = direct(TRIAL_ENTRY_HEADER * 4 + 400);
    for (const r of [unbounded, bounded, small]) nothingLost(r);
    // Unbounded (the Linux agent): no checkpoint before the trap, the applied record never left.
    expect(updates(unbounded).map((u) => u.Result)).toEqual(['rolledBack']);
    // Bounded: the checkpoint when the journal filled sent it first; the replay is this run.
    expect(updates(bounded).map((u) => u.Result)).toEqual(['applied', 'rolledBack']);
    expect(bounded.stdout).toEqual((await replay([{ line: AT, path: pkg('trap-after-6.pkg') }])).stdout);
    // A smaller journal checkpoints more often: more, shorter messages, the same events.
    expect(small.messages.length).toBeGreaterThan(bounded.messages.length);
  });

  it("the probation journal's numbers are the device's (ports/common/mt_agent.h)", () => {
    const h = readFileSync(`${root}ports/common/mt_agent.h`, 'utf8');
    expect(h).toMatch(new RegExp(`#define MT_AGENT_TRIAL_ENTRY_HEADER ${TRIAL_ENTRY_HEADER}u\\n`));
    expect(h).toMatch(new RegExp(`#define MT_AGENT_TRIAL_JOURNAL_BYTES ${TRIAL_JOURNAL_BYTES}u\\n`));
  });

  it('a package delivered at the end of a trace that ends inside a window: swapped after the last send, its record sent by a second finish', async () => {
    const lines = TRACE.text.trimEnd().split('\n');
    const open = lines.slice(0, -1).join('\n') + '\n';   // no closing tick: the finish sends the last window
    const r = await new V8Engine().replay(Buffer.from(open), { profile: 'rtos', updates: [{ line: 100_000, path: pkg('changed-2.pkg') }],
      pub: pkg('test.pub') });
    const messages = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    const run = { messages, stdout: Buffer.from(r.stdoutBytes), stderr: r.stderr, exitCode: r.exitCode };
    nothingLost(run);
    expect(updates(run)).toMatchObject([{ Result: 'applied', ToSequence: 2 }]);
    expect(messages.at(-1).AgentVersion).toBe('0.1.0-changed');
  });

  it('blob that traps in its second window: rolled back from the checkpoint of its first, its first window sent once', async () => {
    const dense = TRACE;
    TRACE = makeTrace(1500);   // 20 inputs per 30 s window of the new core: the trap comes in its second
    try {
      const r = await replay([{ line: AT, path: pkg('trap-after-6.pkg') }]);
      nothingLost(r);
      expect(updates(r)).toMatchObject([{ Result: 'applied', ToSequence: 6 },
        { FromSequence: 0, ToSequence: 6, Result: 'rolledBack', Reason: 'the new core trapped within 2 windows of the swap' }]);
      const versions = r.messages.map((m) => m.AgentVersion);
      expect(versions.filter((v) => v === VERSION).length).toBeGreaterThan(0);
      expect(r.messages.at(-1).AgentVersion).toBe(VERSION);
    } finally {
      TRACE = dense;
    }
  });

  it('self-test mismatch: rolled back at the swap', async () => {
    refused(await replay([{ line: AT, path: pkg('selftest-mismatch-7.pkg') }]), 'rolledBack',
      /^self-test mismatch: the blob's self-test output is not the digest in the manifest$/);
  });

  it('a package delivered past the last line is installed at the end of input', async () => {
    const r = await replay([{ line: 100_000, path: pkg('changed-2.pkg') }]);
    nothingLost(r);
    expect(updates(r)).toMatchObject([{ Result: 'applied' }]);
    expect(r.messages.at(-1).AgentVersion).toBe('0.1.0-changed');
  });
});

describe('replay --update-at on the command line', () => {
  const run = (...args: string[]) => spawnSync('node', [cli, 'replay', ...args], { encoding: 'utf8' });
  let trace = '';
  beforeAll(() => {
    const d = mkdtempSync(join(tmpdir(), 'mt-swap-'));
    trace = join(d, 't.jsonl');
    writeFileSync(trace, TRACE.text);
    return () => rmSync(d, { recursive: true, force: true });
  });

  it('prints what the engine prints, the outcome only in the output', async () => {
    const r = run(trace, '--update-at', `${AT}:${pkg('other-key-3.pkg')}`, '--pub', pkg('test.pub'));
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe((await replay([{ line: AT, path: pkg('other-key-3.pkg') }])).stdout.toString());
  });

  it('usage errors: no --pub, a malformed item, an unreadable package, a bad key, another engine', () => {
    const cases: [string[], RegExp][] = [
      [['--update-at', `3:${pkg('changed-2.pkg')}`], /--update-at needs --pub/],
      [['--update-at', `x:${pkg('changed-2.pkg')}`, '--pub', pkg('test.pub')], /--update-at must be <N>:<package>/],
      [['--update-at', '3:/nonexistent.pkg', '--pub', pkg('test.pub')], /package \/nonexistent.pkg: cannot read it \(ENOENT\)/],
      [['--update-at', `3:${pkg('changed-2.pkg')}`, '--pub', pkg('changed-2.pkg')], /--pub .*: the public key is not a PEM public key/],
      [['--update-at', `3:${pkg('changed-2.pkg')}`, '--pub', pkg('test.pub'), '--engine', 'aot'], /engine aot cannot swap cores/],
      [['--pub', pkg('test.pub')], /--pub goes with --update-at/],
    ];
    for (const [args, message] of cases) {
      const r = run(trace, ...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });

  it('verify refuses the same packages with one line and exit 2 (issue 21, must show)', () => {
    for (const [file, reason] of [['other-key-3.pkg', /wrong key/], ['tampered-blob-2.pkg', /blob digest mismatch/]] as const) {
      const r = spawnSync('node', [cli, 'verify', '--pub', pkg('test.pub'), pkg(file)], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^microtally: verify: ${reason.source}[^\\n]*\\n$`));
    }
    const older = spawnSync('node', [cli, 'verify', '--pub', pkg('test.pub'), '--installed-sequence', '2', pkg('changed-1.pkg')], { encoding: 'utf8' });
    expect(older.status).toBe(2);
    expect(older.stderr).toBe('microtally: verify: sequence 1 is not above the installed 2 (an older or replayed package)\n');
  });

  it('make-test-packages.mjs with a relative output folder: compiled and written there', () => {
    const work = mkdtempSync(join(tmpdir(), 'mt-test-packages-'));
    try {
      // Every variant but `changed` from the packages made above (same sources stamp): one compile.
      mkdirSync(join(work, 'out/src'), { recursive: true });
      for (const name of ['trap-load', 'trap-after', 'changed-linux', 'trap-load-linux', 'trap-after-linux']) {
        for (const ext of ['.wasm', '.sources']) copyFileSync(join(dir, 'src', name + ext), join(work, 'out/src', name + ext));
      }
      const r = spawnSync('node', [`${root}scripts/make-test-packages.mjs`, 'out'], { cwd: work, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(`make-test-packages: ${JSON.parse(readFileSync(pkg('index.json'), 'utf8')).length} packages in ${join(work, 'out')}\n`);
      expect(readFileSync(join(work, 'out/src/changed.wasm')).subarray(0, 4)).toEqual(Buffer.from('\0asm'));
      const index = JSON.parse(readFileSync(join(work, 'out/index.json'), 'utf8')) as { file: string }[];
      for (const { file } of index) expect(existsSync(join(work, 'out', file)), file).toBe(true);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);
});
