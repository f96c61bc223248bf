#!/usr/bin/env node
// Writes the traces scripts/test-c.sh replays on the native wasm3 program and on V8 to compare
// bytes: edge cases of line handling plus a deterministic load that splits messages and
// overflows caches. Usage: node test/c/gen-traces.mjs <out-dir>
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) { process.stderr.write('usage: gen-traces.mjs <out-dir>\n'); process.exit(2); }
mkdirSync(dir, { recursive: true });

const T0 = 1700000000000;
const conn = (t, i, extra = {}) => JSON.stringify({
  kind: 'connection', t, proto: ['tcp', 'udp', 'icmp'][i % 3], dir: i % 2 ? 'in' : 'out',
  local: i % 5 === 0 ? 'fe80::1' : '10.0.0.2', lport: 1024 + (i % 700),
  remote: i % 5 === 0 ? '::ffff:52.1.2.3' : `52.1.${(i >> 8) & 255}.${i & 255}`, rport: 443,
  bytesIn: i * 1000, bytesOut: 9007199254740991 - i, ...extra,
});
const proc = (t, i) => JSON.stringify({
  kind: 'process', t, pid: 100 + i, ppid: 1, uid: i % 3, type: i % 2 ? 'fork' : 'exec',
  cmd: `/usr/bin/tool --n ${i % 50} ${'x'.repeat(i % 300)}`, exe: '/usr/bin/tool', user: 'u' + (i % 3),
});

const files = {};

// Line handling: CRLF, blank lines, bad JSON, time going back, invalid UTF-8, no final newline.
files['edges.jsonl'] = Buffer.concat([
  Buffer.from(conn(T0, 1) + '\r\n\n   \n{"kind":"tick"}\nnot json\n'),
  Buffer.from(conn(T0 - 5, 2) + '\n'),
  Buffer.from('{"kind":"connection","t":' + (T0 + 1) + ',"proto":"tcp","dir":"out","local":"10.0.0.2","lport":1,"remote":"1.2.3.4","rport":2,"bytesIn":1,"bytesOut":1,"host":"'),
  Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82]),
  Buffer.from('"}\n'),
  Buffer.from('{"kind":"tick","t":' + (T0 + 60000) + '}'),
]);

// Lines longer than the input area (rtos 4 KiB, linux 64 KiB), and one longer than the native
// program keeps (256 KiB).
files['long-lines.jsonl'] = [
  conn(T0, 1, { host: 'h'.repeat(5000) }),
  conn(T0 + 1, 2, { host: 'h'.repeat(70000) }),
  'y'.repeat(300000),
  conn(T0 + 2, 3, { host: 'z'.repeat(3000) }),
  '',
].join('\n');

// Configuration changes, a rejected one, baseline and sysinfo.
files['config.jsonl'] = [
  conn(T0, 1),
  JSON.stringify({ kind: 'config', t: T0 + 1000, config: { network: { priority: 'high', cacheSize: 4 }, maxMessageBytes: 1024 } }),
  JSON.stringify({ kind: 'config', t: T0 + 1500, config: { network: { cacheSize: 0 } } }),
  JSON.stringify({ kind: 'config', t: T0 + 1600, config: { nope: 1 } }),
  ...Array.from({ length: 30 }, (_, i) => conn(T0 + 2000 + i * 500, i)),
  JSON.stringify({ kind: 'baseline', t: T0 + 20000, id: 'CIS-1', group: 'fs', result: 'fail', severity: 'critical', description: 'd', remediation: 'r' }),
  JSON.stringify({ kind: 'baseline', t: T0 + 20001, id: 'CIS-2', group: 'fs', result: 'pass', severity: 'warning', description: 'd', remediation: 'r' }),
  JSON.stringify({ kind: 'sysinfo', t: T0 + 20002, os: 'Linux', osVersion: '12', kernel: '6.1.0', hw: 'x86_64', memTotal: 8589934592 }),
  JSON.stringify({ kind: 'tick', t: T0 + 3600000 }),
  '',
].join('\n');

// Load: thousands of events over hours, more distinct connections and processes than the
// caches hold, so tables cycle or drop, windows close and messages split.
const load = [];
for (let i = 0; i < 6000; i++) {
  const t = T0 + i * 1500;
  load.push(i % 3 === 2 ? proc(t, i) : conn(t, (i * 7919) % 1500));
  if (i % 997 === 0) load.push(JSON.stringify({ kind: 'tick', t }));
}
files['load.jsonl'] = load.join('\n') + '\n';

// JSON nested around the parser's limit (16 levels), in an unknown field and in a configuration:
// the deepest recursion the core has, so the firmware's stack figures include it.
const nested = (depth, open, close) => open.repeat(depth) + '1' + close.repeat(depth);
files['deep.jsonl'] = [14, 15, 16, 17, 18].flatMap((d, i) => [
  conn(T0 + i, i).replace('{', '{"x":' + nested(d, '[', ']') + ','),
  conn(T0 + i, i).replace('{', '{"x":' + nested(d, '{"a":', '}') + ','),
  JSON.stringify({ kind: 'config', t: T0 + i, config: { network: { enabled: true } } })
    .replace('"config":{', '"config":{"x":' + nested(d, '{"a":', '}') + ','),
]).join('\n') + '\n';

for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
