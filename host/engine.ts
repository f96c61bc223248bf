// One interface for every engine that can run the blob, so the test suites and the CLI
// run the same traces on each of them and compare bytes.

export type Profile = 'rtos' | 'linux';
export type EngineName = 'v8' | 'wasm3' | 'qemu';

export interface ReplayOptions {
  profile: Profile;
  /** UUID text; the core's default agent id when absent. */
  agentId?: string;
  /** Add the core's one-line JSON summary to stderr (SPEC R11 `--stats`). */
  stats?: boolean;
}

export interface ReplayResult {
  /** Messages, one JSON message per line, exactly as the CLI prints them. */
  stdout: string;
  /** `line N: reason` lines, then the stats line when asked for. */
  stderr: string;
  /** 0 all lines used, 1 some lines skipped, 2 usage error (SPEC R10/R11). */
  exitCode: number;
}

export interface Engine {
  readonly name: EngineName;
  /** Replays a whole trace (JSON Lines bytes) as `microtally replay` does. */
  replay(trace: Uint8Array, options: ReplayOptions): Promise<ReplayResult>;
}
