// `microtally replay`: a trace through the core on any engine, messages on stdout (SPEC R10, R11).

import { accessSync, constants, readFileSync, statSync, writeSync } from 'node:fs';
import { loadPublicKey } from '../update/package.js';
import { EngineUnavailable, SWAPPING_ENGINES, type EngineName, type Profile, type ReplayOptions } from '../engine.js';
import { ENGINE_NAMES, engineByName } from '../engines/index.js';
import { updateLimitError } from '../engines/update-args.js';
import { FdWriter, ioFailure, IoError, openTrace, type TraceInput } from '../io.js';
import { UsageError, type Command, type Values } from './command.js';

/** Flushes `out` before each further read, so output is never held back waiting for input. */
async function* flushingBetween(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, out: FdWriter): AsyncGenerator<Uint8Array> {
  for await (const c of chunks) {
    yield c;
    out.flush();
  }
}

export const replay: Command = {
  name: 'replay',
  summary: 'Replays a trace (JSON Lines, SPEC R10) through the core and prints its messages on stdout, one per line.',
  positionals: { names: '<trace.jsonl|->', min: 1, max: 1 },
  options: {
    engine: { type: 'string', value: 'name', choices: ENGINE_NAMES, default: 'v8', help: 'the engine that runs the blob' },
    profile: { type: 'string', value: 'name', choices: ['rtos', 'linux'], default: 'rtos', help: 'the blob (limits and collectors)' },
    'agent-id': { type: 'string', value: 'uuid', help: "the AgentId of the messages (default: the core's)" },
    format: { type: 'string', value: 'name', choices: ['json', 'cbor'], default: 'json', help: 'json: one message per line; cbor: a CBOR sequence (docs/CBOR.md)' },
    stats: { type: 'boolean', help: 'add one JSON summary line on stderr' },
    'update-at': { type: 'string', value: 'N:package[,…]', help: 'deliver each core update package before trace line N (docs/UPDATE.md)' },
    pub: { type: 'string', value: 'pem', help: 'the public key update packages must be signed with (with --update-at)' },
    'installed-sequence': { type: 'string', value: 'n', help: 'the sequence of the blob the replay starts with (default 0: the built-in blob)' },
  },
  notes: `exit status: 0 all lines used, 1 some lines skipped, 2 usage error, 74 the trace could not be read or the
output not written (full disk, closed pipe, e.g. \`| head\`), 69 the engine cannot run here (a tool or the
repository's C sources missing); a failure is reported in one line on stderr`,
  run: runReplay,
};

/** `--update-at`, `--pub`, `--installed-sequence` (docs/UPDATE.md): checked here, the files readable. */
function updateOptions(values: Values): Pick<ReplayOptions, 'updates' | 'pub' | 'installedSequence'> {
  const at = values['update-at'] as string | undefined;
  const pub = values.pub as string | undefined;
  const seq = values['installed-sequence'] as string | undefined;
  if (at === undefined) {
    if (pub !== undefined || seq !== undefined) throw new UsageError(`--${pub !== undefined ? 'pub' : 'installed-sequence'} goes with --update-at`);
    return {};
  }
  if (pub === undefined) throw new UsageError('--update-at needs --pub <pem>, the key packages must be signed with');
  if (!SWAPPING_ENGINES.includes(values.engine as EngineName)) {
    throw new UsageError(`--update-at: engine ${String(values.engine)} cannot swap cores (engines that can: ${SWAPPING_ENGINES.join(', ')})`);
  }
  const readable = (path: string, what: string) => {
    try { accessSync(path, constants.R_OK); } catch (e) { throw new UsageError(`${what} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'})`); }
    // a directory passes access(2) and fails only when an engine reads it
    if (!statSync(path).isFile()) throw new UsageError(`${what} ${path}: not a file`);
  };
  readable(pub, '--pub');
  try { loadPublicKey(readFileSync(pub)); } catch (e) { throw new UsageError(`--pub ${pub}: ${(e as Error).message}`); }
  const updates = at.split(',').map((item) => {
    const m = /^(\d+):(.+)$/.exec(item);
    const line = m ? Number(m[1]) : NaN;
    if (!m || !Number.isSafeInteger(line) || line < 1) throw new UsageError(`--update-at must be <N>:<package>[,<N>:<package>…] with N from 1, got "${item}"`);
    readable(m[2], '--update-at: package');
    return { line, path: m[2] };
  });
  let installedSequence: number | undefined;
  if (seq !== undefined) {
    installedSequence = Number(seq);
    if (!/^\d+$/.test(seq) || !Number.isSafeInteger(installedSequence)) throw new UsageError(`--installed-sequence must be an integer from 0, got "${seq}"`);
  }
  // Delivered in line order, those of one line in the order given.
  updates.sort((a, b) => a.line - b.line);
  return { updates, pub, installedSequence };
}

async function runReplay(values: Values, positionals: string[]): Promise<number> {
  const options: ReplayOptions = { profile: values.profile as Profile, agentId: values['agent-id'] as string | undefined, stats: values.stats === true,
    format: values.format === 'cbor' ? 'cbor' as const : undefined, ...updateOptions(values) };
  const tooMany = updateLimitError(values.engine as EngineName, options);
  if (tooMany) throw new UsageError(tooMany);
  const v8 = values.engine === 'v8';
  // V8 produces messages one by one: buffer them. A native engine's output arrives in pipe-sized
  // chunks: pass each on at once.
  const stdout = new FdWriter(1, 'stdout', v8 ? 64 << 10 : 0);
  const stderr = new FdWriter(2, 'stderr', 0);
  const output = { out: (d: string | Uint8Array) => stdout.write(d), err: (d: string | Uint8Array) => { stdout.flush(); stderr.write(d); } };
  let input: TraceInput;
  try {
    input = openTrace(positionals[0]);
  } catch (e) {
    if (e instanceof IoError) return ioFailure(e);
    throw e;
  }
  try {
    const engine = await engineByName(values.engine as EngineName);
    const source: TraceInput = v8 ? { ...input, chunks: () => flushingBetween(input.chunks(), stdout) } : input;
    const code = await engine.replayStream(source, options, output);
    stdout.flush();
    return code;
  } catch (e) {
    if (e instanceof IoError) return ioFailure(e);
    if (e instanceof EngineUnavailable) {
      stdout.flush();
      try { writeSync(2, `microtally: replay: ${e.message}\n`); } catch { /* stderr itself is gone */ }
      return 69;
    }
    throw e;
  } finally {
    input.close();
  }
}

