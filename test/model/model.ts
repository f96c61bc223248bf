// An independent, deliberately simple model of the aggregation semantics (SPEC R1–R6):
// arrays and linear search, no fixed memory, no JSON writer. The property tests compare
// the core's records, window by window, with what this model says they must be.

import { VERSION } from '../../host/version.js';

export type Profile = 'rtos' | 'linux';
export interface Send { ts: number; name: string; records: any[]; windows?: number }

interface Cfg {
  process: { enabled: boolean; priority: string; aggregation: boolean; cacheSize: number };
  network: { enabled: boolean; priority: string; aggregation: boolean; cacheSize: number };
  systemInformation: { enabled: boolean; interval: string };
  baseline: { enabled: boolean; interval: string; disabledGroups: string[]; disabledChecks: string[] };
  priorityIntervals: { high: number; medium: number; low: number };
  sendEmptyWindows: boolean;
}

interface Counters { received: number; discarded: number; dropped: number; ignored: number }

const iso = (t: number) => new Date(t).toISOString();
const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

export class Model {
  readonly sends: Send[] = [];
  private cfg: Cfg;
  private started = false;
  private last = 0;
  private start = [0, 0, 0, 0];
  /** Elapsed empty windows the next IsEmpty event of each collector stands for. */
  private run = [0, 0, 0, 0];
  private proc: any[] = [];
  private net: any[] = [];
  private base: any[] = [];
  private sys: any = undefined;
  private counters: Counters[] = [this.zero(), this.zero(), this.zero()];

  constructor(private readonly profile: Profile) {
    const linux = profile === 'linux';
    this.cfg = {
      process: { enabled: true, priority: 'medium', aggregation: true, cacheSize: 256 },
      network: { enabled: true, priority: 'medium', aggregation: true, cacheSize: 256 },
      systemInformation: { enabled: true, interval: 'low' },
      baseline: { enabled: true, interval: 'low', disabledGroups: [], disabledChecks: [] },
      priorityIntervals: linux ? { high: 1800, medium: 7200, low: 86400 } : { high: 10, medium: 30, low: 60 },
      sendEmptyWindows: false,
    };
  }

  private zero(): Counters { return { received: 0, discarded: 0, dropped: 0, ignored: 0 }; }

  /** Whether collector c runs (the rtos profile has no process table). */
  private enabled(c: number): boolean {
    if (c === 0) return this.cfg.process.enabled && this.profile === 'linux';
    return [this.cfg.process, this.cfg.network, this.cfg.baseline, this.cfg.systemInformation][c].enabled;
  }

  private len(c: number): number {
    const p = [this.cfg.process.priority, this.cfg.network.priority, this.cfg.baseline.interval, this.cfg.systemInformation.interval][c];
    return (this.cfg.priorityIntervals as any)[p] * 1000;
  }

  input(ev: any): void {
    if (!this.started) { this.started = true; this.start = [ev.t, ev.t, ev.t, ev.t]; this.run = [0, 0, 0, 0]; }
    this.last = ev.t;
    for (;;) {
      // A run of elapsed empty windows is one IsEmpty event, at the run's last window, "Windows": N.
      for (const c of [0, 1, 2, 3]) {
        const len = this.len(c);
        if (this.run[c] !== 0 || !this.cfg.sendEmptyWindows || !this.enabled(c) || !this.windowEmpty(c)) continue;
        if (this.start[c] + 2 * len > ev.t) continue;
        const windows = Math.floor((ev.t - this.start[c]) / len);
        this.start[c] += (windows - 1) * len;
        this.run[c] = windows;
      }
      const ends = [0, 1, 2, 3].map((c) => this.start[c] + this.len(c));
      const due = ends.filter((e) => e <= ev.t);
      if (due.length === 0) break;
      const min = Math.min(...due);
      const group = [0, 1, 2, 3].filter((c) => ends[c] === min);
      this.emit(group, min, true);
      for (const c of group) {
        const len = this.len(c);
        this.start[c] += len;
        // Windows that passed with nothing in them are skipped, unless they are to be reported.
        const reportEmpty = this.cfg.sendEmptyWindows && this.enabled(c);
        this.run[c] = 0;
        if (!reportEmpty && this.start[c] + len <= ev.t) this.start[c] += Math.floor((ev.t - this.start[c]) / len) * len;
      }
    }
    switch (ev.kind) {
      case 'config':
        this.emit([0, 1, 2, 3], ev.t);
        this.merge(ev.config);
        this.start = [ev.t, ev.t, ev.t, ev.t];
        this.run = [0, 0, 0, 0];
        break;
      case 'connection': this.connection(ev); break;
      case 'process': this.process(ev); break;
      case 'baseline': this.baseline(ev); break;
      case 'sysinfo': if (this.cfg.systemInformation.enabled) this.sys = ev; break;
    }
  }

  finish(): void { if (this.started) this.emit([0, 1, 2, 3], this.last); }

  private merge(update: any): void {
    for (const [k, v] of Object.entries(update)) {
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) Object.assign((this.cfg as any)[k], v);
      else (this.cfg as any)[k] = v;
    }
  }

  private connection(ev: any): void {
    const n = this.counters[1];
    n.received++;
    if (!this.cfg.network.enabled) { n.ignored++; return; }
    const same = (r: any) => r.lport === ev.lport && r.rport === ev.rport && r.proto === ev.proto && r.local === ev.local && r.remote === ev.remote;
    const hit = this.cfg.network.aggregation ? this.net.find(same) : undefined;
    if (hit) {
      hit.hits++; hit.bytesIn += ev.bytesIn; hit.bytesOut += ev.bytesOut; hit.lastT = ev.t;
      hit.app ??= ev.app; hit.host ??= ev.host;
      return;
    }
    if (this.net.length >= this.cfg.network.cacheSize) {
      if (this.profile === 'rtos') { n.dropped++; return; }
      n.discarded += this.net.shift().hits;
    }
    this.net.push({ ...ev, hits: 1, firstT: ev.t, lastT: ev.t });
  }

  private process(ev: any): void {
    const p = this.counters[0];
    p.received++;
    if (!this.cfg.process.enabled || this.profile === 'rtos') { p.ignored++; return; }
    const hit = this.cfg.process.aggregation ? this.proc.find((r) => r.cmd === ev.cmd && r.uid === ev.uid
      && (r.exe === undefined || ev.exe === undefined || r.exe === ev.exe)) : undefined;
    if (hit) { hit.hits++; hit.lastT = ev.t; hit.exe ??= ev.exe; hit.user ??= ev.user; return; }
    if (this.proc.length >= this.cfg.process.cacheSize) p.discarded += this.proc.shift().hits;
    this.proc.push({ ...ev, hits: 1, firstT: ev.t, lastT: ev.t });
  }

  private baseline(ev: any): void {
    const b = this.cfg.baseline;
    const n = this.counters[2];
    n.received++;
    if (!b.enabled || b.disabledChecks.includes(ev.id) || b.disabledGroups.includes(ev.group)) { n.ignored++; return; }
    const i = this.base.findIndex((r) => r.id === ev.id);
    if (i >= 0) this.base[i] = ev;
    else if (this.base.length < (this.profile === 'linux' ? 256 : 16)) this.base.push(ev);
    else n.dropped++;
  }

  /** Whether collector c's window holds nothing to send, counters included. */
  private windowEmpty(c: number): boolean {
    const zero = (k: number) => Object.values(this.counters[k]).every((v) => v === 0);
    if (c === 0) return this.proc.length === 0 && zero(0);
    if (c === 1) return this.net.length === 0 && zero(1);
    if (c === 2) return !this.base.some((r) => r.result !== 'pass');   // counters aside (flush.ts windowEmpty)
    return this.sys === undefined;
  }

  /** A window's sends; `natural` when it ended on the grid (not flushed by a change or the end). */
  private emit(group: number[], ts: number, natural = false): void {
    const has = (c: number) => group.includes(c);
    const failing = this.base.filter((r) => r.result !== 'pass');
    const counts = [this.proc.length, this.net.length, failing.length, this.sys ? 1 : 0];
    const names = ['ProcessCreate', 'ConnectionCreate', 'Baseline', 'SystemInformation'];
    const empty = (c: number) => natural && has(c) && counts[c] === 0 && this.cfg.sendEmptyWindows && this.enabled(c);
    if (empty(0)) this.sends.push({ ts, name: names[0], records: [], ...(this.run[0] > 1 && { windows: this.run[0] }) });
    if (has(0) && this.proc.length) this.sends.push({ ts, name: 'ProcessCreate', records: this.proc.map((r) => ({
      ProcessId: r.pid, ParentProcessId: r.ppid, UserId: r.uid, CommandLine: r.cmd, Type: r.type, HitCount: r.hits,
      FirstSeenUTC: iso(r.firstT), LastSeenUTC: iso(r.lastT),
      ...(r.exe !== undefined && { Executable: r.exe }), ...(r.user !== undefined && { UserName: r.user }) })) });
    if (empty(1)) this.sends.push({ ts, name: names[1], records: [], ...(this.run[1] > 1 && { windows: this.run[1] }) });
    if (has(1) && this.net.length) this.sends.push({ ts, name: 'ConnectionCreate', records: this.net.map((r) => ({
      LocalAddress: r.local, LocalPort: r.lport, RemoteAddress: r.remote, RemotePort: r.rport, Protocol: r.proto,
      Direction: r.dir === 'in' ? 'In' : 'Out', BytesIn: r.bytesIn, BytesOut: r.bytesOut, HitCount: r.hits,
      FirstSeenUTC: iso(r.firstT), LastSeenUTC: iso(r.lastT),
      ...(r.app !== undefined && { ApplicationProtocol: r.app }), ...(r.host !== undefined && { ExtraDetails: { HostName: r.host } }),
      // Sums stay at 2^64 - 1 (the model's numbers are exact only below 2^53: traces past it compare text)
      ...((r.bytesIn >= 2 ** 64 - 1 || r.bytesOut >= 2 ** 64 - 1) && { Saturated: true }) })) });
    if (empty(2)) this.sends.push({ ts, name: names[2], records: [], ...(this.run[2] > 1 && { windows: this.run[2] }) });
    if (has(2) && failing.length) this.sends.push({ ts, name: 'Baseline', records: failing.map((r) => ({
      CheckId: r.id, Group: r.group, Result: cap(r.result), Error: r.error ?? '', Description: r.description,
      Remediation: r.remediation, Severity: cap(r.severity) })) });
    if (empty(3)) this.sends.push({ ts, name: names[3], records: [], ...(this.run[3] > 1 && { windows: this.run[3] }) });
    if (has(3) && this.sys) this.sends.push({ ts, name: 'SystemInformation', records: [{
      OSName: this.sys.os, OSVersion: this.sys.osVersion, KernelVersion: this.sys.kernel, Hardware: this.sys.hw,
      TotalMemory: this.sys.memTotal, AgentVersion: VERSION }] });
    const stats = [0, 1, 2].filter((c) => has(c) && Object.values(this.counters[c]).some((v) => v !== 0)).map((c) => ({
      Collector: ['process', 'network', 'baseline'][c], Received: this.counters[c].received, Discarded: this.counters[c].discarded,
      Dropped: this.counters[c].dropped, Ignored: this.counters[c].ignored }));
    if (stats.length) this.sends.push({ ts, name: 'CollectorStats', records: stats });
    if (has(0)) { this.proc = []; this.counters[0] = this.zero(); }
    if (has(1)) { this.net = []; this.counters[1] = this.zero(); }
    if (has(2)) { this.base = []; this.counters[2] = this.zero(); }
    if (has(3)) this.sys = undefined;
  }
}

/** Flattens messages into sends, joining the parts of an event that was split across messages. */
export function sendsOf(messages: any[]): Send[] {
  const out: Send[] = [];
  for (const m of messages) {
    for (const e of m.Events) {
      const records = e.Payload.map((p: any) => {
        if (e.Name !== 'CollectorStats') return p;
        const { Warnings, ...counters } = p;
        return counters;
      });
      const prev = out[out.length - 1];
      const ts = Date.parse(e.TimestampUTC);
      if (prev && prev.ts === ts && prev.name === e.Name) prev.records.push(...records);
      else out.push({ ts, name: e.Name, records, ...(e.Windows !== undefined && { windows: e.Windows }) });
    }
  }
  return out;
}

/** Joins consecutive sends of the same event and time (as sendsOf does for messages). */
export function normalise(sends: Send[]): Send[] {
  const out: Send[] = [];
  for (const s of sends) {
    const prev = out[out.length - 1];
    if (prev && prev.ts === s.ts && prev.name === s.name) prev.records.push(...s.records);
    else out.push({ ...s, records: [...s.records] });
  }
  return out;
}
