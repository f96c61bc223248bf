// Core updates in the Linux agent (docs/UPDATE.md, "The Linux agent"): `run --update`, the
// drop-in folder, the direct method's chunks, the state directory, and a process killed between
// staging and swap or during the swap. One named test per bad input of issue 21; each ends with
// the previous blob running and the reason in an AgentUpdate record. Runs the agent in this
// process with --source poll (no root needed) and 1 s windows.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentUpdates, MAX_PACKAGE_BYTES } from '../../host/update/agent.js';
import { loadPublicKey } from '../../host/update/package.js';
import { installPackage, readState } from '../../host/update/state.js';
import { VERSION } from '../../host/version.js';
import { validateMessage } from '../helpers.js';
import { runInProcess } from './helpers/run-command.js';
import { Mosquitto, mosquittoPath, subscriber, until } from './helpers/mosquitto.js';
// @ts-expect-error: a plain ES module script
import { makeTestPackages } from '../../scripts/make-test-packages.mjs';

const root = new URL('../..', import.meta.url).pathname;
const quick = join(root, 'examples/quick.json');
const work = mkdtempSync(join(tmpdir(), 'mt-agent-update-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let pkgs = '';
const pkg = (name: string) => join(pkgs, name);
let n = 0;
/** A fresh state directory (the agent creates it 0700). */
const stateDir = () => join(work, `state-${++n}`);

beforeAll(async () => { ({ dir: pkgs } = await makeTestPackages()); }, 300_000);

interface AgentRun { code: number; messages: any[]; stderr: string }

async function agent(dir: string, args: string[], ms = 2500, config = quick): Promise<AgentRun> {
  const r = await runInProcess(['--source', 'poll', '--config', config, '--state-dir', dir, '--update-key', pkg('test.pub'), ...args],
    { stopAfterMs: ms });
  const messages = r.stdout.trim() === '' ? [] : r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  for (const m of messages) expect(validateMessage(m), JSON.stringify(validateMessage.errors)).toBe(true);
  return { code: r.code, messages, stderr: r.stderr };
}

const updates = (r: AgentRun) => r.messages.flatMap((m) => m.Events.filter((e: any) => e.Name === 'AgentUpdate').map((e: any) => e.Payload[0]));

/** The built-in blob ran throughout, and the one attempt was reported with this result and reason. */
function refused(r: AgentRun, result: 'rejected' | 'rolledBack', reason: RegExp): void {
  expect(r.code).toBe(0);
  expect(r.messages.length).toBeGreaterThan(0);
  expect(r.messages.at(-1).AgentVersion).toBe(VERSION);
  const [u, ...more] = updates(r);
  expect(more).toEqual([]);
  expect(u).toMatchObject({ FromVersion: VERSION, FromSequence: 0, Result: result });
  expect(u.Reason).toMatch(reason);
}

describe('microtally run --update-key: core updates in the Linux agent', () => {
  it('applied at start (--update): the new core runs, is installed after its first windows, and runs again after a restart', async () => {
    const dir = stateDir();
    const r = await agent(dir, ['--update', pkg('linux-changed-2.pkg')]);
    expect(r.code).toBe(0);
    expect(updates(r)).toEqual([{ FromVersion: VERSION, ToVersion: '0.1.0-changed', FromSequence: 0, ToSequence: 2, Result: 'applied' }]);
    expect(r.messages.every((m) => m.AgentVersion === '0.1.0-changed')).toBe(true);
    expect(readState(dir)).toMatchObject({ sequence: 2, current: { sequence: 2, agentVersion: '0.1.0-changed' } });
    const again = await agent(dir, [], 1500);
    expect(again.messages.length).toBeGreaterThan(0);
    expect(again.messages.every((m) => m.AgentVersion === '0.1.0-changed')).toBe(true);
    expect(again.stderr).toContain(`core: installed sequence 2 (0.1.0-changed) from ${dir}`);
  });

  it('a clean stop within the new core\'s first windows keeps it installed (it did not trap)', async () => {
    const dir = stateDir();
    const slow = join(work, 'slow-windows.json');
    writeFileSync(slow, JSON.stringify({ priorityIntervals: { high: 3600, medium: 3600, low: 3600 } }));
    const r = await agent(dir, ['--update', pkg('linux-changed-2.pkg')], 1500, slow);
    expect(updates(r)).toMatchObject([{ Result: 'applied', ToSequence: 2 }]);
    expect(readState(dir).current?.sequence).toBe(2);
    expect(existsSync(join(dir, 'swap.json'))).toBe(false);
  });

  it('truncated package', async () => {
    const bytes = readFileSync(pkg('linux-changed-2.pkg'));
    writeFileSync(join(work, 'truncated-linux.pkg'), bytes.subarray(0, bytes.length >> 1));
    refused(await agent(stateDir(), ['--update', join(work, 'truncated-linux.pkg')]), 'rejected', /^truncated: the blob is cut short/);
  });

  it('bad signature', async () => {
    refused(await agent(stateDir(), ['--update', pkg('bad-signature-2.pkg')]), 'rejected', /^bad signature: /);
  });

  it('wrong key', async () => {
    refused(await agent(stateDir(), ['--update', pkg('linux-other-key-3.pkg')]), 'rejected', /^wrong key: signed by key /);
  });

  it('tampered blob', async () => {
    // The linux package's blob changed by one byte.
    const bytes = readFileSync(pkg('linux-changed-2.pkg'));
    bytes[bytes.length - 100] ^= 1;
    writeFileSync(join(work, 'tampered-linux.pkg'), bytes);
    refused(await agent(stateDir(), ['--update', join(work, 'tampered-linux.pkg')]), 'rejected', /^blob digest mismatch/);
  });

  it('tampered manifest', async () => {
    const bytes = readFileSync(pkg('linux-changed-2.pkg'));
    bytes[bytes.indexOf(Buffer.from('0.1.0-changed'))] ^= 1;
    writeFileSync(join(work, 'tampered-manifest-linux.pkg'), bytes);
    refused(await agent(stateDir(), ['--update', join(work, 'tampered-manifest-linux.pkg')]), 'rejected', /^bad signature: /);
  });

  it('other profile', async () => {
    refused(await agent(stateDir(), ['--update', pkg('changed-2.pkg')]), 'rejected', /^wrong profile: the package is for rtos, this agent is linux$/);
  });

  it('replayed older sequence', async () => {
    const dir = stateDir();
    const done = await agent(dir, ['--update', pkg('linux-changed-2.pkg')]);
    expect(updates(done)).toMatchObject([{ Result: 'applied' }]);
    const r = await agent(dir, ['--update', pkg('linux-changed-1.pkg')]);
    expect(updates(r)).toMatchObject([{ FromVersion: '0.1.0-changed', FromSequence: 2, ToSequence: 1, Result: 'rejected',
      Reason: 'sequence 1 is not above the installed 2 (an older or replayed package)' }]);
    expect(r.messages.at(-1).AgentVersion).toBe('0.1.0-changed');
  });

  it('blob that traps at load: rolled back, its sequence refused from then on', async () => {
    const dir = stateDir();
    refused(await agent(dir, ['--update', pkg('linux-trap-load-5.pkg')]), 'rolledBack', /^the new core does not load$/);
    expect(readState(dir)).toEqual({ sequence: 5 });
  });

  it('blob that traps after 30 inputs: rolled back within its first windows', async () => {
    const dir = stateDir();
    const r = await agent(dir, ['--update', pkg('linux-trap-after-6.pkg')]);
    expect(r.code).toBe(0);
    expect(updates(r).at(-1)).toMatchObject({ FromSequence: 0, ToSequence: 6, Result: 'rolledBack',
      Reason: 'the new core trapped within 2 windows of the swap' });
    expect(r.messages.at(-1).AgentVersion).toBe(VERSION);
    expect(readState(dir)).toEqual({ sequence: 6 });
  });

  it('package larger than the limit (drop-in folder)', async () => {
    const dir = stateDir();
    const big = join(work, 'big.pkg');
    writeFileSync(big, '');
    truncateSync(big, MAX_PACKAGE_BYTES + 1);
    setTimeout(() => renameSync(big, join(dir, 'incoming', 'big.pkg')), 300);
    refused(await agent(dir, []), 'rejected', new RegExp(`^package larger than ${MAX_PACKAGE_BYTES} bytes \\(${MAX_PACKAGE_BYTES + 1}\\)$`));
    expect(existsSync(join(dir, 'incoming', 'big.pkg'))).toBe(false);
  });

  it('drop-in folder: a package put there is swapped in at the next window boundary', async () => {
    const dir = stateDir();
    setTimeout(() => writeFileSync(join(dir, 'incoming', 'next.pkg'), readFileSync(pkg('linux-changed-2.pkg'))), 300);
    const r = await agent(dir, [], 4000);
    expect(updates(r)).toMatchObject([{ Result: 'applied', ToSequence: 2 }]);
    const versions = r.messages.map((m) => m.AgentVersion);
    expect(versions[0]).toBe(VERSION);
    expect(versions.at(-1)).toBe('0.1.0-changed');
    expect(readState(dir).current?.sequence).toBe(2);
  });

  it('usage errors: --update without --update-key, an unreadable key or package', async () => {
    const r1 = await runInProcess(['--update', pkg('linux-changed-2.pkg')], { stopAfterMs: 3000 });
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/--update needs --update-key <pem>/);
    const r2 = await agent(stateDir(), ['--update-key', join(work, 'missing.pub')], 3000);
    expect(r2.code).toBe(2);
    const r3 = await agent(stateDir(), ['--update', join(work, 'missing.pkg')], 3000);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/--update .*missing.pkg: ENOENT/);
  });
});

describe('the direct method microtally-update: offset and chunk', () => {
  const log = { info() {}, warn() {}, error() {} };
  const open = () => {
    const a = AgentUpdates.open(stateDir(), loadPublicKey(readFileSync(pkg('test.pub'))), '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', log);
    if (typeof a === 'string') throw new Error(a);
    a.tick(1_700_000_000_000);   // the run has begun: a record goes out with the next message
    return a;
  };
  const call = (a: AgentUpdates, offset: number, chunk: Buffer, last = false) =>
    a.method(Buffer.from(JSON.stringify({ offset, chunk: chunk.toString('base64'), last })));
  /** The AgentUpdate records the next message carries. */
  const reported = (a: AgentUpdates) => a.finish().messages.flatMap((m) => JSON.parse(m as string).Events)
    .filter((e: any) => e.Name === 'AgentUpdate').map((e: any) => e.Payload[0]);

  it('chunks in order: the package is staged', () => {
    const a = open();
    const bytes = readFileSync(pkg('linux-changed-2.pkg'));
    let at = 0;
    for (; at + 20_000 < bytes.length; at += 20_000) expect(call(a, at, bytes.subarray(at, at + 20_000))).toEqual({ status: 200, body: { status: 'receiving', received: at + 20_000 } });
    expect(call(a, at, bytes.subarray(at), true)).toEqual({ status: 200, body: { status: 'staged', sequence: 2, received: bytes.length } });
    expect(a.up.stagedSequence).toBe(2);
  });

  it('chunks out of order: refused, the transfer abandoned and reported', () => {
    const a = open();
    const bytes = readFileSync(pkg('linux-changed-2.pkg'));
    expect(call(a, 0, bytes.subarray(0, 1000)).status).toBe(200);
    expect(call(a, 2000, bytes.subarray(2000, 3000))).toEqual({ status: 409, body: { status: 'refused',
      reason: 'chunk at offset 2000, expected 1000 (out of order): transfer abandoned' } });
    expect(call(a, 1000, bytes.subarray(1000, 2000)).status).toBe(409);   // nothing in progress any more
    expect(a.up.stagedSequence).toBeUndefined();
    expect(reported(a)[0]).toMatchObject({ Result: 'rejected', Reason: 'chunk at offset 2000, expected 1000 (out of order): transfer abandoned' });
  });

  it('chunks repeated: refused, the transfer abandoned and reported', () => {
    const a = open();
    const bytes = readFileSync(pkg('linux-changed-2.pkg'));
    expect(call(a, 0, bytes.subarray(0, 1000)).status).toBe(200);
    expect(call(a, 1000, bytes.subarray(1000, 2000)).status).toBe(200);
    expect(call(a, 1000, bytes.subarray(1000, 2000))).toMatchObject({ status: 409, body: { reason: 'chunk at offset 1000, expected 2000 (repeated): transfer abandoned' } });
    expect(a.up.stagedSequence).toBeUndefined();
    expect(reported(a)[0]).toMatchObject({ Result: 'rejected', FromVersion: VERSION });
  });

  it('a package larger than the limit, a malformed request, a bad package at the last chunk', () => {
    const a = open();
    expect(a.method(Buffer.from('{"offset":"0"}')).status).toBe(400);
    const big = Buffer.alloc(MAX_PACKAGE_BYTES + 1);
    expect(call(a, 0, big)).toMatchObject({ status: 413, body: { status: 'refused' } });
    const bytes = readFileSync(pkg('linux-changed-2.pkg'));
    expect(call(a, 0, bytes.subarray(0, bytes.length >> 1), true)).toMatchObject({ status: 400, body: { status: 'rejected', reason: expect.stringMatching(/^truncated: /) } });
  });
});

/** mosquitto is installed by scripts/setup.sh; a machine without it skips the MQTT test (said once). */
const hasMosquitto = (() => { try { mosquittoPath(); return true; } catch { return false; } })();

describe.runIf(hasMosquitto)('the direct method over MQTT (mosquitto on loopback)', () => {
  it('chunks published as IoT Hub method calls are answered on $iothub/methods/res, and the package is swapped in', async () => {
    const broker = await Mosquitto.start();
    try {
      const dir = stateDir();
      const res = await subscriber(broker.url, '$iothub/methods/res/#');
      // The agent asks for its twin once subscribed (its method subscription goes out just before).
      const twinGet = await subscriber(broker.url, '$iothub/twin/GET/#');
      const ac = new AbortController();
      const out = new (await import('node:stream')).PassThrough();
      let stdout = '';
      out.on('data', (d) => { stdout += d; });
      const log: string[] = [];
      const { runAgent } = await import('../../host/agent/run.js');
      const done = runAgent({ source: 'poll', config: quick, stateDir: dir, updateKey: pkg('test.pub'), sink: broker.url, deviceId: 'd-update' },
        { stdout: out, stderr: (l) => log.push(l), signal: ac.signal });
      await until('the agent subscribed', () => twinGet.got.length > 0, 15_000);
      const bytes = readFileSync(pkg('linux-changed-2.pkg'));
      const half = bytes.length >> 1;
      const call = (rid: number, offset: number, chunk: Buffer, last: boolean) => res.client.publishAsync(
        `$iothub/methods/POST/microtally-update/?$rid=${rid}`, JSON.stringify({ offset, chunk: chunk.toString('base64'), last }));
      await call(1, 0, bytes.subarray(0, half), false);
      await call(2, 5, bytes.subarray(5, 10), false);   // out of order: refused, the transfer abandoned
      await call(3, 0, bytes.subarray(0, half), false);
      await call(4, half, bytes.subarray(half), true);
      await until('4 answers', () => res.got.length >= 4);
      expect(res.got.map((g) => [g.topic, JSON.parse(g.text).status])).toEqual([
        ['$iothub/methods/res/200/?$rid=1', 'receiving'], ['$iothub/methods/res/409/?$rid=2', 'refused'],
        ['$iothub/methods/res/200/?$rid=3', 'receiving'], ['$iothub/methods/res/200/?$rid=4', 'staged']]);
      await until('the swap', () => readState(dir).current?.sequence === 2, 15_000);
      // The twin's reported properties name the running core's sequence once it is swapped in.
      const reported = await subscriber(broker.url, '$iothub/twin/PATCH/properties/reported/#');
      await res.client.publishAsync('$iothub/twin/PATCH/properties/desired/?$version=5',
        JSON.stringify({ microtally: { messageFormat: 'json' }, $version: 5 }));
      await until('a reported patch', () => reported.got.length > 0);
      expect(JSON.parse(reported.got[0].text).microtally).toMatchObject({ configuration: { version: 5, status: 'applied' }, coreSequence: 2 });
      ac.abort();
      await done;
      await res.client.endAsync();
      await twinGet.client.endAsync();
      await reported.client.endAsync();
      expect(log.join('')).toContain('core update 0 -> 2: applied');
    } finally {
      await broker.stop();
    }
  }, 40_000);
});

describe('the agent killed between staging and swap, and during the swap', () => {
  const cli = join(root, 'bin/microtally.js');
  /** Starts the agent as its own process with 1 h windows; resolves once `line` is logged, then kills it (SIGKILL). */
  function killedAfter(dir: string, args: string[], line: string): Promise<void> {
    const slow = join(work, 'slow.json');
    writeFileSync(slow, JSON.stringify({ priorityIntervals: { high: 3600, medium: 3600, low: 3600 } }));
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cli, 'run', '--source', 'poll', '--config', slow, '--state-dir', dir, '--update-key', pkg('test.pub'), ...args],
        { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`never logged "${line}": ${err}`)); }, 20_000);
      child.stderr.on('data', (d) => {
        err += d;
        if (err.includes(line)) { clearTimeout(timer); child.kill('SIGKILL'); }
      });
      child.on('exit', () => resolve());
    });
  }

  it('killed between staging and swap: the next start runs the previous blob and reports the package dropped', async () => {
    const dir = stateDir();
    setTimeout(() => writeFileSync(join(dir, 'incoming', 'next.pkg'), readFileSync(pkg('linux-changed-2.pkg'))), 1500);
    await killedAfter(dir, [], 'staged for the next window boundary');
    expect(existsSync(join(dir, 'staged.pkg'))).toBe(true);
    const r = await agent(dir, [], 1500);
    refused(r, 'rejected', /^the agent stopped before the swap \(staged package dropped\)$/);
    expect(existsSync(join(dir, 'staged.pkg'))).toBe(false);
    expect(readState(dir)).toEqual({});
  }, 30_000);

  it('killed during the swap (before its new core passed its first windows): the previous blob runs, the sequence is refused', async () => {
    const dir = stateDir();
    await killedAfter(dir, ['--update', pkg('linux-changed-2.pkg')], 'core update 0 -> 2: applied');
    expect(existsSync(join(dir, 'swap.json'))).toBe(true);
    const r = await agent(dir, [], 1500);
    refused(r, 'rolledBack', /^the agent stopped during the swap or the new core's first windows$/);
    expect(readState(dir)).toEqual({ sequence: 2 });
    // The same package again: refused (anti-rollback keeps the failed sequence).
    const again = await agent(dir, ['--update', pkg('linux-changed-2.pkg')], 1500);
    expect(updates(again)).toMatchObject([{ Result: 'rejected', Reason: 'sequence 2 is not above the installed 2 (an older or replayed package)' }]);
  }, 30_000);

  it('the state directory written by installPackage is read the same way (sequence and installed blob)', () => {
    const dir = stateDir();
    const out = installPackage(dir, readFileSync(pkg('linux-changed-2.pkg')), loadPublicKey(readFileSync(pkg('test.pub'))), 'linux', VERSION);
    expect(out.Result).toBe('applied');
    expect(readState(dir).current?.sequence).toBe(2);
  });
});
