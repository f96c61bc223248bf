// The swap of a core on V8 (docs/UPDATE.md, "Installing: the swap"): a package is checked when it
// arrives, staged, and installed at the next window boundary: everything pending is sent, the old
// core's run is carried over (ABI 5), the new blob is loaded, self-tested and goes live; during its
// first windows a trap brings the previous core back from the last checkpoint with the inputs
// since. Every outcome is an AgentUpdate record. `replay --update-at` and the Linux agent use it.

import { createHash, type KeyObject } from 'node:crypto';
import { Core, Status, type AgentUpdateReport, type CallResult, type Message } from '../core.js';
import type { Profile } from '../engine.js';
import { PackageError, runSelfTest, verifyPackage, type Manifest } from './package.js';

/** Window boundaries after a swap during which a trap brings the previous core back. */
export const PROBATION_WINDOWS = 2;

/** What a probation journal entry costs beyond its payload: MT_AGENT_TRIAL_ENTRY_HEADER (ports/common/mt_agent.h). */
export const TRIAL_ENTRY_HEADER = 12;
/** The device's probation journal: MT_AGENT_TRIAL_JOURNAL_BYTES (ports/common/mt_agent.h). */
export const TRIAL_JOURNAL_BYTES = 2048;

/** A blob an agent can run: its bytes (or the built-in blob's path), version and sequence (0: built in). */
export interface Blob { wasm: string | Uint8Array; version: string; sequence: number }

/** One call into the core; kept while it may have to be made again through another core. */
export type Op = (core: Core) => CallResult;

export interface UpdatableOptions {
  profile: Profile;
  agentId?: string;
  format?: 'json' | 'cbor';
  /** The key packages must be signed with. */
  pub: KeyObject;
  /** The highest sequence ever installed: a package must be above it (anti-rollback). */
  highestSequence: number;
  /**
   * Bytes the probation journal may hold (each input TRIAL_ENTRY_HEADER plus its payload): an
   * input that does not fit takes a checkpoint first, as a device does (`replay`:
   * TRIAL_JOURNAL_BYTES). Unbounded when absent (the Linux agent).
   */
  journalBytes?: number;
  /** Each attempt's outcome, as its AgentUpdate record says it, and the blob that runs after it. */
  onOutcome?: (report: AgentUpdateReport, running: Blob, manifest?: Manifest) => void;
  /** A package passed the checks on arrival and waits for its swap (the agent keeps it on disk). */
  onStaged?: (pkg: Uint8Array, manifest: Manifest) => void;
  /** A swap begins (sent everything, about to load the new blob). */
  onSwap?: (manifest: Manifest) => void;
  /** The new core passed its probation: it is the installed one. */
  onCommit?: (blob: Uint8Array, manifest: Manifest) => void;
}

/** A failed step of a swap: its reason is the AgentUpdate's (fixed texts, the same on every engine). */
class SwapFailure extends Error {}

const isTrap = (e: unknown) => e instanceof WebAssembly.RuntimeError;
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/**
 * A core that can be replaced while it runs. Every call goes through call(); a package through
 * deliver(). The messages of a call include those the swap or a roll-back sent on its way.
 */
export class UpdatableCore {
  private live: Core;
  private staged?: { manifest: Manifest; blob: Uint8Array };
  /** During probation: the blob to go back to, the last checkpoint and the inputs since. */
  private previous?: Blob;
  private installing?: { manifest: Manifest; blob: Uint8Array };
  private probation = 0;
  private checkpoint?: Uint8Array;
  private journal: Op[] = [];
  /** Bytes the journal's entries cost (TRIAL_ENTRY_HEADER each, plus their payload). */
  private journalUsed = 0;
  /** Every configuration the running core accepted, in order: re-applied to a new core. */
  private configs: Op[] = [];
  /** Records the core could not take yet (one waits at a time): offered again after each call. */
  private reports: AgentUpdateReport[] = [];
  highest: number;

  /** `core`: the running core, already given its agent id and format (`running` is its blob). */
  constructor(core: Core, public running: Blob, private readonly o: UpdatableOptions) {
    this.live = core;
    this.highest = o.highestSequence;
  }

  get core(): Core { return this.live; }
  get stagedSequence(): number | undefined { return this.staged?.manifest.sequence; }
  get inProbation(): boolean { return this.probation > 0; }

  /**
   * A package arrives: checked without running its blob, then staged for the next window
   * boundary; a refusal is reported at once (an AgentUpdate record, `rejected`), also of one
   * that comes during another swap's probation (the sender sends it again later).
   */
  deliver(pkg: Uint8Array): AgentUpdateReport | undefined {
    const from = { FromVersion: this.running.version, FromSequence: this.running.sequence };
    // A device has two slots, both taken during a probation (the new blob and the one to roll
    // back to): it refuses (mt_update_begin's words); so does V8, for the same bytes (SPEC R9).
    if (this.probation > 0) {
      return this.outcome({ ...from, ToVersion: '', ToSequence: 0, Result: 'rejected',
        Reason: 'a swap is on trial: it must end (confirmed or rolled back) before another package' });
    }
    if (this.staged) {
      return this.outcome({ ...from, ToVersion: '', ToSequence: 0, Result: 'rejected',
        Reason: `another package is staged (sequence ${this.staged.manifest.sequence})` });
    }
    try {
      this.staged = verifyPackage(pkg, this.o.pub, { installedSequence: this.highest, profile: this.o.profile, inspect: false });
      this.o.onStaged?.(pkg, this.staged.manifest);
      return undefined;
    } catch (e) {
      if (!(e instanceof PackageError)) throw e;
      return this.outcome({ ...from, ToVersion: e.manifest?.agentVersion ?? '', ToSequence: e.manifest?.sequence ?? 0,
        Result: 'rejected', Reason: e.message });
    }
  }

  /**
   * One call; `config`: it is a configuration (kept, if accepted, for the next core); `payload`:
   * the bytes a device's probation journal keeps of it (a line's; 0 for a line only measured,
   * a tick or the finish).
   */
  call(op: Op, config = false, payload = 0): CallResult {
    const r = this.probation > 0 ? this.onProbation(op, payload) : op(this.live);
    if (config && r.status === Status.Ok) this.configs.push(op);
    if (this.probation === 0 && this.staged && this.live.lastChunks > 0) r.messages.push(...this.swap());
    this.offerReports();
    return r;
  }

  /** Installs a staged package now (the agent at start: nothing is pending); returns what was sent. */
  installNow(): Message[] {
    return this.staged && this.probation === 0 ? this.swap() : [];
  }

  /**
   * The end of input: everything is sent; a package still staged is installed now. After a swap
   * (here, or at the finish's own boundary) the core that runs finishes again: its record goes out.
   */
  finish(): CallResult {
    const swaps = this.swaps;
    const r = this.call((c) => c.finish());
    // A package that came during another's probation waits for its end, which never comes now.
    if (this.staged && this.probation === 0) r.messages.push(...this.swap());
    // The new core's first boundary (a trap here still rolls back).
    if (this.swaps !== swaps) r.messages.push(...this.call((c) => c.finish()).messages);
    return r;
  }

  /** Swaps carried out, whatever their outcome. */
  private swaps = 0;

  /** A call during probation: checkpoint at each boundary (or when the journal is full), roll back on a trap. */
  private onProbation(op: Op, payload: number): CallResult {
    const cost = TRIAL_ENTRY_HEADER + payload;
    const limit = this.o.journalBytes ?? Infinity;
    let early: Message[] = [];
    if (this.journal.length > 0 && this.journalUsed + cost > limit) {
      // Full: a checkpoint first (an early window end, not one of the probation's boundaries).
      try {
        early = this.saveCheckpoint();
      } catch (e) {
        if (!isTrap(e)) throw e;
        const back = this.rollBackAndReplay();
        const r = op(this.live);
        return { ...r, messages: [...back.messages, ...r.messages] };
      }
    }
    // An input larger than the whole journal is given after the checkpoint, not kept.
    const kept = cost <= limit;
    if (kept) {
      this.journal.push(op);
      this.journalUsed += cost;
    }
    try {
      const r = op(this.live);
      if (this.live.lastChunks === 0) return { ...r, messages: [...early, ...r.messages] };
      // The boundary's messages leave once the checkpoint is saved: they can never be sent again.
      const sent = [...early, ...r.messages, ...this.saveCheckpoint()];
      if (--this.probation === 0) this.commit();
      return { ...r, messages: sent };
    } catch (e) {
      if (!isTrap(e)) throw e;
      const back = this.rollBackAndReplay();   // a kept input is the journal's last entry: given again
      if (kept) return { ...back, messages: [...early, ...back.messages] };
      // One not kept is given to the previous core now (mt_agent.c the same): never lost.
      const r = op(this.live);
      return { ...r, messages: [...early, ...back.messages, ...r.messages] };
    }
  }

  /** mt_finish, drained, mt_state_save: the new checkpoint; the journal starts again. Returns what was sent. */
  private saveCheckpoint(): Message[] {
    const sent = this.live.finish().messages;
    const record = this.live.saveState();
    if (typeof record === 'string') throw new Error(`the core refuses to save its state after a send: ${record}`);
    this.checkpoint = record;
    this.journal = [];
    this.journalUsed = 0;
    return sent;
  }

  /**
   * Ends a probation early (the agent stops cleanly: no trap so far); the new core is installed.
   * Nothing happens outside a probation.
   */
  endProbation(): void {
    if (this.probation === 0) return;
    this.probation = 0;
    this.journal = [];
    this.journalUsed = 0;
    this.commit();
  }

  /** The new core passed its probation. */
  private commit(): void {
    this.previous = undefined;
    const done = this.installing!;
    this.installing = undefined;
    this.o.onCommit?.(done.blob, done.manifest);
  }

  /** A trap in probation: the previous core from the last checkpoint, then the inputs since. */
  private rollBackAndReplay(): CallResult {
    const failed = this.running;
    const back = this.previous!;
    const manifest = this.installing?.manifest;
    this.probation = 0;
    this.previous = undefined;
    this.installing = undefined;
    this.live = this.revive(back, this.checkpoint!);
    this.running = back;
    this.outcome({ FromVersion: back.version, FromSequence: back.sequence, ToVersion: failed.version, ToSequence: failed.sequence,
      Result: 'rolledBack', Reason: `the new core trapped within ${PROBATION_WINDOWS} windows of the swap` }, manifest);
    const journal = this.journal;
    this.journal = [];
    this.journalUsed = 0;
    const messages: Message[] = [];
    let last: CallResult = { status: Status.Ok, messages: [] };
    for (const op of journal) {
      last = op(this.live);
      messages.push(...last.messages);
    }
    return { ...last, messages };
  }

  /** Send, then swap (docs/UPDATE.md steps 3 to 6); returns what was sent on the way. */
  private swap(): Message[] {
    const { manifest, blob } = this.staged!;
    this.staged = undefined;
    this.swaps++;
    const sent = [...this.live.finish().messages];
    const record = this.live.saveState();
    if (typeof record === 'string') throw new Error(`the core refuses to save its state after mt_finish: ${record}`);
    this.o.onSwap?.(manifest);
    const from = { FromVersion: this.running.version, FromSequence: this.running.sequence };
    const to = { ToVersion: manifest.agentVersion, ToSequence: manifest.sequence };
    this.highest = Math.max(this.highest, manifest.sequence);
    const next: Blob = { wasm: blob, version: manifest.agentVersion, sequence: manifest.sequence };
    try {
      this.selfTest(blob, manifest);
      this.live = this.revive(next, record);
    } catch (e) {
      if (!(e instanceof SwapFailure)) throw e;
      this.live = this.revive(this.running, record);
      this.outcome({ ...from, ...to, Result: 'rolledBack', Reason: e.message }, manifest);
      return sent;
    }
    this.previous = this.running;
    this.running = next;
    this.probation = PROBATION_WINDOWS;
    this.checkpoint = record;
    this.journal = [];
    this.journalUsed = 0;
    this.installing = { manifest, blob };
    this.outcome({ ...from, ...to, Result: 'applied' }, manifest);
    return sent;
  }

  /** Loads the blob on an instance of its own and compares its self-test with the manifest's. */
  private selfTest(blob: Uint8Array, manifest: Manifest): void {
    let core: Core;
    try { core = new Core(this.o.profile, blob); } catch { throw new SwapFailure('the new core does not load'); }
    let abi: number;
    try { abi = core.abiVersion; } catch { throw new SwapFailure('the new core does not load'); }
    if (abi !== manifest.abiVersion) throw new SwapFailure(`wrong ABI: the blob reports ${abi}, the manifest says ${manifest.abiVersion}`);
    const profile = core.memoryBytes === 65536 ? 'rtos' : 'linux';
    if (profile !== manifest.profile) throw new SwapFailure(`wrong profile: the blob is a ${profile} blob, the manifest says ${manifest.profile}`);
    let out: string;
    try { out = runSelfTest(core); } catch { throw new SwapFailure('the new core fails its self-test'); }
    if (sha256(out) !== manifest.selfTestSha256) throw new SwapFailure('self-test mismatch: the blob\'s self-test output is not the digest in the manifest');
  }

  /** A fresh core of `blob` continuing the run of `record`: agent id, format, configurations, then the record. */
  private revive(blob: Blob, record: Uint8Array): Core {
    let core: Core;
    try { core = new Core(this.o.profile, blob.wasm); } catch (e) {
      if (isTrap(e) || e instanceof WebAssembly.CompileError || e instanceof WebAssembly.LinkError) throw new SwapFailure('the new core does not load');
      throw e;
    }
    const fail = (what: string, reason: string) => { throw new SwapFailure(`the new core refuses the ${what}: ${reason}`); };
    try {
      if (this.o.format !== undefined) { const bad = core.setFormat(this.o.format); if (bad) fail('format', bad); }
      if (this.o.agentId !== undefined) { const bad = core.setAgentId(this.o.agentId); if (bad) fail('agent id', bad); }
      for (const op of this.configs) {
        const r = op(core);
        if (r.status !== Status.Ok) fail('configuration', r.reason ?? 'refused');
      }
      const bad = core.restoreState(record);
      if (bad) fail('carried-over state', bad);
    } catch (e) {
      if (isTrap(e)) throw new SwapFailure('the new core does not load');
      throw e;
    }
    return core;
  }

  private outcome(report: AgentUpdateReport, manifest?: Manifest): AgentUpdateReport {
    this.reports.push(report);
    this.offerReports();
    this.o.onOutcome?.(report, this.running, manifest);
    return report;
  }

  /** A record of an attempt decided outside (the agent: what its last run left half done, a transfer refused). */
  report(r: AgentUpdateReport): void {
    this.reports.push(r);
    this.offerReports();
  }

  /** Hands waiting records to the core, oldest first, while it takes them. */
  private offerReports(): void {
    while (this.reports.length > 0) {
      const refused = this.live.reportUpdate(this.reports[0]);
      if (refused === 'an AgentUpdate record waits') return;
      // Taken, or refused for good (a record this host made wrong): either way not offered again.
      if (refused !== undefined) process.emitWarning(`microtally: an AgentUpdate record was refused: ${refused}`);
      this.reports.shift();
    }
  }
}
