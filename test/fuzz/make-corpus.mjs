#!/usr/bin/env node
// Writes the seed corpus of the fuzz targets (test/fuzz/corpus/<target>/), small files from
// examples/, the C tests' traces (test/c/gen-traces.mjs) and edge cases. The files are committed;
// run this again only to change the seeds: node test/fuzz/make-corpus.mjs
// Byte 0 of every seed is the options byte of fuzz_common.h's fz_begin: bit 0 the profile
// (1 linux), bits 1-2 the drain (0/1 chunks, 2 whole messages, 3 a small buffer of 256 << bits 3-5).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = join(here, 'corpus');
const RTOS = 0x40, LINUX = 0x41, WHOLE = 0x04, SMALL = 0x06; // '@' 'A', +4 whole, +6 small (256 B)
const opt = (o) => Buffer.from([o]);
const seeds = { lines: {}, config: {}, records: {}, batch: {} };
const MAX = 6000; // bytes of trace text per seed: keep them small

// ---- trace lines ----------------------------------------------------------------------------
const head = (buf, max = MAX) => { const s = buf.toString('latin1'); if (s.length <= max) return buf; const cut = s.lastIndexOf('\n', max); return buf.subarray(0, cut > 0 ? cut + 1 : max); };
const gateway = readFileSync(join(root, 'examples', 'gateway.jsonl'));
seeds.lines['gateway-rtos'] = Buffer.concat([opt(RTOS), head(gateway)]);
seeds.lines['gateway-linux-whole'] = Buffer.concat([opt(LINUX | WHOLE), head(gateway)]);
seeds.lines['gateway-rtos-small'] = Buffer.concat([opt(RTOS | SMALL), head(gateway)]);
const traces = join(tmpdir(), `mt-fuzz-traces-${process.pid}`);
execFileSync(process.execPath, [join(root, 'test', 'c', 'gen-traces.mjs'), traces]);
for (const name of ['edges', 'config', 'deep']) {
  const t = readFileSync(join(traces, `${name}.jsonl`));
  seeds.lines[`${name}-rtos`] = Buffer.concat([opt(RTOS), head(t)]);
  seeds.lines[`${name}-linux`] = Buffer.concat([opt(LINUX), head(t)]);
}
seeds.lines['load-head'] = Buffer.concat([opt(RTOS | WHOLE), head(readFileSync(join(traces, 'load.jsonl')))]);
rmSync(traces, { recursive: true, force: true });

const T0 = 1700000000000;
const conn = (t, i, extra = {}) => JSON.stringify({ kind: 'connection', t, proto: ['tcp', 'udp', 'icmp'][i % 3], dir: i % 2 ? 'in' : 'out',
  local: i % 4 ? '10.0.0.2' : 'fe80::1', lport: 1000 + i, remote: i % 4 ? '52.1.2.3' : '::ffff:1.2.3.4', rport: 443, bytesIn: i, bytesOut: 2 * i, ...extra });
const lines = (...ls) => Buffer.from(ls.join('\n'));
seeds.lines['empty-windows-jump'] = Buffer.concat([opt(RTOS), lines(
  JSON.stringify({ kind: 'config', t: T0, config: { sendEmptyWindows: true, priorityIntervals: { high: 1, medium: 1, low: 1 } } }),
  conn(T0, 1), JSON.stringify({ kind: 'tick', t: T0 + 86400000 }), conn(T0 + 86400001, 2))]);
seeds.lines['cache-overflow'] = Buffer.concat([opt(LINUX), lines(
  JSON.stringify({ kind: 'config', t: T0, config: { network: { cacheSize: 2, aggregation: true }, process: { cacheSize: 1 }, maxMessageBytes: 1024 } }),
  ...Array.from({ length: 6 }, (_, i) => conn(T0 + i, i)),
  JSON.stringify({ kind: 'process', t: T0 + 7, pid: 1, ppid: 0, uid: 0, type: 'exec', cmd: 'a', exe: '/bin/a', user: 'root' }),
  JSON.stringify({ kind: 'process', t: T0 + 8, pid: 2, ppid: 1, uid: 0, type: 'fork', cmd: 'b' }))]);
seeds.lines['baseline-sysinfo'] = Buffer.concat([opt(RTOS), lines(
  JSON.stringify({ kind: 'baseline', t: T0, id: 'CIS-debian-9-Filesystem-1.1.2', group: 'Filesystem', result: 'fail', severity: 'critical', description: 'd', remediation: 'r', error: 'e' }),
  JSON.stringify({ kind: 'baseline', t: T0, id: 'CIS-2', group: 'g', result: 'error', severity: 'informational', description: '\u00e9\u4e2d\ud83d\ude00', remediation: 'r' }),
  JSON.stringify({ kind: 'sysinfo', t: T0 + 1, os: 'Eclipse ThreadX', osVersion: '6.4.1', kernel: 'NetX', hw: 'STM32', memTotal: 9007199254740991 }))]);
seeds.lines['bytes-saturate'] = Buffer.concat([opt(LINUX), lines(...Array.from({ length: 4 }, () => conn(T0, 5, { bytesIn: 9007199254740991, bytesOut: 9007199254740991 })))]);
seeds.lines['odd-lines'] = Buffer.concat([opt(RTOS), Buffer.from('\r\n\n  \t\n{}\n[]\n{"kind":"tick","t":-1}\n{"kind":"tick","t":1e3}\n{"kind":"tick","t":1700000000000.5}\n'
  + '{"kind":"connection","t":1700000000000,"proto":"tcp","dir":"out","local":"1.2.3.4","lport":1,"remote":"::","rport":2,"bytesIn":0,"bytesOut":0,"host":"\\ud800\\u0000\\"x"}\n'
  + '{"kind":"tick","t":9007199254740991}\n{"kind":"tick","t":1700000000001}\r\n')]);
seeds.lines['utf8'] = Buffer.concat([opt(LINUX), Buffer.from('{"kind":"process","t":1700000000000,"pid":1,"ppid":1,"uid":1,"type":"exec","cmd":"'),
  Buffer.from([0xc0, 0x80, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xff]), Buffer.from('"}\n')]);

// ---- configurations ---------------------------------------------------------------------------
const defaults = { process: { enabled: true, priority: 'medium', aggregation: true, cacheSize: 256 }, network: { enabled: true, priority: 'medium', aggregation: true, cacheSize: 256 },
  systemInformation: { enabled: true, interval: 'low' }, baseline: { enabled: true, interval: 'low', disabledGroups: [], disabledChecks: [] },
  priorityIntervals: { high: 10, medium: 30, low: 60 }, maxMessageBytes: 4096, sendEmptyWindows: false };
const cfg = (o, ...cs) => Buffer.concat([opt(o), Buffer.from(cs.map((c) => typeof c === 'string' ? c : JSON.stringify(c)).join('\n'))]);
seeds.config['quick'] = Buffer.concat([opt(RTOS), readFileSync(join(root, 'examples', 'quick.json'))]);
seeds.config['defaults'] = cfg(RTOS, defaults);
seeds.config['defaults-linux'] = cfg(LINUX | WHOLE, { ...defaults, priorityIntervals: { high: 1800, medium: 7200, low: 86400 }, maxMessageBytes: 65536, network: { ...defaults.network, cacheSize: 1024 } });
seeds.config['small-messages'] = cfg(RTOS | SMALL, { maxMessageBytes: 1024, network: { priority: 'high', cacheSize: 1 } }, { maxMessageBytes: 262144 }, { maxMessageBytes: 1023 });
seeds.config['updates'] = cfg(LINUX, { network: { aggregation: false } }, { process: { enabled: false } }, { sendEmptyWindows: true, priorityIntervals: { high: 1 } },
  { baseline: { disabledGroups: ['fs'], disabledChecks: ['CIS-2'] } }, { utcOffsetMinutes: 330 }, {});
seeds.config['rejected'] = cfg(RTOS, '{"network":{"cacheSize":0}}', '{"nope":1}', '{"maxMessageBytes":"4096"}', '{"priorityIntervals":{"high":2678401}}',
  '{"network":{"priority":"urgent"}}', '[1]', '{', '{"baseline":{"disabledGroups":[1]}}', '{"process":{"cacheSize":1.5}}', '{"maxMessageBytes":4096,"maxMessageBytes":1024}');

// ---- typed records (fuzz_records.c's ops) ---------------------------------------------------------
const u16 = (v) => [v & 255, v >> 8];
const s = (txt) => { const b = Buffer.from(txt); return b.length < 255 ? [b.length, ...b] : [255, ...u16(b.length), ...b]; };
const rec = (o, ...ops) => Buffer.from([o, ...ops.flat()]);
const connOp = (dt, addr, p, app = '', host = '') => [0, dt, 0, ...u16(100), 0, ...u16(200), addr, addr + 1, 1, p, p + 1, p % 3, p % 2, ...s(app), ...s(host)];
const procOp = (dt, cmd) => [2, dt, 5, 1, 0, 0, 1, ...s(cmd), ...s('/bin/sh'), ...s('root')];
const baseOp = (dt) => [3, dt, 1, 0, ...s('CIS-1'), ...s('fs'), ...s('e'), ...s('d'), ...s('r')];
const sysOp = (dt) => [4, dt, 0, ...u16(512), ...s('Linux'), ...s('12'), ...s('6.1'), ...s('arm')];
seeds.records['mixed-rtos'] = rec(RTOS, connOp(1, 0, 1, 'dns', 'a.example'), connOp(2, 0, 1), connOp(3, 121, 2), baseOp(4), sysOp(5), [5, 220, ...u16(40)], connOp(1, 2, 3));
seeds.records['mixed-linux'] = rec(LINUX | WHOLE, procOp(1, '/usr/sbin/cron'), procOp(2, '/usr/sbin/cron'), procOp(3, 'python3 app.py'), connOp(1, 1, 4), [6, 1, 3], procOp(4, 'x'), [9, 0]);
seeds.records['configs'] = rec(RTOS | SMALL, [6, 0, 6], connOp(0, 0, 0), [5, 20], [6, 1, 2], connOp(0, 0, 1), connOp(0, 0, 2), [6, 0, 0], [5, 220, ...u16(7200)]);
seeds.records['line-op'] = rec(RTOS, [7, 0, ...s(conn(T0 + 10, 3))], [7, 0, ...s('not json')], [5, 245, 10]);

// ---- connection records (ABI layout) ---------------------------------------------------------------
const abi = (t, lport, { proto = 0, fam = 4, app = '', host = '', bin = 100 } = {}) => {
  const h = Buffer.alloc(68);
  h.writeBigInt64LE(BigInt(t), 0); h.writeBigUInt64LE(BigInt(bin), 8); h.writeBigUInt64LE(200n, 16);
  if (fam === 4) { h.set([10, 0, 0, 2], 24); h.set([52, 1, 2, 3], 40); } else { h[24] = 0xfe; h[25] = 0x80; h[39] = 1; h[40] = 0x20; h[41] = 0x01; h[55] = 9; }
  h.writeUInt16LE(lport, 56); h.writeUInt16LE(443, 58); h[60] = proto; h[61] = 1; h[62] = fam; h[63] = 0;
  const a = Buffer.from(app), b = Buffer.from(host);
  h.writeUInt16LE(a.length, 64); h.writeUInt16LE(b.length, 66);
  return Buffer.concat([h, a, b]);
};
seeds.batch['few'] = Buffer.concat([opt(RTOS), ...Array.from({ length: 8 }, (_, i) => abi(T0 + i * 4000, 1000 + (i % 3), { app: i % 2 ? 'dns' : '', host: i % 3 ? 'h.example' : '' }))]);
seeds.batch['bad-and-v6'] = Buffer.concat([opt(LINUX | SMALL), abi(T0, 1, { proto: 7 }), abi(T0 + 1, 2, { fam: 6 }), abi(T0 - 5, 3), abi(T0 + 40000, 4, { bin: 2 ** 53 })]);
seeds.batch['truncated'] = Buffer.concat([opt(RTOS | WHOLE), abi(T0, 1), abi(T0, 2).subarray(0, 40)]);

rmSync(out, { recursive: true, force: true });
for (const [target, files] of Object.entries(seeds)) {
  mkdirSync(join(out, target), { recursive: true });
  for (const [name, data] of Object.entries(files)) writeFileSync(join(out, target, name), data);
}
console.log(Object.entries(seeds).map(([t, f]) => `${t}: ${Object.keys(f).length}`).join(', '));
