// The daemon conventions of `microtally run` (host/agent/daemon.ts, host/agent/notify.ts): SIGHUP
// re-reads --config (send, then apply) and reopens the file sink, a broken file is one line and
// changes nothing; journald priorities when stderr is the journal, --log-format json, secrets
// masked on every path; systemd's READY/RELOADING/STOPPING/WATCHDOG notices, checked against a
// stand-in notification socket (a unix datagram socket a small Python listener binds).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { HELPER_PATH } from '../../host/agent/collectors/kernel-events.js';
import { isJournalStream } from '../../host/agent/daemon.js';
import { StderrLogger } from '../../host/agent/log.js';
import { Notifier, NOTIFY_HELPER_PATH } from '../../host/agent/notify.js';
import { until } from './helpers/mosquitto.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mt-daemon-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const LONG = { priorityIntervals: { high: 3600, medium: 3600, low: 3600 } };
const QUICK = { priorityIntervals: { high: 1, medium: 1, low: 1 } };
const lines = (path: string): string[] => (existsSync(path) ? readFileSync(path, 'utf8') : '').split('\n').filter(Boolean);

/** `microtally run <args>` from the sources as its own process; stderr to `stderrFile` when given (so the test knows its inode). */
function agent(args: string[], env: NodeJS.ProcessEnv = {}, stderrFile?: string) {
  const errFd = stderrFile === undefined ? 'pipe' : openSync(stderrFile, 'w');
  const proc = spawn(process.execPath, ['--import', here('./helpers/register-ts.mjs'), here('./helpers/agent-main.ts'), 'run', ...args], {
    stdio: ['ignore', 'ignore', errFd], env: { ...process.env, ...env },
  });
  if (typeof errFd === 'number') closeSync(errFd);
  children.push(proc);
  let stderr = '';
  proc.stderr?.on('data', (d) => { stderr += d; });
  const log = (): string => (stderrFile === undefined ? stderr : readFileSync(stderrFile, 'utf8'));
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => proc.on('close', (code, signal) => r({ code, signal })));
  return { proc, log, exited };
}

describe('log lines', () => {
  it('JOURNAL_STREAM is the journal only when it names stderr\'s own device and inode', () => {
    const path = join(dir, 'stream');
    const fd = openSync(path, 'w');
    const st = fstatSync(fd, { bigint: true });
    expect(isJournalStream({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, fd)).toBe(true);
    expect(isJournalStream({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` }, fd), 'inherited from a parent whose stderr it was').toBe(false);
    expect(isJournalStream({}, fd)).toBe(false);
    expect(isJournalStream({ JOURNAL_STREAM: 'junk' }, fd)).toBe(false);
    closeSync(fd);
  });

  it('journal: each level its syslog priority, every line of a message prefixed, the time and name left to the journal', () => {
    const out: string[] = [];
    const log = new StderrLogger((l) => out.push(l));
    log.setLevel('debug');
    log.setFormat('text', true);
    log.debug('d'); log.info('i'); log.warn('w'); log.error('e\nsecond line');
    expect(out.join('')).toBe('<7>debug: d\n<6>info: i\n<4>warn: w\n<3>error: e\n<3>error: second line\n');
  });

  it('json: one object a line, with and without the journal prefix', () => {
    for (const journal of [false, true]) {
      const out: string[] = [];
      const log = new StderrLogger((l) => out.push(l), () => new Date(Date.UTC(2026, 11, 7)));
      log.setFormat('json', journal);
      log.warn('two\nlines "quoted"');
      expect(out).toHaveLength(1);
      expect(out[0].endsWith('\n') && !out[0].slice(0, -1).includes('\n')).toBe(true);
      const text = journal ? out[0].replace(/^<4>/, '') : out[0];
      expect(journal ? out[0].startsWith('<4>') : out[0].startsWith('{')).toBe(true);
      expect(JSON.parse(text)).toEqual({ time: '2026-12-07T00:00:00.000Z', level: 'warn', message: 'two\nlines "quoted"' });
    }
  });

  it('secrets are masked in every format (a registered key in its encodings, and secret shapes)', () => {
    const key = 'c2VjcmV0LWtleS1mb3ItdGVzdHM=';
    for (const [format, journal] of [['text', false], ['text', true], ['json', false], ['json', true]] as const) {
      const out: string[] = [];
      const log = new StderrLogger((l) => out.push(l));
      log.setFormat(format, journal);
      log.redact(key);
      log.error(`key ${key} / ${encodeURIComponent(key)} / ${Buffer.from(key, 'base64').toString('hex')} SharedAccessKey=other mqtt://u:pw@h`);
      const all = out.join('');
      expect(all, `${format}${journal ? ' journal' : ''}`).not.toMatch(/c2VjcmV0|c2VjcmV0LWtleS1mb3ItdGVzdHM|736563726574|other|pw@/);
      expect(all.match(/\*\*\*/g)?.length).toBe(5);
    }
  });

  it('the agent under a journal stream writes <N> priorities; --log-format json writes JSON lines', async () => {
    const stderrFile = join(dir, 'journal.log');
    writeFileSync(stderrFile, '');
    const st = statSync(stderrFile, { bigint: true });
    const a = agent(['--source', 'poll', '--sink', `file:${join(dir, 'j.jsonl')}`], { JOURNAL_STREAM: `${st.dev}:${st.ino}` }, stderrFile);
    await until('the agent to run', () => a.log().includes('running; sending to'), 60_000);
    a.proc.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    const log = a.log().trimEnd().split('\n');
    expect(log.length).toBeGreaterThan(2);
    for (const l of log) expect(l, a.log()).toMatch(/^<[3467]>(debug|info|warn|error): /);
    expect(log.some((l) => l.startsWith('<6>info: running; sending to'))).toBe(true);

    const b = agent(['--source', 'poll', '--sink', `file:${join(dir, 'j2.jsonl')}`, '--log-format', 'json']);
    await until('the agent to run', () => b.log().includes('running; sending to'), 60_000);
    b.proc.kill('SIGTERM');
    expect((await b.exited).code).toBe(0);
    for (const l of b.log().trimEnd().split('\n')) {
      const o = JSON.parse(l) as Record<string, unknown>;
      expect(Object.keys(o)).toEqual(['time', 'level', 'message']);
    }
  }, 120_000);
});

describe('SIGHUP', () => {
  it('re-reads --config (send, then apply), keeps it on a broken or refused file, reopens the file sink', async () => {
    const config = join(dir, 'hup.json');
    const sink = join(dir, 'hup.jsonl');
    writeFileSync(config, JSON.stringify(LONG));
    const a = agent(['--source', 'poll', '--sink', `file:${sink}`, '--config', config]);
    await until('the agent to run', () => a.log().includes('running; sending to'), 60_000);
    const hup = async (expected: RegExp): Promise<void> => {
      const before = a.log().length;
      a.proc.kill('SIGHUP');
      await until(`the agent to answer SIGHUP with ${expected}`, () => expected.test(a.log().slice(before)), 20_000)
        .catch((e) => { throw new Error(`${(e as Error).message}:\n${a.log()}`); });
    };

    await hup(/info: SIGHUP: --config \S+ unchanged\n/);
    expect(lines(sink), 'an unchanged file does not force the (hour-long) windows out').toEqual([]);

    writeFileSync(config, JSON.stringify(QUICK));
    await hup(/info: SIGHUP: configuration from --config \S+ applied\n/);
    expect(lines(sink).length, 'what was pending was sent before the change').toBeGreaterThan(0);
    const applied = lines(sink).length;
    await until('one-second windows (the change applied)', () => lines(sink).length >= applied + 2, 20_000);

    for (const [text, why] of [['{"priorityIntervals": {', /SIGHUP: --config \S+: .*JSON.*; the configuration in force is kept/],
      ['{"priorityIntervals":{"high":"soon"}}', /SIGHUP: --config \S+ refused: .+; the configuration in force is kept/],
      ['[1]', /SIGHUP: --config \S+: not a JSON object; the configuration in force is kept/]] as const) {
      writeFileSync(config, text);
      const before = a.log().length;
      await hup(why);
      const said = a.log().slice(before).split('\n').filter(Boolean);
      expect(said.filter((l) => / error: /.test(l)), said.join('\n')).toHaveLength(1);
      const n = lines(sink).length;
      await until('one-second windows still (the old configuration kept)', () => lines(sink).length >= n + 2, 20_000);
    }

    // Log rotation: the file moved away, SIGHUP, then messages go to a new file of that name.
    writeFileSync(config, JSON.stringify(QUICK));
    renameSync(sink, `${sink}.1`);
    await hup(/info: SIGHUP: \S+hup\.jsonl reopened\n/);
    const rotated = lines(`${sink}.1`).length;
    expect(statSync(sink).mode & 0o777).toBe(0o600);
    await until('messages in the reopened file', () => lines(sink).length >= 2, 20_000);
    expect(lines(`${sink}.1`).length, 'nothing more in the rotated file').toBe(rotated);

    a.proc.kill('SIGTERM');
    const { code, signal } = await a.exited;
    expect({ code, signal }, a.log()).toEqual({ code: 0, signal: null });
    expect(a.log()).toMatch(/info: SIGTERM: sending what is pending/);
  }, 180_000);

  it.skipIf(process.geteuid?.() !== 0 || !existsSync(HELPER_PATH))(
    'SIGHUP to every process of the service (systemctl kill -s HUP): the kernel event helper keeps running (needs root and the built helper)', async () => {
      const a = agent(['--source', 'kernel', '--sink', `file:${join(dir, 'k.jsonl')}`]);
      await until('the agent to run', () => a.log().includes('running; sending to'), 60_000);
      const kids = readFileSync(`/proc/${a.proc.pid}/task/${a.proc.pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
      const helper = kids.find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith(HELPER_PATH));
      expect(helper, `the helper among ${kids}`).toBeDefined();
      const before = a.log().length;
      process.kill(helper!, 'SIGHUP');
      a.proc.kill('SIGHUP');
      await until('the agent to answer SIGHUP', () => a.log().slice(before).includes('SIGHUP: no --config to re-read'));
      await new Promise((r) => setTimeout(r, 1500)); // a helper that died is noticed at once and restarted after 1 s
      const alive = existsSync(`/proc/${helper}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${helper}/status`, 'utf8'));
      expect(alive, 'the helper is alive').toBe(true);
      expect(a.log().slice(before)).not.toMatch(/kernel event helper|polling/);
      a.proc.kill('SIGTERM');
      expect((await a.exited).code).toBe(0);
    }, 120_000);
});

const python = spawnSync('python3', ['-c', 'import socket; socket.SCM_CREDENTIALS'], { stdio: 'ignore' }).status === 0;

/** The stand-in notification socket: every datagram it got, with the sender's pid. */
async function notifySocket(name: string): Promise<{ path: string; got: () => Array<{ pid: number; message: string }> }> {
  const path = join(dir, name);
  const listener = spawn('python3', [here('./helpers/notify-listener.py'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(listener);
  let out = '';
  listener.stdout!.on('data', (d) => { out += d; });
  await until('the stand-in socket', () => out.includes('listening'));
  return { path, got: () => out.split('\n').filter((l) => l.includes('"message"')).map((l) => JSON.parse(l)) };
}

describe.skipIf(!python)('systemd notifications (needs python3 for the stand-in socket)', () => {
  it.skipIf(!existsSync(NOTIFY_HELPER_PATH))('READY=1 once running, WATCHDOG=1 every half WATCHDOG_USEC, RELOADING/READY around SIGHUP, STOPPING=1 at the stop', async () => {
    const sock = await notifySocket('notify.sock');
    const a = agent(['--source', 'poll', '--sink', `file:${join(dir, 'n.jsonl')}`], { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '400000' });
    await until('the agent to run', () => a.log().includes('running; sending to'), 60_000);
    await until('READY=1', () => sock.got().some((m) => m.message.startsWith('READY=1')));
    const ready = sock.got().find((m) => m.message.startsWith('READY=1'))!;
    expect(ready.message).toMatch(/^READY=1\nSTATUS=running; sending to file /);
    // The sender is our helper, a child of the agent (the unit's NotifyAccess=all lets it speak).
    expect(readFileSync(`/proc/${ready.pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]).toBe(String(a.proc.pid));

    const t0 = Date.now();
    const pings0 = sock.got().filter((m) => m.message === 'WATCHDOG=1').length;
    await new Promise((r) => setTimeout(r, 2000));
    const pings = sock.got().filter((m) => m.message === 'WATCHDOG=1').length - pings0;
    const seconds = (Date.now() - t0) / 1000;
    // One every 200 ms: 10 in 2 s; a loaded machine may delay a few, never so many that systemd's 400 ms passes.
    expect(pings, `${pings} pings in ${seconds} s`).toBeGreaterThanOrEqual(6);
    expect(pings).toBeLessThanOrEqual(Math.ceil(seconds / 0.2) + 1);

    const before = sock.got().length;
    a.proc.kill('SIGHUP');
    await until('READY=1 after the reload', () => sock.got().slice(before).some((m) => m.message.startsWith('READY=1')));
    const around = sock.got().slice(before).map((m) => m.message).filter((m) => m !== 'WATCHDOG=1');
    expect(around[0]).toBe('RELOADING=1');
    expect(around[1]).toMatch(/^READY=1\n/);

    // `systemctl kill -s HUP` reaches every process of the service: the sender must outlive it.
    const helper = ready.pid;
    process.kill(helper, 'SIGHUP');
    a.proc.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    await until('STOPPING=1', () => sock.got().some((m) => m.message === 'STOPPING=1'));
    expect(sock.got().filter((m) => m.message === 'STOPPING=1').map((m) => m.pid)).toEqual([helper]);
    await until('the sender to end with the agent', () => !existsSync(`/proc/${helper}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${helper}/status`, 'utf8')));
    expect(a.log()).not.toMatch(/ error: /);
  }, 120_000);

  it.skipIf(!existsSync('/usr/bin/systemd-notify') && !existsSync('/bin/systemd-notify'))(
    'without the built sender: systemd-notify carries each notice (needs systemd-notify)', async () => {
      const sock = await notifySocket('fallback.sock');
      const said: string[] = [];
      const log = { info: (m: string) => said.push(m), warn: (m: string) => said.push(m), error: (m: string) => said.push(m) };
      const n = new Notifier({ env: { NOTIFY_SOCKET: sock.path }, log, helperPath: join(dir, 'not-built') });
      expect(n.active).toBe(true);
      n.ready('testing');
      await until('READY=1', () => sock.got().some((m) => m.message.startsWith('READY=1')));
      n.stopping();
      await until('STOPPING=1', () => sock.got().some((m) => m.message === 'STOPPING=1'));
      n.close();
      expect(sock.got().find((m) => m.message.startsWith('READY=1'))!.message).toBe('READY=1\nSTATUS=testing');
      expect(said.join('\n')).toMatch(/systemd notifications through \S*systemd-notify/);
    });

  it('without NOTIFY_SOCKET nothing is started or sent', () => {
    const said: string[] = [];
    const n = new Notifier({ env: {}, log: { info: (m) => said.push(m), warn: (m) => said.push(m), error: (m) => said.push(m) } });
    expect(n.active).toBe(false);
    n.ready('x');
    n.close();
    expect(said).toEqual([]);
  });
});
