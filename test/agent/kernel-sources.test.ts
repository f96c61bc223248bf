// The parts of the kernel event path that need no privilege: how the collectors turn the
// helper's events into records (a process gone before it was read, a second exec in one pid,
// a destroyed socket matched to the one a table read saw), the helper's start-up fallbacks, the
// connection string's sources, and secret masking in log lines.

import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ConnectionRecord, ProcessRecord } from '../../host/core.js';
import { ConnectionCollector, SYSTEM_PROGRAM_DIRS, systemProgram } from '../../host/agent/collectors/connections.js';
import { startKernelEvents, type KernelProcessEvent } from '../../host/agent/collectors/kernel-events.js';
import { executableIn, ProcessCollector, UNKNOWN_UID } from '../../host/agent/collectors/processes.js';
import { maskSecretShapes, StderrLogger } from '../../host/agent/log.js';
import { runAgent } from '../../host/agent/run.js';
import { runInProcess } from './helpers/run-command.js';
import { createSink } from '../../host/agent/sinks/index.js';
import { root as repoRoot } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mt-ksrc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const stops: Array<() => void> = [];
afterEach(() => stops.splice(0).forEach((s) => s()));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stand-in /proc with nothing running and no sockets. */
function emptyProc(): string {
  const root = mkdtempSync(join(dir, 'proc-'));
  mkdirSync(join(root, 'net'));
  writeFileSync(join(root, 'loadavg'), '0.00 0.00 0.00 1/1 1\n');
  return root;
}

const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const tcpRow = (n: number, local: string, remote: string, state: string, inode: number) =>
  `   ${n}: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0 20 4 30 10 -1\n`;

describe('ProcessCollector from kernel events', () => {
  const ev = (e: Partial<KernelProcessEvent>): KernelProcessEvent =>
    ({ ev: 'exec', pid: 500, ppid: 400, uid: 1000, cmd: '/bin/true', exe: '/usr/bin/true', comm: 'true', gone: false, ...e });

  it('reports every exec of a pid, forks, and a process gone before it was read, saying so', () => {
    const got: ProcessRecord[] = [];
    const c = new ProcessCollector({ emit: (r) => got.push(r), now: () => 7, procRoot: emptyProc(), passwdPath: '/nonexistent',
      ignoreChildrenOf: 99 });
    c.start(false);
    c.fromKernel(ev({ ev: 'fork', cmd: 'bash', exe: '/usr/bin/bash' }));
    c.fromKernel(ev({ cmd: 'python3 wrapper.py', exe: '/usr/bin/python3.11' }));
    c.fromKernel(ev({ cmd: 'sleep 3', exe: '/usr/bin/sleep' })); // the same pid execs again
    c.fromKernel(ev({ pid: 501, cmd: '', exe: undefined, uid: null, gone: true }));
    c.fromKernel(ev({ pid: 502, ppid: 99, cmd: 'ss -tinHeO' })); // the agent's own child
    c.fromKernel(ev({ pid: 99, cmd: 'node microtally run' })); // the agent itself
    c.fromKernel(ev({ pid: 503, ppid: 2, cmd: '', exe: undefined, comm: 'kworker/0:1', gone: true })); // a kernel thread
    expect(got.map((r) => [r.pid, r.ppid, r.uid, r.type, r.cmd, r.exe])).toEqual([
      [500, 400, 1000, 'fork', 'bash', '/usr/bin/bash'],
      [500, 400, 1000, 'exec', 'python3 wrapper.py', '/usr/bin/python3.11'],
      [500, 400, 1000, 'exec', 'sleep 3', '/usr/bin/sleep'],
      [501, 400, UNKNOWN_UID, 'exec', '[true] (exited before it was read)', undefined],
    ]);
    expect([c.kernelEvents, c.kernelGone]).toEqual([4, 1]);
  });

  it('marks an executable whose path belongs to another mount namespace with it, so it is its own record (SPEC R1)', () => {
    const got: ProcessRecord[] = [];
    const c = new ProcessCollector({ emit: (r) => got.push(r), now: () => 7, procRoot: emptyProc(), passwdPath: '/nonexistent' });
    c.start(false);
    c.fromKernel(ev({ cmd: 'sleep 1', exe: '/usr/bin/sleep' }));
    c.fromKernel(ev({ cmd: 'sleep 1', exe: '/usr/bin/sleep', mntns: 4026532174 }));
    c.fromKernel(ev({ cmd: 'sleep 1', exe: undefined, mntns: 4026532174 }));
    expect(got.map((r) => r.exe)).toEqual(['/usr/bin/sleep', 'mnt:[4026532174]/usr/bin/sleep', 'mnt:[4026532174]']);
    expect(executableIn('/usr/bin/sleep')).toBe('/usr/bin/sleep');
  });

  it('masks secrets on reported command lines', () => {
    const got: ProcessRecord[] = [];
    const log = new StderrLogger(() => {});
    log.redact('hunter22');
    const c = new ProcessCollector({ emit: (r) => got.push(r), now: () => 7, procRoot: emptyProc(), mask: (s) => log.mask.apply(s) });
    c.start(false);
    c.fromKernel(ev({ cmd: 'tool --password hunter22 --cs HostName=h;DeviceId=d;SharedAccessKey=abc= mqtt://u:p%40ss@b' }));
    expect(got[0].cmd).toBe('tool --password *** --cs HostName=h;DeviceId=d;SharedAccessKey=*** mqtt://u:***@b');
  });
});

describe('ConnectionCollector from socket-destroy notifications', () => {
  it('reports a destroyed socket once, with the kernel bytes; one gone from the tables waits for its notification', () => {
    const root = emptyProc();
    const write = (body: string) => writeFileSync(join(root, 'net/tcp'), TCP_HEADER + body);
    let now = 1000;
    const got: ConnectionRecord[] = [];
    const c = new ConnectionCollector({ emit: (r) => got.push(r), now: () => now, procRoot: root, sampleBytes: async () => '' });
    write(tcpRow(0, '0100007F:1F90', '00000000:0000', '0A', 5)); // a listener on 8080
    c.start(false);
    stops.push(() => c.stop());
    write(tcpRow(0, '0100007F:1F90', '00000000:0000', '0A', 5) + tcpRow(1, '0100007F:C000', '0100007F:0050', '01', 11)
      + tcpRow(2, '0100007F:C001', '0100007F:0050', '01', 12));
    c.poll();
    // 11 closes: its notification comes first; the next read no longer shows it
    c.fromKernel({ ev: 'conn', proto: 'tcp', state: 7, local: '7f000001', lport: 0xc000, remote: '7f000001', rport: 80, bytesIn: 30, bytesOut: 20, bytes: true });
    // 12 leaves the tables before its notification arrives: held, not reported from the read
    write(tcpRow(0, '0100007F:1F90', '00000000:0000', '0A', 5));
    now += 100;
    c.poll();
    expect(got.map((r) => [r.lport, r.bytesIn, r.bytesOut])).toEqual([[0xc000, 30, 20]]);
    c.fromKernel({ ev: 'conn', proto: 'tcp', state: 7, local: '7f000001', lport: 0xc001, remote: '7f000001', rport: 80, bytesIn: 5, bytesOut: 6, bytes: true });
    // a connection accepted on 8080 that no table read ever saw
    c.fromKernel({ ev: 'conn', proto: 'tcp', state: 7, local: '7f000001', lport: 8080, remote: '7f000001', rport: 40000, bytesIn: 1, bytesOut: 2, bytes: true });
    // an IPv6 UDP socket: addresses only
    c.fromKernel({ ev: 'conn', proto: 'udp', state: 7, local: '00000000000000000000000000000001', lport: 40001, remote: '00000000000000000000000000000001', rport: 53, bytesIn: 0, bytesOut: 0, bytes: false });
    now += 10_000;
    c.poll();
    c.flush();
    expect(got.map((r) => [r.proto, r.lport, r.rport, r.dir, r.bytesIn, r.bytesOut, r.remote.length])).toEqual([
      ['tcp', 0xc000, 80, 'out', 30, 20, 4], ['tcp', 0xc001, 80, 'out', 5, 6, 4], ['tcp', 8080, 40000, 'in', 1, 2, 4],
      ['udp', 40001, 53, 'out', 0, 0, 16],
    ]);
    expect(c.kernelEvents).toBe(4);
  });

  it('without its notification, a socket gone from the tables is reported after the grace period', () => {
    const root = emptyProc();
    const write = (body: string) => writeFileSync(join(root, 'net/tcp'), TCP_HEADER + body);
    let now = 1000;
    const got: ConnectionRecord[] = [];
    const c = new ConnectionCollector({ emit: (r) => got.push(r), now: () => now, procRoot: root, sampleBytes: async () => '' });
    write('');
    c.start(false);
    stops.push(() => c.stop());
    write(tcpRow(1, '0100007F:C000', '0100007F:0050', '01', 11));
    c.poll();
    write('');
    now += 100;
    c.poll();
    now += 2000;
    c.poll();
    expect(got).toEqual([]);
    now += 1000;
    c.poll();
    expect(got.map((r) => r.lport)).toEqual([0xc000]);
  });
});

describe('programs the agent runs', () => {
  it('an `ss` planted earlier in PATH is not run: ss comes from the system directories only', async () => {
    const planted = mkdtempSync(join(dir, 'path-'));
    const marker = join(planted, 'ran');
    writeFileSync(join(planted, 'ss'), `#!/bin/sh\ntouch ${marker}\necho 'ino:1 bytes_received:1'\n`);
    chmodSync(join(planted, 'ss'), 0o755);
    const warnings: string[] = [];
    const c = new ConnectionCollector({ emit() {}, now: () => 0, procRoot: emptyProc(),
      log: { info() {}, warn: (m) => warnings.push(m), error() {} } });
    const saved = process.env.PATH;
    process.env.PATH = `${planted}:${saved}`;
    try {
      await c.sample(); // the default sampler, as the agent runs it
    } finally {
      process.env.PATH = saved;
    }
    expect(existsSync(marker), 'the planted ss ran').toBe(false);
    const ss = systemProgram('ss');
    if (ss) expect(SYSTEM_PROGRAM_DIRS).toContain(join(ss, '..'));
    // Without ss in the system directories the sample fails, saying so; with it, it succeeds silently.
    expect(warnings.join('\n')).toMatch(ss ? /^$/ : /ss not found in \/usr\/sbin, \/usr\/bin, \/sbin, \/bin/);
    expect(systemProgram('ss', [planted, ...SYSTEM_PROGRAM_DIRS])).toBe(join(planted, 'ss'));
    expect(systemProgram('ss', [join(planted, 'ran-not-a-dir')])).toBeUndefined();
  });
});

describe('startKernelEvents', () => {
  const log = { info() {}, warn() {}, error() {} };
  it('falls back, with the reason, when the helper is not built, or exits at once', async () => {
    const none = await startKernelEvents({ onProcess() {}, onConnection() {}, log, helperPath: join(dir, 'missing') });
    expect(none.proc).toMatch(/not built/);
    const failing = join(dir, 'failing.sh');
    writeFileSync(failing, '#!/bin/sh\nexit 3\n');
    chmodSync(failing, 0o755);
    const early = await startKernelEvents({ onProcess() {}, onConnection() {}, log, helperPath: failing });
    expect(early.sock).toMatch(/exited \(3\) before it started/);
  });

  it('hands each line to its collector and reports the sources the helper opened', async () => {
    const fake = join(dir, 'fake.sh');
    writeFileSync(fake, `#!/bin/sh
echo '{"ev":"ready","proc":"ok","sock":"socket-destroy groups bind: Operation not permitted","rt":false}'
echo '{"ev":"exec","pid":5,"ppid":1,"uid":0,"cmd":"a","gone":false}'
echo 'not json'
echo '{"ev":"lost","source":"proc"}'
sleep 5
`);
    chmodSync(fake, 0o755);
    const procs: unknown[] = [];
    const warnings: string[] = [];
    const k = await startKernelEvents({ onProcess: (e) => procs.push(e), onConnection() {},
      log: { info() {}, warn: (m) => warnings.push(m), error() {} }, helperPath: fake });
    stops.push(() => k.stop());
    expect([k.proc, k.sock]).toEqual(['ok', 'socket-destroy groups bind: Operation not permitted']);
    await sleep(300);
    expect(procs).toEqual([{ ev: 'exec', pid: 5, ppid: 1, uid: 0, cmd: 'a', gone: false }]);
    expect(warnings.join('\n')).toMatch(/malformed line: not json[\s\S]*kernel dropped process events/);
  });
});

describe('helper failure', () => {
  it('a helper that stops after it started is logged and the collectors fall back to polling', async () => {
    const fake = join(dir, 'dies.sh');
    // It starts once; restarts (1 s later, then 2 s, …) fail, so the agent keeps polling.
    writeFileSync(fake, `#!/bin/sh\n[ -e "$0.ran" ] && exit 4\ntouch "$0.ran"\necho '{"ev":"ready","proc":"ok","sock":"ok","rt":true}'\nsleep 0.2\nexit 9\n`);
    chmodSync(fake, 0o755);
    const out = new PassThrough();
    let stdout = '';
    out.on('data', (d) => { stdout += d; });
    const lines: string[] = [];
    const ac = new AbortController();
    const done = runAgent({ sink: 'stdout', logLevel: 'debug' }, { stdout: out, stderr: (l) => lines.push(l), signal: ac.signal, helperPath: fake });
    await sleep(1500);
    // A grandchild (children of this process are the agent's own, not reported), seen by polling.
    const tag = `${process.pid}.${Date.now() % 1000}`;
    await new Promise((r) => spawn('/bin/sh', ['-c', `sleep 0.${tag.replace('.', '')}; true`]).on('exit', r));
    ac.abort();
    expect(await done).toBe(0);
    const text = lines.join('');
    expect(text).toMatch(/sources: processes from the kernel's process connector/);
    expect(text).toMatch(/error: kernel event helper exited \(9\): falling back to polling/);
    expect(stdout).toContain(`"CommandLine":"sleep 0.${tag.replace('.', '')}"`);
  });
});

describe('event times', () => {
  it('a record takes its kernel event\'s time, and windows wait for the helper\'s mark: an event read 1.5 s late keeps its time', async () => {
    const fake = join(dir, 'late.sh');
    const tFile = join(dir, 'late-t');
    writeFileSync(fake, `#!/bin/sh
t=$(date +%s%3N)
echo $t > ${tFile}
printf '%s\\n' '{"ev":"ready","proc":"ok","exec":"bpf","sock":"ok","rt":true}' "{\\"ev\\":\\"mark\\",\\"t\\":$t}"
sleep 1.5
echo "{\\"ev\\":\\"exec\\",\\"t\\":$((t+100)),\\"pid\\":77777,\\"ppid\\":1,\\"uid\\":0,\\"cmd\\":\\"late-read\\",\\"exe\\":\\"/usr/bin/true\\",\\"gone\\":false}"
echo "{\\"ev\\":\\"conn\\",\\"t\\":$((t+200)),\\"proto\\":\\"tcp\\",\\"state\\":7,\\"local\\":\\"7f000001\\",\\"lport\\":40999,\\"remote\\":\\"7f000001\\",\\"rport\\":9,\\"bytesIn\\":1,\\"bytesOut\\":2,\\"bytes\\":true}"
echo "{\\"ev\\":\\"mark\\",\\"t\\":$((t+1500))}"
echo '{"ev":"exec","t":253402300799999,"pid":77778,"ppid":1,"uid":0,"cmd":"from-the-future","gone":false}'
echo '{"ev":"exec","t":"soon","pid":77779,"ppid":1,"uid":0,"cmd":"no-time","gone":false}'
sleep 5
`);
    chmodSync(fake, 0o755);
    const out = new PassThrough();
    let stdout = '';
    out.on('data', (d) => { stdout += d; });
    const ac = new AbortController();
    const done = runAgent({ sink: 'stdout', config: join(repoRoot, 'examples/quick.json') },
      { stdout: out, stderr: () => {}, signal: ac.signal, helperPath: fake });
    await sleep(3500);
    ac.abort();
    expect(await done).toBe(0);
    const t = Number(readFileSync(tFile, 'utf8'));
    // The fields this test reads of each record (SPEC: ProcessCreate and ConnectionCreate payloads).
    interface Row { name: string; CommandLine?: string; LocalPort?: number; FirstSeenUTC: string }
    const payloads = stdout.split('\n').filter(Boolean).flatMap((l) => JSON.parse(l).Events)
      .flatMap((e: { Name: string; Payload: Array<Omit<Row, 'name'>> }) => e.Payload.map((p): Row => ({ name: e.Name, ...p })));
    const proc = payloads.filter((p) => p.name === 'ProcessCreate' && p.CommandLine === 'late-read');
    const conn = payloads.filter((p) => p.name === 'ConnectionCreate' && p.LocalPort === 40999);
    expect(proc.map((p) => Date.parse(p.FirstSeenUTC) - t)).toEqual([100]);
    expect(conn.map((p) => Date.parse(p.FirstSeenUTC) - t)).toEqual([200]);
    // A time past now is taken as now, one that is no number as the last input's: the clock stays sane.
    const odd = payloads.filter((p) => p.name === 'ProcessCreate' && /^(from-the-future|no-time)$/.test(p.CommandLine ?? ''))
      .map((p) => [p.CommandLine, Date.parse(p.FirstSeenUTC) - t] as const);
    expect(odd.map(([c, d]) => [c, d >= 1500 && d < 3500])).toEqual([['from-the-future', true], ['no-time', true]]);
  });
});

describe('secrets in log lines', () => {
  it('masks URL passwords in any encoding, SAS keys and signatures, and registered secrets in their encodings', () => {
    expect(maskSecretShapes('connecting to mqtt://user:pa%21ss@broker:1883/ and mqtts://u:p!ss@h')).toBe(
      'connecting to mqtt://user:***@broker:1883/ and mqtts://u:***@h');
    expect(maskSecretShapes('HostName=h;DeviceId=d;SharedAccessKey=YWJj+/=; SharedAccessSignature sr=h%2Fdevices%2Fd&sig=abc%2B%3D&se=1'))
      .toBe('HostName=h;DeviceId=d;SharedAccessKey=***; SharedAccessSignature sr=h%2Fdevices%2Fd&sig=***&se=1');
    const lines: string[] = [];
    const log = new StderrLogger((l) => lines.push(l), () => new Date(Date.UTC(2026, 0, 2, 3, 4, 5)));
    log.redact('pa!ss w/ord');
    log.info('plain pa!ss w/ord, encoded pa%21ss%20w%2Ford, lower pa%21ss%20w%2ford, form pa%21ss+w%2Ford, base64 cGEhc3Mgdy9vcmQ=');
    expect(lines).toEqual(['2026-01-02T03:04:05.000Z microtally info: plain ***, encoded ***, lower ***, form ***, base64 ***\n']);
  });

  it('writes only lines at or above the level set', () => {
    const lines: string[] = [];
    const log = new StderrLogger((l) => lines.push(l));
    log.setLevel('warn');
    log.debug('d'); log.info('i'); log.warn('w'); log.error('e');
    expect(lines.map((l) => l.replace(/^\S+ /, ''))).toEqual(['microtally warn: w\n', 'microtally error: e\n']);
  });

  it('an MQTT sink with a percent-encoded password never logs it', async () => {
    const lines: string[] = [];
    const log = new StderrLogger((l) => lines.push(l));
    const { sink } = createSink({ spec: 'mqtt://user:pa%21ss@127.0.0.1:1', log, mqtt: { backoff: { baseMs: 50, maxMs: 100 } } as never });
    sink.send('{}');
    await sleep(500);
    await sink.close(100);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.join('')).not.toMatch(/pa%21ss|pa!ss/);
  });
});

describe('the connection string', () => {
  const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => runInProcess(argv, { stopAfterMs: 3000, env });
  const key = Buffer.from('a device key for the tests').toString('base64');

  it('is read from --connection-string-file, or the environment; on argv it is warned about; never printed', async () => {
    const file = join(dir, 'cs');
    // A file sink refuses a connection string: the run ends at once with a usage error, after reading it.
    writeFileSync(file, `HostName=h.example;DeviceId=d;SharedAccessKey=${key}\n`, { mode: 0o600 });
    const fromFile = await run(['--connection-string-file', file, '--sink', 'stdout']);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toMatch(/--connection-string sends to IoT Hub over TLS/);
    const fromEnv = await run(['--sink', 'stdout'], { MICROTALLY_CONNECTION_STRING: `HostName=h.example;DeviceId=d;SharedAccessKey=${key}` });
    expect(fromEnv.stderr).toMatch(/--connection-string sends to IoT Hub over TLS/);
    const fromArgv = await run(['--connection-string', `HostName=h.example;DeviceId=d;SharedAccessKey=${key}`, '--sink', 'stdout']);
    expect(fromArgv.stderr).toMatch(/warn: --connection-string puts the device key on the command line/);
    expect(fromFile.stderr).not.toMatch(/puts the device key/);
    for (const r of [fromFile, fromEnv, fromArgv]) expect(r.stderr + r.stdout).not.toContain(key);
  });

  it('exits 2 naming the problem: a missing or empty file, both flags, an unknown level or source', async () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    const cases: Array<[string[], RegExp]> = [
      [['--connection-string-file', join(dir, 'nope')], /--connection-string-file .*nope: ENOENT/],
      [['--connection-string-file', empty], /the file is empty/],
      [['--connection-string-file', empty, '--connection-string', 'x'], /give one/],
      [['--log-level', 'loud'], /--log-level must be one of debug, info, warn, error/],
      [['--source', 'magic'], /--source must be one of auto, kernel, poll/],
    ];
    for (const [argv, why] of cases) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(why);
    }
  });
});
