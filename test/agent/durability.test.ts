// What the agent's state files do at the system-call level (strace): a file created or renamed in
// the state directory is not durable until the directory itself is synced, so each write path is
// checked for an fsync of the directory after the create or rename and before it returns. Needs
// strace and ptrace (a container may forbid it): else skipped, said in one line.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'mt-durability-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const dist = (p: string) => pathToFileURL(resolve('dist/host', p)).href;

/** Runs `script` (an ES module using the built host) under strace; its trace of file calls, fds shown as paths. */
function traced(ctx: TestContext, name: string, script: string): string[] {
  const out = join(root, `${name}.strace`);
  const r = spawnSync('strace', ['-f', '-y', '-e', 'trace=openat,fsync,fdatasync,rename,renameat,renameat2', '-o', out,
    process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.error || (r.status !== 0 && /ptrace|Operation not permitted/.test(r.stderr))) {
    console.log(`skipped: needs strace with ptrace allowed (${r.error?.message ?? r.stderr.split('\n')[0]})`);
    ctx.skip();
  }
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toContain('done');
  return readFileSync(out, 'utf8').split('\n');
}

/** The index of the first line at or after `from` matching `re` (-1: none). */
const find = (lines: string[], re: RegExp, from = 0) => { for (let i = from; i < lines.length; i++) if (re.test(lines[i])) return i; return -1; };
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('state files are durable: the directory is synced after a create or a rename', () => {
  it('the disk outbox created on a first start: outbox.log\'s name synced (fsync of the directory) before the first message is kept', (ctx) => {
    const dir = join(root, 'outbox');
    mkdirSync(dir, { mode: 0o700 });
    const lines = traced(ctx, 'outbox', `
      import { DiskOutbox } from '${dist('agent/diskoutbox.js')}';
      import { silentLogger } from '${dist('agent/log.js')}';
      const o = new DiskOutbox({ dir: ${JSON.stringify(dir)}, limits: { maxBytes: 1 << 20, maxMessages: 100 }, log: silentLogger });
      o.push('{"n":1}');
      console.log('done');
      process.exit(0); // a crash: no close
    `);
    const created = find(lines, new RegExp(`openat\\(.*"${esc(join(dir, 'outbox.log'))}", [^)]*O_CREAT`));
    expect(created, lines.join('\n')).toBeGreaterThanOrEqual(0);
    const record = find(lines, new RegExp(`fdatasync\\(\\d+<${esc(join(dir, 'outbox.log'))}>\\)`), created);
    expect(record, lines.join('\n')).toBeGreaterThan(created);
    expect(find(lines, new RegExp(`fsync\\(\\d+<${esc(dir)}>\\)`), created), lines.join('\n')).toBeGreaterThan(created);
  });

  it('the disk outbox rewritten at a restart: the rename is followed by an fsync of the directory', (ctx) => {
    const dir = join(root, 'outbox-restart');
    mkdirSync(dir, { mode: 0o700 });
    const script = (exit: string) => `
      import { DiskOutbox } from '${dist('agent/diskoutbox.js')}';
      import { silentLogger } from '${dist('agent/log.js')}';
      const o = new DiskOutbox({ dir: ${JSON.stringify(dir)}, limits: { maxBytes: 1 << 20, maxMessages: 100 }, log: silentLogger });
      o.push('{"n":1}');
      console.log('done');
      ${exit}
    `;
    traced(ctx, 'outbox-first', script('process.exit(0);'));
    const lines = traced(ctx, 'outbox-again', script('process.exit(0);'));
    const renamed = find(lines, new RegExp(`rename.*"${esc(join(dir, 'outbox.log'))}"`));
    expect(renamed, lines.join('\n')).toBeGreaterThanOrEqual(0);
    expect(find(lines, new RegExp(`fsync\\(\\d+<${esc(dir)}>\\)`), renamed), lines.join('\n')).toBeGreaterThan(renamed);
  });

  it('the DPS assignment kept: dps.json renamed into place, then the directory synced', (ctx) => {
    const dir = join(root, 'dps');
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'dps.json'), '{}\n', { mode: 0o600 });
    const lines = traced(ctx, 'dps', `
      import { writeCachedAssignment } from '${dist('agent/iothub/dps.js')}';
      writeCachedAssignment(${JSON.stringify(dir)}, { endpoint: 'mqtts://dps:8883/', idScope: 's', registrationId: 'r' }, { assignedHub: 'h.example', deviceId: 'd' });
      console.log('done');
    `);
    const renamed = find(lines, new RegExp(`rename.*"${esc(join(dir, 'dps.json'))}"`));
    expect(renamed, lines.join('\n')).toBeGreaterThanOrEqual(0);
    expect(find(lines, new RegExp(`fsync\\(\\d+<${esc(dir)}>\\)`), renamed), lines.join('\n')).toBeGreaterThan(renamed);
  });
});
