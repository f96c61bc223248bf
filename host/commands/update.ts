// `microtally keygen`, `sign` and `verify`: the host side of a core update (SPEC R12,
// docs/UPDATE.md). The package format lives in host/update/package.ts; these only wire files to it.

import { generateKeyPairSync } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import type { Profile } from '../engine.js';
import { UsageError, type Command, type Values } from './command.js';

/** Reads a file a command was given; a file that cannot be read is a usage error naming it. */
/**
 * Every input here (key, blob, package) is at most a blob (MAX_BLOB_BYTES of update/package.ts,
 * not imported here so that commands start without the core) and its envelope: a larger file is
 * refused unread.
 */
const MAX_INPUT_BYTES = (4 << 20) + (64 << 10);

function readInput(path: string, what: string): Buffer {
  try {
    const size = statSync(path).size;
    if (size > MAX_INPUT_BYTES) throw new UsageError(`${what} "${path}" is ${size} bytes, more than ${MAX_INPUT_BYTES}`);
    return readFileSync(path);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${what} "${path}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** A non-negative integer option value, or a UsageError naming the option. */
function sequenceValue(text: string, name: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer of at least ${min}, got "${text}"`);
  return n;
}

/** Writes a new file (never over an existing one) with the given mode. */
function writeNew(path: string, data: string | Uint8Array, mode: number): void {
  let fd: number;
  try { fd = openSync(path, 'wx', mode); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'EEXIST' ? `"${path}" exists; it is not overwritten` : `cannot create "${path}": ${code ?? (e as Error).message}`);
  }
  try { writeFileSync(fd, data); } finally { closeSync(fd); }
}

function fail(command: string, reason: string): number {
  try { writeSync(2, `microtally: ${command}: ${reason}\n`); } catch { /* stderr itself is gone */ }
  return 2;
}

export const keygen: Command = {
  name: 'keygen',
  summary: 'Makes a P-256 key pair for signing core updates: <prefix>.key (private, mode 0600) and <prefix>.pub (PEM).',
  options: {
    out: { type: 'string', short: 'o', value: 'prefix', default: 'microtally-update', help: 'the files written: <prefix>.key and <prefix>.pub' },
  },
  notes: 'Existing files are never overwritten. Keep the .key offline; agents are given the .pub (docs/UPDATE.md).\nexit status: 0 written, 2 usage error or a file that exists or cannot be written',
  run: async (values: Values) => {
    const prefix = values.out as string;
    if (prefix === '') throw new UsageError('--out needs a file name prefix');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeNew(`${prefix}.key`, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    writeNew(`${prefix}.pub`, publicKey.export({ type: 'spki', format: 'pem' }) as string, 0o644);
    process.stdout.write(`${prefix}.key\n${prefix}.pub\n`);
    return 0;
  },
};

export const sign: Command = {
  name: 'sign',
  summary: 'Makes a signed update package of a core blob (COSE_Sign1, ES256; docs/UPDATE.md), running its self-test on V8.',
  positionals: { names: '<blob.wasm>', min: 1, max: 1 },
  options: {
    key: { type: 'string', value: 'pem', help: 'the private key (microtally keygen); required' },
    sequence: { type: 'string', value: 'n', help: 'the package\'s sequence number, above every one installed before (1 or more); required' },
    out: { type: 'string', short: 'o', value: 'package', help: 'the package written; required' },
  },
  notes: 'The manifest takes the ABI version, the profile and the agent version from the blob itself.\nexit status: 0 written, 2 usage error or a blob that cannot be packaged (the reason in one line)',
  run: async (values: Values, positionals: string[]) => {
    for (const o of ['key', 'sequence', 'out']) if (values[o] === undefined || values[o] === '') throw new UsageError(`--${o} is required`);
    const sequence = sequenceValue(values.sequence as string, 'sequence', 1);
    const { loadPrivateKey, makePackage, PackageError } = await import('../update/package.js');
    try {
      const key = loadPrivateKey(readInput(values.key as string, 'the key'));
      const { bytes, manifest } = makePackage(readInput(positionals[0], 'the blob'), sequence, key);
      writeNew(values.out as string, bytes, 0o644);
      process.stdout.write(`${JSON.stringify(manifest)}\n`);
      return 0;
    } catch (e) {
      if (e instanceof PackageError) return fail('sign', e.message);
      throw e;
    }
  },
};

export const verify: Command = {
  name: 'verify',
  summary: 'Checks an update package against a public key and prints its manifest as one JSON line.',
  positionals: { names: '<package>', min: 1, max: 1 },
  options: {
    pub: { type: 'string', value: 'pem', help: 'the public key the agent trusts; required' },
    'installed-sequence': { type: 'string', value: 'n', help: 'the sequence installed now: the package\'s must be above it' },
    'state-dir': { type: 'string', value: 'dir', help: 'take the installed sequence from an agent\'s state directory (docs/UPDATE.md)' },
    profile: { type: 'string', value: 'name', choices: ['rtos', 'linux'], help: 'the profile of the agent that would install it' },
  },
  notes: `Checks, in order: the COSE_Sign1 envelope, the algorithm (ES256), the key, the signature, every manifest field,
the ABI, the profile, the sequence (--installed-sequence, or the highest recorded in --state-dir),
the blob's size and SHA-256, and the self-test digest (run on V8).
exit status: 0 valid (the manifest on stdout), 2 usage error or a refused package: one line
\`microtally: verify: <reason>\` (docs/UPDATE.md lists every reason)`,
  run: async (values: Values, positionals: string[]) => {
    if (values.pub === undefined || values.pub === '') throw new UsageError('--pub is required');
    if (values['installed-sequence'] !== undefined && values['state-dir'] !== undefined) throw new UsageError('--installed-sequence and --state-dir: give one');
    let installed = values['installed-sequence'] === undefined ? undefined : sequenceValue(values['installed-sequence'] as string, 'installed-sequence', 0);
    if (values['state-dir'] !== undefined) {
      const { installedSequence, StateError } = await import('../update/state.js');
      const dir = values['state-dir'] as string;
      if (!existsSync(dir)) throw new UsageError(`--state-dir ${dir}: no such directory`);
      try { installed = installedSequence(dir); } catch (e) {
        if (e instanceof StateError) throw new UsageError(e.message);
        throw e;
      }
    }
    const { loadPublicKey, verifyPackage, PackageError } = await import('../update/package.js');
    try {
      const pub = loadPublicKey(readInput(values.pub as string, 'the public key'));
      const { manifest } = verifyPackage(readInput(positionals[0], 'the package'), pub,
        { installedSequence: installed, profile: values.profile as Profile | undefined });
      process.stdout.write(`${JSON.stringify(manifest)}\n`);
      return 0;
    } catch (e) {
      if (e instanceof PackageError) return fail('verify', e.message);
      throw e;
    }
  },
};
