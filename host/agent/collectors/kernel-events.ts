// The kernel event source: runs build/native/microtally-events (host/native/microtally-events.c),
// which takes every exec from an eBPF probe (host/native/microtally-exec.bpf.c), every fork (and
// every exec when the probe cannot load) from the process connector and every closed socket from
// the socket-destroy notifications over netlink, and hands each line it writes to the collectors.
// Node cannot open netlink sockets or load BPF programs itself.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';

/** The package root: the nearest folder above this module with a package.json (from dist/ or from the sources). */
function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
}

/** Where the build puts the helper (scripts/build-native.mjs). */
export const HELPER_PATH = join(packageRoot(), 'build/native/microtally-events');

export interface KernelProcessEvent {
  ev: 'exec' | 'fork';
  pid: number;
  ppid: number | null;
  uid: number | null;
  cmd: string;
  exe?: string;
  comm?: string;
  /** The process had exited before its details could be read. */
  gone: boolean;
}

export interface KernelConnectionEvent {
  ev: 'conn';
  proto: 'tcp' | 'udp';
  state: number;
  /** Addresses as hex bytes in network order. */
  local: string;
  lport: number;
  remote: string;
  rport: number;
  bytesIn: number;
  bytesOut: number;
  /** The kernel gave byte counters (TCP); false for UDP. */
  bytes: boolean;
}

export interface KernelSources {
  /** "ok", or why the process connector could not be used. */
  proc: string;
  /** "bpf" when every exec comes from the exec probe (its command line read at the exec), else why not. */
  exec: string;
  /** "ok", or why the socket-destroy notifications could not be used. */
  sock: string;
  /** The helper runs at a real-time priority (reads a short process before it exits). */
  realtime: boolean;
  stop(): void;
}

export interface KernelEventOptions {
  onProcess: (e: KernelProcessEvent) => void;
  onConnection: (e: KernelConnectionEvent) => void;
  log: Logger;
  /** Called if the helper stops on its own after it started (the caller falls back to polling). */
  onExit?: (why: string) => void;
  helperPath?: string;
  /** How long to wait for the helper to say which sources it opened. */
  readyTimeoutMs?: number;
}

/** Lines that cannot be parsed, and kernel overflows, are counted and logged (at most once each). */
export class KernelEventStats {
  lost = { proc: 0, sock: 0, output: 0 };
  malformed = 0;
}

/**
 * Starts the helper; resolves once it reported which sources it opened (or failed to start:
 * then both carry the reason and the caller falls back to polling).
 */
export function startKernelEvents(opts: KernelEventOptions, stats = new KernelEventStats()): Promise<KernelSources> {
  const path = opts.helperPath ?? HELPER_PATH;
  const failed = (why: string): KernelSources => ({ proc: why, exec: why, sock: why, realtime: false, stop() {} });
  if (process.platform !== 'linux') return Promise.resolve(failed('not Linux'));
  if (!existsSync(path)) return Promise.resolve(failed(`helper ${path} not built (needs a C compiler at build time)`));
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      // Its own session: Ctrl-C on the agent's terminal (SIGINT to the process group) reaches the
      // agent alone, which then stops the helper itself; left alone, it ends at its next write.
      child = spawn(path, [], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (e) {
      resolve(failed(`cannot start ${path}: ${(e as Error).message}`));
      return;
    }
    let ready = false;
    let stopping = false;
    const stop = (): void => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    };
    const timer = setTimeout(() => {
      if (ready) return;
      ready = true;
      stop();
      resolve(failed(`helper did not start within ${opts.readyTimeoutMs ?? 5000} ms`));
    }, opts.readyTimeoutMs ?? 5000);
    child.on('error', (e) => {
      if (ready) { opts.log.warn(`kernel event helper: ${e.message}`); return; }
      ready = true;
      clearTimeout(timer);
      resolve(failed(`cannot start ${path}: ${e.message}`));
    });
    child.stderr!.on('data', (d: Buffer) => opts.log.warn(`kernel event helper: ${d.toString().trim()}`));
    child.on('exit', (code, signal) => {
      if (!ready) {
        ready = true;
        clearTimeout(timer);
        resolve(failed(`helper exited (${signal ?? code}) before it started`));
      } else if (!stopping) {
        opts.log.error(`kernel event helper exited (${signal ?? code}): falling back to polling`);
        opts.onExit?.(`helper exited (${signal ?? code})`);
      }
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line);
      } catch {
        if (stats.malformed++ === 0) opts.log.warn(`kernel event helper wrote a malformed line: ${line.slice(0, 80)}`);
        return;
      }
      switch (e.ev) {
        case 'exec':
        case 'fork': opts.onProcess(e as unknown as KernelProcessEvent); break;
        case 'conn': opts.onConnection(e as unknown as KernelConnectionEvent); break;
        case 'lost': {
          const source = e.source === 'proc' || e.source === 'output' ? e.source : 'sock';
          const n = typeof e.n === 'number' ? e.n : 1;
          const first = stats.lost[source] === 0;
          stats.lost[source] += n;
          if (first) {
            opts.log.warn(source === 'output'
              ? `kernel event helper dropped ${n} event(s): the agent read too slowly`
              : `the kernel dropped ${source === 'proc' ? 'process events (a receive queue or the exec probe\'s buffer was full)' : 'socket events (receive queue full)'}; some are missing`);
          }
          break;
        }
        case 'ready':
          if (ready) break;
          ready = true;
          clearTimeout(timer);
          resolve({ proc: String(e.proc), exec: String(e.exec ?? 'not reported by the helper'), sock: String(e.sock),
            realtime: e.rt === true, stop });
          break;
        default: break;
      }
    });
  });
}
