// The device side against the IoT Hub stand-in, run by scripts/test-azure-iot.sh inside its
// network namespace (the DNS and SNTP servers of peer.mjs are already up there, logging to
// <peer log>). Starts hub.mjs, runs the example firmware (examples/threadx-azure-iot, built as
// <build dir>/example/threadx-azure-iot) and the device programs of ports/azure-iot/test, and
// checks what the hub saw. Prints `ok`/`FAIL` lines and `N passed, M failed`.
//   node test/azure-iot/e2e.mjs <build dir> <certificate dir> <hub address> <hub name> <peer log>
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HubStandIn } from './hub.mjs';

const [build, certs, address, hubName, peerLog] = process.argv.slice(2);
const DEVICE_IP = '10.77.0.2';
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

/** The example firmware on the Linux port: the same settings, from the command line. */
const EXAMPLE = 'example/threadx-azure-iot';
/** keyFile: the SAS key's file, or `cert:<name>` for <name>.der with its key <name>-key.der. */
const exampleArgs = (keyFile, caFile, format, seconds, window) => [TAP, '--ip', DEVICE_IP, '--gateway', address,
  '--dns', address, '--sntp', address, '--hub', hubName, '--device', DEVICE,
  ...(keyFile.startsWith('cert:')
    ? ['--cert-file', join(certs, `${keyFile.slice(5)}.der`), '--cert-key-file', join(certs, `${keyFile.slice(5)}-key.der`)]
    : ['--key-file', join(certs, keyFile)]),
  '--ca-file', join(certs, caFile), '--format', format, '--run-seconds', String(seconds),
  '--configuration', `{"network":{"priority":"high"},"priorityIntervals":{"high":${window}}}`];
const EXAMPLE_AGENT_ID = '00000000-0000-4000-8000-000000000001';
/** What the example's core ingested (MT_TRACE_FILE, written by the test build's
 * mt_trace_recorder.c), replayed on V8 with the same agent id and format: its messages. */
function replayOnV8(traceFile, format) {
  const lines = readFileSync(traceFile, 'utf8').split('\n').filter(Boolean);
  const r = spawnSync('node', ['bin/microtally.js', 'replay', traceFile, '--engine', 'v8', '--profile', 'rtos',
    '--agent-id', EXAMPLE_AGENT_ID, '--format', format], { maxBuffer: 64 << 20 });
  return { lines, unreplayable: lines.filter((l) => l.includes('"unreplayable"')), stdout: r.stdout, stderr: r.stderr.toString() };
}
/** Lines of the peers' log (DNS and SNTP requests served) from line `from` on. */
const peerLines = (from = 0) => readFileSync(peerLog, 'utf8').split('\n').slice(from).filter(Boolean);

/** Runs a device program to its end; resolves with its output (never rejects). */
function run(program, args, timeoutMs, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(join(build, program), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
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
  check(applied && third?.configuration?.version === good && third.configuration.status === 'applied' &&
    third.configuration.reason === null,
    `a good patch after it is applied, reported with its $version ${good} and reason null (the rejection's reason cleared: ${JSON.stringify(third?.configuration)})`);
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

console.log('== the example firmware (examples/threadx-azure-iot): time by SNTP, the hub by DNS, TLS, the twin, JSON');
{
  hub.telemetry = []; hub.reportedPatches = []; hub.connects = []; hub.twinGets = 0;
  hub.desired = { microtally: { maxPackingDelay: 0 } };
  hub.desiredVersion = 7;
  const peerFrom = peerLines().length;
  const startedAt = Date.now();
  const traceFile = join(build, 'example-trace.jsonl');
  const device = run(EXAMPLE, exampleArgs('device.key', 'ca.der', 'json', 12, 2), 60000, { MT_TRACE_FILE: traceFile });
  const onConnect = await waitFor(() => hub.reportedPatches.length >= 1, 25000);
  const bad = hub.sendDesired({ microtally: { bogus: 1 } });
  const rejected = await waitFor(() => hub.reportedPatches.length >= 2, 10000);
  const good = hub.sendDesired({ microtally: { network: { priority: 'medium' }, priorityIntervals: { medium: 2 } } });
  const applied = await waitFor(() => hub.reportedPatches.length >= 3, 10000);
  const r = await device;
  const served = peerLines(peerFrom);
  const sntp = served.filter((l) => l.startsWith(`sntp ${DEVICE_IP}:123 48 -> 48`));
  const messages = hub.telemetry.map((t) => ({ t, m: JSON.parse(t.payload.toString('utf8')) }));
  // Timestamps from the SNTP time (the server gives this host's clock): close to the hub's.
  const skew = messages.map(({ t, m }) => Math.abs(t.at - Date.parse(m.Events[0].TimestampUTC)));
  check(/^example: sntp status=0x0$/m.test(r.out) && sntp.length >= 1 && hub.connects[0]?.accepted &&
    skew.length > 0 && skew.every((ms) => ms < 10000),
    `the time comes from NetX Duo's SNTP client (${sntp.length} request(s) served): the hub accepts the SAS expiry, timestamps within ${Math.max(...skew)} ms of the hub's clock`);
  const [first, second, third] = hub.reportedPatches.map((p) => p.microtally);
  check(onConnect && hub.twinGets === 1 && first?.configuration?.version === 7 && first.configuration.status === 'applied' &&
    first.agentVersion === 'example-1.0' && rejected && second?.configuration?.version === bad &&
    second.configuration.status === 'rejected' && /bogus/.test(second.configuration.reason ?? '') &&
    applied && third?.configuration?.version === good && third.configuration.status === 'applied' &&
    third.configuration.reason === null,
    `the twin: the full twin's section applied on connect ($version 7), a bad patch rejected whole with the core's reason, a good one applied ($version ${good}, reason null)`);
  check(messages.length >= 3 && messages.every(({ t }) => t.properties['$.ifid'] === IFID && t.properties['$.ct'] === 'application/json' &&
    t.properties['$.ce'] === 'utf-8'), `${messages.length} messages, each with $.ifid, $.ct application/json, $.ce utf-8`);
  const all = messages.flatMap(({ m }) => records(m)).filter((x) => x.Name === 'ConnectionCreate' && x.LocalAddress === DEVICE_IP);
  // DNS: one A query for the hub's name and its answer with one A record (16 bytes more),
  // each with 28 bytes of IPv4 and UDP headers; the resolver logged the same port and sizes.
  const query = 12 + hubName.length + 2 + 4;
  const dns = all.filter((x) => x.Protocol === 'udp' && x.RemoteAddress === address && x.RemotePort === 53);
  const dnsServed = served.filter((l) => l.startsWith(`dns ${DEVICE_IP}:`));
  check(dns.length === 1 && dns[0].BytesOut === query + 28 && dns[0].BytesIn === query + 16 + 28 && dns[0].HitCount === 2 &&
    dns[0].Direction === 'Out' && dns[0].ApplicationProtocol === 'dns' && dnsServed.length === 1 &&
    dnsServed[0] === `dns ${DEVICE_IP}:${dns[0].LocalPort} ${query} -> ${query + 16}`,
    `the hub's name resolved by NetX Duo's DNS client arrives as a ConnectionCreate ${DEVICE_IP}:${dns[0]?.LocalPort} -> ${address}:53, ${query + 28} bytes out, ${query + 44} in (${JSON.stringify(dns[0])}; resolver: ${dnsServed.join(', ')})`);
  const tls = all.filter((x) => x.Protocol === 'tcp' && x.RemoteAddress === address && x.RemotePort === 8883);
  // One record per window the connection was active in; the first (the device's SYN) is Out, a
  // later window may begin with the hub's packet (a twin patch pushed), so only bytes both ways.
  // (Other ports may show up too: the hub's last packets to the previous program's connection
  // reach this one, which has the same address, and its RSTs; real traffic, recorded as such.)
  const mine = tls.filter((x) => x.LocalPort === hub.connects[0]?.port);
  const sum = (k) => mine.reduce((n, x) => n + x[k], 0);
  check(hub.connects.length === 1 && mine.length >= 1 && mine[0].Direction === 'Out' && sum('BytesOut') > 0 && sum('BytesIn') > 0,
    `the TLS connection to the hub arrives as ConnectionCreate ${DEVICE_IP}:${hub.connects[0]?.port} -> ${address}:8883, the port the hub saw (${mine.length} record(s), ${sum('BytesOut')} bytes out, ${sum('BytesIn')} in)`);
  const fin = finalLine(r.out);
  check(fin.made === hub.telemetry.length && fin.sent === fin.made && fin.queued === 0 && fin.dropped === 0 &&
    new Set(messages.map(({ t }) => t.payload.toString('hex'))).size === messages.length,
    `every message the example made (${fin.made}) reached the hub once (${hub.telemetry.length})`);
  // SPEC R9: the same events replayed on V8 give the same bytes as the hub received.
  const v8 = replayOnV8(traceFile, 'json');
  const replayed = v8.stdout.toString('utf8').split('\n').filter(Boolean);
  const received = hub.telemetry.map((t) => t.payload.toString('utf8'));
  const firstDiff = received.findIndex((m, i) => m !== replayed[i]);
  check(v8.unreplayable.length === 0 && v8.lines.filter((l) => l.startsWith('{"kind":"connection"')).length >= 2 &&
    v8.lines.some((l) => l.startsWith('{"kind":"config"')) && received.length >= 3 &&
    replayed.length === received.length && firstDiff === -1 && /bogus/.test(v8.stderr),
    `microtally replay on V8 of the ${v8.lines.length} inputs the example's core took (connections, ticks, the twin's configurations, the rejected one rejected there too) prints the ${replayed.length} messages the hub received, byte for byte${firstDiff >= 0 ? ` (message ${firstDiff} differs)` : ''}`);
}

console.log('== the example: CBOR messages, decodable by microtally decode');
{
  hub.telemetry = []; hub.reportedPatches = []; hub.connects = [];
  hub.desired = {};
  const traceFile = join(build, 'example-trace-cbor.jsonl');
  await run(EXAMPLE, exampleArgs('device.key', 'ca.der', 'cbor', 6, 2), 60000, { MT_TRACE_FILE: traceFile });
  const cbor = hub.telemetry;
  const v8 = replayOnV8(traceFile, 'cbor');
  const received = Buffer.concat(cbor.map((t) => t.payload));
  check(v8.unreplayable.length === 0 && cbor.length >= 2 && received.equals(v8.stdout),
    `microtally replay --format cbor on V8 of the same ${v8.lines.length} inputs gives the ${received.length} CBOR bytes the hub received, byte for byte`);
  check(cbor.length >= 2 && cbor.every((t) => t.properties['$.ifid'] === IFID && t.properties['$.ct'] === 'application/cbor' && !('$.ce' in t.properties)),
    `${cbor.length} CBOR messages with $.ifid and $.ct application/cbor, no $.ce`);
  let decoded = [];
  try {
    const out = execFileSync('node', ['bin/microtally.js', 'decode', '-'], { input: Buffer.concat(cbor.map((t) => t.payload)) }).toString();
    decoded = out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch (e) { console.log(`   decode: ${e.message.split('\n')[0]}`); }
  const query = 12 + hubName.length + 2 + 4;
  const udp = decoded.flatMap(records).filter((x) => x.Name === 'ConnectionCreate' && x.Protocol === 'udp' && x.RemotePort === 53);
  check(decoded.length === cbor.length && udp.length === 1 && udp[0].BytesOut === query + 28 && udp[0].BytesIn === query + 44,
    `microtally decode reads every message; the DNS flow is there with ${query + 28} bytes out, ${query + 44} in (${decoded.length} decoded)`);
}

console.log('== the example, the hub away for 30 s: every message made meanwhile arrives after the reconnect, none twice');
{
  hub.telemetry = []; hub.reportedPatches = []; hub.connects = [];
  hub.desired = {};
  // Reconnect attempts back off 1, 2, 4, 8, 16 s (+ up to 25 %): the one after the restart comes
  // 31 to 39 s after the stop, well within the 60 s run.
  const device = run(EXAMPLE, exampleArgs('device.key', 'ca.der', 'json', 60, 3), 150000);
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

console.log('== the example refused: retried with capped, jittered backoff, the reason in its status');
for (const [what, keyFile, caFile, hubSees] of [['a wrong SAS key', 'wrong.key', 'ca.der', true], ['a wrong CA', 'device.key', 'other-ca.der', false]]) {
  hub.connects = []; hub.telemetry = [];
  const r = await run(EXAMPLE, exampleArgs(keyFile, caFile, 'json', 20, 2), 60000);
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

console.log('== X.509: the example with a device certificate (the middleware\'s nx_azure_iot_hub_client_device_cert_set)');
await hub.stop();
hub.opts.clientCa = readFileSync(join(certs, 'device-ca.crt'));
await hub.start();
{
  hub.connects = []; hub.telemetry = []; hub.desired = {};
  const r = await run(EXAMPLE, exampleArgs('cert:device-cert', 'ca.der', 'json', 6, 2), 60000);
  const fin = finalLine(r.out), c = hub.connects[0];
  check(hub.connects.length === 1 && c.accepted && c.certificate === DEVICE && c.password === false &&
    hub.telemetry.length >= 2 && fin.made === hub.telemetry.length && fin.sent === fin.made && fin.connected === 1,
    `the device presents its certificate (CN ${c?.certificate}, from the device CA, no SAS password): accepted, ${hub.telemetry.length} messages arrive`);
}
{
  hub.connects = []; hub.telemetry = [];
  const r = await run(EXAMPLE, exampleArgs('cert:wrong-cert', 'ca.der', 'json', 10, 2), 60000);
  const st = finalLine(r.out);
  // Backoff 1, 2, 4 s (+ up to 25 %): attempts at about 0, 1, 3 and 7 s in 10 s.
  check(r.code === 0 && hub.connects.length === st.connects && st.connects >= 3 && st.connects <= 5 &&
    hub.connects.every((x) => !x.accepted && /^client certificate not from the device CA/.test(x.reason)) &&
    st.connected === 0 && [0x10085, 0x10007].includes(st.last_error) && hub.telemetry.length === 0,
    `a certificate from no trusted CA (same CN): refused at every CONNECT (${hub.connects[0]?.reason}), ${st.connects} attempts in 10 s, last error 0x${(st.last_error ?? 0).toString(16)} in the status (0x10085 not authorized, or 0x10007 when the hub's close after its refusing CONNACK is seen first)`);
}

await hub.stop();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
