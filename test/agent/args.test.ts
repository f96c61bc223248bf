// runAgent in-process: usage errors (exit 2), --help, and a stop request that flushes everything.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { validateMessage } from '../helpers.js';
import { runAgent } from '../../host/agent/run.js';

const dir = mkdtempSync(join(tmpdir(), 'mt-args-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[], stopAfterMs?: number) {
  const out = new PassThrough();
  let stdout = '';
  out.on('data', (d) => { stdout += d; });
  const lines: string[] = [];
  const ac = new AbortController();
  const timer = stopAfterMs === undefined ? undefined : setTimeout(() => ac.abort(), stopAfterMs);
  const code = await runAgent(argv, { stdout: out, stderr: (l) => lines.push(l), signal: ac.signal });
  clearTimeout(timer);
  return { code, stdout, stderr: lines.join('') };
}

describe('runAgent arguments', () => {
  it('prints its usage for --help', async () => {
    const r = await run(['run', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: microtally run/);
  });

  it('exits 2 on a usage error, with the reason and the usage', async () => {
    for (const argv of [['--nope'], ['--sink'], ['--sink', 'tcp://x'], ['--config', join(dir, 'missing.json')], ['--agent-id', 'not-a-uuid']]) {
      const r = await run(argv, 5000);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/microtally error: /);
    }
  });

  it('exits 2 on a configuration file the core rejects, naming the key', async () => {
    const cfg = join(dir, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ process: { cacheSize: 0 } }));
    const r = await run(['--config', cfg], 5000);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cacheSize/);
  });

  it('never prints the device key, even when the connection string is refused', async () => {
    const key = Buffer.from('super secret device key').toString('base64');
    const r = await run(['--connection-string', `HostName=h.example;DeviceId=d;SharedAccessKey=${key}`, '--sink', 'stdout'], 5000);
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).not.toContain(key);
  });

  it('listens for SIGINT and SIGTERM before it says it is running, and not after it stopped', async () => {
    // A signal sent on seeing that line must find the listeners (it killed the agent outright before).
    const base = () => [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    const before = base();
    const seen: number[][] = [];
    const ac = new AbortController();
    const out = new PassThrough().resume();
    const code = await runAgent(['--sink', 'stdout', '--source', 'poll'], { stdout: out, signal: ac.signal, stderr: (l) => {
      if (!l.includes('running; sending to')) return;
      seen.push(base().map((n, i) => n - before[i]));
      ac.abort();
    } });
    expect(code).toBe(0);
    expect(seen).toEqual([[1, 1]]);
    expect(base()).toEqual(before);
  });

  it('on a stop request sends what is pending (long windows), one valid JSON message per line', async () => {
    const cfg = join(dir, 'slow.json');
    writeFileSync(cfg, JSON.stringify({ priorityIntervals: { high: 3600, medium: 3600, low: 3600 } }));
    const r = await run(['--config', cfg], 1500);
    expect(r.code).toBe(0);
    const msgs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(msgs.length).toBeGreaterThan(0);
    for (const m of msgs) expect(validateMessage(m), JSON.stringify(validateMessage.errors)).toBe(true);
    const names = msgs.flatMap((m) => m.Events.map((e: { Name: string }) => e.Name));
    expect(names).toContain('SystemInformation');
    expect(r.stderr).toContain('stop request: sending what is pending');
  });
});
