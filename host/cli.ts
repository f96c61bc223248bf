// `microtally` command line (SPEC R11). It only parses arguments and wires parts together.

import { writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { EngineName, Profile } from './engine.js';
import { ENGINE_NAMES, engineByName } from './engines/index.js';
import { IoError, isStreaming, openTrace, pause, type TraceInput } from './engines/v8.js';

const USAGE = `usage:
  microtally replay <trace.jsonl|-> [--engine v8|wasm3|aot|qemu|qemu-aot|qemu-threadx] [--profile rtos|linux] [--agent-id <uuid>] [--format json|cbor] [--stats]
    exit status: 0 all lines used, 1 some lines skipped, 2 usage error, 74 the trace could not be read or the
    output not written (full disk, closed pipe, e.g. \`| head\`), reported in one line on stderr
  microtally run [--config <file>] [--sink stdout|file:<path>|mqtt://host:port|mqtts://host:port] [--device-id <id>]
                 [--connection-string-file <path>] [--agent-id <uuid>] [--log-level debug|info|warn|error]
                 [--source auto|kernel|poll]   (connection string also from MICROTALLY_CONNECTION_STRING)
  microtally bench [--json]
  microtally decode [<file>|-]
    a CBOR sequence (replay --format cbor) in, the JSON lines --format json prints out
`;

function usage(message: string): number {
  process.stderr.write(`microtally: ${message}\n${USAGE}`);
  return 2;
}

/**
 * Writes to a file descriptor synchronously, so a slow reader holds the replay back instead of
 * output piling up in memory. stdout is buffered (64 KiB, flushed before anything goes to
 * stderr and before each read of the trace); a failed write throws an IoError naming the stream.
 */
class FdWriter {
  private readonly buf: Buffer;
  private used = 0;

  constructor(private readonly fd: number, readonly name: string, bufferBytes: number) {
    this.buf = Buffer.allocUnsafe(bufferBytes);
  }

  write(data: string | Uint8Array): void {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.used + b.length > this.buf.length) {
      this.flush();
      if (b.length >= this.buf.length) { this.writeAll(b); return; }
    }
    this.buf.set(b, this.used);
    this.used += b.length;
  }

  flush(): void {
    if (this.used === 0) return;
    const n = this.used;
    this.used = 0;
    this.writeAll(this.buf.subarray(0, n));
  }

  private writeAll(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) {
      try {
        off += writeSync(this.fd, b, off, b.length - off);
      } catch (e) {
        // A descriptor someone made non-blocking: wait for the reader, as a blocking write would.
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') { pause(); continue; }
        // Everything else, a reader that went away (EPIPE, `| head`) included, is an output
        // error (SPEC R10), as for the native program. (A stdout closed before start, `>&-`,
        // never reaches here: Node opens /dev/null on a closed fd 0-2 before any of this runs.)
        throw IoError.from(e, 'write', this.name);
      }
    }
  }
}

/** SPEC R10: an input or output error ends the run with 74 and one line naming it. */
function ioFailure(e: IoError): number {
  try { writeSync(2, `microtally: ${e.message}\n`); } catch { /* stderr itself is gone */ }
  return 74;
}

/** Flushes `out` before each further read, so output is never held back waiting for input. */
async function* flushingBetween(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, out: FdWriter): AsyncGenerator<Uint8Array> {
  for await (const c of chunks) {
    yield c;
    out.flush();
  }
}

async function replay(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        engine: { type: 'string', default: 'v8' },
        profile: { type: 'string', default: 'rtos' },
        'agent-id': { type: 'string' },
        format: { type: 'string', default: 'json' },
        stats: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    return usage((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) { process.stdout.write(USAGE); return 0; }
  if (positionals.length !== 1) return usage('replay takes exactly one trace file');
  if (!ENGINE_NAMES.includes(values.engine as EngineName)) return usage(`unknown engine "${values.engine}"`);
  if (values.profile !== 'rtos' && values.profile !== 'linux') return usage(`unknown profile "${values.profile}"`);
  if (values.format !== 'json' && values.format !== 'cbor') return usage(`unknown format "${values.format}"`);
  const options = { profile: values.profile as Profile, agentId: values['agent-id'], stats: values.stats,
    format: values.format === 'cbor' ? 'cbor' as const : undefined };
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
    if (!isStreaming(engine)) throw new Error(`engine ${engine.name} cannot stream a trace`);
    const source: TraceInput = v8 ? { ...input, chunks: () => flushingBetween(input.chunks(), stdout) } : input;
    const code = await engine.replayStream(source, options, output);
    stdout.flush();
    return code;
  } catch (e) {
    if (e instanceof IoError) return ioFailure(e);
    throw e;
  } finally {
    input.close();
  }
}

/** Loads a command's module only when that command runs. */
function modulePath(p: string): string { return p; }

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'replay': return replay(rest);
    case 'run': {
      const m = await import(modulePath('./agent/run.js'));
      return m.runAgent(rest);
    }
    case 'decode': {
      const m = await import('./decode.js');
      return m.runDecode(rest);
    }
    case 'bench': {
      const m = await import('./bench/bench.js');
      return m.runBench(rest);
    }
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      return usage(`unknown command "${command}"`);
  }
}
