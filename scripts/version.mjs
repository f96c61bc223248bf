#!/usr/bin/env node
// The version is defined once, in package.json. The core writes it into every message
// (AgentVersion), so assembly/words.ts carries it as bytes: this script rewrites that line from
// package.json (npm's `version` step runs it), and `--check` fails when they differ (scripts/test.sh).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const file = `${root}assembly/words.ts`;
const text = readFileSync(file, 'utf8');
const pattern = /^@lazy export const versionNumber: Lit = .*$/m;
if (!pattern.test(text)) throw new Error('assembly/words.ts has no versionNumber line');
const bytes = [...Buffer.from(version, 'utf8')];
const line = `@lazy export const versionNumber: Lit = memory.data<u8>([${[bytes.length, ...bytes].join(', ')}], 1); // "${version}"`;
const updated = text.replace(pattern, line);

if (process.argv.includes('--check')) {
  if (updated !== text) {
    process.stderr.write(`version: assembly/words.ts's AgentVersion differs from package.json's ${version}: run node scripts/version.mjs\n`);
    process.exit(1);
  }
  process.stderr.write(`version: ${version} in package.json and assembly/words.ts\n`);
} else if (updated !== text) {
  writeFileSync(file, updated);
  process.stderr.write(`version: assembly/words.ts now says ${version}\n`);
}
