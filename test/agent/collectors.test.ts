// Live collectors on this machine: a process and connections the test itself creates.

import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionRecord, ProcessRecord } from '../../host/core.js';
import { ConnectionCollector } from '../../host/agent/collectors/connections.js';
import { ProcessCollector } from '../../host/agent/collectors/processes.js';
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

describe('ConnectionCollector', () => {
  it('reports both ends of a loopback TCP connection, with direction and bytes', async () => {
    const got: ConnectionRecord[] = [];
    const c = new ConnectionCollector({ emit: (r) => got.push(r), now: Date.now, pollMs: 50, bytesPeriodMs: 100 });
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
    await sleep(400); // lets a byte sample land while the connection is open
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
    const root = mkdtempSync(join(tmpdir(), 'mt-proc-'));
    stops.push(() => rmSync(root, { recursive: true, force: true }));
    mkdirSync(join(root, 'net'));
    const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
    const line = (n: number, lport: string, inode: number) =>
      `   ${n}: 0100007F:${lport} 0100007F:0050 01 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0 20 4 30 10 -1\n`;
    const write = (body: string) => writeFileSync(join(root, 'net/tcp'), header + body);
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
