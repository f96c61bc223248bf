// systemd's service notifications (sd_notify(3)): READY=1 once the agent runs, RELOADING=1 and
// READY=1 around a SIGHUP, STOPPING=1 when it stops, WATCHDOG=1 every half of WATCHDOG_USEC. They
// are datagrams to the unix socket NOTIFY_SOCKET names, which Node cannot send (its dgram module
// has no unix datagram sockets). A small C program of ours, build/native/microtally-notify
// (host/native/microtally-notify.c), built with the kernel event helper, stays running and sends
// each message it reads from a pipe: one process for the agent's life, so systemd can always tell
// whose message it is (a sender that has already exited cannot be placed in the service). Without
// it, systemd's own systemd-notify is run per message (it waits until systemd has read it). Both
// send from a process other than the agent's main one: the unit says NotifyAccess=all.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HELPER_PATH, notBuiltReason } from './collectors/kernel-events.js';
import type { Logger } from './log.js';

/** Where the build puts the sender (scripts/build-native.mjs), beside the kernel event helper. */
export const NOTIFY_HELPER_PATH = join(HELPER_PATH, '..', 'microtally-notify');
/** systemd's sender, from the system's folders only (never through PATH: the agent runs as root). */
const SYSTEMD_NOTIFY = ['/usr/bin/systemd-notify', '/bin/systemd-notify'];

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  log: Logger;
  /** The sender to run (tests); default NOTIFY_HELPER_PATH, then systemd-notify. */
  helperPath?: string;
  /** systemd-notify's path (tests). */
  systemdNotify?: string;
}

export class Notifier {
  private helper?: ChildProcess;
  private watchdog?: NodeJS.Timeout;
  private fallback?: string;
  private socket?: string;
  private closed = false;

  /** Nothing is sent when NOTIFY_SOCKET is not set (not started by systemd as Type=notify). */
  constructor(private readonly opts: NotifierOptions) {
    const env = opts.env ?? process.env;
    const socket = env.NOTIFY_SOCKET;
    if (!socket) return;
    this.socket = socket;
    const path = opts.helperPath ?? NOTIFY_HELPER_PATH;
    this.fallback = opts.systemdNotify ?? SYSTEMD_NOTIFY.find((p) => existsSync(p));
    const why = notBuiltReason('notify', path);
    const notBuilt = `${path} not built${why ? `: ${why}` : ''}`;
    if (existsSync(path)) this.startHelper(path, socket);
    else if (this.fallback) opts.log.info(`systemd notifications through ${this.fallback} (${notBuilt})`);
    else opts.log.warn(`NOTIFY_SOCKET is set but ${notBuilt} and there is no systemd-notify: systemd hears nothing from the agent`);
    // WATCHDOG_PID names the process the watchdog is for; another one's (a parent's) is not ours.
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    if (forUs && Number.isFinite(usec) && usec > 0) {
      this.send('WATCHDOG=1');
      // setInterval's longest delay is 2^31 - 1 ms; a longer watchdog is simply fed more often.
      this.watchdog = setInterval(() => this.send('WATCHDOG=1'), Math.min(2 ** 31 - 1, Math.max(1, Math.floor(usec / 2000))));
      this.watchdog.unref();
    }
  }

  get active(): boolean { return this.helper !== undefined || this.fallback !== undefined; }

  ready(status: string): void { this.send(`READY=1\nSTATUS=${status}`); }
  reloading(): void { this.send('RELOADING=1'); }
  stopping(): void { this.send('STOPPING=1'); }

  /** Stops the watchdog pings and lets the sender end once it sent what it was given. */
  close(): void {
    this.closed = true;
    clearInterval(this.watchdog);
    this.helper?.stdin?.end();
  }

  private startHelper(path: string, socket: string): void {
    const helper = spawn(path, [], { stdio: ['pipe', 'ignore', 'pipe'], env: { NOTIFY_SOCKET: socket } });
    helper.on('error', (e) => this.helperGone(`cannot start ${path}: ${e.message}`));
    helper.stdin!.on('error', () => { /* the exit says why */ });
    createInterface({ input: helper.stderr! }).on('line', (l) => this.opts.log.warn(l));
    helper.on('exit', (code, signal) => { if (!this.closed) this.helperGone(`${path} ended (${signal ?? `exit ${code}`})`); });
    this.helper = helper;
  }

  private helperGone(why: string): void {
    if (!this.helper) return;
    this.helper = undefined;
    this.opts.log.error(`systemd notifications: ${why}; ${this.fallback ? `through ${this.fallback} from now on` : 'systemd hears nothing more'}`);
  }

  private send(message: string): void {
    if (this.helper) {
      this.helper.stdin!.write(`${message}\0`);
    } else if (this.fallback) {
      const child = spawn(this.fallback, message.split('\n'), { stdio: ['ignore', 'ignore', 'pipe'], env: { NOTIFY_SOCKET: this.socket } });
      let err = '';
      child.stderr!.on('data', (d) => { err += d; });
      child.on('error', (e) => this.opts.log.warn(`${this.fallback}: ${e.message}`));
      child.on('close', (code) => { if (code) this.opts.log.warn(`${this.fallback} ${message.split('\n')[0]}: exit ${code} ${err.trim()}`); });
    }
  }
}
