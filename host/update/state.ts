// The Linux agent's installed core (SPEC R12, docs/UPDATE.md "State directory"): the blob a
// package installed, its sequence (anti-rollback, kept across restarts) and the previous blob for
// rollback, in one directory only the agent's user can enter. Every file is replaced by a rename,
// so a process killed at any point leaves the old state or the new one, never half of either.

import { createHash, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentUpdateReport } from '../core.js';
import type { Profile } from '../engine.js';
import { PackageError, verifyPackage, type Manifest } from './package.js';

export const DEFAULT_STATE_DIR = '/var/lib/microtally';
const STATE = 'state.json';
const CURRENT = 'core.wasm';
const PREVIOUS = 'core.previous.wasm';
/** The staging slot: a verified package waiting for its swap. */
const STAGED = 'staged.pkg';
/** Written when a swap begins, removed once its new core passed its first windows or was rolled back. */
const SWAPPING = 'swap.json';

/** One installed blob: what state.json records of it. */
export interface Installed { sequence: number; agentVersion: string; blobSha256: string }

/**
 * state.json: the highest sequence ever installed (a package must be above it, also after a
 * rollback), the running blob and the one before it (absent: the built-in blob).
 */
export interface State { sequence?: number; current?: Installed; previous?: Installed }


/** A state directory that cannot be used (its permissions, an unreadable state): one line. */
export class StateError extends Error {}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Creates the directory 0700 if missing; refuses one that others can write to or enter, or that another user owns. */
export function openStateDir(dir: string): void {
  try { mkdirSync(dir, { recursive: true, mode: 0o700 }); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // EEXIST from a recursive mkdir: a file is there; ENOTDIR: a file on the way.
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new StateError(`state directory ${dir}: not a directory${code === 'ENOTDIR' ? ' (a file in its path)' : ''}`);
    throw new StateError(`state directory ${dir}: cannot create it: ${code ?? (e as Error).message}`);
  }
  const st = statSync(dir);
  if (!st.isDirectory()) throw new StateError(`state directory ${dir}: not a directory`);
  if ((st.mode & 0o077) !== 0) throw new StateError(`state directory ${dir}: mode ${(st.mode & 0o777).toString(8)}, others may read or change it (0700 expected)`);
  // Its owner could plant a dps.json naming their own hub, or links the agent would write through.
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new StateError(`state directory ${dir}: owned by uid ${st.uid}, not by the agent's user (uid ${uid})`);
}

/**
 * state.json as recorded, its types checked: only a missing file reads as nothing installed; one
 * that cannot be read (permissions) or that is not the shape written here is refused, never taken
 * for sequence 0 (that would turn anti-rollback off).
 */
export function readState(dir: string): State {
  const path = join(dir, STATE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new StateError(`state directory ${dir}: ${STATE} unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (e) {
    throw new StateError(`state directory ${dir}: ${STATE} unreadable: ${(e as Error).message.split('\n')[0]}`);
  }
  const seq = (v: unknown) => v === undefined || (Number.isSafeInteger(v) && (v as number) >= 0);
  const installed = (v: unknown) => v === undefined || (typeof v === 'object' && v !== null
    && seq((v as Installed).sequence) && (v as Installed).sequence !== undefined
    && typeof (v as Installed).agentVersion === 'string' && /^[0-9a-f]{64}$/.test(String((v as Installed).blobSha256)));
  const s = state as State;
  if (typeof state !== 'object' || state === null || Array.isArray(state) || !seq(s.sequence) || !installed(s.current) || !installed(s.previous)) {
    throw new StateError(`state directory ${dir}: ${STATE} is not a state this agent wrote (a sequence or blob entry of the wrong type)`);
  }
  return s;
}

/** The sequence a package must be above to be installed in `dir` (0: nothing was ever installed). */
export function installedSequence(dir: string): number {
  const state = readState(dir);
  return Math.max(state.sequence ?? 0, state.current?.sequence ?? 0);
}

/** Writes `data` to `dir/name` through a temporary file, synced, then renamed over it. */
function replaceFile(dir: string, name: string, data: string | Uint8Array): void {
  const tmp = join(dir, `${name}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < b.length;) off += writeSync(fd, b, off, b.length - off);
    fsyncSync(fd);
  } finally { closeSync(fd); }
  renameSync(tmp, join(dir, name));
}

/** Makes the names in `dir` durable (a file created or renamed there survives a power cut). */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * The blob to run: the installed one, found by its digest in core.wasm or (after a crash in the
 * middle of an install) core.previous.wasm; undefined when none matches (the built-in runs).
 */
export function installedBlob(dir: string): { blob: Uint8Array; installed: Installed } | undefined {
  const { current } = readState(dir);
  if (!current) return undefined;
  for (const name of [CURRENT, PREVIOUS]) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    const blob = readFileSync(path);
    if (sha256(blob) === current.blobSha256) return { blob, installed: current };
  }
  return undefined;
}

/**
 * Verifies `pkg` against `pub` for `profile` and the installed sequence, checks the blob on V8
 * (loads, self-test digest), and installs it: the running blob becomes the previous one. Any
 * failure leaves the directory as it was and returns `rejected` with the reason. `builtIn` is the
 * version that runs when nothing is installed (sequence 0).
 */
export function installPackage(dir: string, pkg: Uint8Array, pub: KeyObject, profile: Profile, builtIn: string): AgentUpdateReport {
  openStateDir(dir);
  const state = readState(dir);
  const from = { FromVersion: state.current?.agentVersion ?? builtIn, FromSequence: state.current?.sequence ?? 0 };
  const highest = installedSequence(dir);
  let manifest;
  let blob: Uint8Array;
  try {
    ({ manifest, blob } = verifyPackage(pkg, pub, { installedSequence: highest, profile }));
  } catch (e) {
    if (!(e instanceof PackageError)) throw e;
    return { ...from, ToVersion: '', ToSequence: 0, Result: 'rejected', Reason: e.message };
  }
  const to = { ToVersion: manifest.agentVersion, ToSequence: manifest.sequence };
  const installed: Installed = { sequence: manifest.sequence, agentVersion: manifest.agentVersion, blobSha256: manifest.blobSha256 };
  // Order: the running blob copied to previous, the new one to current, then the state naming it;
  // a crash before the last rename keeps the old state, whose blob installedBlob finds by digest.
  const running = installedBlob(dir);
  if (running) replaceFile(dir, PREVIOUS, running.blob);
  replaceFile(dir, CURRENT, blob);
  replaceFile(dir, STATE, `${JSON.stringify({ sequence: manifest.sequence, current: installed, previous: running?.installed } satisfies State)}\n`);
  syncDir(dir);
  return { ...from, ...to, Result: 'applied' };
}

/**
 * The installed blob failed (it does not load, or traps): the previous one runs again and
 * state.json says so; the failed sequence stays refused (the state keeps the highest sequence seen).
 */
export function rollBack(dir: string, reason: string, builtIn: string): AgentUpdateReport {
  const state = readState(dir);
  const failed = state.current;
  if (!failed) throw new StateError(`state directory ${dir}: nothing installed to roll back`);
  const prev = state.previous;
  const prevPath = join(dir, PREVIOUS);
  const back = prev && existsSync(prevPath) && sha256(readFileSync(prevPath)) === prev.blobSha256 ? prev : undefined;
  if (back) replaceFile(dir, CURRENT, readFileSync(prevPath));
  // The highest sequence stays the failed one's, so the same package is not installed again.
  replaceFile(dir, STATE, `${JSON.stringify({ sequence: Math.max(state.sequence ?? 0, failed.sequence), current: back } satisfies State)}\n`);
  syncDir(dir);
  return { FromVersion: failed.agentVersion, FromSequence: failed.sequence, ToVersion: back?.agentVersion ?? builtIn,
    ToSequence: back?.sequence ?? 0, Result: 'rolledBack', Reason: reason };
}


// ---- the running agent's swap (host/update/agent.ts) ----------------------------------------

/** Keeps a verified package in the staging slot until its swap. */
export function stagePackage(dir: string, pkg: Uint8Array): void {
  replaceFile(dir, STAGED, pkg);
  syncDir(dir);
}

/** A swap begins: if the agent stops before it ends, the next start rolls it back. */
export function markSwapping(dir: string, manifest: Manifest): void {
  replaceFile(dir, SWAPPING, `${JSON.stringify({ sequence: manifest.sequence, agentVersion: manifest.agentVersion })}\n`);
  syncDir(dir);
}

/** What an agent stopped in the middle of: a package staged and not swapped, or a swap not finished. */
export function leftovers(dir: string): { staged: boolean; swapping?: { sequence: number; agentVersion: string } } {
  const staged = existsSync(join(dir, STAGED));
  let swapping: { sequence: number; agentVersion: string } | undefined;
  try {
    const s = JSON.parse(readFileSync(join(dir, SWAPPING), 'utf8')) as { sequence?: unknown; agentVersion?: unknown };
    if (Number.isSafeInteger(s.sequence) && typeof s.agentVersion === 'string') swapping = { sequence: s.sequence as number, agentVersion: s.agentVersion };
  } catch { /* none, or unreadable: nothing to roll back */ }
  return { staged, swapping };
}

/** Empties the staging slot and the swap mark. */
export function clearStaging(dir: string): void {
  rmSync(join(dir, STAGED), { force: true });
  rmSync(join(dir, SWAPPING), { force: true });
  syncDir(dir);
}

/** The new core passed its first windows: it is the installed one, the running one its previous. */
export function commitInstall(dir: string, blob: Uint8Array, manifest: Manifest): void {
  const state = readState(dir);
  const installed: Installed = { sequence: manifest.sequence, agentVersion: manifest.agentVersion, blobSha256: manifest.blobSha256 };
  const running = installedBlob(dir);
  if (running) replaceFile(dir, PREVIOUS, running.blob);
  replaceFile(dir, CURRENT, blob);
  replaceFile(dir, STATE, `${JSON.stringify({ sequence: Math.max(state.sequence ?? 0, manifest.sequence), current: installed,
    previous: running?.installed } satisfies State)}\n`);
  clearStaging(dir);
}

/** A package failed at or after its swap: its sequence is never installed again; the running blob stays. */
export function recordFailed(dir: string, sequence: number): void {
  const state = readState(dir);
  replaceFile(dir, STATE, `${JSON.stringify({ ...state, sequence: Math.max(state.sequence ?? 0, sequence) } satisfies State)}\n`);
  clearStaging(dir);
}
