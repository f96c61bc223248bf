// The disk outbox (host/agent/diskoutbox.ts) on its own: what a restart finds in the file after a
// crash, a torn last record, corrupted records, the size limit, and a disk that is full.

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DiskOutbox, OUTBOX_FILE, OUTBOX_LOCK, readOutboxFile, recordSize } from '../../host/agent/diskoutbox.js';
import { createSink } from '../../host/agent/sinks/index.js';
import { StderrLogger } from '../../host/agent/log.js';
import type { OutboxLimits } from '../../host/agent/outbox.js';

const root = mkdtempSync(join(tmpdir(), 'mt-diskoutbox-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => { const d = join(root, `d${++dirs}`); mkdirSync(d, { mode: 0o700 }); return d; };
const turn = () => new Promise((r) => setImmediate(r));

/** An outbox on `dir` with its log lines and the losses it reported. */
function open(dir: string, limits: OutboxLimits = { maxBytes: 1 << 20, maxMessages: 1000 }) {
  const lines: string[] = [];
  const drops: Array<string | Uint8Array> = [];
  const o = new DiskOutbox({ dir, limits, log: new StderrLogger((l) => lines.push(l)), onDrop: (t) => drops.push(t) });
  return { o, lines, drops };
}

const texts = (o: DiskOutbox) => { const out: Array<string | Uint8Array> = []; for (let e = o.nextUnsent(); e; e = o.nextUnsent()) { out.push(e.text); e.inFlight = true; } o.requeueInFlight(); return out; };
const msg = (i: number, pad = 0) => JSON.stringify({ n: i, pad: 'x'.repeat(pad) });

/** A process's boot id and start time, read here as the lock records them (proc(5): stat field 22). */
function stampOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
}

describe('DiskOutbox', () => {
  it('keeps what was not acknowledged across a crash (no close), in order, and continues the ids', async () => {
    const dir = newDir();
    const a = open(dir).o;
    for (let i = 0; i < 5; i++) a.push(msg(i));
    a.push(new Uint8Array([0xbf, 1, 2, 0xff]));
    const first = a.nextUnsent()!;
    first.inFlight = true;
    a.ack(first.id);
    await turn(); // the done record is written in the next turn
    // A crash: the file is read by a new outbox while the old one never closed.
    const b = open(dir);
    expect(texts(b.o)).toEqual([msg(1), msg(2), msg(3), msg(4), new Uint8Array([0xbf, 1, 2, 0xff])]);
    expect(b.drops).toEqual([]);
    expect(b.lines.join('')).toMatch(/5 message\(s\) \(\d+ bytes\) from before the restart, sent first/);
    b.o.push(msg(9));
    const ids: number[] = [];
    for (let e = b.o.nextUnsent(); e; e = b.o.nextUnsent()) { ids.push(e.id); e.inFlight = true; }
    expect(ids).toEqual([2, 3, 4, 5, 6, 7]);
    expect(statSync(join(dir, OUTBOX_FILE)).mode & 0o777).toBe(0o600);
  });

  it('an acknowledgement not yet written is the duplicate window: the message comes back after a crash', () => {
    const dir = newDir();
    const a = open(dir).o;
    a.push(msg(1));
    a.push(msg(2));
    const e = a.nextUnsent()!;
    e.inFlight = true;
    a.ack(e.id); // PUBACK received; the done record waits for the next turn, and the process dies first
    expect(texts(open(dir).o)).toEqual([msg(1), msg(2)]);
  });

  it('cuts the file to nothing once every message is delivered, and writes nothing for them', async () => {
    const dir = newDir();
    const { o } = open(dir);
    for (let i = 0; i < 3; i++) o.push(msg(i));
    expect(statSync(join(dir, OUTBOX_FILE)).size).toBe(3 * recordSize(msg(0).length));
    for (let e = o.nextUnsent(); e; e = o.nextUnsent()) { e.inFlight = true; o.ack(e.id); }
    await turn();
    expect(statSync(join(dir, OUTBOX_FILE)).size).toBe(0);
    expect(o.close()).toBe(0);
  });

  it('drops a torn last record on start, says so in one line and counts it once', () => {
    const dir = newDir();
    const a = open(dir).o;
    for (let i = 0; i < 3; i++) a.push(msg(i));
    const path = join(dir, OUTBOX_FILE);
    const full = readFileSync(path);
    writeFileSync(path, full.subarray(0, full.length - 7)); // the last write cut short
    const b = open(dir);
    expect(texts(b.o)).toEqual([msg(0), msg(1)]);
    expect(b.drops).toHaveLength(1);
    const warned = b.lines.filter((l) => l.includes('warn:'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/outbox .*outbox\.log: torn last record \(\d+ bytes, a write the agent did not finish\) dropped, counted as 1 message lost/);
    expect(b.o.recovered.torn).toBe(1);
    // Rewritten at once: the next start finds the two good records and counts nothing again.
    const c = open(dir);
    expect(texts(c.o)).toEqual([msg(0), msg(1)]);
    expect(c.drops).toHaveLength(0);
    expect(c.lines.join('')).not.toMatch(/torn|corrupted/);
  });

  it('a header cut short is torn too', () => {
    const dir = newDir();
    const a = open(dir).o;
    a.push(msg(0));
    a.push(msg(1));
    const path = join(dir, OUTBOX_FILE);
    const full = readFileSync(path);
    writeFileSync(path, full.subarray(0, recordSize(msg(0).length) + 10));
    const b = open(dir);
    expect(texts(b.o)).toEqual([msg(0)]);
    expect(b.drops).toHaveLength(1);
  });

  it('skips corrupted records (a payload byte, a header byte), keeps every good one, says so in one line, counts the bad', () => {
    const dir = newDir();
    const a = open(dir).o;
    for (let i = 0; i < 6; i++) a.push(msg(i, 20));
    const path = join(dir, OUTBOX_FILE);
    const buf = readFileSync(path);
    const size = recordSize(msg(0, 20).length);
    buf[1 * size + 30] ^= 0x20; // record 1: a payload byte
    buf[3 * size + 9] ^= 0x01; // record 3: a header byte (its id)
    writeFileSync(path, buf);
    const b = open(dir);
    expect(texts(b.o)).toEqual([msg(0, 20), msg(2, 20), msg(4, 20), msg(5, 20)]);
    expect(b.drops).toHaveLength(2);
    const warned = b.lines.filter((l) => l.includes('warn:'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(new RegExp(`2 corrupted record\\(s\\) \\(${2 * size} bytes\\) skipped, 2 counted as messages lost; 4 good message\\(s\\) kept`));
    expect(readOutboxFile(readFileSync(path)).bad.records).toBe(0); // rewritten without them
  });

  it('a file of garbage: one line, nothing kept, the agent goes on with an empty outbox', () => {
    const dir = newDir();
    writeFileSync(join(dir, OUTBOX_FILE), Buffer.alloc(300, 0x41));
    const b = open(dir);
    expect(b.o.length).toBe(0);
    expect(b.lines.filter((l) => l.includes('warn:'))).toHaveLength(1);
    expect(b.lines.join('')).toMatch(/1 corrupted record\(s\) \(300 bytes\) skipped/);
    b.o.push(msg(1));
    expect(texts(open(dir).o)).toEqual([msg(1)]);
  });

  it('when full, drops the oldest (each counted, never one in flight), keeps the file under its limit and the newest in order', () => {
    const dir = newDir();
    const limits = { maxBytes: 8192, maxMessages: 1000 };
    const { o, drops, lines } = open(dir, limits);
    const size = recordSize(msg(0, 400).length);
    o.nextUnsent(); // nothing yet
    o.push(msg(0, 400));
    o.nextUnsent()!.inFlight = true; // in flight when the outbox fills: kept
    let dropped = 0;
    for (let i = 1; i < 60; i++) {
      dropped += o.push(msg(i, 400));
      expect(statSync(join(dir, OUTBOX_FILE)).size).toBeLessThanOrEqual(limits.maxBytes);
    }
    expect(dropped).toBe(drops.length);
    expect(dropped).toBeGreaterThan(40);
    expect(o.length + dropped).toBe(60);
    o.requeueInFlight(); // the connection dropped: the one in flight is first again
    const kept = texts(o);
    expect(kept[0]).toBe(msg(0, 400));
    const ns = kept.slice(1).map((t) => JSON.parse(t as string).n);
    expect(ns).toEqual(Array.from({ length: ns.length }, (_, i) => 60 - ns.length + i)); // the newest, in order
    expect(o.length * size).toBeLessThanOrEqual(limits.maxBytes);
    expect(lines.join('')).not.toMatch(/error/);
    // What a restart finds is what is queued now.
    expect(texts(open(dir, limits).o)).toEqual(kept);
  });

  it('a disk that is full: keeps going in memory, says so once, counts what the disk did not keep, and goes back to disk once empty', (ctx) => {
    const dir = newDir();
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
    } catch (e) {
      console.log(`skipped: a full disk needs root to mount a 16 KiB tmpfs (${(e as Error).message.split('\n')[0]})`);
      ctx.skip();
    }
    try {
      const { o, lines, drops } = open(dir, { maxBytes: 1 << 20, maxMessages: 1000 });
      for (let i = 0; i < 80; i++) o.push(msg(i, 400)); // ~35 KiB: more than the disk holds
      expect(o.length).toBe(80); // nothing dropped: in memory
      expect(drops).toHaveLength(0);
      expect(o.notOnDisk).toBeGreaterThan(0);
      expect(o.durable + o.notOnDisk).toBe(80);
      const warned = lines.filter((l) => l.includes('warn:'));
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatch(/outbox .*: ENOSPC: keeping new messages in memory until the outbox is empty/);
      // The disk holds exactly the messages it accepted, whole.
      const onDisk = readOutboxFile(readFileSync(join(dir, OUTBOX_FILE)));
      expect(onDisk.waiting).toHaveLength(o.durable);
      expect(onDisk.torn).toBeUndefined();
      console.log(`full disk: ${o.durable} message(s) on the 16 KiB disk, ${o.notOnDisk} in memory only`);
      const all = texts(o);
      expect(all.map((t) => JSON.parse(t as string).n)).toEqual(Array.from({ length: 80 }, (_, i) => i));
      for (let e = o.nextUnsent(); e; e = o.nextUnsent()) { e.inFlight = true; o.ack(e.id); }
      expect(lines.join('')).toMatch(/writing to the disk again \(\d+ message\(s\) so far were kept in memory only\)/);
      o.push(msg(100));
      expect(readOutboxFile(readFileSync(join(dir, OUTBOX_FILE))).waiting).toHaveLength(1);
      o.close();
    } finally {
      execFileSync('umount', [dir]);
    }
  });

  it('one agent per outbox: the lock of a live agent keeps a second one in memory (one line); a killed agent\'s lock is taken over', async () => {
    const dir = newDir();
    const first = open(dir).o;
    first.push(msg(1));
    first.close();
    writeFileSync(join(dir, OUTBOX_LOCK), `${process.ppid}\n`); // a live process: the test runner
    expect(() => open(dir)).toThrow(new RegExp(`outbox .*outbox\\.log: in use by another agent \\(pid ${process.ppid}, `));
    const lines: string[] = [];
    const { sink, mqtt } = createSink({ spec: 'mqtt://127.0.0.1:1', deviceId: 'lock-test', stateDir: dir, log: new StderrLogger((l) => lines.push(l)), env: {} });
    expect(mqtt!.outbox).not.toBeInstanceOf(DiskOutbox);
    expect(lines.filter((l) => l.includes('warn:') && l.includes('in use by another agent'))).toHaveLength(1);
    expect(lines.join('')).toMatch(/in use by another agent .*: the outbox is kept in memory only/);
    await sink.close(0);
    expect(readOutboxFile(readFileSync(join(dir, OUTBOX_FILE))).waiting).toHaveLength(1); // left alone
    const dead = spawnSync('true').pid!;
    writeFileSync(join(dir, OUTBOX_LOCK), `${dead}\n`);
    const taken = open(dir);
    expect(texts(taken.o)).toEqual([msg(1)]);
    expect(readFileSync(join(dir, OUTBOX_LOCK), 'utf8')).toBe(`${process.pid} ${stampOf(process.pid)}\n`);
    taken.o.close();
    expect(() => statSync(join(dir, OUTBOX_LOCK))).toThrow(/ENOENT/);
  });
  it('files found with a wider mode (outbox.log, a leftover outbox.log.tmp) are made 0600: the messages are the machine\'s activity', () => {
    const dir = newDir();
    writeFileSync(join(dir, OUTBOX_FILE), '');
    chmodSync(join(dir, OUTBOX_FILE), 0o644);
    const a = open(dir).o;
    a.push(msg(1));
    expect(statSync(join(dir, OUTBOX_FILE)).mode & 0o777).toBe(0o600);
    a.close();
    chmodSync(join(dir, OUTBOX_FILE), 0o644);
    writeFileSync(join(dir, `${OUTBOX_FILE}.tmp`), 'left by a crash in a compaction');
    chmodSync(join(dir, `${OUTBOX_FILE}.tmp`), 0o644);
    const b = open(dir); // rewrites the file through outbox.log.tmp
    expect(texts(b.o)).toEqual([msg(1)]);
    expect(statSync(join(dir, OUTBOX_FILE)).mode & 0o777).toBe(0o600);
    b.o.close();
  });

  it('a --state-dir that is a file, or under one: one line saying it is not a directory', () => {
    const file = join(newDir(), 'a-file');
    writeFileSync(file, '');
    const log = new StderrLogger(() => {});
    expect(() => createSink({ spec: 'mqtt://127.0.0.1:1', deviceId: 'file-test', stateDir: file, log, env: {} }))
      .toThrow(new RegExp(`^--state-dir: state directory ${file}: not a directory$`));
    expect(() => createSink({ spec: 'mqtt://127.0.0.1:1', deviceId: 'file-test', stateDir: join(file, 'state'), log, env: {} }))
      .toThrow(new RegExp(`^--state-dir: state directory ${join(file, 'state')}: not a directory \\(a file in its path\\)$`));
  });

  it('a state directory another user owns is refused (its owner could plant links or a dps.json): one line', (ctx) => {
    const dir = newDir();
    try {
      chownSync(dir, 65534, 65534);
    } catch (e) {
      console.log(`skipped: giving a directory to another user needs root (${(e as Error).message.split('\n')[0]})`);
      ctx.skip();
    }
    const log = new StderrLogger(() => {});
    expect(() => createSink({ spec: 'mqtt://127.0.0.1:1', deviceId: 'owner-test', stateDir: dir, log, env: {} }))
      .toThrow(new RegExp(`^--state-dir: state directory ${dir}: owned by uid 65534, not by the agent's user \\(uid ${process.getuid!()}\\)$`));
  });
  it('a message whose record alone passes the limit is refused and counted; the file stays under it and nothing else is dropped', () => {
    const dir = newDir();
    const limits = { maxBytes: 4096, maxMessages: 100 };
    const { o, drops } = open(dir, limits);
    o.push(msg(1));
    const big = 'x'.repeat(limits.maxBytes - recordSize(0) + 1); // within maxBytes as a payload, over it as a record
    expect(o.push(big)).toBe(1);
    expect(drops).toEqual([big]);
    expect(texts(o)).toEqual([msg(1)]);
    expect(statSync(join(dir, OUTBOX_FILE)).size).toBeLessThanOrEqual(limits.maxBytes);
    const fits = 'y'.repeat(limits.maxBytes - recordSize(0) - recordSize(Buffer.byteLength(msg(1))));
    expect(o.push(fits)).toBe(0); // the largest that fits beside the first: both kept
    expect(texts(o)).toEqual([msg(1), fits]);
    expect(statSync(join(dir, OUTBOX_FILE)).size).toBe(limits.maxBytes);
    o.close();
  });
  it('two agents taking over the same dead agent\'s lock: the one that comes second sees the first\'s lock and leaves it alone', () => {
    const dir = newDir();
    const lock = join(dir, OUTBOX_LOCK);
    const dead = spawnSync('true').pid!;
    writeFileSync(lock, `${dead}\n`);
    const other = process.ppid; // the first agent: alive
    const realKill = process.kill.bind(process);
    // While this agent checks the dead pid, the first agent takes the lock over (its pid written).
    const kill = vi.spyOn(process, 'kill').mockImplementation((pid: number, signal?: string | number) => {
      if (pid === dead) {
        rmSync(lock);
        writeFileSync(lock, `${other}\n`);
        throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
      }
      return realKill(pid, signal);
    });
    try {
      expect(() => open(dir)).toThrow(new RegExp(`in use by another agent \\(pid ${other}, `));
    } finally {
      kill.mockRestore();
    }
    expect(readFileSync(lock, 'utf8')).toBe(`${other}\n`); // the first agent still holds it
    expect(readdirSync(dir).sort()).toEqual([OUTBOX_LOCK]); // nothing left aside
  });
  it('a lock whose pid is alive but is another process (after a reboot, or reused) is taken over; the live agent\'s is not', () => {
    const dir = newDir();
    const lock = join(dir, OUTBOX_LOCK);
    const live = process.ppid; // some live process, standing for one that got the dead agent's pid
    const [boot, start] = stampOf(live).split(' ');
    const otherBoot = boot.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    for (const held of [`${live} ${otherBoot} ${start}`, `${live} ${boot} ${Number(start) + 1}`]) {
      writeFileSync(lock, `${held}\n`);
      const taken = open(dir);
      expect(readFileSync(lock, 'utf8')).toBe(`${process.pid} ${stampOf(process.pid)}\n`);
      taken.o.close();
    }
    writeFileSync(lock, `${live} ${boot} ${start}\n`); // that very process: an agent alive
    expect(() => open(dir)).toThrow(new RegExp(`in use by another agent \\(pid ${live}, `));
  });
  it('a compaction cut short by a crash: its outbox.log.tmp (a copy of messages) is removed at the next start, outbox.log kept', () => {
    const dir = newDir();
    writeFileSync(join(dir, OUTBOX_FILE), '');
    writeFileSync(join(dir, `${OUTBOX_FILE}.tmp`), 'half a compaction: message copies', { mode: 0o600 });
    const a = open(dir);
    expect(readdirSync(dir).sort()).toEqual([OUTBOX_LOCK, OUTBOX_FILE].sort());
    a.o.close();
  });
});
