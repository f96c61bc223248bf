// The Linux agent's Heartbeat (host/agent/heartbeat.ts, docs/FORMATS.md): sent when no message
// has left for --heartbeat seconds, never while messages flow; its counters: uptime, the events
// the sources delivered, and what waits in the MQTT outbox (exact, against a broker that is down).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Mosquitto, mosquittoPath, subscriber, until } from './helpers/mosquitto.js';
import { runInProcess } from './helpers/run-command.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mt-heartbeat-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Event { Name: string; EventType: string; TimestampUTC: string; Payload: Array<Record<string, number>> }
const HOUR = join(dir, 'hour.json');
writeFileSync(HOUR, JSON.stringify({ priorityIntervals: { high: 3600, medium: 3600, low: 3600 } }));
const SECOND = join(dir, 'second.json');
writeFileSync(SECOND, JSON.stringify({ priorityIntervals: { high: 1, medium: 1, low: 1 } }));

const events = (texts: string[]): Event[] => texts.flatMap((t) => (JSON.parse(t) as { Events: Event[] }).Events);
const heartbeats = (texts: string[]): Event[] => events(texts).filter((e) => e.Name === 'Heartbeat');
const fileLines = (path: string): string[] => (existsSync(path) ? readFileSync(path, 'utf8') : '').split('\n').filter(Boolean);

function agent(args: string[]) {
  const proc = spawn(process.execPath, ['--import', here('./helpers/register-ts.mjs'), here('./helpers/agent-main.ts'), 'run', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(proc);
  let log = '';
  proc.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<number | null>((r) => proc.on('close', r));
  return { proc, log: () => log, exited };
}

describe('heartbeat', () => {
  it('a quiet agent sends one every --heartbeat seconds: Diagnostic, uptime and events seen growing', async () => {
    const sink = join(dir, 'quiet.jsonl');
    const a = agent(['--source', 'poll', '--sink', `file:${sink}`, '--config', HOUR, '--heartbeat', '2']);
    await until('the agent to run', () => a.log().includes('running; sending to'), 60_000);
    await until('three heartbeats', () => heartbeats(fileLines(sink)).length >= 3, 30_000);
    a.proc.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    const texts = fileLines(sink);
    const beats = heartbeats(texts);
    // Nothing else was due (hour-long windows): every message before the stop is a heartbeat alone.
    for (const t of texts.slice(0, beats.length)) expect(events([t]).map((e) => e.Name)).toEqual(['Heartbeat']);
    for (const b of beats) {
      expect(b.EventType).toBe('Diagnostic');
      expect(Object.keys(b.Payload[0])).toEqual(['UptimeSeconds', 'EventsSeen', 'OutboxMessages', 'OutboxBytes']);
      expect(b.Payload[0].OutboxMessages).toBe(0); // a file sink keeps nothing waiting
      expect(b.Payload[0].OutboxBytes).toBe(0);
    }
    const times = beats.map((b) => Date.parse(b.TimestampUTC));
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1], 'a whole interval of quiet before each').toBeGreaterThanOrEqual(2000);
    const up = beats.map((b) => b.Payload[0].UptimeSeconds);
    expect(up[0]).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < up.length; i++) expect(up[i]).toBeGreaterThanOrEqual(up[i - 1] + 2);
    // Events seen: at least the inventory (every running process), never more than the core received.
    const seen = beats.map((b) => b.Payload[0].EventsSeen);
    expect(seen[0]).toBeGreaterThan(0);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
    const stats = JSON.parse(/stopped: (\{.*\})/.exec(a.log())![1]) as { process: { received: number }; network: { received: number } };
    expect(seen.at(-1)!).toBeLessThanOrEqual(stats.process.received + stats.network.received);
  }, 120_000);

  it('none while messages flow (one-second windows, --heartbeat 3)', async () => {
    const sink = join(dir, 'busy.jsonl');
    const a = agent(['--source', 'poll', '--sink', `file:${sink}`, '--config', SECOND, '--heartbeat', '3']);
    await until('the agent to run', () => a.log().includes('running; sending to'), 60_000);
    const t0 = Date.now();
    await until('7 s of messages', () => Date.now() - t0 >= 7000 && fileLines(sink).length >= 5, 30_000);
    a.proc.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(heartbeats(fileLines(sink))).toEqual([]);
  }, 120_000);

  it('--heartbeat that is not whole seconds is a usage error naming it', async () => {
    for (const bad of ['1.5', '1e3', 'soon', '', '1000000000']) {
      const r = await runInProcess(['--heartbeat', bad, '--sink', 'stdout']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--heartbeat must be a whole number of seconds up to 999999999 (0: never), got "${bad}"`);
    }
  });
});

describe.skipIf(!((): boolean => { try { return !!mosquittoPath(); } catch { return false; } })())('heartbeat over MQTT (needs mosquitto)', () => {
  it('with the broker down, each heartbeat counts exactly the messages and bytes waiting before it', async () => {
    const broker = await Mosquitto.start();
    try {
      const sub = await subscriber(broker.url, 'devices/#');
      await broker.pause();
      const a = agent(['--source', 'poll', '--sink', broker.url, '--device-id', 'hb', '--config', HOUR, '--heartbeat', '1']);
      await until('the agent to run', () => a.log().includes('running; sending to'), 60_000);
      await new Promise((r) => setTimeout(r, 4500));
      const resumed = Date.now();
      await broker.resume();
      await until('the heartbeats made during the outage', () => heartbeats(sub.got.map((g) => g.text)).length >= 4, 60_000);
      a.proc.kill('SIGTERM');
      await a.exited;
      await sub.client.endAsync();
      const during = sub.got.filter((g) => heartbeats([g.text]).length === 1 && Date.parse(heartbeats([g.text])[0].TimestampUTC) < resumed - 200);
      expect(during.length, 'heartbeats made while the broker was down').toBeGreaterThanOrEqual(3);
      // In order, nothing else made meanwhile: the i-th waited behind the i heartbeats before it.
      let bytes = 0;
      during.forEach((g, i) => {
        const p = heartbeats([g.text])[0].Payload[0];
        expect({ messages: p.OutboxMessages, bytes: p.OutboxBytes }).toEqual({ messages: i, bytes });
        bytes += g.payload.length;
      });
    } finally {
      await broker.stop();
    }
  }, 120_000);
});
