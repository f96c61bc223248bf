// `replay --update-at` on the C engines (docs/UPDATE.md): what their programs take instead of
// PEM files. A device builds its key in as the 65-byte point (the last 65 bytes of the SPKI DER),
// so the programs take it in hex; the self-test trace is read beside the packages.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EngineName, ReplayOptions } from '../engine.js';
import { loadPublicKey } from '../update/package.js';

/** The repository (engines/native.ts's root, not imported: native.ts imports this module). */
const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/dist\/$/, '/');

/** host/update/selftest.jsonl (docs/UPDATE.md, "Self-test"): the C engines run it through a new blob. */
export const selfTestPath = (): string => join(root, 'host', 'update', 'selftest.jsonl');

/** The public key's point (04 || X || Y) in hex. */
export function publicKeyHex(pemPath: string): string {
  const der = loadPublicKey(readFileSync(pemPath)).export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 65).toString('hex');
}

/**
 * The programs' update arguments; `name(i, path)` says how the program reaches package i (a path
 * for the posix program, a file name in QEMU's folder for the board), `selfTest` the self-test.
 */
export function updateArgs(options: ReplayOptions, name: (i: number, path: string) => string, selfTest: string): string[] {
  if (!options.updates?.length) return [];
  const args = options.updates.map((u, i) => `--update-at=${u.line}:${name(i, u.path)}`);
  args.push(`--pub-hex=${publicKeyHex(options.pub!)}`, `--self-test=${selfTest}`);
  if (options.installedSequence) args.push(`--installed-sequence=${options.installedSequence}`);
  return args;
}

/** MT_REPLAY_UPDATES_MAX (ports/common/mt_replay_update.h): the packages a C engine's replay takes. */
export const C_UPDATES_MAX = 64;
/** BOARD_CMDLINE_BYTES (ports/mps2-an385/update.mk): the update image's command line, its NUL included. */
export const BOARD_CMDLINE_BYTES = 1024;

/** The semihosting arguments of a board's replay (ports/mps2-an385/console.c), the trace last. */
export function boardArgs(options: ReplayOptions): string[] {
  const args = ['microtally'];
  if (options.stats) args.push('--stats');
  if (options.format !== undefined) args.push(`--format=${options.format}`);
  // Only a 36-byte id can be valid; a longer one is cut to the board's 64-byte buffer, where
  // it is still invalid and refused with the same reason.
  if (options.agentId !== undefined) {
    args.push(`--agent-id-hex=${Buffer.from(options.agentId).subarray(0, 64).toString('hex')}`);
  }
  // The packages and the self-test beside the trace, under names without spaces (QEMU joins the
  // arguments with spaces, the board splits them there).
  args.push(...updateArgs(options, (i) => `update-${i}.pkg`, 'selftest.jsonl'));
  args.push('trace.jsonl');
  return args;
}

/** The bytes of the board's command line (QEMU joins the arguments with spaces), its NUL included. */
const boardCommandLine = (options: ReplayOptions): number => Buffer.byteLength(boardArgs(options).join(' ')) + 1;

/**
 * Why `engine` cannot take these packages (docs/UPDATE.md, "`replay --update-at`"), in one line,
 * or undefined: V8 takes any number, the C programs MT_REPLAY_UPDATES_MAX, the boards what fits
 * their command line.
 */
export function updateLimitError(engine: EngineName, options: ReplayOptions): string | undefined {
  const n = options.updates?.length ?? 0;
  if (n === 0 || engine === 'v8') return undefined;
  if (n > C_UPDATES_MAX) return `--update-at: engine ${engine} takes at most ${C_UPDATES_MAX} packages, got ${n}`;
  if ((engine === 'qemu' || engine === 'qemu-threadx') && boardCommandLine(options) > BOARD_CMDLINE_BYTES) {
    let fit = n - 1;
    while (fit > 0 && boardCommandLine({ ...options, updates: options.updates!.slice(0, fit) }) > BOARD_CMDLINE_BYTES) fit--;
    return `--update-at: engine ${engine}'s command line is at most ${BOARD_CMDLINE_BYTES} bytes; ${n} packages make ` +
      `${boardCommandLine(options)} (${fit} fit with these options)`;
  }
  return undefined;
}
