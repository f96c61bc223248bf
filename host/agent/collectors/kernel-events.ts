// The kernel event source: runs build/native/microtally-events (host/native/microtally-events.c),
// which takes every exec from an eBPF probe (host/native/microtally-exec.bpf.c), every fork (and
// every exec when the probe cannot load) from the process connector and every closed socket from
// the socket-destroy notifications over netlink, and hands each line it writes to the collectors.
// Node cannot open netlink sockets or load BPF programs itself.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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

/** Why the build left `what` out, as scripts/build-native.mjs recorded it beside the helper. */
export function notBuiltReason(what: 'helper' | 'probe' | 'notify', helperPath = HELPER_PATH): string | undefined {
  try {
    const why = (JSON.parse(readFileSync(join(dirname(helperPath), 'not-built.json'), 'utf8')) as Record<string, unknown>)[what];
    return typeof why === 'string' ? why : undefined;
  } catch {
    return undefined;
  }
}

export interface KernelProcessEvent {
  ev: 'exec' | 'fork';
  /** When it happened (ms since the epoch), from the kernel's clock at the event. */
  t?: number;
  pid: number;
  ppid: number | null;
  uid: number | null;
  cmd: string;
  exe?: string;
  comm?: string;
  /**
   * The process runs in another mount namespace than the agent, and `exe` there is not the file
   * of that name here (inode and file system): its path is that namespace's, this one (SPEC R1).
   */
  mntns?: number;
  /** The process had exited before its details could be read. */
  gone: boolean;
}

export interface KernelConnectionEvent {
  ev: 'conn';
  /** When the helper read the socket's end (ms since the epoch): the kernel stamps no time on it. */
  t?: number;
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
  /** Every event from the kernel before time t (ms since the epoch) has been handed over. */
  onMark?: (t: number) => void;
  /** Called if the helper stops on its own after it started (the caller falls back to polling). */
  onExit?: (why: string) => void;
  /**
   * Events lost before they reached the agent (a kernel queue or the exec probe's ring buffer
   * overflowed, or the helper's own output buffer): how many, or 'unknown' when the kernel does
   * not say. The caller hands them to the core (reportLoss), so a message counts them.
   */
  onLost?: (collector: 'process' | 'network', count: number | 'unknown') => void;
  helperPath?: string;
  /** How long to wait for the helper to say which sources it opened. */
  readyTimeoutMs?: number;
}

/** Lines that cannot be parsed, and kernel overflows, are counted and logged (at most once each). */
export class KernelEventStats {
  /** Events lost, by collector: counted, and (unknown) the reports that carried no number. */
  lost = { process: 0, network: 0, processUnknown: 0, networkUnknown: 0 };
  malformed = 0;

  /** One line for the log: what was lost so far, or '' when nothing. */
  summary(): string {
    const l = this.lost;
    const part = (what: string, n: number, unknown: number): string[] => [
      ...(n > 0 ? [`${n} ${what} events`] : []),
      ...(unknown > 0 ? [`${what} events ${unknown} time(s) in numbers the kernel did not give`] : [])];
    return [...part('process', l.process, l.processUnknown), ...part('connection', l.network, l.networkUnknown)].join(', ');
  }
}

/**
 * What one `lost` line of the helper stands for, by collector. The exec probe counts the execs
 * its ring buffer could not take ("proc" with "n"); a netlink queue that overflowed (ENOBUFS) says
 * only that it did ("proc"/"sock" without "n": the process connector's sequence numbers count exits
 * and every other process event too, so the forks among them cannot be told); the helper's own
 * output buffer counts whole events, "sock" of them connections.
 */
export function lostCounts(e: Record<string, unknown>): Array<['process' | 'network', number | 'unknown']> {
  const n = typeof e.n === 'number' && Number.isSafeInteger(e.n) && e.n >= 0 ? e.n : undefined;
  if (e.source === 'proc') return [['process', n ?? 'unknown']];
  if (e.source === 'sock') return [['network', n ?? 'unknown']];
  if (e.source !== 'output' || n === undefined) return [];
  const sock = typeof e.sock === 'number' && Number.isSafeInteger(e.sock) && e.sock >= 0 && e.sock <= n ? e.sock : 0;
  return ([['process', n - sock], ['network', sock]] as Array<['process' | 'network', number]>).filter(([, c]) => c > 0);
}

/** The helper's exec probe status, with the build's own reason when it was built without the probe. */
function probeStatus(exec: string, helperPath: string): string {
  const why = exec.startsWith('built without the exec probe') ? notBuiltReason('probe', helperPath) : undefined;
  return why ? `built without the exec probe: ${why}` : exec;
}

/**
 * Starts the helper; resolves once it reported which sources it opened (or failed to start:
 * then both carry the reason and the caller falls back to polling).
 */
export function startKernelEvents(opts: KernelEventOptions, stats = new KernelEventStats()): Promise<KernelSources> {
  const path = opts.helperPath ?? HELPER_PATH;
  const failed = (why: string): KernelSources => ({ proc: why, exec: why, sock: why, realtime: false, stop() {} });
  if (process.platform !== 'linux') return Promise.resolve(failed('not Linux'));
  if (!existsSync(path)) {
    return Promise.resolve(failed(`helper ${path} not built (${notBuiltReason('helper', path) ?? `run \`node scripts/build-native.mjs\` in ${dirname(dirname(dirname(path)))}`})`));
  }
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
        case 'mark': if (typeof e.t === 'number') opts.onMark?.(e.t); break;
        case 'lost':
          for (const [collector, n] of lostCounts(e)) {
            const key = n === 'unknown' ? (`${collector}Unknown` as const) : collector;
            const first = stats.lost[key] === 0;
            stats.lost[key] += n === 'unknown' ? 1 : n;
            opts.onLost?.(collector, n);
            // The first of each kind is logged; the totals at stop (summary), every one in a message.
            if (first) {
              const what = collector === 'process' ? 'process' : 'connection';
              opts.log.warn(n === 'unknown'
                ? `the kernel dropped ${what} events (its receive queue overflowed; it does not say how many): counted in the next message`
                : `${n} ${what} event(s) lost (${e.source === 'output' ? 'the agent read too slowly'
                  : collector === 'process' ? "the exec probe's ring buffer was full" : 'a kernel queue was full'}): counted in the next message`);
            }
          }
          break;
        case 'ready':
          if (ready) break;
          ready = true;
          clearTimeout(timer);
          resolve({ proc: String(e.proc), exec: probeStatus(String(e.exec ?? 'not reported by the helper'), path), sock: String(e.sock),
            realtime: e.rt === true, stop });
          break;
        default: break;
      }
    });
  });
}

export interface SupervisedKernelEventOptions extends Omit<KernelEventOptions, 'onExit'> {
  /** The helper stopped on its own: the caller polls meanwhile. */
  onDown: (why: string) => void;
  /** A restarted helper took over again after `downMs` of polling, with the sources it had before. */
  onUp: (downMs: number) => void;
  /** Stopped while the helper was down (restarts failing): how long it had been down, for the messages. */
  onStopDown?: (downMs: number) => void;
  /** Restart delays: the first, doubling up to the most; back to the first after a run this long. */
  backoff?: { initialMs: number; maxMs: number; resetAfterMs: number };
}

export const HELPER_BACKOFF = { initialMs: 1000, maxMs: 60_000, resetAfterMs: 60_000 };

/**
 * Starts the helper (as startKernelEvents) and keeps it running: when it stops on its own (a
 * crash, kill -9), the caller polls (onDown) and the helper is started again after a delay that
 * doubles from 1 s to 60 s while restarts keep failing, back to 1 s once a helper ran a minute.
 * A restarted helper takes over (onUp) only with the sources the first one opened; otherwise it
 * is stopped and tried again later. A helper that never started is not retried (the log says why).
 */
export async function superviseKernelEvents(opts: SupervisedKernelEventOptions,
  stats = new KernelEventStats()): Promise<KernelSources> {
  const backoff = opts.backoff ?? HELPER_BACKOFF;
  let delay = backoff.initialMs;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let startedAt = 0;
  let downAt = 0;
  let isDown = false;
  const launch = (): Promise<KernelSources> => startKernelEvents({ ...opts, onExit: (why) => down(why) }, stats);
  const first = await launch();
  let current = first;
  startedAt = Date.now();
  const same = (s: KernelSources): boolean => s.proc === first.proc && s.exec === first.exec && s.sock === first.sock;

  const down = (why: string): void => {
    if (stopped) return;
    downAt = Date.now();
    isDown = true;
    if (downAt - startedAt >= backoff.resetAfterMs) delay = backoff.initialMs;
    opts.onDown(why);
    retryLater();
  };
  const retryLater = (): void => {
    opts.log.info(`restarting the kernel event helper in ${(delay / 1000).toFixed(1)} s; polling /proc meanwhile`);
    timer = setTimeout(() => void retry(), delay);
    delay = Math.min(delay * 2, backoff.maxMs);
  };
  const retry = async (): Promise<void> => {
    timer = undefined;
    const next = await launch();
    if (stopped) { next.stop(); return; }
    if (!same(next)) {
      next.stop();
      opts.log.warn(`kernel event helper restart: sources ${next.proc}/${next.exec}/${next.sock}, not as before`);
      retryLater();
      return;
    }
    current = next;
    startedAt = Date.now();
    isDown = false;
    opts.onUp(startedAt - downAt);
  };

  return {
    ...first,
    stop() {
      // Down until the end: the gap so far still reaches the last message.
      if (!stopped && isDown) opts.onStopDown?.(Date.now() - downAt);
      stopped = true;
      clearTimeout(timer);
      current.stop();
    },
  };
}
