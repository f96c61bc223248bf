// Issue 12, host side: `replay` streams its input and output on every engine, and an input or
// output error ends it with exit 74 and one line naming the file or stream (SPEC R10).
// These tests run the real command (bin/microtally.js, so dist/ must be built: `npm run
// build:host`, which `npm ci` does) as a child process.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Core } from '../host/core.js';
import { ENGINE_NAMES } from '../host/engines/index.js';
import { LineReplay } from '../host/engines/v8.js';
import { FileSink } from '../host/agent/sinks/file.js';
import { conn, engine, engineNames, root, T0, tick } from './helpers.js';

const cli = `${root}bin/microtally.js`;
const gateway = `${root}examples/gateway.jsonl`;
let dir: string;

/** The engines' own builds were checked in beforeAll; the children need not run make again. */
const env = { ...process.env, MICROTALLY_WASM3_NO_BUILD: '1', MICROTALLY_AOT_NO_BUILD: '1', MICROTALLY_QEMU_NO_BUILD: '1' };

function replay(args: string[], stdio: { stdout?: number | 'pipe'; input?: Buffer } = {}) {
  const r = spawnSync('node', [cli, 'replay', ...args], {
    env, input: stdio.input, stdio: [stdio.input ? 'pipe' : 'ignore', stdio.stdout ?? 'pipe', 'pipe'],
    maxBuffer: 64 << 20, timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout?.toString('utf8') ?? '', stderr: r.stderr.toString('utf8') };
}

/** A trace whose output (about 200 KB) is larger than every buffer between the core and a pipe. */
function chattyTrace(): string {
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) {
    lines.push(conn(T0 + i * 3000, { remote: `20.1.${(i >> 8) & 255}.${i & 255}`, lport: 40000 + (i % 500) }));
  }
  return lines.join('\n') + '\n';
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'microtally-io-'));
  if (!existsSync(`${root}dist/host/cli.js`)) throw new Error('dist/ is not built: npm run build:host');
  // Builds each native engine once (make skips what is current), as the other suites do.
  for (const name of engineNames()) await (await engine(name)).replay(Buffer.from(''), { profile: 'rtos' });
}, 600_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Engines not under test are reported as skipped (their tests registered, not run).
for (const name of ENGINE_NAMES) describe.skipIf(!engineNames().includes(name))(`replay I/O on ${name}`, () => {
  it('exits 74 with one line when stdout is a full disk (/dev/full)', () => {
    const full = openSync('/dev/full', 'w');
    try {
      const r = replay([gateway, '--engine', name], { stdout: full });
      expect(r.stderr).toBe('microtally: cannot write stdout: ENOSPC (no space left on device)\n');
      expect(r.code).toBe(74);
    } finally {
      closeSync(full);
    }
  });

  it('exits 74 with one line for a directory and a missing file', () => {
    let r = replay([dir, '--engine', name]);
    expect(r.stderr).toBe(`microtally: cannot read ${dir}: EISDIR (illegal operation on a directory)\n`);
    expect(r.code).toBe(74);
    r = replay([join(dir, 'missing.jsonl'), '--engine', name]);
    expect(r.stderr).toBe(`microtally: cannot read ${join(dir, 'missing.jsonl')}: ENOENT (no such file or directory)\n`);
    expect(r.code).toBe(74);
    expect(r.stdout).toBe('');
  });

  it('reads stdin for `-`, with the same bytes as from the file', () => {
    const fromFile = replay([gateway, '--engine', name, '--stats']);
    const fromStdin = replay(['-', '--engine', name, '--stats'], { input: readFileSync(gateway) });
    expect(fromFile.code).toBe(0);
    expect(fromStdin).toEqual(fromFile);
    expect(fromStdin.stdout.split('\n').length).toBeGreaterThan(2);
  });

  it('stops with 74 and one line when the reader goes away (EPIPE), without writing on', async () => {
    const trace = join(dir, `chatty-${name}.jsonl`);
    writeFileSync(trace, chattyTrace());
    const child = spawn('node', [cli, 'replay', trace, '--engine', name], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => { stderr += b; });
    // The reader reads one chunk, then goes away, as `| head -c 1` does.
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(stderr).toBe('microtally: cannot write stdout: EPIPE (broken pipe)\n');
    expect(code).toBe(74);
  });

  it('still treats usage errors as 2', () => {
    const r = replay([gateway, '--engine', name, '--profile', 'nope']);
    expect(r.code).toBe(2);
  });
});

// The native programs on their own (ports/posix): the same exit codes as the CLI, one line each.
for (const name of ['wasm3', 'aot'] as const) describe.skipIf(!engineNames().includes(name))(`the ${name} replay program on its own`, () => {
  const program = `${root}build/${name === 'aot' ? 'posix-aot' : 'posix'}/microtally-replay`;
  const run = (args: string[], stdout: number | 'pipe' = 'pipe') => {
    const r = spawnSync(program, args, { stdio: ['ignore', stdout, 'pipe'] });
    return { code: r.status, stderr: r.stderr.toString('utf8') };
  };

  it('exits 74 with one line for a full disk, a directory and a missing file', () => {
    const full = openSync('/dev/full', 'w');
    try {
      expect(run([gateway], full)).toEqual({ code: 74, stderr: 'microtally: cannot write stdout: ENOSPC (no space left on device)\n' });
    } finally {
      closeSync(full);
    }
    expect(run([dir])).toEqual({ code: 74, stderr: `microtally: cannot read ${dir}: EISDIR (is a directory)\n` });
    expect(run([join(dir, 'missing')])).toEqual({ code: 74, stderr: `microtally: cannot read ${join(dir, 'missing')}: ENOENT (no such file or directory)\n` });
  });

  it('exits 74 with one line when the reader goes away (EPIPE), as the CLI does', async () => {
    const trace = join(dir, `chatty-own-${name}.jsonl`);
    writeFileSync(trace, chattyTrace());
    const child = spawn(program, [trace], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => { stderr += b; });
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect({ code, stderr }).toEqual({ code: 74, stderr: 'microtally: cannot write stdout: EPIPE (broken pipe)\n' });
  });
});

/** Replays chunks through the v8 line splitter on the rtos profile. */
function pushChunks(chunks: Uint8Array[], stats: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  const r = new LineReplay(new Core('rtos'), { profile: 'rtos', stats },
    { out: (s) => out.push(String(s)), err: (s) => err.push(String(s)) });
  for (const c of chunks) r.push(c);
  return { code: r.end(), out: out.join(''), err: err.join('') };
}

describe('replay streams (v8)', () => {
  it('splits lines the same whatever the chunks: every split point, blank lines and \\r included', () => {
    const text = Buffer.from(`${conn(T0)}\n\n\r\n{oops}\n${conn(T0, { host: 'h'.repeat(4100) })}\n${conn(T0 + 1)}\r\n${tick(T0 + 99_999_999)}`);
    const run = (chunks: Uint8Array[]) => pushChunks(chunks, true);
    const whole = run([text]);
    expect(whole.err).toMatch(/^line 4: invalid JSON.*\nline 5: line too long \(4\d{3} bytes; the limit is 4096\)\n\{/);
    expect(whole.out).not.toBe('');
    for (const at of [1, 2, 100, 4095, 4096, 4097, 4200, text.length - 1]) {
      expect(run([text.subarray(0, at), text.subarray(at)]), `split at ${at}`).toEqual(whole);
    }
    const bytes = Array.from({ length: text.length }, (_, i) => text.subarray(i, i + 1));
    expect(run(bytes), 'one byte at a time').toEqual(whole);
  });

  it('a limit-length line ending in CRLF is accepted wherever the chunks split it', () => {
    const atLimit = conn(T0, { host: 'h'.repeat(4096 - conn(T0, { host: '' }).length) });
    const text = Buffer.from(`${atLimit}\r\n${conn(T0 + 1)}\r\n`);
    for (const at of [0, 1, 4095, 4096, 4097, 4098, text.length]) {
      const r = pushChunks([text.subarray(0, at), text.subarray(at)], false);
      expect(r.err, `split at ${at}`).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toContain('"HitCount":2');
    }
  });

  it('treats a line just over the input area, and one longer than a read, as before', async () => {
    // 4097 bytes (one over the rtos input area), then 3 MB (longer than the 1 MiB read chunk).
    const over = conn(T0, { host: 'h'.repeat(4097 - conn(T0, { host: '' }).length) });
    expect(Buffer.byteLength(over)).toBe(4097);
    const huge = conn(T0, { host: 'h'.repeat(3_000_000) });
    const text = `${conn(T0)}\n${over}\n${conn(T0)}\n${huge}\n${conn(T0)}`;
    const file = join(dir, 'long-lines.jsonl');
    writeFileSync(file, text);
    const inMemory = await (await engine('v8')).replay(Buffer.from(text), { profile: 'rtos', stats: true });
    expect(inMemory.stderr).toMatch(/^line 2: line too long \(4097 bytes; the limit is 4096\)\nline 4: line too long \(3000\d{3} bytes/);
    const streamed = replay([file, '--stats']);
    expect({ stdout: streamed.stdout, stderr: streamed.stderr, exitCode: streamed.code })
      .toEqual({ stdout: inMemory.stdout, stderr: inMemory.stderr, exitCode: inMemory.exitCode });
  });

  // The v8 replay of a 300 MB trace, read as a stream: its peak RSS stays bounded (it was the
  // trace's size and more when the trace was read whole). Skipped where /proc is missing.
  it.skipIf(!existsSync('/proc/self/status'))('keeps a 300 MB trace under 150 MB of RSS', async () => {
    const file = join(dir, 'large.jsonl');
    const fd = openSync(file, 'w');
    let t = T0;
    let size = 0;
    for (let block = 0; size < 300e6; block++) {
      const lines: string[] = [];
      for (let k = 0; k < 5000; k++) {
        const i = block * 5000 + k;
        t += 7;
        lines.push(`{"kind":"connection","t":${t},"proto":"tcp","dir":"out","local":"10.0.0.2","lport":${40000 + (i % 500)},` +
          `"remote":"20.1.${(i >> 8) & 255}.${i & 255}","rport":8883,"bytesIn":100,"bytesOut":50}`);
      }
      const b = Buffer.from(lines.join('\n') + '\n');
      writeSync(fd, b);
      size += b.length;
    }
    closeSync(fd);
    const child = spawn('node', [cli, 'replay', file, '--stats'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => { stderr += b; });
    // VmHWM is the child's peak RSS so far; the last sample before it exits is its peak.
    let peakKb = 0;
    const sample = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch { /* exited */ }
    }, 20);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearInterval(sample);
    rmSync(file);
    expect(code).toBe(0);
    expect(JSON.parse(stderr).lines).toBeGreaterThan(1_800_000);
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb).toBeLessThan(150 * 1024);
  }, 90_000);
});

describe('file sink', () => {
  it('logs a failing write once, counts the rest, and reports the count at shutdown', async () => {
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(`info: ${m}`), warn: (m: string) => lines.push(`warn: ${m}`), error: (m: string) => lines.push(`error: ${m}`) };
    const sink = new FileSink('/dev/full', log);
    for (let i = 0; i < 500; i++) sink.send(`{"n":${i}}`);
    expect(lines).toEqual(['error: cannot append to /dev/full: ENOSPC (no space left on device); messages are lost until it works again (counted, not logged one by one)']);
    expect(await sink.close()).toBe(500);
    expect(lines.length).toBe(2);
    expect(lines[1]).toBe('error: 500 message(s) could not be written to /dev/full in all since the first failure was logged');
  });

  it('reports the count once writes work again', async () => {
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const file = join(dir, 'sink.jsonl');
    const sink = new FileSink(file, log);
    // The outage: the sink's descriptor points at /dev/full for a while (as a full disk would).
    const fdOf = (s: FileSink) => (s as unknown as { fd: number }).fd;
    const good = fdOf(sink);
    const full = openSync('/dev/full', 'w');
    (sink as unknown as { fd: number }).fd = full;
    for (let i = 0; i < 3; i++) sink.send(`{"lost":${i}}`);
    (sink as unknown as { fd: number }).fd = good;
    closeSync(full);
    sink.send('{"kept":1}');
    sink.send('{"kept":2}');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^cannot append to .*sink\.jsonl: ENOSPC/);
    expect(lines[1]).toBe(`appending to ${file} works again; 3 message(s) could not be written`);
    expect(await sink.close()).toBe(3);
    expect(lines).toHaveLength(2);
    expect(readFileSync(file, 'utf8')).toBe('{"kept":1}\n{"kept":2}\n');
  });
});

describe('replay --engine qemu-threadx without a ThreadX tree', () => {
  it('refuses in one line that says how to point it at one (exit 69: the engine cannot run here), before building anything', () => {
    const missing = join(dir, 'no-threadx-here');
    const r = spawnSync('node', [cli, 'replay', gateway, '--engine', 'qemu-threadx'], {
      env: { ...env, THREADX_DIR: missing }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000,
    });
    expect(r.stderr.toString('utf8')).toBe(
      `microtally: replay: engine qemu-threadx: no ThreadX tree at ${missing}: set THREADX_DIR to a checkout of eclipse-threadx/threadx\n`);
    expect(r.stdout.toString('utf8')).toBe('');
    expect(r.status).toBe(69);
  });
});
