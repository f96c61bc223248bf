// A real mosquitto broker on loopback for the tests: own port, own temp config and persistence directory.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';

export function mosquittoPath(): string {
  for (const p of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto']) if (existsSync(p)) return p;
  throw new Error('mosquitto not found: apt-get install -y mosquitto');
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export class Mosquitto {
  private proc?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), 'mt-mosq-'));

  private constructor(readonly port: number) {
    chmodSync(this.dir, 0o777); // run as root, mosquitto drops to its own user before saving sessions
    // Persistence keeps a subscriber's session (and its queued messages) across a graceful restart.
    writeFileSync(join(this.dir, 'mosquitto.conf'), [
      `listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence true', `persistence_location ${this.dir}/`, 'log_dest none', '',
    ].join('\n'));
  }

  static async start(): Promise<Mosquitto> {
    const m = new Mosquitto(await freePort());
    await m.resume();
    return m;
  }

  get url(): string { return `mqtt://127.0.0.1:${this.port}`; }

  /** Starts (again) on the same port; resolves once it accepts connections. */
  async resume(): Promise<void> {
    this.proc = spawn(mosquittoPath(), ['-c', join(this.dir, 'mosquitto.conf')], { stdio: 'ignore' });
    const end = Date.now() + 10_000;
    while (!(await accepting(this.port))) {
      if (Date.now() > end || this.proc.exitCode !== null) throw new Error(`mosquitto did not start on port ${this.port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops the broker: SIGTERM saves sessions; SIGKILL is a crash, no goodbye to clients. */
  async pause(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  /** Freezes the broker (SIGSTOP): connections stay open, nothing is read or acknowledged. */
  freeze(): void { this.proc?.kill('SIGSTOP'); }

  /** Lets a frozen broker go on (SIGCONT). */
  thaw(): void { this.proc?.kill('SIGCONT'); }

  async stop(): Promise<void> {
    await this.pause('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A subscriber that records every message (with its topic) on `filter`. */
export async function subscriber(url: string, filter: string): Promise<{ client: MqttClient; got: Array<{ topic: string; text: string; payload: Buffer }> }> {
  // A persistent session: messages published while it is reconnecting wait for it in the broker.
  const client = await connectAsync(url, { reconnectPeriod: 200, clean: false, clientId: `mt-test-${process.pid}-${Math.random().toString(16).slice(2)}` });
  const got: Array<{ topic: string; text: string; payload: Buffer }> = [];
  client.on('message', (topic, payload) => got.push({ topic, text: payload.toString('utf8'), payload }));
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, got };
}

export async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
