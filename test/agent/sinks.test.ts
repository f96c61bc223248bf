// The stdout and file sinks: bounded (a reader that stops gets at most STDOUT_PENDING_BYTES
// waiting; the rest is dropped and counted), loud (one line when loss starts, the total when it
// ends), and the file sink safe in a shared folder (0600, no symbolic link followed, a file of
// another user refused).

import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger, StderrLogger } from '../../host/agent/log.js';
import { Core } from '../../host/core.js';
import { conn, T0 } from '../helpers.js';
import { createSink, RefusedError } from '../../host/agent/sinks/index.js';
import { FileSink } from '../../host/agent/sinks/file.js';
import { StreamSink, STDOUT_PENDING_BYTES } from '../../host/agent/sinks/stdout.js';

const dir = mkdtempSync(join(tmpdir(), 'mt-sinks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function logger(): { log: StderrLogger; lines: string[] } {
  const lines: string[] = [];
  return { log: new StderrLogger((l) => lines.push(l.replace(/^\S+ microtally /, '').trimEnd())), lines };
}

/** A reader that takes nothing until `resume()`: every write waits in the stream. */
function stoppedReader(): { out: Writable; resume(): void; got: number } {
  const waiting: Array<() => void> = [];
  let stopped = true;
  const r = {
    got: 0,
    out: new Writable({
      highWaterMark: 16 * 1024,
      write: (chunk: Buffer, _enc, cb) => {
        r.got++;
        if (stopped) waiting.push(cb); else cb();
      },
    }),
    resume: () => { stopped = false; for (const cb of waiting.splice(0)) cb(); },
  };
  return r;
}

describe('stdout sink', () => {
  it(`holds at most its cap (${STDOUT_PENDING_BYTES} bytes by default) behind a reader that stops; the rest is dropped, counted, said once`, async () => {
    const { log, lines } = logger();
    const reader = stoppedReader();
    const cap = 64 * 1024;
    const sink = new StreamSink(reader.out, log, cap);
    const message = `{"pad":"${'x'.repeat(1000)}"}`; // 1,011 bytes with its newline
    for (let i = 0; i < 1000; i++) sink.send(message);
    const kept = Math.floor(cap / (message.length + 1));
    expect(reader.out.writableLength).toBeLessThanOrEqual(cap);
    expect(sink.dropped).toBe(1000 - kept);
    expect(lines).toEqual([`warn: stdout: its reader is not keeping up (${kept * (message.length + 1)} bytes wait, at most ${cap}): new messages are dropped until it catches up (counted)`]);
    reader.resume();
    await new Promise((r) => setImmediate(r));
    sink.send(message);
    expect(lines[1]).toBe(`warn: stdout: its reader caught up; ${1000 - kept} message(s) were dropped meanwhile`);
    expect(await sink.close(1000)).toBe(1000 - kept);
    expect(reader.got).toBe(kept + 1);
    expect(lines[2]).toBe(`error: stdout: ${1000 - kept} message(s) lost in all (dropped or not written)`);
  });

  it('says once when its reader goes away (EPIPE, a real pipe), and counts every message lost after', async () => {
    const script = `
      import { StreamSink } from ${JSON.stringify(fileURLToPath(new URL('../../host/agent/sinks/stdout.ts', import.meta.url)))};
      import { StderrLogger } from ${JSON.stringify(fileURLToPath(new URL('../../host/agent/log.ts', import.meta.url)))};
      const sink = new StreamSink(process.stdout, new StderrLogger());
      let n = 0;
      const t = setInterval(async () => {
        for (let i = 0; i < 50; i++) sink.send('{"n":' + n++ + '}');
        if (n >= 5000) { clearInterval(t); const lost = await sink.close(1000); process.stderr.write('sent ' + n + ' lost ' + lost + ' dropped ' + sink.dropped + '\\n'); }
      }, 2);`;
    const child = spawn(process.execPath, ['--import', fileURLToPath(new URL('./helpers/register-ts.mjs', import.meta.url)), '--input-type=module', '-e', script],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    await new Promise((r) => child.stdout!.once('data', r));
    child.stdout!.destroy(); // the reader goes away
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    expect(stderr.match(/ error: stdout: .*: its reader went away; messages are lost from now on \(counted\)/g)).toHaveLength(1);
    const [, sent, lost, dropped] = /sent (\d+) lost (\d+) dropped (\d+)/.exec(stderr)!.map(Number);
    expect(sent).toBe(5000);
    expect(lost).toBe(dropped);
    expect(lost).toBeGreaterThan(4000); // at most a pipe's worth (64 KiB, ~4,000 short lines) got out before
    expect(stderr).toContain(`error: stdout: ${lost} message(s) lost in all (dropped or not written)`);
  }, 30_000);
});

describe('file sink', () => {
  it('creates its file 0600 whatever the umask', async () => {
    const path = join(dir, 'new.jsonl');
    const old = process.umask(0);
    try {
      const sink = new FileSink(path, logger().log);
      sink.send('{"a":1}');
      expect(await sink.close()).toBe(0);
    } finally {
      process.umask(old);
    }
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe('{"a":1}\n');
  });

  it('refuses a symbolic link planted where its file goes, in one line, and writes nothing through it', () => {
    const target = join(dir, 'victim');
    writeFileSync(target, 'untouched\n');
    const link = join(dir, 'planted.jsonl');
    symlinkSync(target, link);
    const { log } = logger();
    expect(() => createSink({ spec: `file:${link}`, log })).toThrow(RefusedError);
    expect(() => createSink({ spec: `file:${link}`, log })).toThrow(new RegExp(`^--sink file:${link}: is a symbolic link: refused \\(the file sink never follows one\\)$`));
    expect(readFileSync(target, 'utf8')).toBe('untouched\n');
    const dangling = join(dir, 'dangling.jsonl');
    symlinkSync(join(dir, 'would-be-created'), dangling);
    expect(() => createSink({ spec: `file:${dangling}`, log })).toThrow(/is a symbolic link: refused/);
    expect(existsSync(join(dir, 'would-be-created'))).toBe(false);
  });

  it.skipIf(process.geteuid?.() !== 0)('refuses a file that belongs to another user, in one line (needs root to make one)', () => {
    const path = join(dir, 'others.jsonl');
    writeFileSync(path, '');
    chownSync(path, 65534, 65534);
    expect(() => createSink({ spec: `file:${path}`, log: logger().log }))
      .toThrow(new RegExp(`^--sink file:${path}: belongs to uid 65534, not to the agent's user \\(uid 0\\): refused$`));
  });

  it('takes /dev/null, refuses a FIFO without blocking on it', () => {
    expect(() => new FileSink('/dev/null', logger().log)).not.toThrow();
    const fifo = join(dir, 'fifo');
    const r = spawn('mkfifo', [fifo]);
    return new Promise<void>((resolve) => r.on('exit', () => {
      expect(() => new FileSink(fifo, logger().log)).toThrow(/ENXIO|is not a regular file/);
      resolve();
    }));
  });

  it('the agent refuses such a sink with one line and exit 2 (no usage text)', async () => {
    const { runAgent } = await import('../../host/agent/run.js');
    const link = join(dir, 'planted2.jsonl');
    symlinkSync(join(dir, 'victim2'), link);
    const lines: string[] = [];
    const code = await runAgent(['--sink', `file:${link}`], { stderr: (l) => lines.push(l), env: {} });
    expect(code).toBe(2);
    expect(lines.map((l) => l.replace(/^\S+ /, ''))).toEqual([`microtally error: --sink file:${link}: is a symbolic link: refused (the file sink never follows one)\n`]);
  });
});

describe('a loss of the stdout or file sink reaches a message', () => {
  const T = T0;
  const line = (t: number, port: number) => conn(t, { rport: port });

  it('messages dropped behind a stopped stdout reader: the next message delivered carries transport Dropped N', async () => {
    const core = new Core('rtos');
    const reader = stoppedReader();
    const sink = new StreamSink(reader.out, silentLogger, 4096, (n) => expect(core.reportLoss('transport', n)).toBeUndefined());
    // One message per window (rtos network windows default to 10 s): the reader takes none.
    for (let w = 0; w < 12; w++) {
      core.ingestLine(line(T + w * 10_000, 1000 + w)).messages.forEach((m) => sink.send(m));
      core.tick(T + w * 10_000 + 9_999).messages.forEach((m) => sink.send(m));
    }
    expect(sink.dropped).toBeGreaterThan(0);
    const lost = sink.dropped;
    reader.resume();
    await new Promise((r) => setImmediate(r));
    const next = core.tick(T + 200_000).messages.concat(core.ingestLine(line(T + 200_000, 9)).messages, core.finish().messages);
    const transport = next.flatMap((m) => JSON.parse(m as string).Events).filter((e: any) => e.Name === 'CollectorStats')
      .flatMap((e: any) => e.Payload).filter((p: any) => p.Collector === 'transport');
    expect(transport).toEqual([{ Collector: 'transport', Received: 0, Discarded: 0, Dropped: lost, Ignored: 0,
      Warnings: [`${lost} messages dropped by the outbox`] }]);
  });

  it('a file sink that cannot write counts each message it lost for the next one', () => {
    const counts: number[] = [];
    const sink = new FileSink('/dev/full', silentLogger, (n) => counts.push(n));
    sink.send('{"a":1}');
    sink.send('{"a":2}');
    expect(counts).toEqual([1, 1]);
    expect(sink.dropped).toBe(2);
  });
});
