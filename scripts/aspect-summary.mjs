// Runs the as-pect unit tests and ends with a plain `N passed, M failed` line.
import { spawnSync } from 'node:child_process';

const r = spawnSync('npx', ['asp', '--config', 'as-pect.config.js'], { encoding: 'utf8' });
process.stdout.write(r.stdout);
process.stderr.write(r.stderr);
let passed = 0, failed = 0;
for (const m of r.stdout.replace(/\x1b\[[0-9;]*m/g, '').matchAll(/Pass: (\d+) \/ (\d+)/g)) {
  passed += Number(m[1]);
  failed += Number(m[2]) - Number(m[1]);
}
if (r.status !== 0 && failed === 0) failed = 1;
console.log(`as-pect: ${passed} passed, ${failed} failed`);
process.exit(r.status === 0 && failed === 0 ? 0 : 1);
