// Traces that stress what differs on the board: long runs through wasm3's interpreter, full
// caches, message splitting, lines longer than the input area, odd bytes. Deterministic
// (seeded), so a failure replays exactly.

export type Trace = { name: string; bytes: Buffer };

/** xorshift32: small, seedable, the same sequence everywhere. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

const T0 = Date.UTC(2026, 2, 14, 9, 26, 53);

const V4 = ['10.0.0.2', '10.0.0.3', '192.168.7.1', '93.184.216.34', '20.42.65.92', '0.0.0.0', '255.255.255.255'];
const V6 = ['fe80::1', '2001:db8::53', '::1', '::ffff:10.0.0.2', '2001:db8:85a3::8a2e:370:7334', '::'];
const HOSTS = ['example.com', 'hub.azure-devices.net', 'ünïcödé.example', 'a'.repeat(200), 'quote"and\\slash', 'tab\there'];

function pick<T>(r: () => number, xs: readonly T[]): T { return xs[Math.floor(r() * xs.length)]; }
function int(r: () => number, n: number): number { return Math.floor(r() * n); }

function connection(r: () => number, t: number): Record<string, unknown> {
  const six = r() < 0.35;
  const o: Record<string, unknown> = {
    kind: 'connection', t,
    proto: pick(r, ['tcp', 'udp', 'icmp'] as const), dir: pick(r, ['in', 'out'] as const),
    local: pick(r, six ? V6 : V4), lport: pick(r, [0, 53, 443, 8883, 40000 + int(r, 40), 65535]),
    remote: pick(r, six ? V6 : V4), rport: pick(r, [53, 443, 8883, 123]),
    bytesIn: r() < 0.02 ? 9007199254740991 : int(r, 100000), bytesOut: int(r, 5000),
  };
  if (r() < 0.2) o.app = pick(r, ['dns', 'mqtt', 'https-long-name']);
  if (r() < 0.2) o.host = pick(r, HOSTS);
  return o;
}

function baseline(r: () => number, t: number): Record<string, unknown> {
  const o: Record<string, unknown> = {
    kind: 'baseline', t, id: `CIS-rtos-${int(r, 20)}`, group: pick(r, ['net', 'fs', 'boot']),
    result: pick(r, ['pass', 'fail', 'error']), severity: pick(r, ['critical', 'important', 'warning', 'informational']),
    description: 'd'.repeat(int(r, 300)), remediation: pick(r, ['fix it', 'r\u00e9parer', '']),
  };
  if (r() < 0.3) o.error = 'timeout';
  return o;
}

function sysinfo(r: () => number, t: number): Record<string, unknown> {
  return { kind: 'sysinfo', t, os: 'Eclipse ThreadX', osVersion: pick(r, ['6.4.1', '6.4.2']), kernel: 'cortex_m3',
    hw: 'mps2-an385', memTotal: pick(r, [4194304, 0, 9007199254740991]) };
}

function config(r: () => number, t: number): Record<string, unknown> {
  const choices: Record<string, unknown>[] = [
    { network: { cacheSize: 1 + int(r, 40) } },
    { network: { aggregation: r() < 0.5 } },
    { network: { enabled: r() < 0.8, priority: pick(r, ['high', 'medium', 'low']) } },
    { priorityIntervals: { high: 1 + int(r, 10), medium: 5 + int(r, 30), low: 10 + int(r, 60) } },
    { maxMessageBytes: pick(r, [1024, 2048, 4096, 8192]) },
    { sendEmptyWindows: r() < 0.5 },
    { baseline: { disabledGroups: r() < 0.5 ? ['fs'] : [] } },
    { network: { cacheSize: 0 } },          // rejected: out of range
    { nosuchkey: true },                    // rejected: unknown key
  ];
  return { kind: 'config', t, config: pick(r, choices) };
}

const MALFORMED = [
  'not json',
  '{"kind":"connection"}',
  '{"kind":"tick","t":-5}',
  '{"kind":"connection","t":1,"proto":"sctp","dir":"in","local":"1.2.3.4","lport":1,"remote":"1.2.3.4","rport":2,"bytesIn":0,"bytesOut":0}',
  '{"kind":"connection","t":1773480413000,"proto":"tcp","dir":"in","local":"1.2.3.256","lport":1,"remote":"::1","rport":2,"bytesIn":0,"bytesOut":0}',
  '{"kind":"connection","t":1773480413000,"proto":"tcp","dir":"in","local":"1.2.3.4","lport":70000,"remote":"::1","rport":2,"bytesIn":0,"bytesOut":0}',
  '{"kind":"connection","t":1773480413000,"proto":"tcp","dir":"in","local":"1.2.3.4","lport":1,"remote":"::1","rport":2,"bytesIn":9007199254740992,"bytesOut":0}',
  '[1,2,3]',
  '{"kind":"tick","t":1e3}',
  '{"kind":"unknown","t":1}',
];

/** A long mixed run: every kind, malformed lines, blanks, CRLF, time going backwards. */
export function mixed(seed: number, lines: number): Trace {
  const r = rng(seed);
  let t = T0;
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    t += int(r, 3) === 0 ? int(r, 20000) : int(r, 200);
    const x = r();
    let s: string;
    if (x < 0.62) s = JSON.stringify(connection(r, t));
    else if (x < 0.70) s = JSON.stringify(baseline(r, t));
    else if (x < 0.73) s = JSON.stringify(sysinfo(r, t));
    else if (x < 0.76) s = JSON.stringify(config(r, t));
    else if (x < 0.82) s = JSON.stringify({ kind: 'tick', t });
    else if (x < 0.86) s = JSON.stringify({ kind: 'process', t, pid: int(r, 100), ppid: 1, uid: 0, type: 'exec', cmd: '/bin/sh -c x' });
    else if (x < 0.92) s = pick(r, MALFORMED);
    else if (x < 0.95) s = '';
    else if (x < 0.97) s = JSON.stringify({ kind: 'tick', t: t - 100000 }); // earlier than the last line
    else s = JSON.stringify(connection(r, t)) + '\r';
    out.push(s);
  }
  return { name: `mixed-${seed}-${lines}`, bytes: Buffer.from(out.join('\n') + '\n') };
}

/**
 * More distinct connections than the cache holds, in one window, then 50 inbound events on
 * ports 1024 + i % 7: each matches an earlier flow only when the remote address (which
 * alternates with i) is the same, i.e. when i % 7 and i have the same parity.
 */
export function overflow(distinct: number): Trace {
  const out: string[] = [];
  for (let i = 0; i < distinct; i++) {
    out.push(JSON.stringify({ kind: 'connection', t: T0 + i, proto: 'udp', dir: 'out', local: '10.0.0.2',
      lport: 1024 + i, remote: i % 2 ? '2001:db8::1' : '20.1.2.3', rport: 53, bytesIn: i, bytesOut: 2 * i,
      app: 'dns', host: `h${i}.example` }));
  }
  for (let i = 0; i < 50; i++) {
    out.push(JSON.stringify({ kind: 'connection', t: T0 + distinct + i, proto: 'udp', dir: 'in', local: '10.0.0.2',
      lport: 1024 + (i % 7), remote: i % 2 ? '2001:db8::1' : '20.1.2.3', rport: 53, bytesIn: 1, bytesOut: 1 }));
  }
  out.push(JSON.stringify({ kind: 'tick', t: T0 + 3_600_000 }));
  return { name: `overflow-${distinct}`, bytes: Buffer.from(out.join('\n') + '\n') };
}

/** Lines around the input area's size (and far beyond it), which the host must not copy in. */
export function longLines(capacity: number): Trace {
  const pad = (n: number) => {
    const head = `{"kind":"connection","t":${T0},"proto":"tcp","dir":"out","local":"10.0.0.2","lport":1,"remote":"10.0.0.9","rport":2,"bytesIn":1,"bytesOut":1,"host":"`;
    const tail = '"}';
    return head + 'x'.repeat(Math.max(0, n - head.length - tail.length)) + tail;
  };
  const out = [pad(capacity - 1), pad(capacity), pad(capacity + 1), pad(capacity * 3 + 17),
    JSON.stringify({ kind: 'tick', t: T0 + 100_000 }), 'y'.repeat(capacity * 2)];
  return { name: `long-lines-${capacity}`, bytes: Buffer.from(out.join('\n')) }; // no final newline
}

/** Invalid UTF-8 and control characters in every string field. */
export function oddBytes(): Trace {
  const parts: Buffer[] = [];
  const bad = [Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xe2, 0x82]), Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from('\u0001\u001f\u007f'), Buffer.from('😀')];
  bad.forEach((b, i) => {
    const head = Buffer.from(`{"kind":"connection","t":${T0 + i},"proto":"tcp","dir":"in","local":"10.0.0.2","lport":${i + 1},"remote":"10.0.0.9","rport":2,"bytesIn":1,"bytesOut":1,"host":"`);
    parts.push(head, b, Buffer.from('x"}\n'));
    parts.push(Buffer.from(`{"kind":"baseline","t":${T0 + i},"id":"c${i}","group":"g","result":"fail","severity":"warning","description":"`), b,
      Buffer.from('","remediation":"r"}\n'));
  });
  parts.push(Buffer.from([0xff, 0xfe, 0x0a])); // a line that is not JSON nor UTF-8
  return { name: 'odd-bytes', bytes: Buffer.concat(parts) };
}

/** Windows large enough to be split over several messages. */
export function splitting(): Trace {
  const out = [JSON.stringify({ kind: 'config', t: T0, config: { maxMessageBytes: 1024, network: { aggregation: false } } })];
  for (let i = 0; i < 120; i++) {
    out.push(JSON.stringify({ kind: 'connection', t: T0 + i, proto: 'tcp', dir: 'out', local: '2001:db8::1', lport: i,
      remote: '2001:db8::2', rport: 443, bytesIn: 1, bytesOut: 1, host: 'h'.repeat(i % 40) }));
    if (i % 10 === 0) out.push(JSON.stringify(baseline(rng(i + 1), T0 + i)));
  }
  return { name: 'splitting', bytes: Buffer.from(out.join('\n') + '\n') };
}
