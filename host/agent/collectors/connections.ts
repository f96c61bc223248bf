// TCP/UDP connections. With the kernel's socket-destroy notifications (kernel-events.ts) a
// connection is reported when the kernel frees its socket, with the kernel's final TCP byte
// counters, however short it lived; the tables below then only give the inventory, the
// long-lived ones and the listening ports. Without them, by polling /proc/net/{tcp,tcp6,udp,udp6},
// byte counts from the kernel's TCP info as `ss -tinHeO` prints it (sock_diag). A connection is
// reported once: when it closes, with the bytes last sampled, or after `reportAfterMs` for
// long-lived ones, so its bytes count.
// Reading /proc/net/tcp walks the kernel's whole connection hash table (about 1 ms on a large
// host), so each table is re-read only when a cheap counter says something changed: the TCP
// counters of /proc/net/snmp, the UDP socket counts of /proc/net/sockstat{,6}.

import { execFile } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import type { ConnectionRecord } from '../../core.js';
import { type Logger, silentLogger } from '../log.js';
import type { KernelConnectionEvent } from './kernel-events.js';

export const TCP_ESTABLISHED = 0x01;
export const TCP_SYN_SENT = 0x02;
export const TCP_LISTEN = 0x0a;

export interface ProcSocket {
  proto: 'tcp' | 'udp';
  local: Uint8Array;
  lport: number;
  remote: Uint8Array;
  rport: number;
  state: number;
  uid: number;
  inode: number;
}

/** One address as /proc/net prints it: 32-bit words in host byte order, as hex. */
export function parseHexAddress(hex: string, littleEndian = endianness() === 'LE'): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let w = 0; w < hex.length / 8; w++) {
    for (let b = 0; b < 4; b++) {
      const src = littleEndian ? 3 - b : b;
      out[w * 4 + b] = parseInt(hex.substr(w * 8 + src * 2, 2), 16);
    }
  }
  return out;
}

/** The socket lines of one /proc/net/{tcp,tcp6,udp,udp6} file (header skipped, bad lines ignored). */
export function parseProcNet(text: string, proto: 'tcp' | 'udp', littleEndian?: boolean): ProcSocket[] {
  const out: ProcSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [la, lp] = f[1].split(':');
    const [ra, rp] = f[2].split(':');
    if (!lp || !rp || (la.length !== 8 && la.length !== 32) || ra.length !== la.length) continue;
    out.push({
      proto,
      local: parseHexAddress(la, littleEndian),
      lport: parseInt(lp, 16),
      remote: parseHexAddress(ra, littleEndian),
      rport: parseInt(rp, 16),
      state: parseInt(f[3], 16),
      uid: Number(f[7]),
      inode: Number(f[9]),
    });
  }
  return out;
}

export interface ByteCounts { bytesIn: number; bytesOut: number }

/** inode → bytes, from `ss -tinHeO` (one socket per line; payload sent less retransmissions). */
export function parseSsInfo(text: string): Map<number, ByteCounts> {
  const out = new Map<number, ByteCounts>();
  for (const line of text.split('\n')) {
    const ino = /\bino:(\d+)/.exec(line);
    if (!ino) continue;
    const num = (key: string): number => Number(new RegExp(`\\b${key}:(\\d+)`).exec(line)?.[1] ?? 0);
    out.set(Number(ino[1]), {
      bytesIn: num('bytes_received'),
      bytesOut: Math.max(0, num('bytes_sent') - num('bytes_retrans')),
    });
  }
  return out;
}

/**
 * A value that changes whenever a TCP connection opens, is accepted, fails or leaves ESTABLISHED:
 * the Tcp line of /proc/net/snmp (shared by IPv4 and IPv6). Undefined when it cannot be read.
 */
export function tcpActivity(snmp: string): string | undefined {
  const lines = snmp.split('\n').filter((l) => l.startsWith('Tcp:'));
  if (lines.length < 2) return undefined;
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/);
  const pick = ['ActiveOpens', 'PassiveOpens', 'AttemptFails', 'EstabResets', 'CurrEstab'].map((k) => values[names.indexOf(k)]);
  return pick.some((v) => v === undefined) ? undefined : pick.join(' ');
}

/** The UDP lines of /proc/net/sockstat and sockstat6 (sockets in use): change when UDP sockets come and go. */
export function udpActivity(sockstat: string): string | undefined {
  const lines = sockstat.split('\n').filter((l) => /^UDP6?:/.test(l));
  return lines.length ? lines.join(' ') : undefined;
}

export function parsePortRange(text: string): [number, number] {
  const [lo, hi] = text.trim().split(/\s+/).map(Number);
  return Number.isInteger(lo) && Number.isInteger(hi) ? [lo, hi] : [32768, 60999];
}

const isUnspecified = (a: Uint8Array): boolean => a.every((b) => b === 0);
const addrKey = (a: Uint8Array): string => Buffer.from(a).toString('hex');

/** Listening TCP endpoints, to tell accepted connections (`in`) from ones this host opened (`out`). */
export class Listeners {
  private readonly exact = new Set<string>();
  private readonly wildcardPorts = new Set<number>();

  constructor(sockets: ProcSocket[]) { this.add(sockets); }

  add(sockets: ProcSocket[]): void {
    for (const s of sockets) {
      if (s.proto !== 'tcp' || s.state !== TCP_LISTEN) continue;
      if (isUnspecified(s.local)) this.wildcardPorts.add(s.lport);
      else this.exact.add(`${addrKey(s.local)}|${s.lport}`);
    }
  }

  has(local: Uint8Array, port: number): boolean {
    if (this.wildcardPorts.has(port) || this.exact.has(`${addrKey(local)}|${port}`)) return true;
    // An IPv4 connection accepted on a dual-stack listener shows as ::ffff:a.b.c.d.
    if (local.length === 16 && local.subarray(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff))) {
      return this.exact.has(`${addrKey(local.subarray(12))}|${port}`);
    }
    return false;
  }
}

export function direction(s: ProcSocket, listeners: Listeners, ephemeral: [number, number]): 'in' | 'out' {
  const inEphemeral = s.lport >= ephemeral[0] && s.lport <= ephemeral[1];
  if (s.proto === 'tcp') {
    if (s.state === TCP_SYN_SENT) return 'out';
    if (listeners.has(s.local, s.lport)) return 'in';
    return inEphemeral ? 'out' : 'in';
  }
  if (s.rport !== 0) return 'out'; // a connected UDP socket
  return inEphemeral ? 'out' : 'in';
}

interface Tracked {
  sock: ProcSocket;
  dir: 'in' | 'out';
  firstSeen: number;
  bytes: ByteCounts;
  /** Already reported, or present at start without the inventory option: never reported (again). */
  done: boolean;
  /** With kernel events: when it left the tables; its destroy notification is awaited until GRACE_MS after. */
  vanished?: number;
}

export interface ConnectionCollectorOptions {
  emit: (r: ConnectionRecord) => void;
  now: () => number;
  procRoot?: string;
  pollMs?: number;
  /** How often TCP byte counts are sampled while unreported connections are open. */
  bytesPeriodMs?: number;
  /**
   * Also report the connections already open at start (an inventory; each when it closes, after
   * reportAfterMs, or at flush), so that nothing opened before the agent stays invisible.
   */
  inventory?: boolean;
  /** A connection still open after this long is reported with the bytes it has so far. */
  reportAfterMs?: number;
  /** Runs `ss`; replaceable for tests. Resolves to its stdout, or rejects. */
  sampleBytes?: () => Promise<string>;
  log?: Logger;
}

/** With kernel events, how long a socket gone from the tables waits for its destroy notification. */
const GRACE_MS = 3000;
/** With kernel events the final bytes come with the close: `ss` samples only serve long-lived connections. */
const KERNEL_BYTES_PERIOD_MS = 5000;
/** Listening ports are remembered this long after they were last seen (a short-lived server's connections end after it). */
const LISTENERS_KEPT_MS = 60_000;

const tupleKey = (proto: string, local: Uint8Array, lport: number, remote: Uint8Array, rport: number): string =>
  `${proto}|${addrKey(local)}|${lport}|${addrKey(remote)}|${rport}`;

/** While unreported sockets are open, how often their table is re-read to see them close. */
const CLOSE_CHECK_MS = 500;
/** Re-read every table at least this often, whatever the counters say. */
const RESCAN_MS = 5000;

/** One protocol's tables, with the counter that says when they are worth reading again. */
interface GatedTable {
  proto: 'tcp' | 'udp';
  files: string[];
  activity: (read: (f: string) => string) => string | undefined;
  sockets: ProcSocket[];
  lastScan: number;
  lastActivity?: string;
  /** Unreported sockets are open: look for their close regularly. */
  open: boolean;
  scans: number;
}

/** A kernel without IPv6 has no sockstat6: that part simply counts as empty. */
function tryRead(read: (f: string) => string, f: string): string {
  try {
    return read(f);
  } catch {
    return '';
  }
}

/** Reads a /proc file into one reused buffer (a poll runs often; no garbage per read). */
let readBuf = Buffer.alloc(256 << 10);
export function readProcFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    let n = 0;
    // A seq file returns about a page per read(); only a read of 0 bytes means the end.
    for (let got = 1; got > 0; n += got) {
      if (n === readBuf.length) {
        const bigger = Buffer.alloc(readBuf.length * 2);
        readBuf.copy(bigger);
        readBuf = bigger;
      }
      got = readSync(fd, readBuf, n, readBuf.length - n, null);
    }
    return readBuf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

export class ConnectionCollector {
  private readonly tracked = new Map<string, Tracked>();
  private readonly procRoot: string;
  private readonly log: Logger;
  private ephemeral: [number, number] = [32768, 60999];
  private timer?: NodeJS.Timeout;
  private lastSample = 0;
  private readonly tables: GatedTable[] = [
    { proto: 'tcp', files: ['tcp', 'tcp6'], activity: (read) => tcpActivity(read('snmp')), sockets: [], lastScan: 0, open: false, scans: 0 },
    { proto: 'udp', files: ['udp', 'udp6'], activity: (read) => udpActivity(['sockstat', 'sockstat6'].map((f) => tryRead(read, f)).join('\n')), sockets: [], lastScan: 0, open: false, scans: 0 },
  ];
  private sampling = false;
  private ssFailed = false;
  private ssWarned = false;
  /** Set when the kernel's destroy notifications report closes (start(false)). */
  private kernel = false;
  private listeners = new Listeners([]);
  private listenersSince = 0;
  /** Inodes reported from a destroy notification that a table read may still show. */
  private readonly destroyed = new Set<number>();
  /** Connections reported from destroy notifications (lets tests and the log see the source work). */
  kernelEvents = 0;

  constructor(private readonly opts: ConnectionCollectorOptions) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.log = opts.log ?? silentLogger;
  }

  /**
   * Reads the tables (the inventory) and polls them. `pollForCloses` false: the kernel's destroy
   * notifications, handed to fromKernel, report closes; the tables are still read (every
   * second by default) for long-lived connections and listening ports.
   */
  start(pollForCloses = true): void {
    this.kernel = !pollForCloses;
    try {
      this.ephemeral = parsePortRange(readFileSync(join(this.procRoot, 'sys/net/ipv4/ip_local_port_range'), 'utf8'));
    } catch { /* keep the kernel's default range */ }
    this.scan(this.opts.inventory === true, true);
    this.timer = setInterval(() => this.poll(), this.opts.pollMs ?? (this.kernel ? 1000 : 100));
    this.timer.unref();
  }

  /** Polls for closes after destroy notifications stopped coming (the helper went away). */
  startPolling(): void {
    this.kernel = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.poll(), this.opts.pollMs ?? 100);
    this.timer.unref();
  }

  /** Destroy notifications report closes again (a restarted helper): back to reading the tables every second. */
  stopPolling(): void {
    this.kernel = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.poll(), this.opts.pollMs ?? 1000);
    this.timer.unref();
  }

  /** A socket the kernel freed: its connection is reported now, with the kernel's final byte counts. */
  fromKernel(e: KernelConnectionEvent): void {
    const local = Buffer.from(e.local, 'hex');
    const remote = Buffer.from(e.remote, 'hex');
    const now = this.opts.now();
    const key = tupleKey(e.proto, local, e.lport, remote, e.rport);
    let found: [string, Tracked] | undefined;
    for (const entry of this.tracked) {
      const k = entry[1].sock;
      if (tupleKey(k.proto, k.local, k.lport, k.remote, k.rport) === key) { found = entry; break; }
    }
    this.kernelEvents++;
    if (found) {
      const [trackedKey, t] = found;
      this.tracked.delete(trackedKey);
      this.destroyed.add(t.sock.inode);
      if (t.done) return; // reported already (long-lived, or present at start without the inventory)
      if (e.bytes) t.bytes = { bytesIn: e.bytesIn, bytesOut: e.bytesOut };
      this.report(t, e.t);
      return;
    }
    // Opened and closed between two table reads: its listening port may be new too.
    this.refreshListeners(now);
    const sock: ProcSocket = { proto: e.proto, local, lport: e.lport, remote, rport: e.rport, state: e.state, uid: 0, inode: 0 };
    this.report({ sock, dir: direction(sock, this.listeners, this.ephemeral), firstSeen: now,
      bytes: { bytesIn: e.bytesIn, bytesOut: e.bytesOut }, done: false }, e.t);
  }

  private refreshListeners(now: number): void {
    const tcp = this.tables[0];
    this.rememberListeners(this.sockets(tcp, now, false), now);
  }

  private rememberListeners(sockets: ProcSocket[], now: number): void {
    if (now - this.listenersSince >= LISTENERS_KEPT_MS) {
      this.listeners = new Listeners([]);
      this.listenersSince = now;
    }
    this.listeners.add(sockets);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  poll(): void {
    try {
      this.scan(true);
    } catch (e) {
      this.log.warn(`connection scan failed: ${(e as Error).message}`);
    }
  }

  /** Reports every connection seen but not yet reported (at agent stop). */
  flush(): void {
    for (const t of this.tracked.values()) this.report(t);
  }

  /** Takes one byte sample now; resolves when it has been applied. */
  async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    this.lastSample = this.opts.now();
    try {
      const counts = parseSsInfo(await (this.opts.sampleBytes ?? runSs)());
      for (const t of this.tracked.values()) {
        const c = counts.get(t.sock.inode);
        if (c && t.sock.proto === 'tcp') t.bytes = c;
      }
    } catch (e) {
      // Without ss at all, stop trying; a slow or failed run is retried at the next period.
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      if (!this.ssWarned) this.log.warn(`TCP byte counts unavailable (ss): ${(e as Error).message}`);
      this.ssWarned = true;
      if (missing) this.ssFailed = true;
    } finally {
      this.sampling = false;
    }
  }

  private read(files: string[], proto: 'tcp' | 'udp'): ProcSocket[] {
    const out: ProcSocket[] = [];
    for (const f of files) {
      try {
        out.push(...parseProcNet(readProcFile(join(this.procRoot, 'net', f)), proto));
      } catch { /* that family is not configured in this kernel */ }
    }
    return out;
  }

  /** Table reads so far (lets tests see the counters gate them). */
  get tcpScans(): number { return this.tables[0].scans; }
  get udpScans(): number { return this.tables[1].scans; }

  /** A table's sockets: read again only when something may have changed. */
  private sockets(t: GatedTable, now: number, force: boolean): ProcSocket[] {
    let activity: string | undefined;
    try {
      activity = t.activity((f) => readProcFile(join(this.procRoot, 'net', f)));
    } catch { /* no counters: read the tables every time */ }
    const due = force || activity === undefined || activity !== t.lastActivity
      || (t.open && now - t.lastScan >= CLOSE_CHECK_MS) || now - t.lastScan >= RESCAN_MS;
    if (due) {
      t.sockets = this.read(t.files, t.proto);
      t.lastScan = now;
      t.lastActivity = activity;
      t.scans++;
    }
    return t.sockets;
  }

  private scan(report: boolean, first = false): void {
    const now = this.opts.now();
    const all = this.tables.flatMap((t) => this.sockets(t, now, first));
    this.rememberListeners(all, now);
    const listeners = this.listeners;
    const seen = new Set<string>();
    const open = { tcp: false, udp: false };
    const inodes = new Set<number>();
    for (const s of all) {
      if (s.inode === 0 || (s.proto === 'tcp' && s.state === TCP_LISTEN)) continue;
      inodes.add(s.inode);
      if (this.destroyed.has(s.inode)) continue; // an earlier read's copy of a socket already reported
      const key = `${s.proto}|${s.inode}`;
      seen.add(key);
      let t = this.tracked.get(key);
      if (!t) {
        t = { sock: s, dir: direction(s, listeners, this.ephemeral), firstSeen: now, bytes: { bytesIn: 0, bytesOut: 0 }, done: !report };
        this.tracked.set(key, t);
      } else if (s.proto === 'udp' && t.sock.rport === 0 && s.rport !== 0) {
        t.sock = s; // a UDP socket connected after it was first seen: keep its peer
      }
      if (!t.done && now - t.firstSeen >= (this.opts.reportAfterMs ?? 60_000)) this.report(t);
      if (!t.done) open[s.proto] = true;
    }
    for (const ino of this.destroyed) if (!inodes.has(ino)) this.destroyed.delete(ino);
    for (const [key, t] of this.tracked) {
      if (seen.has(key)) { t.vanished = undefined; continue; }
      // With kernel events the destroy notification brings the final bytes: wait for it a little.
      if (this.kernel && !t.done) {
        t.vanished ??= now;
        if (now - t.vanished < GRACE_MS) continue;
      }
      this.report(t);
      this.tracked.delete(key);
    }
    for (const t of this.tables) t.open = open[t.proto];
    if (open.tcp && !this.ssFailed && now - this.lastSample >= (this.opts.bytesPeriodMs ?? (this.kernel ? KERNEL_BYTES_PERIOD_MS : 500))) void this.sample();
  }

  /** `at`: when it ended, when the kernel said; else now. */
  private report(t: Tracked, at?: number): void {
    if (t.done) return;
    t.done = true;
    const s = t.sock;
    this.opts.emit({
      t: at ?? this.opts.now(),
      proto: s.proto,
      dir: t.dir,
      local: s.local,
      remote: s.remote,
      lport: s.lport,
      rport: s.rport,
      bytesIn: t.bytes.bytesIn,
      bytesOut: t.bytes.bytesOut,
    });
  }
}

/** Where the agent looks for the programs it runs, in order: never PATH, which whoever starts it (as root) controls. */
export const SYSTEM_PROGRAM_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The absolute path of a system program (an executable regular file in SYSTEM_PROGRAM_DIRS), or undefined. */
export function systemProgram(name: string, dirs = SYSTEM_PROGRAM_DIRS): string | undefined {
  for (const d of dirs) {
    const path = join(d, name);
    try {
      if (!statSync(path).isFile()) continue;
      accessSync(path, constants.X_OK);
      return path;
    } catch { /* not there */ }
  }
  return undefined;
}

function runSs(): Promise<string> {
  return new Promise((resolve, reject) => {
    const ss = systemProgram('ss');
    if (!ss) {
      reject(Object.assign(new Error(`ss not found in ${SYSTEM_PROGRAM_DIRS.join(', ')}`), { code: 'ENOENT' }));
      return;
    }
    execFile(ss, ['-tinHeO'], { timeout: 2000, maxBuffer: 16 << 20, env: { PATH: SYSTEM_PROGRAM_DIRS.join(':'), LC_ALL: 'C' } },
      (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}
