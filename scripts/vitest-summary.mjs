// Runs vitest and ends with a plain `N passed, M failed[, K skipped]` line (CI reads closing
// lines; a test that skips itself, e.g. for want of root, counts as skipped, never as passed).
//   node scripts/vitest-summary.mjs [--report=<name>] [vitest arguments…]
// keeps vitest's JSON report in build/test-logs/<name>.json (default: vitest).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const named = args[0]?.startsWith('--report=') ? args.shift().slice('--report='.length) : 'vitest';
const out = `build/test-logs/${named}.json`;
const r = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile=${out}`, ...args],
  { stdio: 'inherit' });
let passed = 0, failed = 0, skipped = 0;
try {
  const j = JSON.parse(readFileSync(out, 'utf8'));
  passed = j.numPassedTests;
  failed = j.numFailedTests + (j.numRuntimeErrorTestSuites ?? 0);
  skipped = (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
} catch { failed = 1; }
console.log(`vitest: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(r.status === 0 && failed === 0 ? 0 : 1);
