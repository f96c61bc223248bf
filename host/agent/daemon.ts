// What an operator expects of a Linux daemon, beside the agent's own work: log lines the journal
// files under their priority, SIGHUP to re-read the configuration file and reopen the file sink
// (log rotation), and systemd's readiness and watchdog notices (sent by notify.ts). run.ts holds
// one Daemon for the agent's life.

import { fstatSync, readFileSync } from 'node:fs';
import type { Logger } from './log.js';
import { Notifier } from './notify.js';
import type { ApplyOutcome } from './twin.js';

/**
 * SIGHUP and systemd's notices for one run of the agent: made before its slow start (the watchdog
 * is fed from then on; a SIGHUP is kept for later rather than end the process).
 */
export class Daemon {
  private readonly hangups = new Hangups();
  private readonly notifier: Notifier;

  constructor(env: NodeJS.ProcessEnv | undefined, private readonly log: Logger) {
    this.notifier = new Notifier({ env, log });
  }

  /** The agent runs: systemd hears READY=1, and each SIGHUP reloads (RELOADING=1, then READY=1 again). */
  running(status: string, reload: Omit<ReloadOptions, 'log'>): void {
    this.notifier.ready(status);
    const reloadNow = configReloader({ ...reload, log: this.log });
    this.hangups.ready(() => { this.notifier.reloading(); reloadNow(); this.notifier.ready(status); });
  }

  /** The agent stops: no more reloads; systemd hears STOPPING=1 (the watchdog is fed until close). */
  stopping(): void {
    this.hangups.stop();
    this.notifier.stopping();
  }

  close(): void {
    this.hangups.stop();
    this.notifier.close();
  }
}

/**
 * True when `fd` (stderr) is the journal's stream: systemd sets JOURNAL_STREAM to its
 * `device:inode` (systemd.exec(5)); a child that inherited the variable but writes elsewhere
 * does not match.
 */
export function isJournalStream(env: NodeJS.ProcessEnv, fd = 2): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]) && st.ino === BigInt(m[2]);
  } catch {
    return false;
  }
}

/**
 * SIGHUP from the moment it is made (its default action ends the process): each one runs the
 * handler given to `ready`, one at a time; those that come before it are kept for it.
 */
export class Hangups {
  private handler?: () => void;
  private pending = false;
  private readonly listener = (): void => {
    if (this.handler) this.handler();
    else this.pending = true;
  };

  constructor() { process.on('SIGHUP', this.listener); }

  ready(handler: () => void): void {
    this.handler = handler;
    if (this.pending) { this.pending = false; handler(); }
  }

  stop(): void { process.removeListener('SIGHUP', this.listener); }
}

export interface ReloadOptions {
  /** --config: the file re-read (undefined: nothing to re-read). */
  path?: string;
  /** The file's update applied at start (compared, so an unchanged file does not force the windows out). */
  applied?: unknown;
  /** Sends what is pending, then applies the update (as a twin change is applied). */
  apply: (update: Record<string, unknown>) => ApplyOutcome;
  /** Reopens the file sink (after log rotation moved it). */
  reopen?: () => void;
  log: Logger;
}

/**
 * What SIGHUP does: reopen the file sink, then re-read --config and apply it when it changed.
 * A file that cannot be read or parsed, or that the core refuses, is one error line; the
 * configuration in force stays. The file is an update, like at start: a key taken out of it keeps
 * its current value.
 */
export function configReloader(opts: ReloadOptions): () => void {
  let applied = opts.applied === undefined ? undefined : JSON.stringify(opts.applied);
  return () => {
    opts.reopen?.();
    const { path, log } = opts;
    if (path === undefined) { log.info('SIGHUP: no --config to re-read'); return; }
    const keep = 'the configuration in force is kept';
    let update: unknown;
    try {
      update = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      log.error(`SIGHUP: --config ${path}: ${err.code ?? err.message}; ${keep}`);
      return;
    }
    if (!update || typeof update !== 'object' || Array.isArray(update)) {
      log.error(`SIGHUP: --config ${path}: not a JSON object; ${keep}`);
      return;
    }
    const text = JSON.stringify(update);
    if (text === applied) { log.info(`SIGHUP: --config ${path} unchanged`); return; }
    const outcome = opts.apply(update as Record<string, unknown>);
    if (!outcome.ok) { log.error(`SIGHUP: --config ${path} refused: ${outcome.reason}; ${keep}`); return; }
    applied = text;
    log.info(`SIGHUP: configuration from --config ${path} applied`);
  };
}
