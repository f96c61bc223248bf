// Test certificates made with openssl at test time (P-256): CAs, server certificates for
// loopback names, client certificates (valid, expired, from another CA). Nothing is committed.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pem { cert: string; key: string }

export class Pki {
  constructor(readonly dir: string) { mkdirSync(dir, { recursive: true }); }

  private openssl(args: string[]): void { execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] }); }

  /** A self-signed CA: its certificate and key file paths. */
  ca(name: string): Pem {
    const p = this.paths(name);
    this.openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', p.key, '-out', p.cert]);
    return p;
  }

  /**
   * A certificate signed by `ca`, valid for `days` (negative: expired), with `san` names
   * (`DNS:…`, `IP:…`) for a server, or none for a client; the key file mode 0600.
   */
  issue(ca: Pem, name: string, cn: string, opts: { days?: number; san?: string[] } = {}): Pem {
    const p = this.paths(name);
    const csr = join(this.dir, `${name}.csr`);
    this.openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${cn}`, '-keyout', p.key, '-out', csr]);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(ext, opts.san ? `subjectAltName=${opts.san.join(',')}\nextendedKeyUsage=serverAuth\n` : 'extendedKeyUsage=clientAuth\n');
    this.openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', String(opts.days ?? 2),
      '-extfile', ext, '-out', p.cert]);
    chmodSync(p.key, 0o600);
    return p;
  }

  private paths(name: string): Pem {
    return { cert: join(this.dir, `${name}.pem`), key: join(this.dir, `${name}.key`) };
  }
}
