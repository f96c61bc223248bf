// `microtally run` against this machine, as a real process with the real core: it reports a
// process and a connection this test creates, flushes on SIGINT/SIGTERM, and takes its
// configuration from the device twin over MQTT (a real mosquitto on loopback).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateMessage } from '../helpers.js';
import { telemetryTopic } from '../../host/agent/sinks/mqtt.js';
import { VERSION } from '../../host/version.js';
import { AgentProcess } from './helpers/agent-process.js';
import { Mosquitto, subscriber, until } from './helpers/mosquitto.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Message = { Events: Array<{ Name: string; Payload: any[] }> };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const records = (msgs: Message[], name: string): any[] =>
  msgs.flatMap((m) => m.Events.filter((e) => e.Name === name).flatMap((e) => e.Payload));

let dir: string;
let broker: Mosquitto;
const agents: AgentProcess[] = [];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mt-run-'));
  broker = await Mosquitto.start();
});
afterAll(async () => {
  for (const a of agents) await a.stop('SIGKILL', 1000);
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function config(name: string, c: object): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(c));
  return path;
}

function agent(args: string[]): AgentProcess {
  const a = new AgentProcess(args);
  agents.push(a);
  return a;
}

function readMessages(path: string): Message[] {
  let text = '';
  try { text = readFileSync(path, 'utf8'); } catch { return []; }
  // Read while the agent appends: a last line without its newline is still being written.
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

async function runSleep(seconds: string): Promise<number> {
  const child = spawn('sleep', [seconds]);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('microtally run', () => {
  it('reports a process and a TCP connection this test creates (file sink, 1 s windows), then stops on SIGTERM', async () => {
    const out = join(dir, 'out.jsonl');
    const a = agent(['--config', config('fast.json', { priorityIntervals: { high: 1, medium: 1, low: 1 } }), '--sink', `file:${out}`]);
    await a.started();

    const pid = await runSleep('0.37');
    const server = createServer((s) => s.on('data', (d) => s.write(d.subarray(0, 3))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const client = connect(port, '127.0.0.1');
    await new Promise((r) => client.on('connect', r));
    const lport = client.localPort!;
    client.write('sixteen bytes!!!');
    await new Promise((r) => client.once('data', r));
    await sleep(1200); // open long enough for a byte sample
    client.end();
    await new Promise((r) => client.on('close', r));
    await new Promise<void>((r) => server.close(() => r()));

    const found = () => {
      const m = readMessages(out);
      return records(m, 'ProcessCreate').some((p) => p.ProcessId === pid)
        && records(m, 'ConnectionCreate').some((c) => c.LocalPort === lport);
    };
    await until('ProcessCreate and ConnectionCreate in the output', found, 15_000);
    expect(await a.stop('SIGTERM')).toBe(0);

    const msgs = readMessages(out);
    for (const m of msgs) expect(validateMessage(m), JSON.stringify(validateMessage.errors)).toBe(true);
    expect(records(msgs, 'ProcessCreate').find((p) => p.ProcessId === pid)).toMatchObject({
      ParentProcessId: process.pid, UserId: process.getuid!(), CommandLine: 'sleep 0.37', Type: 'exec', HitCount: 1,
    });
    const conns = records(msgs, 'ConnectionCreate');
    expect(conns.find((c) => c.LocalPort === lport && c.RemotePort === port)).toMatchObject({
      LocalAddress: '127.0.0.1', RemoteAddress: '127.0.0.1', Protocol: 'tcp', Direction: 'Out', BytesOut: 16, BytesIn: 3,
    });
    expect(conns.find((c) => c.LocalPort === port && c.RemotePort === lport)).toMatchObject({ Direction: 'In', BytesIn: 16, BytesOut: 3 });
    expect(records(msgs, 'SystemInformation').length).toBeGreaterThan(0);
    expect(records(msgs, 'Baseline').every((b) => /^CIS-debian-12-/.test(b.CheckId) && ['Fail', 'Error'].includes(b.Result))).toBe(true);
    expect(a.stderr).toContain('SIGTERM: sending what is pending');
  });

  it('stops cleanly on a signal sent the moment it says it is running (its listeners come first)', async () => {
    // Before, the line came first: a signal sent on it killed the agent outright in 4 of 20 tries
    // (args.test.ts checks the order itself; each start here takes seconds on a loaded machine).
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const a = agent(['--sink', 'stdout', '--source', 'poll']);
      await a.sees('running; sending to');
      expect(await a.stop(signal), a.stderr).toBe(0);
      expect(a.stderr).toContain(`${signal}: sending what is pending`);
    }
  });

  it('on SIGINT sends what is pending (long windows) to the broker with the IoT Hub properties', async () => {
    const deviceId = `run-int-${process.pid}`;
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    const a = agent(['--config', config('slow.json', { priorityIntervals: { high: 3600, medium: 3600, low: 3600 } }), '--sink', broker.url, '--device-id', deviceId, '--state-dir', join(dir, deviceId)]);
    await a.started();
    await until('connected', () => a.stderr.includes('connected to'));
    const pid = await runSleep('0.23');
    await sleep(300);
    expect(sub.got).toEqual([]); // a 3600 s window: nothing is due yet
    expect(await a.stop('SIGINT')).toBe(0);
    await until('final messages', () => records(sub.got.map((m) => JSON.parse(m.text)), 'ProcessCreate').some((p) => p.ProcessId === pid));
    for (const m of sub.got) expect(m.topic).toBe(telemetryTopic(deviceId));
    expect(records(sub.got.map((m) => JSON.parse(m.text)), 'SystemInformation')).toHaveLength(1);
    await sub.client.endAsync();
  });

  it('applies a desired-properties patch from the twin topic; rejects an invalid one, naming the key', async () => {
    const deviceId = `run-twin-${process.pid}`;
    const sub = await subscriber(broker.url, `devices/${deviceId}/messages/events/#`);
    const hub = await subscriber(broker.url, '$iothub/twin/#');
    const a = agent(['--config', config('slow.json', { priorityIntervals: { high: 3600, medium: 3600, low: 3600 } }), '--sink', broker.url, '--device-id', deviceId, '--state-dir', join(dir, deviceId)]);
    await a.started();
    await until('twin GET (subscriptions in place)', () => hub.got.some((m) => m.topic.startsWith('$iothub/twin/GET/')));
    const parsed = () => sub.got.map((m) => JSON.parse(m.text) as Message);

    const before = await runSleep('0.29');
    await sleep(200);
    const patch = (body: object) => hub.client.publishAsync('$iothub/twin/PATCH/properties/desired/?$version=7', JSON.stringify(body));
    await patch({ microtally: { process: { enabled: false } }, $version: 7 });
    // Send-then-apply: the window holding the earlier process goes out at once, not in an hour.
    await until('windows sent on the change', () => records(parsed(), 'ProcessCreate').some((p) => p.ProcessId === before));
    const reported = () => hub.got.filter((m) => m.topic.startsWith('$iothub/twin/PATCH/properties/reported/')).map((m) => JSON.parse(m.text).microtally);
    await until('applied reported', () => reported().some((r) => r.configuration.status === 'applied'));
    expect(reported()[0]).toMatchObject({ configuration: { version: 7, status: 'applied', reason: null }, agentVersion: VERSION, coreSequence: 0 });

    const after = await runSleep('0.31'); // the process collector is now disabled
    await sleep(200);
    await patch({ microtally: { process: { cacheSize: 0 } }, $version: 8 });
    await until('rejection reported', () => reported().some((r) => r.configuration.status === 'rejected'));
    expect(reported().find((r) => r.configuration.status === 'rejected')).toMatchObject({
      configuration: { version: 8, status: 'rejected', reason: expect.stringMatching(/cacheSize/) }, agentVersion: VERSION, coreSequence: 0 });
    expect(a.stderr).toMatch(/rejected: .*cacheSize/);

    expect(await a.stop('SIGTERM')).toBe(0);
    await until('final messages', () => records(parsed(), 'CollectorStats').some((s) => s.Collector === 'process' && s.Ignored >= 1));
    expect(records(parsed(), 'ProcessCreate').some((p) => p.ProcessId === after)).toBe(false);
    for (const m of parsed()) expect(validateMessage(m), JSON.stringify(validateMessage.errors)).toBe(true);
    await sub.client.endAsync();
    await hub.client.endAsync();
  });
});
