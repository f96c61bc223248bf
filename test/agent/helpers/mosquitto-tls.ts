// mosquitto on loopback with TLS and `require_certificate true`: only clients with a certificate
// signed by its CA get in (the broker's own check, not ours).

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accepting, freePort, mosquittoPath } from './mosquitto.js';
import type { Pem } from './pki.js';

export class MosquittoTls {
  private constructor(readonly port: number, private readonly dir: string, private readonly proc: ChildProcess) {}

  /** Starts a broker whose server certificate is `server` and which requires client certificates signed by `caCert`. */
  static async start(server: Pem, caCert: string): Promise<MosquittoTls> {
    const dir = mkdtempSync(join(tmpdir(), 'mt-mosq-tls-'));
    chmodSync(dir, 0o755); // run as root, mosquitto drops to its own user and then reads its files
    for (const [from, to] of [[server.cert, 'server.pem'], [server.key, 'server.key'], [caCert, 'ca.pem']]) {
      copyFileSync(from, join(dir, to));
      chmodSync(join(dir, to), 0o644);
    }
    const port = await freePort();
    writeFileSync(join(dir, 'mosquitto.conf'), [
      `listener ${port} 127.0.0.1`, 'allow_anonymous true', `cafile ${dir}/ca.pem`, `certfile ${dir}/server.pem`,
      `keyfile ${dir}/server.key`, 'require_certificate true', 'log_dest none', '',
    ].join('\n'));
    const proc = spawn(mosquittoPath(), ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
    const end = Date.now() + 10_000;
    while (!(await accepting(port))) {
      if (Date.now() > end || proc.exitCode !== null) throw new Error(`mosquitto (TLS) did not start on port ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return new MosquittoTls(port, dir, proc);
  }

  get url(): string { return `mqtts://localhost:${this.port}`; }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
