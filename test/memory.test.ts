// SPEC R7: fixed linear memory (initial = maximum), no memory.grow in either blob, no
// imports, and nothing allocated or moved after init over a long run.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import binaryen from 'binaryen';
import { Core } from '../host/core.js';
import { root } from './helpers.js';

/** Reads a LEB128 unsigned integer. */
function leb(bytes: Uint8Array, at: number): [number, number] {
  let v = 0, shift = 0, b;
  do { b = bytes[at++]; v += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
  return [v, at];
}

/** The limits of the module's own memory, from its memory section (id 5). */
function memoryLimits(bytes: Uint8Array): { initial: number; maximum?: number } {
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, body] = leb(bytes, at + 1);
    if (id === 5) {
      let [count, p] = leb(bytes, body);
      expect(count).toBe(1);
      const flags = bytes[p++];
      const [initial, p2] = leb(bytes, p);
      if (flags & 1) return { initial, maximum: leb(bytes, p2)[0] };
      return { initial };
    }
    at = body + size;
  }
  throw new Error('no memory section');
}

// rtos-small is the rtos core built for size, the blob the firmware image embeds.
for (const blob of ['rtos', 'rtos-small', 'linux'] as const) {
  describe(`fixed memory, ${blob} blob (R7)`, () => {
    const bytes = new Uint8Array(readFileSync(`${root}build/microtally-${blob}.wasm`));

    it('declares initial = maximum pages and imports nothing', () => {
      const limits = memoryLimits(bytes);
      expect(limits.maximum).toBe(limits.initial);
      expect(WebAssembly.Module.imports(new WebAssembly.Module(bytes))).toEqual([]);
    });

    it('contains no memory.grow instruction', () => {
      const mod = binaryen.readBinary(bytes);
      const text = mod.emitText();
      mod.dispose();
      expect(text).toContain('(memory $0');
      expect(text).not.toMatch(/memory\.grow/);
    });

    // The long run: once per profile (the small build compiles the same source).
    if (blob !== 'rtos-small') it('neither grows nor writes outside its static areas over 100,000 events', () => {
      const core = new Core(blob === 'linux' ? 'linux' : 'rtos');
      const before = core.memoryBytes;
      const heapEnd = staticEnd(bytes);
      expect(core.memoryEnd).toBeGreaterThanOrEqual(heapEnd);
      expect(core.memoryEnd - heapEnd).toBeLessThan(16 + 64);
      const snapshot = core.memorySnapshot();
      const T0 = Date.UTC(2026, 0, 1);
      let messages = 0;
      for (let i = 0; i < 100_000; i++) {
        const r = core.ingestLine(JSON.stringify({ kind: 'connection', t: T0 + i * 37, proto: i % 3 ? 'tcp' : 'udp',
          dir: 'out', local: '10.0.0.2', lport: 1024 + (i % 700), remote: i % 2 ? '2001:db8::7' : '20.1.2.3',
          rport: 443, bytesIn: i, bytesOut: 1, host: 'h'.repeat(i % 50) }));
        messages += r.messages.length;
        if (i % 1000 === 0) messages += core.configure(T0 + i * 37, '{"network":{"cacheSize":100}}').messages.length;
      }
      messages += core.finish().messages.length;
      expect(messages).toBeGreaterThan(100);
      expect(core.memoryBytes).toBe(before);
      // Above the end of static data nothing was ever written: no heap, no allocation.
      const after = core.memorySnapshot();
      expect(after.length).toBe(snapshot.length);
      expect(after.subarray(heapEnd).every((b) => b === 0)).toBe(true);
    });
  });
}

/** End of the static data the compiler laid out (every memory.data area and literal). */
function staticEnd(bytes: Uint8Array): number {
  const mod = binaryen.readBinary(bytes);
  let end = 0;
  for (let i = 0; i < mod.getNumMemorySegments(); i++) {
    const seg = mod.getMemorySegmentInfoByIndex(i);
    end = Math.max(end, Number(seg.offset) + seg.data.byteLength);
  }
  mod.dispose();
  expect(end).toBeGreaterThan(1024);
  return end;
}
