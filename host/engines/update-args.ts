// `replay --update-at` on the C engines (docs/UPDATE.md): what their programs take instead of
// PEM files. A device builds its key in as the 65-byte point (the last 65 bytes of the SPKI DER),
// so the programs take it in hex; the self-test trace is read beside the packages.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReplayOptions } from '../engine.js';
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
