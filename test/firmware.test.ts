// Traces that stress what differs on the board (long interpreter runs, full caches, lines
// around and beyond the input area, odd bytes, split windows), replayed on every engine under
// test with the byte-for-byte comparison of replayAll; and, when the QEMU engine is built,
// the firmware footprint report (build/firmware/size.json) checked against the image.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildOnce } from '../host/engines/native.js';
import { QEMU_ARGS, firmwarePath } from '../host/engines/qemu.js';
import { QemuThreadxEngine } from '../host/engines/qemu-threadx.js';
import { engine, engineNames, records, replayAll, root, itOnEngines } from './helpers.js';
import { longLines, mixed, oddBytes, overflow, splitting } from './firmware/traces.js';

/** The `--stats` summary: the last line of stderr. */
function stats(stderr: string): any {
  return JSON.parse(stderr.trimEnd().split('\n').at(-1)!);
}

describe('board stress traces, on every engine', () => {
  for (const profile of ['rtos', 'linux'] as const) {
    itOnEngines(`a long mixed run (${profile}): every kind, bad lines, config changes`, async () => {
      const t = mixed(profile === 'rtos' ? 7 : 11, 2500);
      const r = await replayAll(t.bytes, { profile, stats: true, maxMessageBytes: profile === 'rtos' ? 8192 : 65536 });
      const s = stats(r.stderr);
      const lines = t.bytes.toString('latin1').split('\n').length - 1;
      expect(s.lines).toBe(lines);
      expect(s.accepted + s.skipped + s.blank).toBe(lines);
      expect(s.skipped).toBeGreaterThan(100);
      expect(r.exitCode).toBe(1);
      // Every skipped line is reported on stderr, besides the summary.
      expect(r.stderr.split('\n').filter((l) => /^line \d+: /.test(l))).toHaveLength(s.skipped);
      expect(s.messages).toBe(r.messages.length);
      expect(s.network.received).toBe(s.network.sent + s.network.discarded + s.network.dropped + s.network.ignored);
    });
  }

  // overflow(n): n distinct outbound flows in one window, then 50 inbound events on ports
  // 1024 + i % 7 whose identity matches an outbound flow only when i % 7 and i have the
  // same parity (the remote address alternates with i).
  const inboundMatching = Array.from({ length: 50 }, (_, i) => i).filter((i) => (i % 7) % 2 === i % 2).length;

  itOnEngines('rtos: more distinct flows than the cache holds drop new ones and keep aggregating cached ones', async () => {
    const r = await replayAll(overflow(300).bytes, { stats: true });
    const s = stats(r.stderr);
    expect(s.network.received).toBe(350);
    // drop-new: flows 256..299 and the inbound events matching no cached flow.
    expect(s.network.dropped).toBe(300 - 256 + 50 - inboundMatching);
    expect(s.network.sent).toBe(256 + inboundMatching);
    const conns = records(r, 'ConnectionCreate');
    expect(conns).toHaveLength(256);
    expect(conns.reduce((n, c) => n + c.HitCount, 0)).toBe(256 + inboundMatching);
    expect(conns.filter((c) => c.HitCount > 1).map((c) => c.LocalPort).sort()).toEqual([1024, 1025, 1026, 1027, 1028, 1029, 1030]);
  });

  itOnEngines('linux: a full cache replaces its oldest flows, and their hits are counted as discarded', async () => {
    const r = await replayAll(overflow(1100).bytes, { profile: 'linux', stats: true });
    const s = stats(r.stderr);
    expect(s.network.received).toBe(1150);
    expect(s.network.dropped).toBe(0);
    expect(s.network.discarded).toBeGreaterThan(1100 - 256);
    const conns = records(r, 'ConnectionCreate');
    expect(conns).toHaveLength(256); // the default cacheSize (SPEC R6)
    expect(conns.reduce((n, c) => n + c.HitCount, 0)).toBe(s.network.sent);
    expect(conns.some((c) => c.LocalPort === 1024 + 1099)).toBe(true);
    expect(r.exitCode).toBe(0);
  });

  for (const [profile, capacity] of [['rtos', 4096], ['linux', 65536]] as const) {
    itOnEngines(`${profile}: lines at, just over and far over the input area (${capacity} B)`, async () => {
      const r = await replayAll(longLines(capacity).bytes, { profile, stats: true });
      const skipped = r.stderr.split('\n').filter((l) => /^line \d+: /.test(l)).map((l) => Number(/^line (\d+)/.exec(l)![1]));
      // Lines 1 and 2 fit; 3 and 4 are longer than the area; 6 is neither JSON nor short.
      expect(skipped).toEqual([3, 4, 6]);
      const s = stats(r.stderr);
      expect(s.lines).toBe(6);
      expect(s.network.received).toBe(2);
      expect(records(r, 'ConnectionCreate').reduce((n, c) => n + c.HitCount, 0)).toBe(2);
    });
  }

  for (const profile of ['rtos', 'linux'] as const) {
    itOnEngines(`${profile}: invalid UTF-8 becomes U+FFFD; raw control characters are invalid JSON`, async () => {
      const r = await replayAll(oddBytes().bytes, { profile, stats: true });
      // Pairs of lines per odd byte sequence; the sixth pair holds raw U+0001/U+001F (not
      // allowed in a JSON string), line 15 is neither JSON nor UTF-8.
      expect(r.stderr).toMatch(/^line 11: invalid JSON: control character in string/m);
      expect(r.stderr).toMatch(/^line 12: invalid JSON: control character in string/m);
      expect(r.stderr).toMatch(/^line 15: /m);
      expect(stats(r.stderr).skipped).toBe(3);
      const hosts = records(r, 'ConnectionCreate').map((c) => c.ExtraDetails?.HostName);
      expect(hosts).toHaveLength(6);
      expect(hosts.filter((h: string) => h.includes('\uFFFD'))).toHaveLength(5);
      expect(hosts.at(-1)).toBe('\u{1F600}x');
      expect(r.exitCode).toBe(1);
    });
  }

  itOnEngines('rtos: windows larger than 1024-byte messages are split, nothing lost', async () => {
    const r = await replayAll(splitting().bytes, { stats: true, maxMessageBytes: 1024 });
    expect(r.messages.length).toBeGreaterThan(10);
    const conns = records(r, 'ConnectionCreate');
    expect(conns).toHaveLength(120);
    expect(new Set(conns.map((c) => c.LocalPort)).size).toBe(120);
  });
});

/** The rtos blob's own account of its linear memory (mt_memory_end, mt_regions). */
function blobMemory(): { bytes: number; regions: Record<string, number> } {
  return JSON.parse(execFileSync('node', [`${root}scripts/blob-regions.mjs`, `${root}build/microtally-rtos-small.wasm`],
    { encoding: 'utf8' }));
}

/** What every size file must say of its image: parts add up, the linker agrees, no allocator. */
function checkSizeFile(sizeFile: string, elf: string, components: string[]): any {
  expect(existsSync(sizeFile)).toBe(true);
  const size = JSON.parse(readFileSync(sizeFile, 'utf8'));
  const parts = Object.values<{ flash: number; ram: number }>(size.components);
  expect(parts.reduce((n, c) => n + c.flash, 0)).toBe(size.flash);
  expect(parts.reduce((n, c) => n + c.ram, 0)).toBe(size.ram);
  for (const name of components) expect(size.components[name]?.flash).toBeGreaterThan(0);
  // The linker's own view of the image agrees (text + data = flash, data + bss = RAM).
  const [text, data, bss] = execFileSync('arm-none-eabi-size', [elf], { encoding: 'utf8' })
    .split('\n')[1].trim().split(/\s+/).map(Number);
  expect(size.flash).toBe(text + data);
  expect(size.ram).toBe(data + bss);
  expect(size.measured.stackUsed).toBeGreaterThan(0);
  expect(size.measured.stackUsed).toBeLessThan(size.measured.stackBytes);
  if (size.budget) expect(size.withinBudget).toBe(size.flash <= size.budget.flash && size.ram <= size.budget.ram);
  // The core's linear memory, by region, is the blob's own figure.
  expect(size.linearMemory).toEqual(blobMemory());
  const symbols = execFileSync('arm-none-eabi-nm', [elf], { encoding: 'utf8' });
  expect(symbols).not.toMatch(/\b(malloc|_malloc_r|calloc|realloc|_sbrk)\b/);
  return size;
}

const onBoard = engineNames().includes('qemu');

describe.runIf(onBoard)('firmware footprint, wasm3 image (build/firmware/size.json)', () => {
  const sizeFile = `${root}build/firmware/size.json`;
  const elf = `${root}build/firmware/microtally-qemu-rtos.elf`;

  it('names every component and linear-memory region; within 96 KB of flash and 208 KB of RAM (CBOR writers and the swap exports compiled by wasm3, issues 14 and 21)', () => {
    const size = checkSizeFile(sizeFile, elf, ['wasm3', 'bindings', 'blob', 'port']);
    expect(size.budget).toEqual({ flash: 98304, ram: 212992 });
    expect(size.flash).toBeLessThanOrEqual(98304);
    expect(size.ram).toBeLessThanOrEqual(212992);
    const h = size.wasm3Heap;
    expect(h.linearMemory + h.interpreterStack + h.compiledCodeAndTables + h.unused).toBe(h.bytes);
    // The heap is what mt_init took on the probe image: all of it in use, whatever the input.
    expect(h.unused).toBeGreaterThanOrEqual(0);
    expect(h.unused).toBeLessThan(256);
    expect(h.linearMemory).toBe(size.linearMemory.bytes);
    // The interpreter stack, measured on a run with the deepest nesting the parser accepts.
    expect(h.interpreterStackUsed).toBeGreaterThan(0);
    expect(h.interpreterStackUsed * 1.25).toBeLessThanOrEqual(h.interpreterStack);
    expect(execFileSync('arm-none-eabi-nm', [elf], { encoding: 'utf8' })).toMatch(/\bfixedHeap\b/);
  });
});

// The linux image exists only so the suites run the linux profile on the board; its stacks are
// sized (ports/qemu) from this run: what the deepest accepted nesting takes, plus a quarter.
describe.runIf(onBoard)('the linux wasm3 image\'s stacks hold the deepest nesting the parser accepts', () => {
  it('levels 14 to 16 accepted, 17 and 18 refused; both stacks used at most four fifths', async () => {
    await buildOnce('qemu', 'build-firmware.sh', ['--profile', 'linux', '--engine', 'wasm3']);
    const work = mkdtempSync(join(tmpdir(), 'mt-deep-'));
    execFileSync('node', [`${root}test/c/gen-traces.mjs`, work]);
    const r = spawnSync('qemu-system-arm', [...QEMU_ARGS, '-semihosting-config',
      'enable=on,target=native,arg=microtally,arg=--footprint,arg=deep.jsonl', '-kernel', firmwarePath('linux')],
    { cwd: work, encoding: 'utf8', timeout: 120_000 });
    rmSync(work, { recursive: true, force: true });
    const err = r.stderr.trimEnd().split('\n');
    // deep.jsonl: an array, an object and a configuration nested 14 to 18 levels below the line's
    // own object (a configuration's is two levels deeper): lines 7 and 8 are the deepest accepted.
    expect(err.slice(0, -1).map((l) => l.replace(/ at column \d+$/, ''))).toEqual([
      'line 3: config.x: unknown key', 'line 6: config.x: unknown key',
      ...[9, 10, 11, 12, 13, 14, 15].map((n) => `line ${n}: invalid JSON: nesting too deep`)]);
    expect(r.status).toBe(1);
    const f = JSON.parse(err.at(-1)!);
    expect(f).toMatchObject({ profile: 'linux', engine: 'wasm3' });
    expect(f.wasmStackUsed).toBeGreaterThan(0);
    expect(f.wasmStackUsed * 1.25).toBeLessThanOrEqual(f.wasmStackBytes);
    expect(f.stackUsed).toBeGreaterThan(0);
    expect(f.stackUsed * 1.25).toBeLessThanOrEqual(f.stackBytes);
  });
});

describe.runIf(engineNames().includes('qemu-aot'))('firmware footprint, ahead-of-time image (build/firmware/size-aot.json)', () => {
  const sizeFile = `${root}build/firmware/size-aot.json`;
  const elf = `${root}build/firmware/microtally-qemu-aot-rtos.elf`;

  it('names every component and region; within 64 KB of flash and 48 KB of RAM; the engine RAM is the linear memory', () => {
    const size = checkSizeFile(sizeFile, elf, ['bindings', 'blob', 'port']);
    expect(size.budget).toEqual({ flash: 65536, ram: 49152 });
    expect(size.flash).toBeLessThanOrEqual(65536);
    expect(size.ram).toBeLessThanOrEqual(49152);
    expect(size.measured.engine).toBe('aot');
    expect(size.measured.engineRam).toBe(size.linearMemory.bytes);
    // The translated blob's RAM: its linear memory and a few hundred bytes of globals.
    expect(size.components.blob.ram).toBeGreaterThanOrEqual(size.linearMemory.bytes);
    expect(size.components.blob.ram - size.linearMemory.bytes).toBeLessThan(1024);
    // No interpreter in this image.
    expect(execFileSync('arm-none-eabi-nm', [elf], { encoding: 'utf8' })).not.toMatch(/\b(fixedHeap|m3_\w+)\b/);
  });
});

// The suites run qemu-threadx on its wasm3 image; the ahead-of-time one replays the stress traces.
describe.runIf(engineNames().includes('qemu-threadx'))('the ahead-of-time ThreadX image prints V8\'s bytes', () => {
  for (const profile of ['rtos', 'linux'] as const) {
    it(`a long mixed run (${profile}) and the lines around the input area`, async () => {
      const aot = new QemuThreadxEngine('aot');
      for (const t of [mixed(profile === 'rtos' ? 7 : 11, 2500), longLines(profile === 'rtos' ? 4096 : 65536)]) {
        const options = { profile, stats: true };
        const [v8, board] = await Promise.all([(await engine('v8')).replay(t.bytes, options), aot.replay(t.bytes, options)]);
        expect(board.stdout).toBe(v8.stdout);
        expect(board.stderr).toBe(v8.stderr);
        expect(board.exitCode).toBe(v8.exitCode);
        expect(v8.stdout.length).toBeGreaterThan(0);
      }
    });
  }
});

// The ThreadX image (ports/qemu-threadx): the whole bill a firmware developer pays, kernel and
// agent included, charged by component; the stacks' high-water marks measured on the board.
describe.runIf(engineNames().includes('qemu-threadx'))('firmware footprint, ThreadX images (build/firmware/size-threadx*.json)', () => {
  for (const [engine, file, image] of [['wasm3', 'size-threadx.json', 'microtally-threadx-rtos.elf'],
    ['aot', 'size-threadx-aot.json', 'microtally-threadx-aot-rtos.elf']] as const) {
    it(`${engine}: charges the ThreadX kernel, agent, queue, stacks, engine and blob apart`, () => {
      const elf = `${root}build/firmware/${image}`;
      const size = checkSizeFile(`${root}build/firmware/${file}`, elf,
        ['threadx', 'agent', 'bindings', 'blob', 'replay', ...(engine === 'wasm3' ? ['wasm3'] : [])]);
      const m = size.measured;
      expect(m.engine).toBe(engine);
      expect(size.components.stacks.ram).toBe(m.agentStackBytes + m.feederStackBytes);
      expect(size.components.queue.ram).toBe(m.queueBytes);
      for (const [used, bytes] of [[m.agentStackUsed, m.agentStackBytes], [m.feederStackUsed, m.feederStackBytes]]) {
        expect(used).toBeGreaterThan(0);
        expect(used).toBeLessThan(bytes);
      }
      // The real kernel is linked: its scheduler and the agent's public calls.
      const symbols = execFileSync('arm-none-eabi-nm', [elf], { encoding: 'utf8' });
      for (const s of ['_tx_thread_schedule', '__tx_PendSVHandler', '_tx_queue_send', 'mt_tx_start', 'mt_tx_post_line']) {
        expect(symbols).toMatch(new RegExp(`\\b${s}\\b`));
      }
    });

    it(`${engine}: the agent's calls that replay does not reach, on the real kernel (--check-api)`, () => {
      const r = spawnSync('qemu-system-arm', [...QEMU_ARGS, '-semihosting-config',
        'enable=on,target=native,arg=microtally,arg=--check-api', '-kernel', `${root}build/firmware/${image}`],
      { encoding: 'utf8', timeout: 120_000 });
      const lines = r.stdout.split('\n');
      const ok = lines.filter((l) => l.startsWith('ok   '));
      expect(lines.filter((l) => l.startsWith('FAIL '))).toEqual([]);
      expect(ok.length).toBeGreaterThanOrEqual(21);
      expect(r.stdout).toContain(`\n${ok.length} passed, 0 failed\n`);
      expect(r.status).toBe(0);
    });
  }
});
