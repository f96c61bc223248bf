// Live collectors on this machine: a process and connections the test itself creates.

import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionRecord, ProcessRecord } from '../../host/core.js';
import { ConnectionCollector, readProcFile } from '../../host/agent/collectors/connections.js';
import { parseLastPid, ProcessCollector } from '../../host/agent/collectors/processes.js';
import { readSysinfo } from '../../host/agent/collectors/sysinfo.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
const ip = (a: Uint8Array) => Array.from(a).join('.');

const stops: Array<() => void> = [];
afterEach(() => stops.splice(0).forEach((s) => s()));

/** A stand-in /proc with an empty net/ folder, removed after the test. */
function fakeProc(): string {
  const root = mkdtempSync(join(tmpdir(), 'mt-proc-'));
  stops.push(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'net'));
  return root;
}
const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
/** A /proc/net/tcp row: local → remote (hex address:port), state (01 established, 0A listen). */
const tcpRow = (n: number, local: string, remote: string, state: string, inode: number) =>
  `   ${n}: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0 20 4 30 10 -1\n`;

describe('ProcessCollector', () => {
  it('reports a short-lived process (200 ms) with pid, ppid, uid, command line and exec', async () => {
    const got: ProcessRecord[] = [];
    const c = new ProcessCollector({ emit: (r) => got.push(r), now: Date.now, pollMs: 50 });
    c.start();
    stops.push(() => c.stop());
    const child = spawn('sleep', ['0.2']);
    await new Promise((r) => child.on('exit', r));
    await sleep(100);
    const rec = got.find((r) => r.pid === child.pid);
    expect(rec).toMatchObject({ ppid: process.pid, uid: process.getuid!(), type: 'exec', cmd: 'sleep 0.2' });
    expect(rec!.exe).toMatch(/\/sleep$/);
    if (process.getuid!() === 0) expect(rec!.user).toBe('root');
  });

  it('does not report what was already running, nor kernel threads', async () => {
    const got: ProcessRecord[] = [];
    const c = new ProcessCollector({ emit: (r) => got.push(r), now: Date.now, pollMs: 50 });
    c.start();
    stops.push(() => c.stop());
    await sleep(200);
    expect(got.filter((r) => r.pid === process.pid || r.pid === 1 || r.pid === 2)).toEqual([]);
  });

  it('with the inventory option, reports what was already running, once', async () => {
    const got: ProcessRecord[] = [];
    const c = new ProcessCollector({ emit: (r) => got.push(r), now: Date.now, pollMs: 50, inventory: true });
    c.start();
    stops.push(() => c.stop());
    const self = got.filter((r) => r.pid === process.pid);
    expect(self).toHaveLength(1);
    expect(self[0]).toMatchObject({ ppid: process.ppid, uid: process.getuid!() });
    expect(self[0].cmd).toContain('node');
    expect(got.some((r) => r.pid === 2)).toBe(false); // kernel threads still not
    await sleep(200);
    expect(got.filter((r) => r.pid === process.pid)).toHaveLength(1);
  });

  it('tells a fork (same program, not exec\'d) from an exec', async () => {
    const got: ProcessRecord[] = [];
    const c = new ProcessCollector({ emit: (r) => got.push(r), now: Date.now, pollMs: 25 });
    c.start();
    stops.push(() => c.stop());
    // The subshell is a fork of sh that runs for 0.6 s before exiting; sleep inside it is an exec.
    const script = '( sleep 0.6; echo done >/dev/null ); true';
    const child = spawn('sh', ['-c', script]);
    await new Promise((r) => child.on('exit', r));
    await sleep(60);
    const sh = got.find((r) => r.pid === child.pid);
    expect(sh).toMatchObject({ type: 'exec', cmd: `sh -c ${script}` });
    const sub = got.find((r) => r.ppid === child.pid && r.type === 'fork');
    expect(sub).toMatchObject({ cmd: `sh -c ${script}` });
    expect(got.find((r) => r.ppid === sub!.pid && r.cmd === 'sleep 0.6')).toMatchObject({ type: 'exec' });
  });

  it('skips children of the pid it is told to ignore (the agent\'s own helpers)', async () => {
    const got: ProcessRecord[] = [];
    const c = new ProcessCollector({ emit: (r) => got.push(r), now: Date.now, pollMs: 50, ignoreChildrenOf: process.pid });
    c.start();
    stops.push(() => c.stop());
    const child = spawn('sleep', ['0.3']);
    await new Promise((r) => child.on('exit', r));
    expect(got.filter((r) => r.pid === child.pid)).toEqual([]);
  });
});

describe('ProcessCollector on a fixture /proc', () => {
  it('lists /proc only when /proc/loadavg shows a new pid (or at the safety period)', () => {
    const root = mkdtempSync(join(tmpdir(), 'mt-proc-'));
    stops.push(() => rmSync(root, { recursive: true, force: true }));
    const proc = (pid: number, ppid: number, cmd: string) => {
      mkdirSync(join(root, String(pid)));
      writeFileSync(join(root, String(pid), 'stat'), `${pid} (${cmd.split(' ')[0]}) S ${ppid} 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 ${pid * 10} 0 0`);
      writeFileSync(join(root, String(pid), 'status'), 'Name:\tx\nUid:\t1000\t1000\t1000\t1000\n');
      writeFileSync(join(root, String(pid), 'cmdline'), cmd.split(' ').join('\0') + '\0');
    };
    const loadavg = (last: number) => writeFileSync(join(root, 'loadavg'), `0.00 0.01 0.05 1/99 ${last}\n`);
    proc(1, 0, 'init');
    loadavg(1);
    let now = 0;
    const got: ProcessRecord[] = [];
    const c = new ProcessCollector({ emit: (r) => got.push(r), now: () => now, procRoot: root, passwdPath: join(root, 'passwd') });
    c.start();
    c.stop();
    proc(40, 1, 'cron -f'); // written before loadavg moves: not looked for yet
    now += 50;
    c.poll();
    expect(c.listings).toBe(1);
    loadavg(40);
    now += 50;
    c.poll();
    expect(c.listings).toBe(2);
    expect(got).toEqual([{ t: 100, pid: 40, ppid: 1, uid: 1000, type: 'exec', cmd: 'cron -f' }]);
    now += 5000;
    c.poll();
    expect(c.listings).toBe(3);
    expect(parseLastPid('0.00 0.01 0.05 1/99 4567\n')).toBe(4567);
    expect(parseLastPid('')).toBeUndefined();
  });
});

describe('ConnectionCollector', () => {
  it('reports both ends of a loopback TCP connection, with direction and bytes (ss as slow as on a loaded machine)', async () => {
    const got: ConnectionRecord[] = [];
    // Each byte sample notes the table reads done when it started; it lands 450 ms later, as
    // `ss` can on a loaded machine (a fixed 400 ms pause for it to land lost the race there).
    const samples: Array<{ scansAtStart: number; landed: boolean }> = [];
    const sampleBytes = async (): Promise<string> => {
      const s = { scansAtStart: c.tcpScans, landed: false };
      samples.push(s);
      const out = await new Promise<string>((resolve, reject) =>
        execFile('ss', ['-tinHeO'], (err, stdout) => (err ? reject(err) : resolve(stdout))));
      await sleep(450);
      s.landed = true;
      return out;
    };
    const c = new ConnectionCollector({ emit: (r) => got.push(r), now: Date.now, pollMs: 50, bytesPeriodMs: 100, sampleBytes });
    c.start();
    stops.push(() => c.stop());
    const server = createServer((s) => s.on('data', (d) => s.write(d.subarray(0, 3))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const client: Socket = connect(port, '127.0.0.1');
    await new Promise((r) => client.on('connect', r));
    const lport = client.localPort!;
    client.write('hello, collector');
    await new Promise((r) => client.once('data', r));
    // Open until a sample taken after a table read that followed the exchange (both ends tracked,
    // their bytes counted) has been applied.
    const scansAfterExchange = c.tcpScans;
    await until('a byte sample of the open connection', () => samples.some((x) => x.landed && x.scansAtStart > scansAfterExchange));
    client.end();
    await new Promise((r) => client.on('close', r));
    await new Promise<void>((r) => server.close(() => r()));
    await until('both ends reported', () => got.filter((r) => r.lport === port || r.lport === lport).length >= 2);
    const out = got.find((r) => r.lport === lport && r.rport === port)!;
    const inn = got.find((r) => r.lport === port && r.rport === lport)!;
    expect(out).toMatchObject({ proto: 'tcp', dir: 'out', bytesOut: 16, bytesIn: 3 });
    expect(inn).toMatchObject({ proto: 'tcp', dir: 'in', bytesIn: 16, bytesOut: 3 });
    expect(ip(out.local)).toBe('127.0.0.1');
    expect(ip(out.remote)).toBe('127.0.0.1');
    expect(got.filter((r) => r.lport === lport)).toHaveLength(1); // reported once
  });

  it('reports a connected UDP socket as outgoing', async () => {
    const got: ConnectionRecord[] = [];
    const c = new ConnectionCollector({ emit: (r) => got.push(r), now: Date.now, pollMs: 50 });
    c.start();
    stops.push(() => c.stop());
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.connect(9, '127.0.0.1', () => r()));
    const lport = sock.address().port;
    await sleep(200);
    await new Promise<void>((r) => sock.close(() => r()));
    await until('UDP socket reported', () => got.some((r) => r.lport === lport));
    expect(got.find((r) => r.lport === lport)).toMatchObject({ proto: 'udp', dir: 'out', rport: 9 });
  });

  it('reports a long-lived connection after reportAfterMs, and open ones on flush', async () => {
    const root = fakeProc();
    const line = (n: number, lport: string, inode: number) => tcpRow(n, `0100007F:${lport}`, '0100007F:0050', '01', inode);
    const write = (body: string) => writeFileSync(join(root, 'net/tcp'), TCP_HEADER + body);
    let now = 1000;
    const got: ConnectionRecord[] = [];
    const c = new ConnectionCollector({
      emit: (r) => got.push(r), now: () => now, procRoot: root, reportAfterMs: 5000, bytesPeriodMs: 0,
      sampleBytes: async () => 'ESTAB 0 0 x y ino:11 bytes_sent:7 bytes_received:5\nESTAB 0 0 x y ino:12 bytes_sent:1 bytes_received:2\n',
    });
    write(line(0, 'C000', 10));
    c.start(); // inode 10 was there before: never reported
    write(line(0, 'C000', 10) + line(1, 'C001', 11) + line(2, 'C002', 12));
    c.poll();
    await c.sample();
    expect(got).toEqual([]);
    now += 5000;
    c.poll();
    expect(got.map((r) => [r.lport, r.bytesOut, r.bytesIn, r.dir, r.t])).toEqual([[0xc001, 7, 5, 'out', 6000], [0xc002, 1, 2, 'out', 6000]]);
    write(line(1, 'C001', 11) + line(3, 'C003', 13));
    now += 10;
    c.poll(); // 11 already reported; 12 closed (reported before); 13 new
    c.flush();
    expect(got.map((r) => r.lport)).toEqual([0xc001, 0xc002, 0xc003]);
  });
});

describe('ConnectionCollector inventory', () => {
  it('with the inventory option, reports connections open at start (here at flush)', () => {
    const root = fakeProc();
    writeFileSync(join(root, 'net/tcp'), TCP_HEADER +
      tcpRow(0, '0100007F:C000', '0100007F:0050', '01', 10) + tcpRow(1, '00000000:0016', '00000000:0000', '0A', 20));
    const got: ConnectionRecord[] = [];
    const c = new ConnectionCollector({ emit: (r) => got.push(r), now: () => 1000, procRoot: root, inventory: true,
      sampleBytes: async () => '' });
    c.start();
    c.poll();
    expect(got).toEqual([]); // open and young: reported when it closes, ages, or at flush
    c.flush();
    expect(got.map((r) => [r.lport, r.rport, r.dir])).toEqual([[0xc000, 80, 'out']]); // the listener itself is not a connection
  });
});

describe('TCP table reads', () => {
  it('re-reads the TCP tables only when the TCP counters move (or at the safety period)', () => {
    const root = fakeProc();
    const line = (lport: string, inode: number) => tcpRow(0, `0100007F:${lport}`, '0100007F:0050', '01', inode);
    const snmp = (opens: number) => writeFileSync(join(root, 'net/snmp'),
      `Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab\nTcp: 1 200 120000 -1 ${opens} 0 0 0 1\n`);
    let now = 0;
    const got: ConnectionRecord[] = [];
    const c = new ConnectionCollector({ emit: (r) => got.push(r), now: () => now, procRoot: root, sampleBytes: async () => '' });
    writeFileSync(join(root, 'net/tcp'), TCP_HEADER);
    snmp(1);
    c.start();
    writeFileSync(join(root, 'net/tcp'), TCP_HEADER + line('C001', 21));
    now += 100;
    c.poll(); // counters unchanged: the table is not read, nothing is seen yet
    expect(c.tcpScans).toBe(1);
    snmp(2);
    now += 100;
    c.poll();
    expect(c.tcpScans).toBe(2);
    writeFileSync(join(root, 'net/tcp'), TCP_HEADER);
    now += 100;
    c.poll(); // an unreported connection is open: its close is looked for every 500 ms
    expect(c.tcpScans).toBe(2);
    now += 500;
    c.poll();
    expect(c.tcpScans).toBe(3);
    expect(got.map((r) => r.lport)).toEqual([0xc001]);
    now += 5000;
    c.poll(); // the safety re-read
    expect(c.tcpScans).toBe(4);
    c.stop();
  });

  it('re-reads the UDP tables when the UDP socket counts move', () => {
    const root = mkdtempSync(join(tmpdir(), 'mt-proc-'));
    stops.push(() => rmSync(root, { recursive: true, force: true }));
    mkdirSync(join(root, 'net'));
    const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n';
    const sockstat = (n: number) => writeFileSync(join(root, 'net/sockstat'), `sockets: used 3\nTCP: inuse 0\nUDP: inuse ${n} mem 0\n`);
    let now = 0;
    const got: ConnectionRecord[] = [];
    const c = new ConnectionCollector({ emit: (r) => got.push(r), now: () => now, procRoot: root });
    writeFileSync(join(root, 'net/udp'), header);
    sockstat(0);
    c.start();
    writeFileSync(join(root, 'net/udp'), `${header}  1: 0100007F:E0F0 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 77 2 0 0\n`);
    now += 100;
    c.poll();
    expect(c.udpScans).toBe(1);
    sockstat(1);
    now += 100;
    c.poll();
    expect(c.udpScans).toBe(2);
    writeFileSync(join(root, 'net/udp'), header);
    sockstat(0);
    now += 100;
    c.poll();
    expect(got.map((r) => [r.proto, r.dir, r.rport])).toEqual([['udp', 'out', 53]]);
    c.stop();
  });

  it('reads a /proc-style file of any size completely', () => {
    const root = mkdtempSync(join(tmpdir(), 'mt-proc-'));
    stops.push(() => rmSync(root, { recursive: true, force: true }));
    const big = 'x'.repeat(700_000) + '\nend\n';
    writeFileSync(join(root, 'big'), big);
    expect(readProcFile(join(root, 'big'))).toBe(big);
    expect(readProcFile('/proc/net/tcp')).toMatch(/^\s*sl\s+local_address/);
  });
});

describe('readSysinfo', () => {
  it('describes this machine', () => {
    const s = readSysinfo(7);
    expect(s.t).toBe(7);
    expect(s.os.length).toBeGreaterThan(0);
    expect(s.kernel).toMatch(/^\d+\.\d+/);
    expect(s.memTotal).toBeGreaterThan(0);
    expect(s.hw.length).toBeGreaterThan(0);
  });
});
