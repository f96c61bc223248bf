// Issue 16: one command-line layer (SPEC R11). Every command answers --help with exit 0, usage
// errors are one `microtally: <command>: …` line and exit 2, --version prints package.json's
// version, and an unbuilt checkout says how to build instead of printing a stack trace.
// Runs the real command (bin/microtally.js, dist/ built by `npm ci`).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../host/cli.js';
import { root } from './helpers.js';

const cli = `${root}bin/microtally.js`;
const version = JSON.parse(readFileSync(`${root}package.json`, 'utf8')).version;
const dir = mkdtempSync(join(tmpdir(), 'microtally-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mt(args: string[], program = cli, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [program, ...args], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'], env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('microtally command line', () => {
  it('prints the version from package.json', () => {
    expect(mt(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(mt(['-V']).stdout).toBe(`${version}\n`);
  });

  it('lists every command on --help (exit 0) and on no command (stderr, exit 2)', () => {
    const help = mt(['--help']);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.stdout).toContain(`microtally ${c.name} `);
    const none = mt([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(help.stdout);
  });

  it.each(COMMANDS.map((c) => [c.name, c]))('%s --help and -h print its options, exit 0', (name, c) => {
    for (const flag of ['--help', '-h']) {
      const r = mt([name, flag]);
      expect(r.code, `${name} ${flag}`).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(new RegExp(`^usage: microtally ${name} `));
      for (const option of Object.keys(c.options)) expect(r.stdout).toContain(`--${option}`);
    }
  });

  it.each(COMMANDS.map((c) => [c.name]))('%s: an unknown option is one prefixed line and exit 2', (name) => {
    const r = mt([name, '--no-such-option']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^microtally: ${name}: Unknown option '--no-such-option'\\n\\(\`microtally ${name} --help\` lists the options\\)\\n$`));
  });

  it('reports each kind of usage error with exit 2 and the same prefix', () => {
    const cases: [string[], string][] = [
      [['nope'], 'microtally: unknown command "nope"'],
      [['--nope'], 'microtally: unknown option "--nope"'],
      [['--version', 'x'], 'microtally: --version takes no arguments'],
      [['replay'], 'microtally: replay: takes <trace.jsonl|-> (one argument), got 0'],
      [['replay', 'a', 'b'], 'microtally: replay: takes <trace.jsonl|-> (one argument), got 2'],
      [['replay', 'a', '--engine', 'v9'], 'microtally: replay: --engine must be one of v8,'],
      [['replay', 'a', '--profile'], "microtally: replay: Option '--profile <value>' argument missing"],
      [['replay', 'a', '--stats', '--stats'], 'microtally: replay: --stats given twice'],
      [['run', 'extra'], 'microtally: run: takes no arguments, got "extra"'],
      [['run', '--sink', 'stdout', '--sink=stdout'], 'microtally: run: --sink given twice'],
      [['bench', '--events', '1e3'], 'microtally: bench: --events must be a positive integer, got "1e3"'],
      [['bench', '--repeat', '0'], 'microtally: bench: --repeat must be a positive integer, got "0"'],
      [['bench', '--html='], 'microtally: bench: --html needs a file name'],
    ];
    for (const [args, start] of cases) {
      const r = mt(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.startsWith(start), `${args.join(' ')}: ${r.stderr}`).toBe(true);
      expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(2);
    }
  });

  it('replay says in one line which tool an engine lacks (exit 69), on a PATH without build tools', () => {
    // Only node, bash and the few utilities the build scripts use before they look for their tools.
    const bin = join(dir, 'path');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    for (const tool of ['bash', 'cat', 'sed', 'grep', 'dirname', 'mkdir', 'rm', 'cut', 'tail', 'head', 'sha256sum', 'flock']) {
      const which = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      if (which) symlinkSync(which, join(bin, tool));
    }
    const env = { ...process.env, PATH: bin };
    const trace = `${root}examples/gateway.jsonl`;
    for (const [engine, missing] of [['aot', 'wasm2c not found'], ['qemu', 'arm-none-eabi-gcc not found'],
      ['qemu-aot', 'arm-none-eabi-gcc not found'],
      // wasm3's script first fetches wasm3's source, which a machine that never built it lacks (and cannot fetch without curl).
      ...(existsSync(`${root}third_party/pywasm3-0.5.0/wasm3/.sha256`) ? [['wasm3', 'make not found']] : [])]) {
      const r = mt(['replay', '--engine', engine, trace], cli, env);
      expect(r.code, `${engine}: ${r.stderr}`).toBe(69);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^microtally: replay: engine ${engine} could not be built: .*${missing}.*\n$`));
    }
  });

  it('says "not built yet" in a checkout without dist/, not a stack trace', () => {
    mkdirSync(join(dir, 'bin'));
    copyFileSync(cli, join(dir, 'bin', 'microtally.js'));
    const r = mt(['--version'], join(dir, 'bin', 'microtally.js'));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`microtally: not built yet: run \`npm run build\` in ${dir}/\n`);
  });
});

describe('docs/SPEC.md is current with the command line', () => {
  const spec = readFileSync(`${root}docs/SPEC.md`, 'utf8');
  const r11 = spec.slice(spec.indexOf('## 7. Command line (R11)'), spec.indexOf('\n## 8.'));

  it.each(COMMANDS.map((c) => [c.name, c]))('lists %s with every option the code accepts', (name, c) => {
    const line = r11.split('\n').find((l) => l.startsWith(`- \`npx microtally ${name} `) || l.startsWith(`- \`npx microtally ${name}\``));
    expect(line, `no line for ${name} in SPEC R11`).toBeDefined();
    for (const option of Object.keys(c.options)) expect(line, `${name} --${option}`).toContain(`[--${option}`);
    for (const choice of Object.values(c.options).flatMap((o) => o.choices ?? [])) expect(line).toContain(choice);
  });
});
