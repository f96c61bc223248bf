// The device side against the IoT Hub stand-in, run by scripts/test-azure-iot.sh inside its
// network namespace (the DNS resolver of peer.mjs is already up there). Starts hub.mjs, runs the
// device programs of ports/azure-iot/test and checks what the hub saw. Prints `ok`/`FAIL` lines
// and `N passed, M failed`.
//   node test/azure-iot/e2e.mjs <build dir> <certificate dir> <hub address> <hub name>
import { spawn } from 'node:child_process';
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

await hub.stop();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
