// The disk outbox's start-up rewrite failing (host/agent/diskoutbox.ts): the file keeps its lost
// records, so they are counted by the start that takes them out, once. The failure is injected
// into node:fs (a full or read-only disk at start; root could mount one, this runs everywhere).

import * as fs from 'node:fs';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

/** The error the next renameSync onto outbox.log throws (then cleared), as a full disk's would. */
const fault: { rename?: NodeJS.ErrnoException } = {};
vi.mock('node:fs', async (original) => {
  const real = await original<typeof import('node:fs')>();
  return {
    ...real,
    renameSync: (from: fs.PathLike, to: fs.PathLike) => {
      const e = fault.rename;
      if (e && String(to).endsWith('outbox.log')) { fault.rename = undefined; throw e; }
      return real.renameSync(from, to);
    },
  };
});

const { DiskOutbox, OUTBOX_FILE, readOutboxFile } = await import('../../host/agent/diskoutbox.js');
const { StderrLogger } = await import('../../host/agent/log.js');
const { createSink } = await import('../../host/agent/sinks/index.js');

const root = mkdtempSync(join(tmpdir(), 'mt-diskoutbox-rewrite-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => { const d = join(root, `d${++dirs}`); mkdirSync(d, { mode: 0o700 }); return d; };
const msg = (i: number) => JSON.stringify({ n: i });
const enospc = () => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });

function open(dir: string) {
  const lines: string[] = [];
  const drops: Array<string | Uint8Array> = [];
  const o = new DiskOutbox({ dir, limits: { maxBytes: 1 << 20, maxMessages: 1000 }, log: new StderrLogger((l) => lines.push(l)), onDrop: (t) => drops.push(t) });
  return { o, lines, drops };
}

/** An outbox file left by a crash: three messages, the third's record torn (a message lost). */
function crashed(dir: string): void {
  const a = open(dir).o;
  for (let i = 0; i < 3; i++) a.push(msg(i));
  const file = join(dir, OUTBOX_FILE);
  const bytes = readFileSync(file);
  writeFileSync(file, bytes.subarray(0, bytes.length - 3));
  rmSync(join(dir, 'outbox.lock'), { force: true }); // its agent is gone
}

describe('the disk outbox when its start-up rewrite fails', () => {
  it('counts nothing then (the file still holds the loss, said in its one line); the next start counts it once', () => {
    const dir = newDir();
    crashed(dir);
    const before = readFileSync(join(dir, OUTBOX_FILE));
    const lines: string[] = [];
    const drops: Array<string | Uint8Array> = [];
    fault.rename = enospc();
    let error = '';
    try {
      new DiskOutbox({ dir, limits: { maxBytes: 1 << 20, maxMessages: 1000 }, log: new StderrLogger((l) => lines.push(l)), onDrop: (t) => drops.push(t) });
    } catch (e) { error = (e as Error).message; }
    expect(drops).toEqual([]);
    expect(error).toBe(`outbox ${join(dir, OUTBOX_FILE)}: cannot write it: ENOSPC (left as it was: its 2 message(s) and 1 lost, counted then, wait for the next start)`);
    expect(lines).toEqual([]);
    expect(readFileSync(join(dir, OUTBOX_FILE))).toEqual(before);
    // The disk has room again: the loss is counted by this start, which takes it out of the file.
    const b = open(dir);
    expect(b.drops).toHaveLength(1);
    expect(b.lines.join('')).toMatch(/torn last record \(\d+ bytes, a write the agent did not finish\) dropped, counted as 1 message lost/);
    expect(b.o.recovered).toEqual({ torn: 1, bad: 0 });
    expect(readOutboxFile(readFileSync(join(dir, OUTBOX_FILE))).torn).toBeUndefined();
    b.o.close();
    // And not again.
    const c = open(dir);
    expect(c.drops).toEqual([]);
    expect(c.o.length).toBe(2);
    c.o.close();
  });

  it('through the MQTT sink: the outbox in memory for that run, the loss reported in a message once, by the run that rewrote the file', async () => {
    const dir = newDir();
    crashed(dir);
    const runs: number[] = [];
    let said = '';
    for (const failing of [true, false, false]) {
      const lines: string[] = [];
      const log = new StderrLogger((l) => lines.push(l));
      let reported = 0;
      if (failing) fault.rename = enospc();
      // A broker that is not there: the messages stay queued; what matters is the losses handed to the core.
      const { sink } = createSink({ spec: 'mqtt://127.0.0.1:1', deviceId: 'd', stateDir: dir, log, env: {},
        onDropped: (n) => { reported += n; }, mqtt: { backoff: { initialMs: 60_000, maxMs: 60_000 } } });
      if (failing) said = lines.join('');
      await sink.close(0);
      runs.push(reported);
    }
    expect(runs).toEqual([0, 1, 0]);
    expect(said).toMatch(/cannot write it: ENOSPC \(left as it was: its 2 message\(s\) and 1 lost, counted then, wait for the next start\): the outbox is kept in memory only/);
  });
});
