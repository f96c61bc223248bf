// Stopping the agent the ways people do: SIGTERM to the `npx microtally run` wrapper (npm, whose
// `sh -c` dies without passing the signal on), and Ctrl-C (SIGINT to the whole process group,
// kernel event helper included). Each time the agent must stop, send what was pending, leave no
// process behind and log no error. The chain is npm's own (`npm exec -c`: npm → sh -c → node),
// started offline with the agent from the TypeScript sources.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { HELPER_PATH } from '../../host/agent/collectors/kernel-events.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mt-signals-'));
const started: number[] = [];
afterAll(() => {
  // Only what is still ours: a pid that ended may already belong to another process.
  for (const pid of started) {
    let cmdline = '';
    try { cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { continue; }
    if (cmdline.includes(dir) || cmdline.startsWith(HELPER_PATH)) try { process.kill(pid, 'SIGKILL'); } catch { /* just ended */ }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Every process below `pid` (from /proc/<pid>/task/<tid>/children). */
function descendants(pid: number): number[] {
  let kids: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      kids.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    }
  } catch { return []; }
  kids = [...new Set(kids)];
  return [...kids, ...kids.flatMap(descendants)];
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The npm that comes with this node (npx's); the project's node_modules may hold an older one. */
const NPM = join(dirname(process.execPath), 'npm');

/** `npm exec -c 'node … agent-main.ts run <args>'` in its own process group, as a terminal would start it. */
function viaNpm(args: string[]): { npm: ChildProcess; log: () => string; closed: Promise<unknown> } {
  const cmd = ['node', '--import', here('./helpers/register-ts.mjs'), here('./helpers/agent-main.ts'), 'run', ...args].join(' ');
  const npm = spawn(NPM, ['exec', '--offline', '-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: dir });
  started.push(npm.pid!);
  let log = '';
  npm.stdout!.on('data', (d) => { log += d; });
  npm.stderr!.on('data', (d) => { log += d; });
  // Every process of the chain writes to these pipes: closed once the last one is done with them.
  const closed = new Promise((r) => npm.on('close', r));
  return { npm, log: () => log, closed };
}

const messages = (path: string): unknown[] =>
  (existsSync(path) ? readFileSync(path, 'utf8') : '').split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('stopping the agent', () => {
  it.skipIf(!existsSync(NPM))('SIGTERM to the npm wrapper (npx): the agent stops, sends what was pending, and no process is left', async () => {
    const out = join(dir, 'term.jsonl');
    const { npm, log, closed } = viaNpm(['--source', 'poll', '--sink', `file:${out}`]);
    await until('the agent to run', () => log().includes('running; sending to')).catch((e) => { throw new Error(`${e.message}:\n${log()}`); });
    const below = descendants(npm.pid!);
    started.push(...below);
    const agent = below.find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('agent-main.ts'));
    expect(agent, `the agent below npm: ${below}`).toBeDefined();
    expect(messages(out), 'nothing sent before the stop (the first windows are minutes long)').toEqual([]);

    process.kill(npm.pid!, 'SIGTERM');
    await until('every process of the chain to end', () => !alive(npm.pid!) && below.every((p) => !alive(p)));
    await closed;
    expect(log()).toMatch(/info: its npm wrapper \(pid \d+\) went away: sending what is pending/);
    expect(log()).not.toMatch(/ error: /);
    expect(messages(out).length).toBeGreaterThan(0);
  }, 60_000);

  it.skipIf(process.geteuid?.() !== 0 || !existsSync(HELPER_PATH) || !existsSync(NPM))(
    'Ctrl-C (SIGINT to the process group, kernel helper running): stops cleanly, no error line (needs root and the built helper)', async () => {
      const out = join(dir, 'int.jsonl');
      const { npm, log, closed } = viaNpm(['--source', 'kernel', '--sink', `file:${out}`]);
      await until('the agent to run', () => log().includes('running; sending to'), 60_000);
      const below = descendants(npm.pid!);
      started.push(...below);
      const helper = below.find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('microtally-events'));
      expect(helper, 'the kernel helper runs').toBeDefined();
      // The helper dying of the same Ctrl-C before the agent handled it made the agent log "falling
      // back to polling" (a race the agent mostly won): the group's SIGINT must not reach it at all.
      const pgid = Number(readFileSync(`/proc/${helper}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[2]);
      expect(pgid, 'the helper is outside the terminal\'s process group').not.toBe(npm.pid);

      process.kill(-npm.pid!, 'SIGINT');
      await until('every process of the chain to end', () => !alive(npm.pid!) && below.every((p) => !alive(p)));
      await closed;
      // Its SIGINT, or (a loaded machine: the timer ran first) npm gone after the same Ctrl-C: a clean stop either way.
      expect(log(), log()).toMatch(/info: (SIGINT|its npm wrapper \(pid \d+\) went away): sending what is pending/);
      expect(log()).not.toMatch(/ error: |falling back to polling/);
      expect(messages(out).length).toBeGreaterThan(0);
    }, 90_000);
});
