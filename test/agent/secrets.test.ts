// Secret masking, table-driven: every shape the README lists and every encoding of the agent's
// own key, in each place a secret can appear — a log line, a command line reported from a kernel
// event, one read from /proc by polling — and in the message the core makes of it.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { Core, type ProcessRecord } from '../../host/core.js';
import { ProcessCollector } from '../../host/agent/collectors/processes.js';
import { maskSecretShapes, SECRET_SHAPES, StderrLogger } from '../../host/agent/log.js';
import { connectionString } from '../../host/agent/run.js';
import { helpText } from '../../host/commands/command.js';
import { run as runCommand, runOptions } from '../../host/commands/run.js';
import { runInProcess } from './helpers/run-command.js';

const dir = mkdtempSync(join(tmpdir(), 'mt-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The agent's own key: base64 with `=` padding, `+` and `/` in it, as IoT Hub hands them out. */
const KEY_BYTES = Buffer.from('fb7fbf0123456789abcdef0123456789abcdef0123456789abcdef01fbfffe', 'hex');
const KEY = KEY_BYTES.toString('base64');
const CS = `HostName=hub.example.net;DeviceId=dev1;SharedAccessKey=${KEY}`;

const percentAll = (s: string, upper: boolean): string =>
  [...Buffer.from(s)].map((b) => `%${upper ? b.toString(16).toUpperCase().padStart(2, '0') : b.toString(16).padStart(2, '0')}`).join('');
const jsonUnicode = (s: string): string => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');

/** Every encoding of the agent's own key another process may carry. */
const KEY_ENCODINGS: Array<[string, string]> = [
  ['as given', KEY],
  ['without its padding', KEY.replace(/=+$/, '')],
  ['base64url', KEY_BYTES.toString('base64url')],
  ['base64url padded', KEY.replace(/\+/g, '-').replace(/\//g, '_')],
  ['percent-encoded (encodeURIComponent)', encodeURIComponent(KEY)],
  ['percent-encoded, lower-case hex', encodeURIComponent(KEY).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())],
  ['every byte percent-encoded, upper-case', percentAll(KEY, true)],
  ['every byte percent-encoded, lower-case', percentAll(KEY, false)],
  ['only the + percent-encoded', KEY.replace(/\+/g, '%2B')],
  ['JSON-escaped slashes', KEY.replace(/\//g, '\\/')],
  ['JSON \\u escapes', jsonUnicode(KEY)],
  ['hex of its bytes, lower-case', KEY_BYTES.toString('hex')],
  ['hex of its bytes, upper-case', KEY_BYTES.toString('hex').toUpperCase()],
  ['hex of its text', Buffer.from(KEY).toString('hex')],
  ['hex of its text, upper-case', Buffer.from(KEY).toString('hex').toUpperCase()],
  ['base64 of its text', Buffer.from(KEY).toString('base64')],
  ['base64 of its text, unpadded', Buffer.from(KEY).toString('base64').replace(/=+$/, '')],
  ['the whole connection string, percent-encoded', encodeURIComponent(CS)],
];

/** A value no shape mask may let through; its own encodings stay out of the way. */
const S = 'Zq7xK9pW2m';

/** Each shape from the issue and the README with S as its secret, as a command line or log text carries it. */
const SHAPE_CASES: string[] = [
  `mosquitto_sub -L mqtt://u:pa/${S}@h/t`,
  `mosquitto_sub -L mqtt://u:p@${S}@h/t`,
  `mosquitto_sub -L mqtt://u:${S}%40x@h/t`,
  `tool mqtts://user:${S}:x@host:8883`,
  `tool mqtt://user:pa ${S}@host`,
  `tool mqtt://me@corp.example:${S}@host`,
  `env HTTPS_PROXY=http://${S}@proxy:3128 tool`,
  `env http_proxy='http://${S}@proxy:3128' tool`,
  `tool --proxy http://${S}@proxy:3128`,
  `tool --https-proxy=https://u:${S}@proxy:443`,
  `tool --cs HostName=h;DeviceId=d;SharedAccessKey=${S}`,
  `tool --cs HostName=h;DeviceId=d;SharedAccessKey=${S}==;SharedAccessKeyName=x`,
  `tool '{"SharedAccessKey":"${S}"}'`,
  `tool '{"SharedAccessKey": "${S} with spaces"}'`,
  `tool {\\"SharedAccessKey\\":\\"${S}\\"}`,
  `tool SharedAccessKey="${S}"`,
  `tool SharedAccessKey='${S}'`,
  `tool SharedAccessKey: ${S}`,
  `curl https://h/x?cs=HostName%3Dh%3BSharedAccessKey%3D${S}%3D%3D`,
  `tool SharedAccessSignature=${S}`,
  `tool 'SharedAccessSignature sr=h%2Fdevices%2Fd&sig=${S}%2B%3D&se=1'`,
  `curl https://h/x?sr=h&sig%3D${S}%26se%3D1`,
  `tool '{"sig":"${S}"}'`,
  `tool --password ${S}`,
  `tool --password=${S};x`,
  `tool --mqtt-password ${S}`,
  `openssl enc -pass pass:${S}`,
  `mount -o username=u,password=${S} //h/s /mnt`,
  `env DB_PASSWORD="${S}" tool`,
  `tool passwd: ${S}`,
  `curl -u u:${S} https://h/`,
  `curl -uu:${S} https://h/`,
  `curl --user u:${S} https://h/`,
  `curl --user=u:${S} https://h/`,
  `curl --proxy-user u:${S} -x http://p:3128 https://h/`,
  `mysql -u root -p${S} db`,
  `/usr/bin/mysqldump -p${S} --all-databases`,
  `mariadb-dump -p${S} db`,
  `sshpass -p ${S} ssh -p 22 u@h`,
  `sshpass -p${S} ssh u@h`,
  `docker login -u me -p ${S} registry.example`,
  `mosquitto_pub -h h -u me -P ${S} -t t -m x`,
  `redis-cli -a ${S} ping`,
  `curl -H "Authorization: Bearer ${S}" https://h/`,
  `curl -H 'Authorization: Basic ${S}=' https://h/`,
  `curl -H "authorization: bearer ${S}" https://h/`,
  `curl -H "Proxy-Authorization: Basic ${S}" https://h/`,
  `tool '{"Authorization":"Bearer ${S}"}'`,
  `tool '{"Authorization": "${S}"}'`,
  `tool Authorization: ${S}`,
  `tool Authorization: Custom ${S}`,
  `tool --token ${S}`,
  `tool --token=${S}`,
  `tool --api-token ${S}`,
  `tool -token ${S}`,
  `env GITHUB_TOKEN=${S} tool`,
  `curl https://h/cb?access_token=${S}&x=1`,
  `tool '{"token": "${S}"}'`,
  `tool --client-secret ${S}`,
  `tool --password ${S} --other`,
];

/** The log as runAgent sets it up with the connection string from a file. */
function agentLog(lines: string[]): StderrLogger {
  const log = new StderrLogger((l) => lines.push(l));
  const file = join(dir, 'cs');
  writeFileSync(file, `${CS}\n`, { mode: 0o600 });
  expect(connectionString({ connectionStringFile: file }, {}, log)).toBe(CS);
  return log;
}

/** The messages the core makes of process records (every window closed by finish). */
function messagesOf(records: ProcessRecord[]): string {
  const core = new Core('linux');
  let out = '';
  for (const r of records) for (const m of core.ingestProcess(r).messages) out += String(m);
  for (const m of core.finish().messages) out += String(m);
  return out;
}

/** What must be true of text that carried the secret `secret`: it is gone and the mask is there. */
function expectMasked(text: string, secret: string, label: string): void {
  expect(text, label).not.toContain(secret);
  expect(text, label).toContain('***');
}

describe('secret masking', () => {
  const cases: Array<{ label: string; cmd: string; secret: string }> = [
    ...SHAPE_CASES.map((cmd) => ({ label: `shape: ${cmd}`, cmd, secret: S })),
    ...KEY_ENCODINGS.map(([name, enc]) => ({ label: `own key ${name}`, cmd: `tool --token ${enc} x=${enc}&y`, secret: enc })),
  ];

  it.each(cases)('in a log line: $label', ({ cmd, secret }) => {
    const lines: string[] = [];
    const log = agentLog(lines);
    log.warn(`running ${cmd}`);
    expect(lines).toHaveLength(1);
    expectMasked(lines[0], secret, lines[0]);
    // and no part of the key longer than a few characters (a mask that left its tail behind)
    if (secret !== S) for (let i = 0; i + 8 <= KEY.length; i++) expect(lines[0]).not.toContain(KEY.slice(i, i + 8));
  });

  it.each(cases)('in a command line reported from a kernel event, and in the message made of it: $label', ({ cmd, secret }) => {
    const log = agentLog([]);
    const got: ProcessRecord[] = [];
    const c = new ProcessCollector({ emit: (r) => got.push(r), now: () => 1_000, procRoot: dir, mask: (s) => log.mask.apply(s) });
    c.fromKernel({ ev: 'exec', pid: 4242, ppid: 1, uid: 1000, cmd, exe: '/usr/bin/tool', comm: 'tool', gone: false });
    expect(got).toHaveLength(1);
    expectMasked(got[0].cmd, secret, got[0].cmd);
    const message = messagesOf(got);
    expect(message).toContain('"CommandLine":"');
    expect(message).not.toContain(secret);
    expect(message).not.toContain(JSON.stringify(secret).slice(1, -1));
  });

  it('in command lines read from /proc by polling (real processes)', async () => {
    const log = agentLog([]);
    const got: ProcessRecord[] = [];
    const c = new ProcessCollector({ emit: (r) => got.push(r), now: Date.now, pollMs: 50, mask: (s) => log.mask.apply(s) });
    c.start();
    const tag = `mtsecret${process.pid}`;
    const children: ChildProcess[] = cases.map(({ cmd }, i) =>
      spawn('/bin/sh', ['-c', 'sleep 3', `${tag}-${i}`, ...cmd.split(' ')], { stdio: 'ignore' }));
    try {
      const end = Date.now() + 10_000;
      const ours = () => got.filter((r) => r.cmd.includes(tag));
      while (new Set(ours().map((r) => r.pid)).size < children.length && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      const byIndex = new Map(ours().map((r) => [Number(/-(\d+)/.exec(r.cmd.slice(r.cmd.indexOf(tag)))![1]), r.cmd]));
      expect(byIndex.size).toBe(cases.length);
      cases.forEach(({ label, secret }, i) => expectMasked(byIndex.get(i)!, secret, label));
    } finally {
      c.stop();
      for (const ch of children) ch.kill('SIGKILL');
    }
  });

  it('every shape in the README is masked as the README says, and the README lists exactly the shapes the code masks', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const listed = [...readme.matchAll(/^- `(.+)` → `(.+)`$/gm)].map((m) => ({ example: m[1], masked: m[2] }));
    expect(listed).toEqual(SECRET_SHAPES.map(({ example, masked }) => ({ example, masked })));
    for (const { example, masked } of SECRET_SHAPES) expect(maskSecretShapes(example), example).toBe(masked);
  });

  it('leaves what only looks alike alone', () => {
    for (const text of ['mqtt://user@host:1883/t', 'https://host:8443/a?b=c', 'cannot read /etc/passwd: EACCES', 'bypass=1',
      'SharedAccessKeyName=iothubowner', 'ws://[::1]:8080/x', 'signal=15', '--sig value', '--pass-through x',
      'MQTT mqtts://127.0.0.1:8883: connect ECONNREFUSED', '(mqtt://h:1883)', 'mqtt://h:1883.',
      // a port, a flag or a user name, not a password: -p counts only for the programs whose password option it is
      'ssh -p 2222 h', 'docker run -p 8080:80 img', 'mkdir -p /tmp/x', 'cp -pr a b', 'mysql -p db',
      'redis-cli ping && ssh -p 22 h', 'mosquitto_sub -t t | scp -P 2222 f h:', 'mysql -h h -P 3306 db', 'sudo -u www-data id',
      'journalctl -u nginx.service', 'sort -u -t: f', 'systemctl --user start a', '--user-agent a:b', 'login -p -h h',
      '--token-file /etc/t', 'renewing the SAS token: reconnecting', 'tokens: 5', 'grant_type=authorization_code',
      'Authorization failed', 'microtally run --allow-readable-secret --sink stdout',
      // a proxy URL without userinfo, and a user name in a URL that is no proxy's
      'HTTPS_PROXY=http://proxy.example:3128', 'tool --proxy http://10.0.0.1:3128/', 'git clone ssh://git@host/x --proxy-x y']) {
      expect(maskSecretShapes(text), text).toBe(text);
    }
  });

  it('takes linear time on adversarial text (1 MiB each, well under a second)', () => {
    const log = agentLog([]);
    for (const unit of ['a', 'a://b:c ', 'a://b:c a://', 'a://b:1/', 'x://y@', 'SharedAccessKey="', 'SharedAccessKey=',
      '--password ', 'password=password=', 'sig%3D', KEY.slice(0, 20), 'mysql -pa ', 'sshpass -p ', ' -p', ' -u a', ' -ua', ' -u a:',
      ' --user a', 'login -p', 'Authorization: ', 'Authorization: Bearer ', 'Authorization: x ', '"Authorization":"', '--token ',
      'token=', '--a-a-a-a-a-a-a-a-a', 'HTTPS_PROXY=http://', ' --proxy a://b@', 'proxy=a://', ' --proxy=a://b@c:']) {
      const text = unit.repeat(Math.ceil((1 << 20) / unit.length));
      const t0 = performance.now();
      log.mask.apply(text);
      expect(performance.now() - t0, JSON.stringify(unit)).toBeLessThan(1000);
    }
  });
});

describe('a connection-string file', () => {
  const run = (argv: string[]) => runInProcess(argv, { stopAfterMs: 3000, env: {} });

  it.each([
    [0o644, 'group and others'], [0o640, 'group'], [0o604, 'others'], [0o444, 'group and others'],
  ])('readable by group or others (mode %s) is refused in one line, exit 2; accepted with --allow-readable-secret', async (mode, who) => {
    const file = join(dir, `cs-${mode.toString(8)}`);
    writeFileSync(file, `${CS}\n`);
    chmodSync(file, mode);
    const refused = await run(['--connection-string-file', file, '--sink', 'stdout']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(new RegExp(
      `error: --connection-string-file ${file}: readable by ${who} \\(mode 0${mode.toString(8)}\\): chmod 600 it, or pass --allow-readable-secret$`))]);
    // Allowed: read, warned about, and the run goes on to the sink (which refuses stdout for a connection string).
    const allowed = await run(['--connection-string-file', file, '--allow-readable-secret', '--sink', 'stdout']);
    expect(allowed.code).toBe(2);
    expect(allowed.stderr).toMatch(new RegExp(`warn: --connection-string-file ${file}: readable by ${who} .*: accepted \\(--allow-readable-secret\\)`));
    expect(allowed.stderr).toMatch(/--connection-string sends to IoT Hub over TLS/);
    for (const r of [refused, allowed]) expect(r.stderr).not.toContain(KEY);
  });

  it('readable only by its owner (0600, 0400) is accepted without a word about it', async () => {
    for (const mode of [0o600, 0o400]) {
      const file = join(dir, `cs-ok-${mode.toString(8)}`);
      writeFileSync(file, `${CS}\n`);
      chmodSync(file, mode);
      const r = await run(['--connection-string-file', file, '--sink', 'stdout']);
      expect(r.stderr).not.toMatch(/readable by/);
      expect(r.stderr).toMatch(/--connection-string sends to IoT Hub over TLS/);
    }
  });

  it('--allow-readable-secret is a flag of run: in its help, and parsed without a value', async () => {
    expect(helpText(runCommand)).toMatch(/--allow-readable-secret\s+accept a --connection-string-file that group or others may read/);
    expect(runOptions({ 'allow-readable-secret': true, sink: 'stdout' })).toMatchObject({ allowReadableSecret: true, sink: 'stdout' });
    const r = await run(['--allow-readable-secret=yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^microtally: run: Option '--allow-readable-secret' does not take an argument/);
  });
});
