#!/usr/bin/env node
// Test-only update packages (issue 21, docs/UPDATE.md), made at test time, never committed:
//   node scripts/make-test-packages.mjs [<dir>]        (default build/test-packages; needs npm run build)
// Builds three variants of the rtos blob from a patched copy of assembly/ (the core itself has no
// test hooks): `changed` (AgentVersion "0.1.0-changed" and a 20 s default medium window: visible in
// every message and in the windows' times; `changed-small` the same built for size), `trap-load` (mt_init traps), `trap-after` (traps
// on the 30th input after mt_init: the self-test's 13 lines pass, a live core traps) and
// `trap-broken` (trap-after whose mt_init then traps too: its re-initialisation fails),
// `trap-finish` (mt_finish traps once a connection came in: the checkpoint on probation). Then a
// fresh test key pair (test.key / test.pub, and other.key / other.pub for "wrong key") and
// packages for every case of docs/UPDATE.md's refusals and of the swap's failures. Writes
// index.json: each package's file, sequence, profile and the outcome an agent must reach.
// Made once per folder: test workers and scripts share it (one at a time, under <dir>/.lock), and
// a folder finished from the same sources (<dir>/complete) is reused as it is, key and all.
import { execFileSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { generateKeyPairSync, createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Inputs after mt_init on which the trap-after blob traps. */
export const TRAP_AFTER_INPUTS = 30;

function patch(file, from, to) {
  const text = readFileSync(file, 'utf8');
  if (!text.includes(from)) throw new Error(`make-test-packages: ${file} no longer has ${JSON.stringify(from)}`);
  writeFileSync(file, text.replace(from, to));
}

/** A digest of the core's sources and build options: a variant is compiled again only when it changed. */
function sourcesDigest() {
  const h = createHash('sha256');
  for (const f of readdirSync(`${root}assembly`, { recursive: true }).map(String).sort()) {
    if (f.endsWith('.ts')) h.update(f).update(readFileSync(`${root}assembly/${f}`));
  }
  return h.update(readFileSync(`${root}asconfig.json`)).update(readFileSync(fileURLToPath(import.meta.url))).digest('hex');
}

/** Compiles assembly/ with `edit` applied to a copy, as asconfig.json's `target` (rtos or linux). */
function variant(work, name, edit, target = 'rtos') {
  const out = `${work}/${name}.wasm`;
  const stamp = `${work}/${name}.sources`;
  const digest = sourcesDigest();
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return readFileSync(out);
  const src = `${work}/${name}`;
  rmSync(src, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  cpSync(`${root}assembly`, `${src}/assembly`, { recursive: true });
  cpSync(`${root}asconfig.json`, `${src}/asconfig.json`);
  edit(`${src}/assembly`);
  execFileSync(`${root}node_modules/.bin/asc`, ['--config', 'asconfig.json', '--target', target, '-o', out, '-t', `${work}/${name}.wat`],
    { cwd: src, stdio: ['ignore', 'ignore', 'inherit'] });
  writeFileSync(stamp, digest);
  return readFileSync(out);
}

/** What the packages are made from: the core's sources, the host's package code, the built-in blobs. */
function packagesDigest() {
  const h = createHash('sha256').update(sourcesDigest());
  for (const f of readdirSync(`${root}dist/host/update`).sort()) {
    if (f.endsWith('.js')) h.update(f).update(readFileSync(`${root}dist/host/update/${f}`));
  }
  for (const f of ['host/update/selftest.jsonl', 'build/microtally-rtos.wasm', 'build/microtally-linux.wasm']) h.update(f).update(readFileSync(`${root}${f}`));
  return h.digest('hex');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Takes <dir>/.lock (its holder's pid inside); a holder that died leaves it to the next. */
async function lock(dir) {
  const file = `${dir}/.lock`;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    let stale = false;
    try {
      const pid = Number(readFileSync(file, 'utf8'));
      if (pid > 0) {
        try { process.kill(pid, 0); } catch (e) { stale = e.code === 'ESRCH'; }
      } else {
        stale = Date.now() - statSync(file).mtimeMs > 10_000; // created, its pid never written
      }
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
    }
    if (stale) { try { unlinkSync(file); } catch (e) { if (e.code !== 'ENOENT') throw e; } }
    else await sleep(200);
  }
}

export async function makeTestPackages(folder = `${root}build/test-packages`) {
  // Absolute: asc runs in the variant's copy of the sources and writes where it is told.
  const dir = resolve(folder);
  mkdirSync(dir, { recursive: true });
  const unlock = await lock(dir);
  try {
    const digest = packagesDigest();
    const complete = `${dir}/complete`;
    if (existsSync(complete) && readFileSync(complete, 'utf8') === digest) {
      return { dir, index: JSON.parse(readFileSync(`${dir}/index.json`, 'utf8')) };
    }
    rmSync(complete, { force: true });
    const made = await make(dir);
    writeFileSync(complete, digest);
    return made;
  } finally {
    unlock();
  }
}

function make(dir) {
  return Promise.all([import(`${root}dist/host/update/package.js`), import(`${root}dist/host/update/cbor.js`)])
    .then(([{ makePackage, sealPackage, manifestMap, MANIFEST_FORMAT }, { encode }]) => {
    const work = `${dir}/src`;
    const changedEdit = (a) => {
      const v = [...Buffer.from('0.1.0-changed')];
      patch(`${a}/words.ts`, /^@lazy export const versionNumber: Lit = .*$/m.exec(readFileSync(`${a}/words.ts`, 'utf8'))[0],
        `@lazy export const versionNumber: Lit = memory.data<u8>([${[v.length, ...v].join(', ')}], 1); // "0.1.0-changed"`);
      patch(`${a}/profile.ts`, 'DEFAULT_MEDIUM_S: i64 = LINUX ? 7200 : 30;', 'DEFAULT_MEDIUM_S: i64 = LINUX ? 7200 : 20;');
    };
    const trapLoadEdit = (a) => patch(`${a}/index.ts`, 'export function mt_init(): i32 {', 'export function mt_init(): i32 {\n  unreachable();');
    const trapAfterEdit = (a) => {
      patch(`${a}/input.ts`, '  accepted++;\n', `  accepted++;\n  if (++testInputs >= ${TRAP_AFTER_INPUTS}) unreachable();\n`);
      patch(`${a}/input.ts`, 'export let started = false;', 'export let started = false;\nlet testInputs = 0;');
      patch(`${a}/input.ts`, '  started = false;\n  lastT = 0;', '  started = false;\n  testInputs = 0;\n  lastT = 0;');
    };
    // trap-after, and once it trapped its mt_init traps too: the bindings' re-initialisation
    // fails (MT_ERR_ENGINE, no working core) and the agent must still roll back.
    const trapBrokenEdit = (a) => {
      patch(`${a}/input.ts`, '  accepted++;\n', `  accepted++;\n  if (++testInputs >= ${TRAP_AFTER_INPUTS}) {\n    testBroken = true;\n    unreachable();\n  }\n`);
      patch(`${a}/input.ts`, 'export let started = false;', 'export let started = false;\nlet testInputs = 0;\nexport let testBroken = false;');
      patch(`${a}/input.ts`, '  started = false;\n  lastT = 0;', '  started = false;\n  testInputs = 0;\n  lastT = 0;');
      patch(`${a}/index.ts`, 'export function mt_init(): i32 {', 'export function mt_init(): i32 {\n  if (I.testBroken) unreachable();');
    };
    // mt_finish traps once a connection came in (the self-test gives lines only): the checkpoint
    // at the first window boundary on probation traps.
    const trapFinishEdit = (a) => {
      patch(`${a}/input.ts`, 'export let started = false;', 'export let started = false;\nlet testConnections = 0;\nexport function testCount(): void { testConnections++; }\nexport function testCounted(): i32 { return testConnections; }');
      patch(`${a}/typed.ts`, 'import * as L from "./words";', 'import * as L from "./words";\nimport { testCount } from "./input";');
      patch(`${a}/typed.ts`, 'export function mt_ingest_connection(): i32 { return ingestConnectionAt(0); }',
        'export function mt_ingest_connection(): i32 { testCount(); return ingestConnectionAt(0); }');
      patch(`${a}/index.ts`, 'export function mt_finish(): i32 {', 'export function mt_finish(): i32 {\n  if (I.testCounted() > 0) unreachable();');
    };
    const changed = variant(work, 'changed', changedEdit);
    // `changed` built for size, as a device runs it (its wasm3 heap is sized for rtos-small).
    const changedSmall = variant(work, 'changed-small', changedEdit, 'rtos-small');
    const trapLoad = variant(work, 'trap-load', trapLoadEdit);
    const trapAfter = variant(work, 'trap-after', trapAfterEdit);
    const trapBroken = variant(work, 'trap-broken', trapBrokenEdit);
    const trapFinish = variant(work, 'trap-finish', trapFinishEdit);
    // The Linux agent's (linux profile) counterparts.
    const changedLinux = variant(work, 'changed-linux', changedEdit, 'linux');
    const trapLoadLinux = variant(work, 'trap-load-linux', trapLoadEdit, 'linux');
    const trapAfterLinux = variant(work, 'trap-after-linux', trapAfterEdit, 'linux');
    const pair = (name) => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      writeFileSync(`${dir}/${name}.key`, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      writeFileSync(`${dir}/${name}.pub`, publicKey.export({ type: 'spki', format: 'pem' }));
      return privateKey;
    };
    const key = pair('test');
    const other = pair('other');
    const builtIn = (p) => readFileSync(`${root}build/microtally-${p}.wasm`);
    const index = [];
    const put = (file, bytes, sequence, profile, outcome, reason) => {
      writeFileSync(`${dir}/${file}`, bytes);
      index.push({ file, sequence, profile, outcome, ...(reason ? { reason } : {}) });
    };
    const sha = (b) => createHash('sha256').update(b).digest('hex');
    // A package whose manifest describes `blob` but carries the self-test digest of `like`: what
    // sign would never make (the blob cannot run its self-test, or computes something else).
    const unchecked = (blob, sequence, like) => {
      const m = { format: MANIFEST_FORMAT, sequence, blobSize: blob.length, blobSha256: sha(blob), abiVersion: like.manifest.abiVersion,
        profile: like.manifest.profile, agentVersion: like.manifest.agentVersion, selfTestSha256: like.manifest.selfTestSha256 };
      return sealPackage(encode(manifestMap(m)), blob, key);
    };
    const good = makePackage(changed, 2, key);
    put('changed-2.pkg', good.bytes, 2, 'rtos', 'applied');
    put('changed-small-2.pkg', makePackage(changedSmall, 2, key).bytes, 2, 'rtos', 'applied');
    put('changed-1.pkg', makePackage(changed, 1, key).bytes, 1, 'rtos', 'rejected', 'sequence 1 is not above the installed 2');
    put('other-key-3.pkg', makePackage(changed, 3, other).bytes, 3, 'rtos', 'rejected', 'wrong key');
    put('truncated-3.pkg', good.bytes.subarray(0, good.bytes.length >> 1), 3, 'rtos', 'rejected', 'truncated');
    const tamperedBlob = Buffer.from(good.bytes); tamperedBlob[tamperedBlob.length - 100] ^= 1;
    put('tampered-blob-2.pkg', tamperedBlob, 2, 'rtos', 'rejected', 'blob digest mismatch');
    const tamperedManifest = Buffer.from(good.bytes); tamperedManifest[tamperedManifest.indexOf(Buffer.from('0.1.0-changed'))] ^= 1;
    put('tampered-manifest-2.pkg', tamperedManifest, 2, 'rtos', 'rejected', 'bad signature');
    const badSignature = Buffer.from(good.bytes); badSignature[badSignature.indexOf(Buffer.from('0.1.0-changed')) + 60] ^= 1; // in the signature (after the 32-byte digest)
    put('bad-signature-2.pkg', badSignature, 2, 'rtos', 'rejected', 'bad signature');
    put('linux-4.pkg', makePackage(builtIn('linux'), 4, key).bytes, 4, 'linux', 'rejected', 'wrong profile');
    put('trap-load-5.pkg', unchecked(trapLoad, 5, good), 5, 'rtos', 'rolledBack', 'the new core does not load');
    put('trap-after-6.pkg', makePackage(trapAfter, 6, key).bytes, 6, 'rtos', 'rolledBack', 'the new core trapped within 2 windows of the swap');
    put('selftest-mismatch-7.pkg', unchecked(changed, 7, makePackage(builtIn('rtos'), 7, key)), 7, 'rtos', 'rolledBack',
      'self-test mismatch');
    put('trap-broken-8.pkg', makePackage(trapBroken, 8, key).bytes, 8, 'rtos', 'rolledBack', 'the new core trapped within 2 windows of the swap');
    put('trap-finish-9.pkg', makePackage(trapFinish, 9, key).bytes, 9, 'rtos', 'rolledBack', 'the new core trapped within 2 windows of the swap');
    const goodLinux = makePackage(changedLinux, 2, key);
    put('linux-changed-2.pkg', goodLinux.bytes, 2, 'linux', 'applied');
    put('linux-changed-1.pkg', makePackage(changedLinux, 1, key).bytes, 1, 'linux', 'rejected', 'sequence 1 is not above the installed 2');
    put('linux-other-key-3.pkg', makePackage(changedLinux, 3, other).bytes, 3, 'linux', 'rejected', 'wrong key');
    put('linux-trap-load-5.pkg', unchecked(trapLoadLinux, 5, goodLinux), 5, 'linux', 'rolledBack', 'the new core does not load');
    put('linux-trap-after-6.pkg', makePackage(trapAfterLinux, 6, key).bytes, 6, 'linux', 'rolledBack', 'the new core trapped within 2 windows of the swap');
    writeFileSync(`${dir}/index.json`, `${JSON.stringify(index, null, 1)}\n`);
    return { dir, index };
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = resolve(process.argv[2] ?? `${root}build/test-packages`);
  if (!existsSync(`${root}dist/host/update/package.js`)) { process.stderr.write('make-test-packages: run npm run build first\n'); process.exit(2); }
  const { index } = await makeTestPackages(dir);
  process.stdout.write(`make-test-packages: ${index.length} packages in ${dir}\n`);
}
