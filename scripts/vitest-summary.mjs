// Runs vitest and ends with a plain `N passed, M failed` line (CI reads closing lines).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const out = 'build/test-logs/vitest.json';
const r = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile=${out}`, ...process.argv.slice(2)],
  { stdio: 'inherit' });
let passed = 0, failed = 0;
try {
  const j = JSON.parse(readFileSync(out, 'utf8'));
  passed = j.numPassedTests;
  failed = j.numFailedTests + (j.numRuntimeErrorTestSuites ?? 0);
} catch { failed = 1; }
console.log(`vitest: ${passed} passed, ${failed} failed`);
process.exit(r.status === 0 && failed === 0 ? 0 : 1);
