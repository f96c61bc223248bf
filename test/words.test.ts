// The core's static byte strings (assembly/words.ts) are written as numbers: each must hold
// exactly the UTF-8 text its comment shows, with its length first, and each name only once.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { root } from './helpers.js';

const LINE = /^@lazy export const (\w+): Lit = memory\.data<u8>\(\[([0-9, ]+)\], 1\); \/\/ (".*")$/;

describe('static byte strings (assembly/words.ts)', () => {
  // config.ts keeps the message format's two words (the one module that reads them).
  const lines = readFileSync(`${root}assembly/words.ts`, 'utf8').split('\n').filter((l) => l.includes('export const'))
    .concat(readFileSync(`${root}assembly/config.ts`, 'utf8').split('\n').filter((l) => l.startsWith('@lazy const'))
      .map((l) => l.replace('@lazy const', '@lazy export const')));

  it('are all generated lines', () => {
    expect(lines.length).toBeGreaterThan(100);
    for (const l of lines) expect(l).toMatch(LINE);
  });

  it('hold the text of their comment, length first', () => {
    for (const l of lines) {
      const [, name, numbers, text] = LINE.exec(l)!;
      const bytes = numbers.split(',').map(Number);
      const expected = [...Buffer.from(JSON.parse(text), 'utf8')];
      expect(bytes, name).toEqual([expected.length, ...expected]);
    }
  });

  it('name each text once', () => {
    const names = lines.map((l) => LINE.exec(l)![1]);
    const texts = lines.map((l) => LINE.exec(l)![3]);
    expect(new Set(names).size).toBe(names.length);
    expect(new Set(texts).size).toBe(texts.length);
  });
});
