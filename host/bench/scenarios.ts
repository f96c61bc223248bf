// Deterministic traces for the benchmark: the same seed gives the same events everywhere.

import type { ConnectionRecord, ProcessRecord } from '../core.js';
import type { Profile } from '../engine.js';

/** mulberry32: a small, fast, deterministic PRNG. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

export type Event = ({ kind: 'connection' } & ConnectionRecord) | ({ kind: 'process' } & ProcessRecord);

export interface Scenario {
  name: string;
  profile: Profile;
  description: string;
  events(count: number): Generator<Event>;
}

const T0 = Date.UTC(2027, 0, 1);
const v4 = (a: number, b: number, c: number, d: number) => new Uint8Array([a, b, c, d]);

/** A sensor on MQTT: one long connection to the hub, reconnects, DNS every minute, NTP every 5. */
export const mqttSensor: Scenario = {
  name: 'mqtt-sensor',
  profile: 'rtos',
  description: 'telemetry every second on one MQTT/TLS connection, reconnect every 10 min, DNS each minute, NTP each 5 min',
  *events(count) {
    const rand = prng(1);
    const me = v4(192, 168, 10, 23), hub = v4(20, 50, 60, 70), dns = v4(192, 168, 10, 1), ntp = v4(162, 159, 200, 1);
    let lport = 49152;
    for (let i = 0, s = 0; i < count; s++) {
      const t = T0 + s * 1000;
      if (s % 600 === 0) lport = 49152 + Math.floor(rand() * 16000);
      yield { kind: 'connection', t, proto: 'tcp', dir: 'out', local: me, lport, remote: hub, rport: 8883,
        bytesIn: 60 + Math.floor(rand() * 40), bytesOut: 200 + Math.floor(rand() * 300), app: 'mqtt', host: 'contoso-hub.azure-devices.net' };
      i++;
      if (s % 60 === 0 && i < count) {
        yield { kind: 'connection', t: t + 1, proto: 'udp', dir: 'out', local: me, lport: 1024 + Math.floor(rand() * 60000),
          remote: dns, rport: 53, bytesIn: 90, bytesOut: 45, app: 'dns', host: 'contoso-hub.azure-devices.net' };
        i++;
      }
      if (s % 300 === 0 && i < count) {
        yield { kind: 'connection', t: t + 2, proto: 'udp', dir: 'out', local: me, lport: 123, remote: ntp, rport: 123, bytesIn: 48, bytesOut: 48, app: 'ntp' };
        i++;
      }
    }
  },
};

/** A gateway for 300 devices: far more distinct flows than the cache holds. */
export const gatewayFlows: Scenario = {
  name: 'gateway-flows',
  profile: 'rtos',
  description: '300 downstream devices, each with a few flows, 100 events/s: the 256-entry cache overflows',
  *events(count) {
    const rand = prng(2);
    const up = v4(10, 1, 0, 1);
    for (let i = 0; i < count; i++) {
      const t = T0 + i * 10;
      const dev = Math.floor(rand() * 300);
      const flow = Math.floor(rand() * 4);
      const local = v4(192, 168, 1 + (dev >> 8), dev & 0xff);
      const remote = flow === 3 ? up : v4(40, 1 + flow, 0, 10);
      yield { kind: 'connection', t, proto: flow === 2 ? 'udp' : 'tcp', dir: flow === 3 ? 'in' : 'out', local, lport: 40000 + flow,
        remote, rport: [8883, 443, 53, 22][flow], bytesIn: Math.floor(rand() * 2000), bytesOut: Math.floor(rand() * 2000) };
    }
  },
};

/** A Linux box running cron-like jobs: the same commands again and again, with new pids. */
export const processChurn: Scenario = {
  name: 'process-churn',
  profile: 'linux',
  description: '40 periodic jobs every minute plus 2% one-off commands, new pids each time',
  *events(count) {
    const rand = prng(3);
    const jobs = Array.from({ length: 40 }, (_, j) => `/bin/sh -c /usr/local/bin/job-${j} --config /etc/jobs/${j}.conf`);
    let pid = 1000;
    for (let i = 0; i < count; i++) {
      const t = T0 + Math.floor(i / 40) * 60_000 + (i % 40) * 100;
      const oneOff = rand() < 0.02;
      const cmd = oneOff ? `/usr/bin/python3 /tmp/task-${Math.floor(rand() * 1e9)}.py` : jobs[i % 40];
      yield { kind: 'process', t, pid: pid++, ppid: 1, uid: oneOff ? 1000 : 0, type: 'exec', cmd, exe: cmd.split(' ')[0], user: oneOff ? 'app' : 'root' };
    }
  },
};

export const scenarios = [mqttSensor, gatewayFlows, processChurn];

/** The trace line of an event (SPEC R10). */
export function traceLine(e: Event): string {
  const ip = (a: Uint8Array) => Array.from(a).join('.');
  if (e.kind === 'process') {
    return JSON.stringify({ kind: 'process', t: e.t, pid: e.pid, ppid: e.ppid, uid: e.uid, type: e.type, cmd: e.cmd, exe: e.exe, user: e.user });
  }
  return JSON.stringify({ kind: 'connection', t: e.t, proto: e.proto, dir: e.dir, local: ip(e.local), lport: e.lport,
    remote: ip(e.remote), rport: e.rport, bytesIn: e.bytesIn, bytesOut: e.bytesOut, app: e.app, host: e.host });
}
