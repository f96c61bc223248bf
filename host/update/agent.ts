// Core updates in the Linux agent (SPEC R12, docs/UPDATE.md "The Linux agent"): the installed
// blob from the state directory, packages from `run --update`, a drop-in folder and the IoT Hub
// direct method `microtally-update`, each swapped at a window boundary by UpdatableCore; the
// outcome is kept in the state directory (state.ts) and reported as an AgentUpdate record.

import type { KeyObject } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Core, Status, blobPath, type AgentUpdateReport, type BaselineRecord, type CallResult, type ConnectionRecord,
  type HeartbeatReport, type LossCollector, type ProcessRecord, type SysinfoRecord } from '../core.js';
import { VERSION } from '../version.js';
import { MAX_BLOB_BYTES } from './package.js';
import { clearStaging, commitInstall, installedBlob, installedSequence, leftovers, markSwapping, openStateDir, readState,
  recordFailed, rollBack, stagePackage } from './state.js';
import { UpdatableCore, type Blob } from './swap.js';

/** The largest package the agent takes (drop-in file or direct method): the largest blob and its envelope. */
export const MAX_PACKAGE_BYTES = MAX_BLOB_BYTES + 64 * 1024;
/** How often the drop-in folder is looked at. */
export const DROP_IN_POLL_MS = 1000;
/** The direct method's name (IoT Hub: `$iothub/methods/POST/microtally-update/?$rid=…`). */
export const UPDATE_METHOD = 'microtally-update';

/** What run.ts calls on the core: a Core, or the agent's swappable one. */
export interface CoreApi {
  ingestProcess(r: ProcessRecord): CallResult;
  ingestConnection(r: ConnectionRecord): CallResult;
  ingestBaseline(r: BaselineRecord): CallResult;
  ingestSysinfo(r: SysinfoRecord): CallResult;
  configure(t: number, json: string): CallResult;
  tick(t: number): CallResult;
  finish(): CallResult;
  reportLoss(collector: LossCollector, count: number | 'unknown'): string | undefined;
  reportGap(collector: 'process' | 'network', ms: number): string | undefined;
  heartbeat(t: number, report: HeartbeatReport): CallResult;
  stats(): string;
}

interface Log { info(m: string): void; warn(m: string): void; error(m: string): void }

/** Runs a report through UpdatableCore.call (so a checkpoint and a roll-back see it too). */
const asCall = (reason: string | undefined): CallResult => ({ status: reason ? Status.Skipped : Status.Ok, reason, messages: [] });

/**
 * The agent's core when updates are on: every call goes through UpdatableCore; messages a swap
 * or a roll-back sends on the way come back with the call that caused them.
 */
export class AgentUpdates implements CoreApi {
  readonly up: UpdatableCore;
  private transfer?: { chunks: Buffer[]; received: number };
  /** What the last run left half done, reported once the agent sends (reportLeftovers). */
  private leftoverReports: AgentUpdateReport[] = [];

  private constructor(core: Core, running: Blob, highest: number, private readonly dir: string, pub: KeyObject,
    private readonly log: Log, agentId: string) {
    this.up = new UpdatableCore(core, running, {
      profile: 'linux', agentId, pub, highestSequence: highest,
      onStaged: (pkg) => stagePackage(dir, pkg),
      onSwap: (manifest) => markSwapping(dir, manifest),
      onCommit: (blob, manifest) => {
        commitInstall(dir, blob, manifest);
        log.info(`core update: sequence ${manifest.sequence} (${manifest.agentVersion}) installed`);
      },
      onOutcome: (r, _running, manifest) => this.outcome(r, manifest?.sequence),
    });
  }

  /**
   * The installed blob of `dir` (or the built-in one), given its agent id; what the last run left
   * half done is reported: a package staged but not swapped (`rejected`), a swap not finished
   * (`rolledBack`: its sequence is never installed again), an installed blob that no longer loads.
   */
  static open(dir: string, pub: KeyObject, agentId: string, log: Log): AgentUpdates | string {
    openStateDir(dir);
    const left = leftovers(dir);
    const reports: AgentUpdateReport[] = [];
    let installed = installedBlob(dir);
    const fromOf = () => ({ FromVersion: installed?.installed.agentVersion ?? VERSION, FromSequence: installed?.installed.sequence ?? 0 });
    if (left.swapping) {
      recordFailed(dir, left.swapping.sequence);
      reports.push({ ...fromOf(), ToVersion: left.swapping.agentVersion, ToSequence: left.swapping.sequence, Result: 'rolledBack',
        Reason: 'the agent stopped during the swap or the new core\'s first windows' });
    } else if (left.staged) {
      clearStaging(dir);
      reports.push({ ...fromOf(), ToVersion: '', ToSequence: 0, Result: 'rejected', Reason: 'the agent stopped before the swap (staged package dropped)' });
    }
    let core: Core;
    try {
      core = new Core('linux', installed?.blob ?? blobPath('linux'));
    } catch (e) {
      if (!installed) return `cannot load the core blob: ${(e as Error).message}`;
      // As every rolledBack record: From the core that runs on, To the one that failed.
      const r = rollBack(dir, 'the installed core does not load', VERSION);
      reports.push({ ...r, FromVersion: r.ToVersion, FromSequence: r.ToSequence, ToVersion: r.FromVersion, ToSequence: r.FromSequence });
      installed = installedBlob(dir);
      core = new Core('linux', installed?.blob ?? blobPath('linux'));
    }
    const bad = core.setAgentId(agentId);
    if (bad) return `--agent-id: ${bad}`;
    const running: Blob = { wasm: installed?.blob ?? blobPath('linux'), version: installed?.installed.agentVersion ?? VERSION,
      sequence: installed?.installed.sequence ?? 0 };
    const a = new AgentUpdates(core, running, installedSequence(dir), dir, pub, log, agentId);
    for (const r of reports) a.outcome(r);
    a.leftoverReports = reports;
    if (readState(dir).current) log.info(`core: installed sequence ${running.sequence} (${running.version}) from ${dir}`);
    return a;
  }

  /** Hands the records of what the last run left half done to the core (once its sink is up). */
  reportLeftovers(): void {
    for (const r of this.leftoverReports) this.up.report(r);
    this.leftoverReports = [];
  }

  /** A package from `run --update`, a drop-in file or the direct method; `source` names it in the log. */
  deliver(pkg: Uint8Array, source: string): AgentUpdateReport | undefined {
    if (pkg.length > MAX_PACKAGE_BYTES) return this.refuse(`package larger than ${MAX_PACKAGE_BYTES} bytes (${pkg.length})`);
    const refused = this.up.deliver(pkg);
    if (!refused) this.log.info(`core update: sequence ${this.up.stagedSequence} from ${source} staged for the next window boundary`);
    return refused;
  }

  /** Swaps at once a package staged at start (nothing is pending yet); returns what was sent. */
  installNow(): CallResult { return { status: Status.Ok, messages: this.up.installNow() }; }

  /** Looks at the drop-in folder: each `*.pkg` file is taken (removed) and delivered. */
  pollDropIn(folder: string): void {
    let names: string[];
    try { names = readdirSync(folder).filter((n) => n.endsWith('.pkg') && !n.startsWith('.')).sort(); } catch { return; }
    for (const name of names) {
      const path = join(folder, name);
      let pkg: Buffer;
      try {
        const size = statSync(path).size;
        pkg = size > MAX_PACKAGE_BYTES ? Buffer.alloc(0) : readFileSync(path);
        rmSync(path, { force: true });
        if (size > MAX_PACKAGE_BYTES) { this.refuse(`package larger than ${MAX_PACKAGE_BYTES} bytes (${size})`); continue; }
      } catch (e) {
        this.log.warn(`core update: ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        continue;
      }
      this.deliver(pkg, path);
    }
  }

  /**
   * The direct method `microtally-update`: `{"offset": n, "chunk": "<base64>", "last": true|false}`,
   * chunks in order from offset 0 (a chunk at offset 0 starts a new package). Returns the status
   * and body of the method's response.
   */
  method(payload: Buffer): { status: number; body: Record<string, unknown> } {
    let req: { offset?: unknown; chunk?: unknown; last?: unknown };
    try { req = JSON.parse(payload.toString('utf8')) as typeof req; } catch { req = {}; }
    if (typeof req !== 'object' || req === null || !Number.isSafeInteger(req.offset) || (req.offset as number) < 0
      || typeof req.chunk !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(req.chunk) || (req.last !== undefined && typeof req.last !== 'boolean')) {
      return { status: 400, body: { status: 'refused', reason: 'expected {"offset": n, "chunk": "<base64>", "last": true|false}' } };
    }
    const offset = req.offset as number;
    const chunk = Buffer.from(req.chunk, 'base64');
    if (offset === 0) this.transfer = { chunks: [], received: 0 };
    const expected = this.transfer?.received ?? 0;
    if (!this.transfer || offset !== expected) {
      const reason = `chunk at offset ${offset}, expected ${expected}${offset < expected ? ' (repeated)' : ' (out of order)'}: transfer abandoned`;
      this.transfer = undefined;
      this.refuse(reason);
      return { status: 409, body: { status: 'refused', reason } };
    }
    if (expected + chunk.length > MAX_PACKAGE_BYTES) {
      const reason = `package larger than ${MAX_PACKAGE_BYTES} bytes: transfer abandoned`;
      this.transfer = undefined;
      this.refuse(reason);
      return { status: 413, body: { status: 'refused', reason } };
    }
    this.transfer.chunks.push(chunk);
    this.transfer.received += chunk.length;
    if (req.last !== true) return { status: 200, body: { status: 'receiving', received: this.transfer.received } };
    const pkg = Buffer.concat(this.transfer.chunks);
    this.transfer = undefined;
    const refused = this.deliver(pkg, 'the direct method');
    return refused ? { status: 400, body: { status: 'rejected', reason: refused.Reason } }
      : { status: 200, body: { status: 'staged', sequence: this.up.stagedSequence, received: pkg.length } };
  }

  /** A package refused before its manifest was read: an AgentUpdate record saying why. */
  private refuse(reason: string): AgentUpdateReport {
    const r: AgentUpdateReport = { FromVersion: this.up.running.version, FromSequence: this.up.running.sequence, ToVersion: '', ToSequence: 0,
      Result: 'rejected', Reason: reason };
    this.outcome(r);
    this.up.report(r);
    return r;
  }

  private outcome(r: AgentUpdateReport, sequence?: number): void {
    if (r.Result === 'rolledBack' && sequence !== undefined) recordFailed(this.dir, sequence);
    const what = `core update ${r.FromSequence} -> ${r.ToSequence}: ${r.Result}${r.Reason ? `: ${r.Reason}` : ''}`;
    if (r.Result === 'applied') this.log.info(what); else this.log.warn(what);
  }

  // ---- CoreApi: every call through the swappable core ------------------------------------
  ingestProcess(r: ProcessRecord): CallResult { return this.up.call((c) => c.ingestProcess(r)); }
  ingestConnection(r: ConnectionRecord): CallResult { return this.up.call((c) => c.ingestConnection(r)); }
  ingestBaseline(r: BaselineRecord): CallResult { return this.up.call((c) => c.ingestBaseline(r)); }
  ingestSysinfo(r: SysinfoRecord): CallResult { return this.up.call((c) => c.ingestSysinfo(r)); }
  configure(t: number, json: string): CallResult { return this.up.call((c) => c.configure(t, json), true); }
  tick(t: number): CallResult { return this.up.call((c) => c.tick(t)); }
  /**
   * At stop: everything is sent; a staged package stays staged (the next start reports it). A new
   * core still in its first windows stopped without a trap: it stays installed.
   */
  finish(): CallResult {
    const r = this.up.call((c) => c.finish());
    this.up.endProbation();
    return r;
  }
  reportLoss(collector: LossCollector, count: number | 'unknown'): string | undefined {
    return this.up.call((c) => asCall(c.reportLoss(collector, count))).reason;
  }
  reportGap(collector: 'process' | 'network', ms: number): string | undefined {
    return this.up.call((c) => asCall(c.reportGap(collector, ms))).reason;
  }
  heartbeat(t: number, report: HeartbeatReport): CallResult { return this.up.call((c) => c.heartbeat(t, report)); }
  stats(): string { return this.up.core.stats(); }
}

/** The drop-in folder, created 0700 like the state directory. */
export function openDropIn(folder: string): void {
  mkdirSync(folder, { recursive: true, mode: 0o700 });
}
