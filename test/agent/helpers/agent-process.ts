// Runs `microtally run` (runAgent) as a real child process, straight from the TypeScript sources.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export class AgentProcess {
  stderr = '';
  stdout = '';
  readonly exited: Promise<number | null>;
  private readonly proc: ChildProcess;

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, ['--import', here('./register-ts.mjs'), here('./agent-main.ts'), 'run', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (d) => { this.stdout += d; });
    this.proc.stderr!.on('data', (d) => { this.stderr += d; });
    // 'close', not 'exit': by then all it wrote to stdout and stderr has been read.
    this.exited = new Promise((r) => this.proc.on('close', (code) => r(code)));
  }

  get pid(): number { return this.proc.pid!; }

  /** Resolves in the same turn as the output that first holds `text` arrives (no polling delay). */
  sees(text: string): Promise<void> {
    return new Promise((resolve) => {
      const look = (): void => {
        if (!this.stderr.includes(text)) return;
        this.proc.stderr!.off('data', look);
        resolve();
      };
      this.proc.stderr!.on('data', look);
      look();
    });
  }

  /** Resolves once the agent has taken its first look at the system and is collecting. Its first
   * look (every process, socket and baseline check) took over 15 s on a loaded machine; 60 s as the
   * kernel suite allows. */
  async started(ms = 60_000): Promise<void> {
    const end = Date.now() + ms;
    while (!this.stderr.includes('running; sending to')) {
      if (Date.now() > end || this.proc.exitCode !== null) throw new Error(`agent did not start:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Sends the signal and waits for the exit code (bounded: SIGKILL after `ms`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 15_000): Promise<number | null> {
    if (this.proc.exitCode !== null) return this.proc.exitCode;
    this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
