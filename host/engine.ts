// One interface for every engine that can run the blob, so the test suites and the CLI
// run the same traces on each of them and compare bytes.

import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { ReplayOutput, TraceInput } from './io.js';

export type Profile = 'rtos' | 'linux';
export type EngineName = 'v8' | 'wasm3' | 'aot' | 'qemu' | 'qemu-aot' | 'qemu-threadx';

export interface ReplayOptions {
  profile: Profile;
  /** UUID text; the core's default agent id when absent. */
  agentId?: string;
  /** The format the run starts with (`--format`, the default of messageFormat): JSON when absent. */
  format?: 'json' | 'cbor';
  /** Add the core's one-line JSON summary to stderr (SPEC R11 `--stats`). */
  stats?: boolean;
  /** Core updates (`--update-at`, docs/UPDATE.md): each package file delivered before trace line `line`. */
  updates?: { line: number; path: string }[];
  /** The public key (PEM file) the packages must be signed with; required with `updates`. */
  pub?: string;
  /** The sequence of the blob the replay starts with (`--installed-sequence`; 0: the built-in blob). */
  installedSequence?: number;
}

/** The engines whose replay can swap cores (`--update-at`). */
export const SWAPPING_ENGINES: EngineName[] = ['v8', 'wasm3', 'qemu', 'qemu-threadx'];

export interface ReplayResult {
  /** Messages, one JSON message per line, exactly as the CLI prints them. */
  stdout: string;
  /** The same output as bytes (a CBOR sequence is not text). */
  stdoutBytes: Uint8Array;
  /** `line N: reason` lines, then the stats line when asked for. */
  stderr: string;
  /** 0 all lines used, 1 some lines skipped, 2 usage error (SPEC R10/R11). */
  exitCode: number;
}

/** What an engine measured over a file of typed connection records (docs/ABI.md layout). */
export interface BenchResult {
  events: number;
  /** Time inside the core's ingest calls (the aggregation step), best of the repeats (host engines). */
  ns?: number;
  /** Time inside the calls that build and hand out messages, for the same run. */
  sendNs?: number;
  /** Instructions executed by the ingest loop (emulated board, from QEMU's -icount clock). */
  instructions?: number;
  /** Instructions spent building and handing out messages, for the same run (emulated board). */
  sendInstructions?: number;
  /** The core's run summary (mt_stats) after the run, to check every engine did the same work. */
  stats?: unknown;
}

/** An engine: replays a trace as it is read (the CLI) or whole (the tests), and may bench the core. */
export interface Engine {
  readonly name: EngineName;
  /**
   * Replays a trace as it is read, writing output as it is produced (`microtally replay`).
   * Resolves to the exit status (SPEC R11; a native engine's own codes 70/71/74/76 pass through
   * after its one-line report). Rejects with an IoError when the input or output fails.
   */
  replayStream(input: TraceInput, options: ReplayOptions, output: ReplayOutput): Promise<number>;
  /**
   * Replays a whole trace (JSON Lines bytes) as `microtally replay` does, output kept; an
   * engine's own failure (70 and up) rejects, with what it printed.
   */
  replay(trace: Uint8Array, options: ReplayOptions): Promise<ReplayResult>;
  /**
   * Feeds every record of `recordsFile` to the rtos blob through `mt_ingest_batch`, draining
   * messages as they come (and discarding them), `repeat` times from a fresh `mt_init`.
   */
  benchConnections?(recordsFile: string, repeat: number): Promise<BenchResult>;
}

/**
 * An engine this machine or this copy cannot run (a tool or the repository's C sources missing).
 * The message says what is missing in one line; `replay` reports it and exits 69.
 */
export class EngineUnavailable extends Error {}

/** Why a build script cannot run here (it is not in an installed package), or undefined. */
export function missingBuildScript(engine: EngineName, script: string): EngineUnavailable | undefined {
  if (existsSync(script)) return undefined;
  return new EngineUnavailable(`engine ${engine} is built from the repository's C sources (scripts/${basename(script)}), ` +
    'which the installed package does not include: use it from a clone of the repository (engine v8 works anywhere)');
}

/** A failed build script's reason: its last line on stderr (the scripts end with what was missing). */
export function buildFailure(engine: EngineName, stderr: string): EngineUnavailable {
  const last = stderr.trim().split('\n').pop() ?? '';
  return new EngineUnavailable(`engine ${engine} could not be built: ${last || 'the build script failed'}`);
}
