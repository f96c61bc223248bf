// `microtally run` in-process (the command layer, then runAgent): usage errors (exit 2),
// --help, and a stop request that flushes everything.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { runCommand } from '../../host/commands/command.js';
import { runCommandWith, runOptions } from '../../host/commands/run.js';
import { validateMessage } from '../helpers.js';
import { runInProcess } from './helpers/run-command.js';

const dir = mkdtempSync(join(tmpdir(), 'mt-args-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (argv: string[], stopAfterMs?: number) => runInProcess(argv, { stopAfterMs });
const HINT = '(`microtally run --help` lists the options)\n';

describe('run arguments', () => {
  it('prints its usage for --help', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: microtally run/);
  });

  it('hands the agent its options as values, parsed once', () => {
    expect(runOptions({ config: 'c.json', sink: 'file:/tmp/x', 'device-id': 'd', 'log-level': 'warn', source: 'poll' }))
      .toEqual({ config: 'c.json', sink: 'file:/tmp/x', deviceId: 'd', logLevel: 'warn', source: 'poll', allowReadableSecret: false });
  });

  it('exits 2 on an option the command layer refuses, in one line and the pointer to --help', async () => {
    const cases: Array<[string[], string]> = [
      [['--nope'], "Unknown option '--nope'"],
      [['--sink'], "Option '--sink <value>' argument missing"],
      [['--log-level', 'loud'], '--log-level must be one of debug, info, warn, error, got "loud"'],
      [['--connection-string-file', 'f', '--connection-string', 'x'], '--connection-string and --connection-string-file: give one'],
    ];
    for (const [argv, why] of cases) {
      const r = await run(argv, 5000);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toBe(`microtally: run: ${why}\n${HINT}`);
    }
  });

  it('exits 2 on a value the agent cannot use, with the reason and the pointer to --help', async () => {
    for (const argv of [['--sink', 'tcp://x'], ['--config', join(dir, 'missing.json')], ['--agent-id', 'not-a-uuid']]) {
      const r = await run(argv, 5000);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`microtally error: --${argv[0].slice(2)}.*\n\\(\`microtally run --help\` lists the options\\)\n$`));
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
    const command = runCommandWith({ stdout: out, signal: ac.signal, stderr: (l) => {
      if (!l.includes('running; sending to')) return;
      seen.push(base().map((n, i) => n - before[i]));
      ac.abort();
    } });
    const code = await runCommand(command, ['--sink', 'stdout', '--source', 'poll'], { out: () => {}, err: () => {} });
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
