// The device side against the IoT Hub stand-in, run by scripts/test-azure-iot.sh inside its
// network namespace (the DNS resolver of peer.mjs is already up there). Starts hub.mjs, runs the
// device programs of ports/azure-iot/test and checks what the hub saw. Prints `ok`/`FAIL` lines
// and `N passed, M failed`.
//   node test/azure-iot/e2e.mjs <build dir> <certificate dir> <hub address> <hub name>
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HubStandIn } from './hub.mjs';

const [build, certs, address, hubName] = process.argv.slice(2);
const DEVICE = 'mt-device-1';
const TAP = 'mt0';
let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) { passed += 1; console.log(`ok   ${what}`); } else { failed += 1; console.log(`FAIL ${what}`); }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(condition, ms) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (condition()) return true;
  return condition();
}
const lastStats = (out) => {
  const line = out.split('\n').filter((l) => l.startsWith('stats: ')).at(-1) ?? '';
  return Object.fromEntries([...line.matchAll(/(\w+)=(\S+)/g)].map(([, k, v]) => [k, v.startsWith('0x') ? parseInt(v, 16) : Number(v)]));
};
const finalLine = (out) => Object.fromEntries([...(/^final: (.*)$/m.exec(out)?.[1] ?? '').matchAll(/(\w+)=(\d+)/g)].map(([, k, v]) => [k, Number(v)]));
const IFID = 'urn:azureiot:Security:SecurityAgent:1';
/** Every record of a JSON message, flattened with its event name. */
const records = (message) => message.Events.flatMap((e) => e.Payload.map((p) => ({ Name: e.Name, ...p })));
/** The agent with the adapter: key/CA files, format, seconds to run, window seconds. */
const agentArgs = (keyFile, caFile, format, seconds, window) =>
  [TAP, address, hubName, DEVICE, join(certs, keyFile), join(certs, caFile), format, String(seconds), String(window)];

/** Runs a device program to its end; resolves with its output (never rejects). */
function run(program, args, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(join(build, program), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      for (const line of out.split('\n')) if (line) console.log(`   | ${line}`);
      resolve({ out, code, signal });
    });
  });
}
const field = (out, name) => new RegExp(`^probe: ${name} (.*)$`, 'm').exec(out)?.[1] ?? '';

const hub = new HubStandIn({
  hub: hubName, deviceId: DEVICE, key: readFileSync(join(certs, 'device.key'), 'utf8').trim(),
  cert: readFileSync(join(certs, 'hub.crt')), privateKey: readFileSync(join(certs, 'hub.pem')), address, port: 8883,
});
hub.desired = { probe: { wanted: 1 } };
hub.desiredVersion = 4;
await hub.start();

console.log('== the middleware: TLS 1.2 with the test CA, SAS from the device key, twin, telemetry');
{
  const r = await run('test_hub_probe', [TAP, address, hubName, DEVICE, join(certs, 'device.key'), join(certs, 'ca.der')], 60000);
  const connect = hub.connects.at(-1);
  check(field(r.out, 'connect') === 'status=0x0' && hub.connects.length === 1 && connect.accepted,
    `the device connects over TLS 1.2 and the hub accepts its SAS password (HMAC-SHA256 with the device key)${r.out.includes('connect') ? '' : `: ${r.out.trim().slice(-300)}`}`);
  check(connect?.clientId === DEVICE && connect?.username.startsWith(`${hubName}/${DEVICE}/?api-version=`),
    `client id and user name are IoT Hub's (${connect?.username})`);
  check(hub.twinGets === 1 && /^status=0x0 \{"desired":\{"probe":\{"wanted":1\},"\$version":4\}/.test(field(r.out, 'twin')),
    'the full twin is requested once and received with its desired $version');
  check(hub.reportedPatches.length === 1 && JSON.stringify(hub.reportedPatches[0]) === '{"probe":{"step":2}}' &&
    field(r.out, 'reported') === 'status=0x0 response=204 version=2', 'a reported patch reaches the twin; the device gets 204 and the new version');
  const t = hub.telemetry[0];
  check(hub.telemetry.length === 1 && t.properties['$.ifid'] === 'urn:azureiot:Security:SecurityAgent:1' &&
    t.payload.toString() === '{"probe":"telemetry"}', `telemetry arrives with its property bag and bytes (${t?.topic})`);
}

console.log('== refused: a wrong SAS key, a wrong CA');
{
  const before = hub.connects.length, telemetry = hub.telemetry.length;
  const r = await run('test_hub_probe', [TAP, address, hubName, DEVICE, join(certs, 'wrong.key'), join(certs, 'ca.der')], 60000);
  const connect = hub.connects.at(-1);
  check(hub.connects.length === before + 1 && !connect.accepted && connect.reason === 'signature does not match the device key' &&
    field(r.out, 'connect') !== 'status=0x0' && field(r.out, 'connect') !== '' && hub.telemetry.length === telemetry,
    `a wrong device key: the hub refuses the SAS password, the device's connect fails (${field(r.out, 'connect')})`);
}
{
  const before = hub.connects.length;
  const r = await run('test_hub_probe', [TAP, address, hubName, DEVICE, join(certs, 'device.key'), join(certs, 'other-ca.der')], 60000);
  check(hub.connects.length === before && field(r.out, 'connect') !== 'status=0x0' && field(r.out, 'connect') !== '',
    `a hub certificate from another CA: the device refuses TLS before any CONNECT (${field(r.out, 'connect')})`);
}

console.log('== the adapter: the ThreadX agent\'s messages to the hub, JSON; the twin\'s microtally section');
{
  hub.telemetry = []; hub.reportedPatches = []; hub.connects = [];
  hub.desired = { microtally: { maxPackingDelay: 0 } };
  hub.desiredVersion = 4;
  const device = run('test_agent_hub', agentArgs('device.key', 'ca.der', 'json', 12, 2), 60000);
  // The full twin's section on connect, then a bad patch (rejected whole), then a good one.
  const onConnect = await waitFor(() => hub.reportedPatches.length >= 1, 20000);
  const bad = hub.sendDesired({ microtally: { bogus: 1 } });
  const rejected = await waitFor(() => hub.reportedPatches.length >= 2, 10000);
  const good = hub.sendDesired({ microtally: { network: { priority: 'medium' }, priorityIntervals: { medium: 2 } } });
  const applied = await waitFor(() => hub.reportedPatches.length >= 3, 10000);
  const r = await device;
  const [first, second, third] = hub.reportedPatches.map((p) => p.microtally);
  check(onConnect && first?.configuration?.version === 4 && first.configuration.status === 'applied' &&
    first.agentVersion === 'e2e-1.0' && first.coreSequence === 0 &&
    second?.coreSequence === 0 && third?.coreSequence === 0,
    `on connect the full twin's section is applied and reported with the desired $version, coreSequence 0 (the built-in core) in every report (${JSON.stringify(first)})`);
  check(rejected && second?.configuration?.version === bad && second.configuration.status === 'rejected' &&
    /bogus/.test(second.configuration.reason ?? ''), `a bad patch is rejected whole, reported with the core's reason (${JSON.stringify(second?.configuration)})`);
  check(applied && third?.configuration?.version === good && third.configuration.status === 'applied',
    `a good patch after it is applied, reported with its $version ${good}`);
  const messages = hub.telemetry.map((t) => ({ t, m: JSON.parse(t.payload.toString('utf8')) }));
  check(messages.length >= 3 && messages.every(({ t }) => t.properties['$.ifid'] === IFID && t.properties['$.ct'] === 'application/json' &&
    t.properties['$.ce'] === 'utf-8'), `${messages.length} messages, each with $.ifid ${IFID}, $.ct application/json, $.ce utf-8`);
  const all = messages.flatMap(({ m }) => records(m));
  const flow = (proto, lport, rport) => all.filter((x) => x.Name === 'ConnectionCreate' && x.Protocol === proto &&
    x.LocalAddress === '10.77.0.2' && x.LocalPort === lport && x.RemoteAddress === address && x.RemotePort === rport);
  const udp = flow('udp', 40001, 7000), tcp = flow('tcp', 40002, 7001);
  // UDP: one 100-byte datagram each way, 128 bytes at the IP layer (20 + 8 + 100).
  check(udp.length === 1 && udp[0].BytesOut === 128 && udp[0].BytesIn === 128 && udp[0].HitCount === 2 && udp[0].Direction === 'Out',
    `the UDP flow arrives as a ConnectionCreate 10.77.0.2:40001 -> ${address}:7000, 128 bytes out and in (${JSON.stringify(udp[0])})`);
  // TCP: 3000 payload bytes each way plus 40-byte headers (options on the SYN), per packet counted.
  const t0 = tcp[0];
  check(tcp.length === 1 && t0.Direction === 'Out' && t0.BytesOut >= 3000 + 40 && t0.BytesIn >= 3000 + 40 &&
    t0.BytesOut + t0.BytesIn <= 6000 + 60 * t0.HitCount,
    `the TCP flow arrives as a ConnectionCreate 10.77.0.2:40002 -> ${address}:7001 with its 3000 bytes each way plus headers (${JSON.stringify(t0)})`);
  const ids = all.map((x) => JSON.stringify(x));
  const st = lastStats(r.out), fin = finalLine(r.out);
  check(fin.made === hub.telemetry.length && fin.sent === fin.made && fin.queued === 0 && fin.connected === 1 && fin.dropped === 0 &&
    fin.retried === 0 && st.high_water_messages >= 1,
    `every message the agent made (${fin.made}) reached the hub (${hub.telemetry.length}); connected ${fin.connected}, dropped ${fin.dropped}, high water ${st.high_water_messages} messages / ${st.high_water_bytes} bytes`);
  check(new Set(messages.map(({ m }) => JSON.stringify(m))).size === messages.length && ids.length > 0, 'no message arrives twice');
}

console.log('== the adapter: CBOR messages, decodable by microtally decode');
{
  hub.telemetry = []; hub.reportedPatches = []; hub.connects = [];
  hub.desired = {};
  await run('test_agent_hub', agentArgs('device.key', 'ca.der', 'cbor', 6, 2), 60000);
  const cbor = hub.telemetry;
  check(cbor.length >= 2 && cbor.every((t) => t.properties['$.ifid'] === IFID && t.properties['$.ct'] === 'application/cbor' && !('$.ce' in t.properties)),
    `${cbor.length} CBOR messages with $.ifid and $.ct application/cbor, no $.ce`);
  let decoded = [];
  try {
    const out = execFileSync('node', ['bin/microtally.js', 'decode', '-'], { input: Buffer.concat(cbor.map((t) => t.payload)) }).toString();
    decoded = out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch (e) { console.log(`   decode: ${e.message.split('\n')[0]}`); }
  const udp = decoded.flatMap(records).filter((x) => x.Name === 'ConnectionCreate' && x.Protocol === 'udp' && x.LocalPort === 40001 && x.RemotePort === 7000);
  check(decoded.length === cbor.length && udp.length === 1 && udp[0].BytesOut === 128 && udp[0].BytesIn === 128,
    `microtally decode reads every message; the UDP flow is there with 128 bytes out and in (${decoded.length} decoded)`);
}

console.log('== the hub away for 30 s: every message made meanwhile arrives after the reconnect, none twice');
{
  hub.telemetry = []; hub.reportedPatches = []; hub.connects = [];
  hub.desired = {};
  // Reconnect attempts back off 1, 2, 4, 8, 16 s (+ up to 25 %): the one after the restart comes
  // 31 to 39 s after the stop, well within the 60 s run.
  const device = run('test_agent_hub', agentArgs('device.key', 'ca.der', 'json', 60, 3), 150000);
  const up = await waitFor(() => hub.telemetry.length >= 1, 20000);
  await hub.stop();
  const stoppedAt = Date.now();
  await sleep(30000);
  await hub.start();
  const restartedAt = Date.now();
  const r = await device;
  const fin = finalLine(r.out);
  const made = hub.telemetry.map((t) => JSON.parse(t.payload.toString('utf8')));
  const stamps = made.map((m) => Date.parse(m.Events[0].TimestampUTC));
  const meanwhile = hub.telemetry.filter((t, i) => stamps[i] > stoppedAt && stamps[i] < restartedAt);
  check(up && fin.made === hub.telemetry.length && fin.dropped === 0 && fin.queued === 0 && fin.connected >= 2 &&
    hub.connects.filter((c) => c.accepted).length === fin.connected,
    `the agent made ${fin.made} messages, the hub got ${hub.telemetry.length}; ${fin.connected} connects, ${fin.retried} sends retried, none dropped`);
  check(meanwhile.length >= 2 && meanwhile.every((t) => t.at >= restartedAt),
    `${meanwhile.length} messages made while the hub was away arrived after it came back`);
  check(new Set(hub.telemetry.map((t) => t.payload.toString('hex'))).size === hub.telemetry.length, 'none arrived twice');
}

console.log('== an outbox of two messages: the overflow while the hub is away is dropped and counted');
{
  await hub.stop();
  hub.telemetry = []; hub.connects = [];
  // Attempts at about 0, 1, 3, 7 and 15 s fail; the one at 31 to 39 s finds the hub back.
  const device = run('test_agent_hub_small', agentArgs('device.key', 'ca.der', 'json', 45, 2), 150000);
  await sleep(20000);
  await hub.start();
  const r = await device;
  const fin = finalLine(r.out);
  check(fin.dropped >= 1 && fin.connected === 1 && hub.telemetry.length >= 2 && fin.made === hub.telemetry.length + fin.dropped && fin.queued === 0,
    `made ${fin.made} = received ${hub.telemetry.length} + dropped ${fin.dropped}, reconnected ${fin.connected}`);
  // The drops reach the hub in messages: the transport's CollectorStats records, summed.
  const transport = hub.telemetry.flatMap((t) => records(JSON.parse(t.payload.toString('utf8'))))
    .filter((x) => x.Name === 'CollectorStats' && x.Collector === 'transport');
  const carried = transport.reduce((n, x) => n + x.Dropped, 0);
  check(transport.length >= 1 && carried === fin.dropped && fin.drops_reported === fin.dropped &&
    transport.every((x) => x.Warnings.includes(`${x.Dropped} messages dropped by the outbox`)),
    `the messages received carry transport Dropped ${carried} in ${transport.length} record(s) = the ${fin.dropped} the adapter dropped`);
}

console.log('== the adapter refused: retried with capped, jittered backoff, the reason in its status');
for (const [what, keyFile, caFile, hubSees] of [['a wrong SAS key', 'wrong.key', 'ca.der', true], ['a wrong CA', 'device.key', 'other-ca.der', false]]) {
  hub.connects = []; hub.telemetry = [];
  const r = await run('test_agent_hub', agentArgs(keyFile, caFile, 'json', 20, 2), 60000);
  const st = finalLine(r.out);
  // Backoff 1, 2, 4, 8 s (+ up to 25 %): attempts at about 0, 1, 3, 7 and 15 s in 20 s.
  check(r.code === 0 && st.connects >= 4 && st.connects <= 6 && st.connected === 0 && st.last_error !== 0 && st.state !== 2 &&
    (hubSees ? hub.connects.length === st.connects && hub.connects.every((c) => !c.accepted) : hub.connects.length === 0) &&
    hub.telemetry.length === 0 && st.queued > 0,
    `${what}: ${st.connects} attempts in 20 s (no busy loop), last error 0x${(st.last_error ?? 0).toString(16)} in the status, hub saw ${hub.connects.length} CONNECTs, ${st.queued} messages kept, no crash`);
}

console.log('== core updates: the direct method microtally-update (offset + chunk), the swap, coreSequence reported');
{
  hub.connects = []; hub.telemetry = []; hub.reportedPatches = [];
  hub.desired = {};
  // Packages made now: one signed with the device's update key (sequence 5), one with another key.
  const pkgs = join(build, 'update-packages');
  execFileSync('rm', ['-rf', pkgs]);
  execFileSync('mkdir', ['-p', pkgs]);
  const cli = (...a) => execFileSync('node', ['bin/microtally.js', ...a]);
  cli('keygen', '--out', join(pkgs, 'release')); cli('keygen', '--out', join(pkgs, 'other'));
  cli('sign', '--key', join(pkgs, 'release.key'), '--sequence', '5', 'build/microtally-rtos-small.wasm', '-o', join(pkgs, 'good.pkg'));
  cli('sign', '--key', join(pkgs, 'other.key'), '--sequence', '6', 'build/microtally-rtos-small.wasm', '-o', join(pkgs, 'other.pkg'));
  execFileSync('node', ['-e', `const c = require('crypto'), fs = require('fs');
    const der = c.createPublicKey(fs.readFileSync(process.argv[1])).export({ type: 'spki', format: 'der' });
    fs.writeFileSync(process.argv[2], der.subarray(der.length - 65));`, join(pkgs, 'release.pub'), join(pkgs, 'key.raw')]);
  const device = run('test_agent_hub', [...agentArgs('device.key', 'ca.der', 'json', 25, 2), join(pkgs, 'key.raw'), 'host/update/selftest.jsonl'], 90000);
  const connected = await waitFor(() => hub.reportedPatches.some((p) => p.microtally?.coreSequence === 0), 20000);
  const send = async (file) => {
    const bytes = readFileSync(join(pkgs, file));
    const answers = [];
    for (let at = 0; at < bytes.length; at += 3000) {
      answers.push(await hub.invokeMethod('microtally-update', { offset: at, chunk: bytes.subarray(at, at + 3000).toString('base64') }));
    }
    return { answers, commit: await hub.invokeMethod('microtally-update', { commit: true }), length: bytes.length };
  };
  let other, good, status, unknown;
  try {
    other = await send('other.pkg');
    good = await send('good.pkg');
    await waitFor(() => hub.reportedPatches.some((p) => p.microtally?.coreSequence === 5), 15000);
    // on trial until MT_TX_UPDATE_TRIAL_MESSAGES messages left the new core (2 s windows)
    for (const end = Date.now() + 15000; Date.now() < end; await sleep(500)) {
      status = await hub.invokeMethod('microtally-update', {});
      if (status.body?.result !== 'pending') break;
    }
    unknown = await hub.invokeMethod('reboot', {});
  } catch (e) { console.log(`   ${e.message}`); }
  await device;
  check(connected && other?.answers[0]?.status === 400 && /^wrong key: signed by key [0-9a-f]{16}, this agent trusts [0-9a-f]{16}$/.test(other.answers[0].body?.error ?? '') &&
    other.commit.status === 400, `another key's package is refused at its first chunk, the reason answered (${JSON.stringify(other?.answers[0]?.body)})`);
  check(good?.answers.every((a, i) => a.status === 200 && a.body?.next === Math.min((i + 1) * 3000, good.length)) && good.commit.status === 202 &&
    good.commit.body?.result === 'pending', `the signed package in ${good?.answers.length} chunks: 200 with the next offset each, the commit 202 pending`);
  check(hub.reportedPatches.some((p) => p.microtally?.coreSequence === 5) && status?.status === 200 && status.body?.result === 'applied' &&
    status.body?.coreSequence === 5, `after the swap the device reports coreSequence 5; the status call answers applied (${JSON.stringify(status?.body)})`);
  check(unknown?.status === 404, 'another direct method is answered 404');
}

await hub.stop();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
