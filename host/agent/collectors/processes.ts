// New processes. With the kernel's process connector (kernel-events.ts) every fork and exec is
// an event, read at once by the helper; without it (no privilege, no helper), by polling /proc:
// a pid that was not there at the last scan is a new process. Polling every 50 ms catches
// anything that lives at least that long. /proc is listed only when the last pid handed out (in
// /proc/loadavg) moved, so an idle poll is one small read.

import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessRecord } from '../../core.js';
import { type Logger, silentLogger } from '../log.js';
import type { KernelProcessEvent } from './kernel-events.js';
import { UserNames } from './users.js';

/** PF_KTHREAD in /proc/<pid>/stat `flags`: kernel threads are not processes a user started. */
const PF_KTHREAD = 0x00200000;
/** How many scans a forked child is re-read to see whether it execs. */
const FORK_WATCH_SCANS = 20;
const FORK_WATCH_MAX = 256;
/** List /proc at least this often, whatever /proc/loadavg says (it forgets exited pids too). */
const RESCAN_MS = 5000;

/** The last pid the kernel handed out: the fifth field of /proc/loadavg. */
export function parseLastPid(loadavg: string): number | undefined {
  const m = /\s(\d+)\s*$/.exec(loadavg);
  return m ? Number(m[1]) : undefined;
}

export interface ProcStat { pid: number; comm: string; state: string; ppid: number; flags: number; startTime: number }

/** Parses /proc/<pid>/stat; `comm` may hold spaces and parentheses, so split at the last `)`. */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).trim().split(/\s+/);
  if (rest.length < 20) return undefined;
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0],
    ppid: Number(rest[1]),
    flags: Number(rest[6]),
    startTime: Number(rest[19]),
  };
}

/** The real uid from /proc/<pid>/status (`Uid:` real, effective, saved, fs). */
export function parseStatusUid(text: string): number | undefined {
  const m = /^Uid:\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** /proc/<pid>/cmdline: arguments separated (and ended) by NUL. */
export function parseCmdline(raw: Buffer | string): string {
  const s = typeof raw === 'string' ? raw : raw.toString('utf8');
  return s.replace(/\0+$/, '').split('\0').join(' ');
}

/**
 * An executable as reported. A path means a file only in its mount namespace: one in another
 * namespace than the agent's that is not the file of that name here carries its namespace,
 * `mnt:[N]/usr/bin/sleep`, so it can never be taken for, nor merged into the record of, the file
 * of that name here (SPEC R1: "the same executable").
 */
export function executableIn(exe: string, mntns?: number | string): string {
  return mntns ? `mnt:[${mntns}]${exe}` : exe;
}

interface Known { startTime: number; cmd: string; exe: string }

export interface ProcessCollectorOptions {
  emit: (r: ProcessRecord) => void;
  now: () => number;
  procRoot?: string;
  passwdPath?: string;
  pollMs?: number;
  /** Children of this pid are not reported (the agent's own helper processes, such as `ss`). */
  ignoreChildrenOf?: number;
  /**
   * Also report the processes already running at start (an inventory), so that nothing started
   * before the agent stays invisible. Off: only processes that appear later are events.
   */
  inventory?: boolean;
  log?: Logger;
  /** The process whose mount namespace is the host's (default 1, init). */
  hostPid?: number;
  /** Masks secrets in a command line before it is reported. */
  mask?: (cmd: string) => string;
}

/** (uid_t)-1, the kernel's "no user": the uid of a process that exited before it could be read. */
export const UNKNOWN_UID = 0xffffffff;
/** kthreadd: its children are kernel threads, not processes anyone started. */
const KTHREADD_PID = 2;

export class ProcessCollector {
  private readonly known = new Map<number, Known>();
  /** Children seen as forks, re-read for a few scans in case they exec. */
  private readonly forkWatch = new Map<number, number>();
  private readonly users: UserNames;
  private readonly procRoot: string;
  private timer?: NodeJS.Timeout;
  private readonly log: Logger;
  private lastPid: number | undefined;
  private lastList = 0;
  /**
   * The host's mount namespace as /proc/<pid>/ns/mnt names it, and where its paths are looked up:
   * init's when it can be read (an agent sandboxed in its own still takes the host's paths for
   * the host's), else the agent's own; undefined: cannot be told.
   */
  private readonly hostMnt: { ns: string; root: string } | undefined;
  /** Listings of /proc so far (lets tests see the gate work). */
  listings = 0;

  constructor(private readonly opts: ProcessCollectorOptions) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.users = new UserNames(opts.passwdPath);
    this.log = opts.log ?? silentLogger;
    for (const pid of [String(opts.hostPid ?? 1), 'self']) {
      try {
        const root = pid === 'self' ? '/' : join(this.procRoot, pid, 'root');
        statSync(root); // a sandbox may keep the agent out of init's root
        this.hostMnt = { ns: readlinkSync(join(this.procRoot, pid, 'ns/mnt')), root };
        break;
      } catch { /* not readable: the next, or no namespaces to compare */ }
    }
  }

  /** Learns what runs now (reported only as an inventory, see the option), then polls unless the kernel's events feed it. */
  start(poll = true): void {
    this.scan(this.opts.inventory === true, true);
    if (!poll) return;
    this.timer = setInterval(() => this.poll(), this.opts.pollMs ?? 50);
    this.timer.unref();
  }

  /** Starts polling after kernel events stopped coming (the helper went away). */
  startPolling(): void {
    if (this.timer) return;
    this.scan(false, true); // what runs now was reported from events already
    this.timer = setInterval(() => this.poll(), this.opts.pollMs ?? 50);
    this.timer.unref();
  }

  /** Processes reported from kernel events (lets tests and the log see the source work). */
  kernelEvents = 0;
  /** Of those, processes that had exited before the helper could read them. */
  kernelGone = 0;

  /** One fork or exec from the process connector: reported as is, each exec of a pid included. */
  fromKernel(e: KernelProcessEvent): void {
    const ignore = this.opts.ignoreChildrenOf;
    if (ignore !== undefined && (e.pid === ignore || e.ppid === ignore)) return;
    if (e.pid === KTHREADD_PID || e.ppid === KTHREADD_PID) return;
    this.kernelEvents++;
    let cmd = e.cmd;
    if (e.gone) this.kernelGone++;
    // A process gone before its command line was read is still reported, saying so.
    if (cmd === '') cmd = e.gone ? `[${e.comm ?? '?'}] (exited before it was read)` : `[${e.comm ?? '?'}]`;
    const exe = e.exe || e.mntns ? executableIn(e.exe ?? '', e.mntns) : '';
    this.report(e.pid, e.ppid ?? 0, e.uid ?? UNKNOWN_UID, e.ev, cmd, exe, e.t);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  poll(): void {
    try {
      this.scan(true);
    } catch (e) {
      this.log.warn(`process scan failed: ${(e as Error).message}`);
    }
  }

  private scan(report: boolean, first = false): void {
    const now = this.opts.now();
    let lastPid: number | undefined;
    try {
      lastPid = parseLastPid(readFileSync(join(this.procRoot, 'loadavg'), 'utf8'));
    } catch { /* no gate: list every time */ }
    if (!first && lastPid !== undefined && lastPid === this.lastPid && now - this.lastList < RESCAN_MS) {
      for (const [pid, left] of this.forkWatch) this.recheckFork(pid, left, report); // exec makes no new pid
      return;
    }
    this.lastPid = lastPid;
    this.lastList = now;
    this.listings++;
    const pids = readdirSync(this.procRoot).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
    const alive = new Set(pids);
    for (const pid of this.known.keys()) if (!alive.has(pid)) { this.known.delete(pid); this.forkWatch.delete(pid); }
    for (const [pid, left] of this.forkWatch) this.recheckFork(pid, left, report);
    for (const pid of pids) if (!this.known.has(pid)) this.discover(pid, report);
  }

  private discover(pid: number, report: boolean): void {
    const dir = join(this.procRoot, String(pid));
    let stat: ProcStat | undefined;
    let uid: number | undefined;
    let cmd: string;
    try {
      stat = parseStat(readFileSync(join(dir, 'stat'), 'utf8'));
      uid = parseStatusUid(readFileSync(join(dir, 'status'), 'utf8'));
      cmd = parseCmdline(readFileSync(join(dir, 'cmdline')));
    } catch {
      return; // exited between the listing and the read
    }
    if (!stat || uid === undefined) return;
    const exe = readExe(dir, this.hostMnt);
    this.known.set(pid, { startTime: stat.startTime, cmd, exe });
    if (stat.flags & PF_KTHREAD || !report || stat.ppid === this.opts.ignoreChildrenOf) return;
    if (cmd === '') cmd = `[${stat.comm}]`;
    const parent = this.known.get(stat.ppid);
    const forked = parent !== undefined && parent.cmd === cmd && parent.exe === exe;
    if (forked && this.forkWatch.size < FORK_WATCH_MAX) this.forkWatch.set(pid, FORK_WATCH_SCANS);
    this.report(pid, stat.ppid, uid, forked ? 'fork' : 'exec', cmd, exe);
  }

  private recheckFork(pid: number, left: number, report: boolean): void {
    const k = this.known.get(pid);
    const dir = join(this.procRoot, String(pid));
    let cmd: string;
    let stat: ProcStat | undefined;
    let uid: number | undefined;
    try {
      cmd = parseCmdline(readFileSync(join(dir, 'cmdline')));
      stat = parseStat(readFileSync(join(dir, 'stat'), 'utf8'));
      uid = parseStatusUid(readFileSync(join(dir, 'status'), 'utf8'));
    } catch {
      this.forkWatch.delete(pid);
      return;
    }
    if (!k || !stat || uid === undefined || stat.startTime !== k.startTime) { this.forkWatch.delete(pid); return; }
    const exe = readExe(dir, this.hostMnt);
    if (cmd !== k.cmd || exe !== k.exe) {
      this.forkWatch.delete(pid);
      this.known.set(pid, { startTime: k.startTime, cmd, exe });
      if (report) this.report(pid, stat.ppid, uid, 'exec', cmd || `[${stat.comm}]`, exe);
    } else if (left <= 1) {
      this.forkWatch.delete(pid);
    } else {
      this.forkWatch.set(pid, left - 1);
    }
  }

  /** `t`: when it happened, when the kernel said; else now. */
  private report(pid: number, ppid: number, uid: number, type: 'fork' | 'exec', cmd: string, exe: string, t?: number): void {
    const rec: ProcessRecord = { t: t ?? this.opts.now(), pid, ppid, uid, type, cmd: this.opts.mask ? this.opts.mask(cmd) : cmd };
    if (exe) rec.exe = exe;
    const user = this.users.lookup(uid);
    if (user) rec.user = user;
    this.opts.emit(rec);
  }
}

/** The executable of /proc/<pid> (`dir`), marked with its mount namespace when that is foreign (executableIn). */
function readExe(dir: string, host: { ns: string; root: string } | undefined): string {
  let exe: string;
  try {
    exe = readlinkSync(join(dir, 'exe'));
  } catch {
    return ''; // kernel thread, zombie, or not ours to read
  }
  let mnt: string;
  try {
    mnt = readlinkSync(join(dir, 'ns/mnt'));
  } catch {
    return exe; // no namespace to compare (readable exe, unreadable namespace: not seen in practice)
  }
  if (host === undefined || mnt === host.ns) return exe;
  try {
    const image = statSync(join(dir, 'exe'), { bigint: true }); // the file it runs, wherever it is mounted
    const here = statSync(join(host.root, exe), { bigint: true });
    if (image.ino === here.ino && image.dev === here.dev) return exe;
  } catch { /* gone, or no such path here */ }
  return executableIn(exe, mnt.replace(/^mnt:\[|\]$/g, ''));
}
