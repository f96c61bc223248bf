// `replay --update-at`'s limits per engine (docs/UPDATE.md, "`replay --update-at`"): N past the
// range the board counts is delivered at the end of input, as on V8; a malformed N is V8's usage
// error on every engine; more packages than a C program takes (MT_REPLAY_UPDATES_MAX) or than
// the board's command line holds is a one-line usage error naming --update-at and the limit,
// before any engine runs. The C programs' own parser (ports/common/mt_replay_update_args.c) is
// checked through build/posix's update program when wasm3 is under test.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineName, ReplayOptions } from '../host/engine.js';
import { BOARD_CMDLINE_BYTES, boardArgs, C_UPDATES_MAX, publicKeyHex, selfTestPath, updateLimitError } from '../host/engines/update-args.js';
import { conn, config, engine, engineNames, root, T0, tick } from './helpers.js';
// @ts-expect-error: a plain ES module script
import { makeTestPackages } from '../scripts/make-test-packages.mjs';

const cli = `${root}bin/microtally.js`;
const work = mkdtempSync(join(tmpdir(), 'mt-update-args-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let dir = '';
const pkg = (name: string) => join(dir, name);
const trace = join(work, 'trace.jsonl');

beforeAll(async () => {
  ({ dir } = await makeTestPackages());
  const lines = [config(T0, { systemInformation: { enabled: false } })];
  for (let t = T0 + 2000; t <= T0 + 60_000; t += 2000) lines.push(conn(t));
  lines.push(tick(T0 + 90_000));
  writeFileSync(trace, lines.join('\n') + '\n');
}, 300_000);

function replayCli(engineName: string, at: string, extra: string[] = []) {
  return spawnSync('node', [cli, 'replay', trace, '--engine', engineName, '--update-at', at, '--pub', pkg('test.pub'), ...extra], { encoding: 'utf8' });
}
const many = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}:${pkg('changed-1.pkg')}`).join(',');
const options = (n: number, over: Partial<ReplayOptions> = {}): ReplayOptions => ({ profile: 'rtos', pub: pkg('test.pub'),
  updates: Array.from({ length: n }, (_, i) => ({ line: i + 1, path: pkg('changed-1.pkg') })), ...over });

describe('replay --update-at: what each engine takes, checked by the host', () => {
  it('V8 takes any number of packages; the C programs at most MT_REPLAY_UPDATES_MAX (64)', () => {
    expect(updateLimitError('v8', options(200))).toBeUndefined();
    expect(updateLimitError('wasm3', options(C_UPDATES_MAX))).toBeUndefined();
    expect(updateLimitError('wasm3', options(C_UPDATES_MAX + 1))).toBe('--update-at: engine wasm3 takes at most 64 packages, got 65');
  });

  it('the board\'s command line: the packages that fit BOARD_CMDLINE_BYTES pass, one more is refused', () => {
    let fit = 0;
    while (Buffer.byteLength(boardArgs(options(fit + 1)).join(' ')) + 1 <= BOARD_CMDLINE_BYTES) fit++;
    expect(fit).toBeGreaterThan(10);
    expect(fit).toBeLessThan(40);
    for (const e of ['qemu', 'qemu-threadx'] as EngineName[]) {
      expect(updateLimitError(e, options(fit))).toBeUndefined();
      expect(updateLimitError(e, options(fit + 1))).toMatch(new RegExp(`^--update-at: engine ${e}'s command line is at most 1024 bytes; ${fit + 1} packages make \\d+ \\(${fit} fit with these options\\)$`));
    }
    // Other options take room too: an agent id leaves less for packages.
    expect(updateLimitError('qemu', options(fit, { agentId: '12345678-1234-4234-8234-123456789abc' }))).toMatch(/^--update-at: /);
  });

  it('40 packages on qemu and qemu-threadx: exit 2, one line naming --update-at and the limit (no engine run)', () => {
    for (const e of ['qemu', 'qemu-threadx']) {
      const r = replayCli(e, many(40));
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^microtally: replay: --update-at: engine ${e}'s command line is at most 1024 bytes; 40 packages make \\d+ \\(\\d+ fit with these options\\)\\n`));
      expect(r.stderr.split('\n')[0]).not.toMatch(/command line too long/);
    }
  });

  it('65 packages on wasm3: exit 2, one line naming --update-at and 64', () => {
    const r = replayCli('wasm3', many(65));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^microtally: replay: --update-at: engine wasm3 takes at most 64 packages, got 65\n/);
  });

  it('a package or key that is a directory: exit 2, one line naming it, on every engine (V8 crashed with EISDIR)', () => {
    for (const e of engineNames()) {
      if (!(['v8', 'wasm3', 'qemu', 'qemu-threadx'] as string[]).includes(e)) continue;
      const r = replayCli(e, `2:${work}`);
      expect(r.status).toBe(2);
      expect(r.stderr.split('\n')[0]).toBe(`microtally: replay: --update-at: package ${work}: not a file`);
      const k = spawnSync('node', [cli, 'replay', trace, '--engine', e, '--update-at', `2:${pkg('changed-2.pkg')}`, '--pub', work], { encoding: 'utf8' });
      expect(k.status).toBe(2);
      expect(k.stderr.split('\n')[0]).toBe(`microtally: replay: --pub ${work}: not a file`);
    }
  });

  it('N past 2^53 is malformed on every engine, as on V8 (exit 2, the same line)', () => {
    const lines = ['v8', 'wasm3', 'qemu', 'qemu-threadx'].map((e) => {
      const r = replayCli(e, `9007199254740993:${pkg('changed-2.pkg')}`);
      expect(r.status, e).toBe(2);
      return r.stderr.split('\n')[0];
    });
    expect(lines[0]).toMatch(/^microtally: replay: --update-at must be <N>:<package>/);
    expect(new Set(lines).size).toBe(1);
  });
});

describe('replay --update-at: N past the range the engine counts is delivered at the end of input', () => {
  const v8At = (line: number) => engine('v8').then((e) => e.replay(readFileSync(trace), options(0, { updates: [{ line, path: pkg('changed-2.pkg') }] })));

  it('V8: 4294967297 and 1000 (past the last line) give the same bytes, the swap at the end', async () => {
    const [big, end] = await Promise.all([v8At(4294967297), v8At(1000)]);
    expect(big.exitCode).toBe(0);
    expect(big.stdout).toBe(end.stdout);
    expect(big.stdout.trimEnd().split('\n').at(-1)).toContain('0.1.0-changed');
  });

  for (const e of ['qemu', 'qemu-threadx'] as EngineName[]) {
    const under = engineNames().includes(e);
    (under ? it : it.skip)(`${e}: 4294967297 (2^32 + 1) is V8's bytes, not line 1${under ? '' : ` [${e}: not in MICROTALLY_ENGINES]`}`, async () => {
      const o = options(0, { updates: [{ line: 4294967297, path: pkg('changed-2.pkg') }] });
      const [board, v8] = await Promise.all([engine(e).then((x) => x.replay(readFileSync(trace), o)), v8At(4294967297)]);
      expect(board.stderr).toBe(v8.stderr);
      expect(board.exitCode).toBe(v8.exitCode);
      expect(board.stdout).toBe(v8.stdout);
    }, 600_000);
  }

  const wasm3 = engineNames().includes('wasm3');
  const program = `${root}build/posix/microtally-replay-update`;
  const direct = (args: string[]) => spawnSync(program, ['--profile', 'rtos', `--pub-hex=${publicKeyHex(pkg('test.pub'))}`,
    `--self-test=${selfTestPath()}`, ...args, trace], { encoding: 'utf8' });
  (wasm3 ? it : it.skip)(`the C programs' parser: N past 2^64 saturates (at the end), a sequence past it is refused, 65 packages refused${wasm3 ? '' : ' [wasm3: not in MICROTALLY_ENGINES]'}`, async () => {
    execFileSync('bash', [`${root}scripts/build-wasm3.sh`, '--update'], { stdio: 'ignore' }); // make skips it when current
    const end = await v8At(1000);
    const big = direct([`--update-at=18446744073709551617:${pkg('changed-2.pkg')}`]);
    expect(big.stderr).toBe('');
    expect(big.status).toBe(0);
    expect(big.stdout).toBe(end.stdout);
    const seq = direct(['--installed-sequence=18446744073709551616', `--update-at=5:${pkg('changed-2.pkg')}`]);
    expect(seq.status).toBe(2);
    expect(seq.stderr.split('\n')[0]).toMatch(/--installed-sequence must be an integer/);
    const tooMany = direct(Array.from({ length: 65 }, (_, i) => `--update-at=${i + 1}:${pkg('changed-1.pkg')}`));
    expect(tooMany.status).toBe(2);
    expect(tooMany.stderr.split('\n')[0]).toMatch(/--update-at: at most 64 packages/);
  }, 600_000);
});

describe('replay --update-at: a package that cannot be read to its end', () => {
  // A folder opens but does not read (EISDIR): the read fails once the transfer has begun. On the
  // boards QEMU's semihosting answers a host read error as the end of the file (the package is
  // then refused as truncated): their read-error path (the same line, the transfer aborted)
  // cannot be reached from here.
  const under = engineNames().includes('wasm3');
  (under ? it : it.skip)(`wasm3: one line naming the package, exit 74, the next package still applied${under ? '' : ' [wasm3: not in MICROTALLY_ENGINES]'}`, () => {
    const folder = join(work, 'not-a-package');
    mkdirSync(folder, { recursive: true });
    // the program itself: the CLI refuses a folder before any engine runs (one line, exit 2)
    execFileSync('bash', [`${root}scripts/build-wasm3.sh`, '--update'], { stdio: 'ignore' });
    const r = spawnSync(`${root}build/posix/microtally-replay-update`, ['--profile', 'rtos', `--pub-hex=${publicKeyHex(pkg('test.pub'))}`,
      `--self-test=${selfTestPath()}`, `--update-at=5:${folder}`, `--update-at=10:${pkg('changed-2.pkg')}`, trace], { encoding: 'utf8' });
    expect(r.stderr).toBe(`microtally: cannot read the update package ${folder}\n`);
    expect(r.status).toBe(74);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toContain('"AgentVersion":"0.1.0-changed"');
  }, 600_000);

  const wasm3 = engineNames().includes('wasm3');
  (wasm3 ? it : it.skip)(`posix: a self-test trace that fills its 16 KiB buffer is refused in one line, not cut${wasm3 ? '' : ' [wasm3: not in MICROTALLY_ENGINES]'}`, () => {
    execFileSync('bash', [`${root}scripts/build-wasm3.sh`, '--update'], { stdio: 'ignore' });
    const big = join(work, 'big-selftest.jsonl');
    const self = readFileSync(selfTestPath(), 'utf8');
    writeFileSync(big, self + tick(T0).concat('\n').repeat(Math.ceil(16384 / (tick(T0).length + 1))));
    const r = spawnSync(`${root}build/posix/microtally-replay-update`, ['--profile', 'rtos', `--pub-hex=${publicKeyHex(pkg('test.pub'))}`,
      `--self-test=${big}`, `--update-at=5:${pkg('changed-2.pkg')}`, trace], { encoding: 'utf8' });
    expect(r.stderr).toBe(`microtally: the self-test trace ${big} is larger than 16383 bytes\n`);
    expect(r.status).toBe(74);
    expect(r.stdout).toBe('');
  });
});
