// DPS registration end to end, on loopback: the agent (`microtally run`, in this process) registers
// with a DPS stand-in that checks the registration's SAS token (an individual key, or the key
// derived from a group key) or its client certificate, is assigned a hub, and delivers its
// messages to an IoT Hub stand-in listening as that hub (a 127/8 address, port 8883, as DPS names
// no port). The assignment is kept in the state directory and used when DPS is down. Bad input:
// DPS refusing, DPS assigning nothing, a key file others may read: one line, exit 2, nothing made.

import { createHmac } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../host/commands/command.js';
import { runCommandWith } from '../../host/commands/run.js';
import { dpsEndpointUrl } from '../../host/agent/iothub/dps.js';
import { checkIdentityOptions } from '../../host/agent/iothub/resolve.js';
import { DpsStandIn, HubStandIn, type Enrollment, type TlsFiles, type Verdict } from './helpers/iothub-standins.js';
import { until } from './helpers/mosquitto.js';
import { Pki, type Pem } from './helpers/pki.js';

const dir = mkdtempSync(join(tmpdir(), 'mt-dps-'));
const pki = new Pki(dir);
const SCOPE = '0ne00TEST01';
const KEY = Buffer.from('an individual enrollment key, 32+').toString('base64');
const GROUP_KEY = Buffer.from('a group enrollment key, never sent').toString('base64');
let ca: Pem, device: Pem, foreign: Pem;
let tls: TlsFiles;
let dps: DpsStandIn;
let verdicts: Map<string, Verdict>;
const hubs: HubStandIn[] = [];

/**
 * Listens as a hub DPS can name: a free 127/8 address on port 8883 (the server certificate names
 * it); the hub's name is that address unless `name` is given (a gateway in front of a named hub).
 */
async function hubAt(id: Omit<ConstructorParameters<typeof HubStandIn>[1], 'hub'>, name?: string): Promise<HubStandIn & { ip?: string }> {
  for (let tries = 0; ; tries++) {
    const ip = `127.${20 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    const cert = pki.issue(ca, `hub-${hubs.length}-${tries}`, ip, { san: [`IP:${ip}`] });
    const h = new HubStandIn({ ...tls, cert: readFileSync(cert.cert, 'utf8'), key: readFileSync(cert.key, 'utf8') }, { hub: name ?? ip, ...id });
    try {
      await h.start(ip, 8883);
      hubs.push(h);
      return Object.assign(h, { ip });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || tries > 10) throw e;
    }
  }
}

function keyFile(name: string, key: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, `${key}\n`);
  chmodSync(p, mode);
  return p;
}

beforeAll(async () => {
  ca = pki.ca('ca');
  device = pki.issue(ca, 'device', 'dev-x509');
  foreign = pki.issue(pki.ca('other-ca'), 'foreign', 'dev-x509'); // the right name, from a CA DPS does not trust
  const server = pki.issue(ca, 'dps-server', 'localhost', { san: ['DNS:localhost', 'IP:127.0.0.1'] });
  tls = { cert: readFileSync(server.cert, 'utf8'), key: readFileSync(server.key, 'utf8'), ca: readFileSync(ca.cert, 'utf8') };
  verdicts = new Map();
  const enrollments = new Map<string, Enrollment>([
    ['dev-sym', { key: KEY }], ['dev-grp', { groupKey: GROUP_KEY }], ['dev-x509', { x509: true }],
    ['dev-refused', { key: KEY }], ['dev-nothing', { key: KEY }], ['dev-failed', { key: KEY }], ['dev-garbled', { key: KEY }],
    ['dev-pending', { key: KEY }], ['dev-throttled', { key: KEY }], ['dev-nokeep', { key: KEY }], ['dev-moved', { key: KEY }],
  ]);
  dps = new DpsStandIn(tls, SCOPE, enrollments, (rid) => verdicts.get(rid) ?? { refuse: 404, message: 'no verdict' });
  await dps.start();
});
afterAll(async () => {
  await dps?.stop();
  for (const h of hubs) await h.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Outcome { code: number; stdout: string; stderr: string }

/** Runs `microtally run` here with `args`; stops it (as SIGTERM would) once `done` holds. */
async function agent(args: string[], done: () => boolean = () => false, stopAfterMs = 30_000): Promise<Outcome> {
  const out = new PassThrough();
  let stdout = '';
  out.on('data', (d) => { stdout += d; });
  const lines: string[] = [];
  const ac = new AbortController();
  const command = runCommandWith({ stdout: out, stderr: (l) => lines.push(l), signal: ac.signal });
  const running = runCommand(command, args, { out: (s) => { stdout += s; }, err: (s) => lines.push(s) });
  let finished = false;
  void running.finally(() => { finished = true; });
  // Stopped after 30 s at the latest (or stopAfterMs), so that a failing check shows what the agent said.
  await until('the agent to be done', () => finished || done(), stopAfterMs).catch(() => {});
  ac.abort();
  const code = await running;
  return { code, stdout, stderr: lines.join('') };
}

/** Each registration its own state directory, as each agent has one. */
const stateDir = (rid: string) => join(dir, `state-${rid || 'x509'}`);
const dpsArgs = (rid: string, ...more: string[]) => ['--dps-scope', SCOPE, '--dps-endpoint', `mqtts://localhost:${dps.port}`,
  '--ca-file', ca.cert, '--state-dir', stateDir(rid), '--source', 'poll', ...(rid ? ['--dps-registration-id', rid] : []), ...more];

/** Every message the hub got is an agent message (JSON, AgentVersion, Events). */
function expectMessages(h: HubStandIn): void {
  expect(h.telemetry.length).toBeGreaterThan(0);
  for (const t of h.telemetry) expect(JSON.parse(t.payload.toString('utf8'))).toMatchObject({ AgentVersion: expect.any(String), Events: expect.any(Array) });
  expect(h.strayTopics).toEqual([]);
}

describe('DPS registration, then the assigned hub', () => {
  it('individual enrollment (symmetric key): DPS checks the SAS, assigns a hub; the agent delivers there and keeps the assignment', async () => {
    const hub = await hubAt({ deviceId: 'dev-sym', key: KEY });
    verdicts.set('dev-sym', { assignedHub: hub.id.hub, deviceId: 'dev-sym' });
    const before = dps.registrations.length;
    const r = await agent([...dpsArgs('dev-sym', '--dps-key-file', keyFile('sym.key', KEY))], () => hub.connects.some((c) => !c.reason));
    expect(r.code, r.stderr).toBe(0);
    expect(dps.registrations.slice(before)).toEqual([{ registrationId: 'dev-sym', payload: { registrationId: 'dev-sym' } }]);
    expect(dps.connects.at(-1)).toMatchObject({ clientId: 'dev-sym', reason: '' });
    expect(r.stderr).toContain(`DPS assigned dev-sym to ${hub.id.hub} as device dev-sym (kept in ${stateDir('dev-sym')}/dps.json)`);
    expect(hub.connects[0]).toEqual({ clientId: 'dev-sym', username: `${hub.id.hub}/dev-sym/?api-version=2021-04-12`, reason: '' });
    expectMessages(hub);
    expect(statSync(stateDir('dev-sym')).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(join(stateDir('dev-sym'), 'dps.json'), 'utf8'))).toMatchObject({ idScope: SCOPE, registrationId: 'dev-sym', assignedHub: hub.id.hub, deviceId: 'dev-sym' });
    expect(r.stderr).not.toContain(KEY);
  });

  it('group enrollment: the device key is derived from the group key and the registration id (DPS and the hub check it)', async () => {
    const derived = createHmac('sha256', Buffer.from(GROUP_KEY, 'base64')).update('dev-grp').digest('base64');
    const hub = await hubAt({ deviceId: 'dev-grp', key: derived });
    verdicts.set('dev-grp', { assignedHub: hub.id.hub, deviceId: 'dev-grp' });
    const r = await agent([...dpsArgs('dev-grp', '--dps-group-key-file', keyFile('group.key', GROUP_KEY))], () => hub.connects.some((c) => !c.reason));
    expect(r.code, r.stderr).toBe(0);
    expect(dps.connects.filter((c) => c.clientId === 'dev-grp')).toEqual([{ clientId: 'dev-grp', username: `${SCOPE}/registrations/dev-grp/api-version=2019-03-31`, reason: '' }]);
    expect(hub.connects[0].reason).toBe('');
    expectMessages(hub);
    for (const secret of [GROUP_KEY, derived]) expect(r.stderr).not.toContain(secret);
  });

  it('X.509: DPS and the hub check the client certificate; the registration id is its common name', async () => {
    const hub = await hubAt({ deviceId: 'dev-x509' });
    verdicts.set('dev-x509', { assignedHub: hub.id.hub, deviceId: 'dev-x509' });
    const r = await agent([...dpsArgs('', '--x509-cert', device.cert, '--x509-key', device.key)], () => hub.connects.some((c) => !c.reason));
    expect(r.code, r.stderr).toBe(0);
    expect(dps.connects.filter((c) => c.clientId === 'dev-x509')).toEqual([{ clientId: 'dev-x509', username: `${SCOPE}/registrations/dev-x509/api-version=2019-03-31`, reason: '' }]);
    expect(hub.connects[0]).toEqual({ clientId: 'dev-x509', username: `${hub.id.hub}/dev-x509/?api-version=2021-04-12`, reason: '' });
    expectMessages(hub);
  });

  it('DPS down at the next start: the kept assignment is used (one warning) and the messages reach the hub', async () => {
    const hub = hubs.find((h) => h.id.deviceId === 'dev-sym')!;
    const delivered = hub.telemetry.length;
    const connects = hub.connects.length;
    await dps.stop();
    try {
      const r = await agent([...dpsArgs('dev-sym', '--dps-key-file', keyFile('sym.key', KEY))], () => hub.connects.length > connects);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`warn: DPS localhost:${dps.port}: .*; using the assignment kept from before: ${hub.id.hub.replace(/\./g, '\\.')} as device dev-sym`));
      await until('delivered', () => hub.telemetry.length > delivered);
      expect(hub.connects.at(-1)!.reason).toBe('');
    } finally {
      await dps.start('127.0.0.1', dps.port);
    }
  });

  it('DPS down and nothing kept: tries again with a backoff; a stop meanwhile ends it cleanly (exit 0, nothing made)', async () => {
    await dps.stop();
    try {
      const args = dpsArgs('dev-sym', '--dps-key-file', keyFile('sym.key', KEY));
      args[args.indexOf('--state-dir') + 1] = join(dir, 'state-empty');
      const r = await agent(args, () => false, 2500);
      const lines = (): string => r.stderr;
      expect(r.code, lines()).toBe(0);
      expect(lines()).toMatch(new RegExp(`warn: DPS localhost:${dps.port}: connect ECONNREFUSED .*; no assignment kept from before: trying again in \\d+\\.\\d s`));
      expect(lines()).toContain('info: stopped before DPS assigned a hub: nothing was collected');
      expect(r.stdout).toBe('');
    } finally {
      await dps.start('127.0.0.1', dps.port);
    }
  });
});

describe('a gateway (GatewayHostName=)', () => {
  it('connects to the gateway on 8883 and authenticates for the hub named by HostName', async () => {
    const HUB = 'behind-gateway.azure-devices.net';
    const gw = await hubAt({ deviceId: 'dev-gw', key: KEY }, HUB);
    const cs = keyFile('gw.cs', `HostName=${HUB};DeviceId=dev-gw;GatewayHostName=${gw.ip};SharedAccessKey=${KEY}`);
    const r = await agent(['--connection-string-file', cs, '--ca-file', ca.cert, '--source', 'poll'], () => gw.connects.some((c) => !c.reason));
    expect(r.code, r.stderr).toBe(0);
    expect(gw.connects[0]).toEqual({ clientId: 'dev-gw', username: `${HUB}/dev-gw/?api-version=2021-04-12`, reason: '' });
    expectMessages(gw);
  });
});

describe('DPS bad input: one line, exit 2, no hub contacted, nothing made', () => {
  const refused = async (args: string[], line: string | RegExp): Promise<void> => {
    const hubConnects = hubs.reduce((n, h) => n + h.connects.length, 0);
    const r = await agent([...args]);
    expect(r.code, r.stderr).toBe(2);
    const errors = r.stderr.split('\n').filter((l) => /microtally (error|warn):/.test(l));
    expect(errors, r.stderr).toHaveLength(1);
    expect(errors[0]).toMatch(line);
    expect(r.stdout).toBe('');
    expect(hubs.reduce((n, h) => n + h.connects.length, 0)).toBe(hubConnects);
    expect(r.stderr).not.toContain(KEY);
  };

  it('a wrong key: DPS refuses the connection', async () => {
    await refused(dpsArgs('dev-refused', '--dps-key-file', keyFile('wrong.key', GROUP_KEY)),
      `error: DPS localhost:${dps.port} refused the registration of dev-refused: Connection refused: Not authorized`);
    expect(dps.connects.at(-1)!.reason).toBe('signature does not match the key');
  });

  it('a certificate from a CA DPS does not trust: DPS refuses the connection', async () => {
    await refused(dpsArgs('', '--x509-cert', foreign.cert, '--x509-key', foreign.key),
      `error: DPS localhost:${dps.port} refused the registration of dev-x509: Connection refused: Not authorized`);
    expect(dps.connects.at(-1)!.reason).toMatch(/^no client certificate for dev-x509 signed by an enrolled CA/);
  });

  it('the wrong CA: the DPS server certificate is not trusted (no retry: it would not mend)', async () => {
    const other = pki.ca('wrong-ca');
    const args = dpsArgs('dev-sym', '--dps-key-file', keyFile('sym.key', KEY));
    args[args.indexOf('--ca-file') + 1] = other.cert;
    args[args.indexOf('--state-dir') + 1] = join(dir, 'state-wrong-ca');
    await refused(args, `error: DPS localhost:${dps.port}: the server's certificate is not signed by a CA in --ca-file ${other.cert} (SELF_SIGNED_CERT_IN_CHAIN)`);
  });

  it('DPS refusing the registration (status 401, its reason quoted)', async () => {
    verdicts.set('dev-refused', { refuse: 401, message: 'enrollment disabled\nby the operator' });
    await refused(dpsArgs('dev-refused', '--dps-key-file', keyFile('sym.key', KEY)),
      `error: DPS localhost:${dps.port} refused the registration of dev-refused (status 401): enrollment disabled by the operator`);
  });

  it('DPS assigning nothing: assigned without a hub, or failed', async () => {
    verdicts.set('dev-nothing', { nothing: true });
    await refused(dpsArgs('dev-nothing', '--dps-key-file', keyFile('sym.key', KEY)),
      `error: DPS localhost:${dps.port} assigned dev-nothing no usable hub (assignedHub "", deviceId "")`);
    verdicts.set('dev-failed', { status: 'failed', errorMessage: 'custom allocation failed' });
    await refused(dpsArgs('dev-failed', '--dps-key-file', keyFile('sym.key', KEY)),
      `error: DPS localhost:${dps.port}: registration of dev-failed failed: custom allocation failed`);
  });

  it('an answer that is no JSON object (null, a number, text): named, not a crash', async () => {
    for (const raw of ['null', '42', 'not json']) {
      verdicts.set('dev-garbled', { raw });
      await refused(dpsArgs('dev-garbled', '--dps-key-file', keyFile('sym.key', KEY)),
        `error: DPS localhost:${dps.port} answered status "" without an operation id`);
    }
  });

  it('a key file group or others may read, and option combinations', async () => {
    const readable = keyFile('readable.key', KEY, 0o640);
    await refused(dpsArgs('dev-sym', '--dps-key-file', readable), `--dps-key-file ${readable}: readable by group (mode 0640): chmod 600 it, or pass --allow-readable-secret`);
    await refused(dpsArgs('dev-sym'), '--dps-scope needs one of --dps-key-file, --dps-group-key-file or --x509-cert/--x509-key');
    await refused(dpsArgs('', '--dps-key-file', keyFile('sym.key', KEY)), '--dps-scope with a symmetric key needs --dps-registration-id');
    await refused(['--dps-key-file', keyFile('sym.key', KEY)], 'need --dps-scope');
    await refused([...dpsArgs('dev-sym', '--dps-key-file', keyFile('sym.key', KEY)), '--connection-string-file', keyFile('cs', `HostName=h;DeviceId=d;SharedAccessKey=${KEY}`)],
      '--dps-scope and a connection string: give one');
  });

  it('a registration id or ID scope with control characters (or any DPS does not allow) is refused at start, quoted, before DPS is asked', async () => {
    const before = dps.connects.length;
    const key = ['--dps-key-file', keyFile('sym.key', KEY)];
    const rule = "1 to 128 of A-Z, a-z, 0-9, '-', '.', '_', ':', the last no '.', '_' or ':'";
    for (const [rid, shown] of [['dev\nmicrotally error: forged', '"dev\\nmicrotally error: forged"'], ['dev\u001b[2Jx', '"dev\\u001b[2Jx"'],
      ['dev\u202ex', '"dev\\u202ex"'], ['dev sym', '"dev sym"'], ['dev/sym', '"dev/sym"'], ['dev-sym.', '"dev-sym."'], ['d'.repeat(129), `"${'d'.repeat(64)}..."`]]) {
      await refused(dpsArgs(rid, ...key), `--dps-registration-id ${shown}: not a DPS registration id (${rule})`);
    }
    const args = dpsArgs('dev-sym', ...key);
    args[args.indexOf('--dps-scope') + 1] = '0ne\r\nX';
    await refused(args, '--dps-scope "0ne\\r\\nX": not a DPS ID scope (letters and digits, e.g. 0ne00000A0A)');
    const odd = pki.issue(ca, 'odd-cn', 'dev x509');
    await refused(dpsArgs('', '--x509-cert', odd.cert, '--x509-key', odd.key),
      `--x509-cert ${odd.cert}: its common name "dev x509" is not a DPS registration id (${rule}): give --dps-registration-id`);
    expect(dps.connects.length).toBe(before);
    // the longest, and every character DPS allows, pass
    for (const rid of [`${'a'.repeat(120)}-.:_Z09-`, 'A', 'dev-sym']) {
      expect(() => checkIdentityOptions({ dpsScope: SCOPE, dpsRegistrationId: rid, dpsKeyFile: 'k' }, false)).not.toThrow();
    }
  });
});

describe('DPS answers to no request waiting', () => {
  it('an answer with an unknown request id, or a repeat, is dropped at once with a debug line; the registration goes on', async () => {
    const hub = await hubAt({ deviceId: 'dev-sym', key: KEY });
    verdicts.set('dev-sym', { assignedHub: hub.id.hub, deviceId: 'dev-sym' });
    dps.strays = 50;
    let r: Outcome;
    try {
      r = await agent([...dpsArgs('dev-sym', '--dps-key-file', keyFile('sym.key', KEY)), '--log-level', 'debug'], () => hub.connects.some((c) => !c.reason));
    } finally {
      dps.strays = 0;
    }
    expect(r.code, r.stderr).toBe(0);
    // the register request and one status poll: each answer came with 50 strays and a repeat
    const dropped = r.stderr.split('\n').filter((l) => / debug: DPS localhost:\d+: an answer to request \d+ dropped \(/.test(l));
    const rids = dropped.map((l) => /request (\d+) dropped/.exec(l)![1]);
    expect(rids.filter((rid) => rid.length >= 3)).toHaveLength(2 * 50); // strays: ids no request had
    expect(rids.filter((rid) => rid === '1' || rid === '2')).toEqual(['1', '2']); // each real answer's repeat
    expect(dropped).toHaveLength(2 * 51);
    expect(r.stderr).toContain(`DPS assigned dev-sym to ${hub.id.hub} as device dev-sym`);
    expectMessages(hub);
  });
});

describe('DPS\'s pace and the kept assignment\'s trust', () => {
  it('a kept assignment whose hub is no host name is not used (one line): the agent waits for DPS instead', async () => {
    const state = join(dir, 'state-tampered');
    mkdirSync(state, { mode: 0o700 });
    const kept = { endpoint: dpsEndpointUrl(`mqtts://localhost:${dps.port}`), idScope: SCOPE, registrationId: 'dev-sym', deviceId: 'dev-sym' };
    await dps.stop();
    try {
      for (const assignedHub of ['evil host:1/x', 'hub.example:8883', 'user@hub.example']) {
        writeFileSync(join(state, 'dps.json'), JSON.stringify({ ...kept, assignedHub }), { mode: 0o600 });
        const args = dpsArgs('dev-sym', '--dps-key-file', keyFile('sym.key', KEY));
        args[args.indexOf('--state-dir') + 1] = state;
        const r = await agent(args, () => false, 1500);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toContain(`warn: ${join(state, 'dps.json')}: not an assignment this agent wrote (no usable hub or device id), not used`);
        expect(r.stderr).toMatch(/no assignment kept from before: trying again in/);
        expect(r.stderr).not.toContain('using the assignment kept');
        expect(r.stdout).toBe('');
      }
      writeFileSync(join(state, 'dps.json'), 'null');
      const args = dpsArgs('dev-sym', '--dps-key-file', keyFile('sym.key', KEY));
      args[args.indexOf('--state-dir') + 1] = state;
      const r = await agent(args, () => false, 1500);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`warn: ${join(state, 'dps.json')}: not an assignment this agent wrote, not used`);
    } finally {
      await dps.start('127.0.0.1', dps.port);
    }
  });

  it('a retry-after far below a second: the operation status is asked at most once a second', async () => {
    verdicts.set('dev-pending', { pending: true, retryAfter: 0.01 });
    const polls = dps.polls;
    const r = await agent(dpsArgs('dev-pending', '--dps-key-file', keyFile('sym.key', KEY)), () => false, 2500);
    expect(r.code, r.stderr).toBe(0);
    expect(dps.registrations.filter((g) => g.registrationId === 'dev-pending').length).toBe(1);
    // Registered at 0, then at most one poll a second over the 2.5 s (the one the stop wakes included).
    expect(dps.polls - polls).toBeGreaterThanOrEqual(1);
    expect(dps.polls - polls).toBeLessThanOrEqual(4);
  });

  it('DPS throttling (429) with a retry-after: the next try waits that long, not the shorter backoff', async () => {
    verdicts.set('dev-throttled', { refuse: 429, message: 'throttled', retryAfter: 7 });
    const r = await agent(dpsArgs('dev-throttled', '--dps-key-file', keyFile('sym.key', KEY)), () => false, 1500);
    expect(r.code, r.stderr).toBe(0);
    const wait = /refused the registration of dev-throttled \(status 429\): throttled; no assignment kept from before: trying again in (\d+\.\d) s/.exec(r.stderr);
    expect(wait, r.stderr).not.toBeNull();
    expect(Number(wait![1])).toBeGreaterThanOrEqual(7);
    expect(Number(wait![1])).toBeLessThanOrEqual(60);
    expect(dps.registrations.filter((g) => g.registrationId === 'dev-throttled').length).toBe(1);
  });
  it('an assignment that cannot be kept (dps.json a directory): one warning, and the agent still reaches its hub', async () => {
    const hub = await hubAt({ deviceId: 'dev-nokeep', key: KEY });
    verdicts.set('dev-nokeep', { assignedHub: hub.id.hub, deviceId: 'dev-nokeep' });
    mkdirSync(join(stateDir('dev-nokeep'), 'dps.json'), { recursive: true, mode: 0o700 });
    chmodSync(stateDir('dev-nokeep'), 0o700);
    const r = await agent(dpsArgs('dev-nokeep', '--dps-key-file', keyFile('sym.key', KEY)), () => hub.connects.some((c) => !c.reason));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`warn: DPS assigned dev-nokeep to ${hub.id.hub.replace(/\./g, '\\.')} as device dev-nokeep \\(not kept: ${join(stateDir('dev-nokeep'), 'dps.json')}: E[A-Z]+\\)`));
    expectMessages(hub);
    expect(readdirSync(stateDir('dev-nokeep')).filter((f) => f.includes('tmp'))).toEqual([]);
  });
  it('DPS assigning another hub than the one kept: the new hub gets the messages, dps.json follows, one line says so', async () => {
    const old = await hubAt({ deviceId: 'dev-moved', key: KEY });
    const now = await hubAt({ deviceId: 'dev-moved', key: KEY });
    const state = stateDir('dev-moved');
    mkdirSync(state, { recursive: true, mode: 0o700 });
    const kept = { endpoint: dpsEndpointUrl(`mqtts://localhost:${dps.port}`), idScope: SCOPE, registrationId: 'dev-moved' };
    writeFileSync(join(state, 'dps.json'), JSON.stringify({ ...kept, assignedHub: old.id.hub, deviceId: 'dev-moved' }), { mode: 0o600 });
    verdicts.set('dev-moved', { assignedHub: now.id.hub, deviceId: 'dev-moved' });
    const r = await agent(dpsArgs('dev-moved', '--dps-key-file', keyFile('sym.key', KEY)), () => now.connects.some((c) => !c.reason));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`info: DPS moved dev-moved from ${old.id.hub} (device dev-moved) to ${now.id.hub} (device dev-moved)`);
    expectMessages(now);
    expect(old.connects).toEqual([]);
    expect(JSON.parse(readFileSync(join(state, 'dps.json'), 'utf8'))).toEqual({ ...kept, assignedHub: now.id.hub, deviceId: 'dev-moved' });
  });
});
