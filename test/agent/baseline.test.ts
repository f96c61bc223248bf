// The CIS checks on fixture trees (compliant, not compliant, not applicable) and on this machine.

import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fsContext, runChecks } from '../../host/agent/collectors/baseline.js';
import { CIS_DEBIAN_CHECKS } from '../../host/agent/collectors/cis-debian.js';

const trees: string[] = [];
afterAll(() => trees.forEach((t) => rmSync(t, { recursive: true, force: true })));

function tree(files: Record<string, string | [string, number]>): string {
  const root = mkdtempSync(join(tmpdir(), 'mt-cis-'));
  trees.push(root);
  for (const [path, spec] of Object.entries(files)) {
    const [text, mode] = typeof spec === 'string' ? [spec, 0o644] : spec;
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
    chmodSync(join(root, path), mode);
  }
  return root;
}

const SYSCTL_GOOD: Record<string, string> = {
  'kernel/randomize_va_space': '2', 'kernel/yama/ptrace_scope': '1',
  'net/ipv4/ip_forward': '0', 'net/ipv6/conf/all/forwarding': '0',
  'net/ipv4/conf/all/send_redirects': '0', 'net/ipv4/conf/default/send_redirects': '0',
  'net/ipv4/conf/all/accept_redirects': '0', 'net/ipv4/conf/default/accept_redirects': '0',
  'net/ipv6/conf/all/accept_redirects': '0', 'net/ipv6/conf/default/accept_redirects': '0',
  'net/ipv4/conf/all/rp_filter': '1', 'net/ipv4/conf/default/rp_filter': '1',
  'net/ipv4/conf/all/accept_source_route': '0', 'net/ipv4/conf/default/accept_source_route': '0',
  'net/ipv6/conf/all/accept_source_route': '0', 'net/ipv6/conf/default/accept_source_route': '0',
  'net/ipv4/tcp_syncookies': '1',
};
const sysctl = (over: Record<string, string> = {}) =>
  Object.fromEntries(Object.entries({ ...SYSCTL_GOOD, ...over }).map(([k, v]) => [`proc/sys/${k}`, `${v}\n`]));

const ACCOUNTS = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n',
  'etc/group': 'root:x:0:\nshadow:x:42:\nalice:x:1000:\n',
  'etc/shadow': ['root:$y$j9T$abc:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n', 0o640] as [string, number],
  'etc/gshadow': ['root:*::\nshadow:*::\n', 0o640] as [string, number],
};

const results = (root: string) => Object.fromEntries(runChecks(CIS_DEBIAN_CHECKS, 1, fsContext(root)).map((r) => [r.id, r]));
const id = (s: string) => `CIS-debian-12-${s}`;
const asRoot = process.getuid?.() === 0; // ownership checks need files owned by root

describe('CIS Debian 12 checks', () => {
  it('are at least ten, with distinct ids, texts and valid severities', () => {
    expect(CIS_DEBIAN_CHECKS.length).toBeGreaterThanOrEqual(10);
    expect(new Set(CIS_DEBIAN_CHECKS.map((c) => c.id)).size).toBe(CIS_DEBIAN_CHECKS.length);
    for (const c of CIS_DEBIAN_CHECKS) {
      expect(c.id).toMatch(/^CIS-debian-12-\d+(\.\d+)+$/);
      expect(c.description.length).toBeGreaterThan(20);
      expect(c.remediation.length).toBeGreaterThan(10);
      expect(['critical', 'important', 'warning', 'informational']).toContain(c.severity);
    }
  });

  it('pass on a hardened tree', () => {
    const root = tree({
      'proc/filesystems': 'nodev\tsysfs\n\text4\n',
      'proc/modules': '',
      'proc/sys/kernel/osrelease': '6.1.0-test\n',
      'lib/modules/6.1.0-test/modules.dep': 'kernel/fs/cramfs/cramfs.ko.xz:\nkernel/fs/hfs/hfs.ko:\n',
      'etc/modprobe.d/cis.conf': 'install cramfs /bin/false\nblacklist hfs\n',
      'proc/self/mounts': 'overlay / overlay rw 0 0\ntmpfs /tmp tmpfs rw,nosuid,nodev,noexec,relatime 0 0\n',
      ...sysctl(),
      'etc/ssh/sshd_config': ['Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\n', 0o600],
      'etc/ssh/sshd_config.d/10-local.conf': 'PermitEmptyPasswords no\n',
      ...ACCOUNTS,
    });
    const r = results(root);
    const notPassing = Object.values(r).filter((x) => x.result !== 'pass' && (asRoot || !/^CIS-debian-12-(5\.1\.1|7\.1\.\d)$/.test(x.id)));
    expect(notPassing.map((x) => `${x.id} ${x.result} ${x.error ?? ''}`)).toEqual([]);
  });

  it('fail where the tree is weak', () => {
    const root = tree({
      'proc/filesystems': 'nodev\tsysfs\n\text4\n\thfsplus\n',
      'proc/modules': 'hfsplus 131072 0 - Live 0x0000000000000000\n',
      'proc/sys/kernel/osrelease': '6.1.0-test\n',
      'lib/modules/6.1.0-test/modules.dep': 'kernel/fs/cramfs/cramfs.ko.xz:\nkernel/fs/hfsplus/hfsplus.ko:\n',
      'proc/self/mounts': 'tmpfs /tmp tmpfs rw,nosuid 0 0\n',
      ...sysctl({ 'kernel/randomize_va_space': '1', 'net/ipv6/conf/all/forwarding': '1', 'net/ipv4/tcp_syncookies': '0' }),
      'etc/ssh/sshd_config': ['Include sshd_config.d/*.conf\nPermitRootLogin no\nMatch User bob\n  PermitEmptyPasswords yes\n', 0o644],
      'etc/ssh/sshd_config.d/10-local.conf': 'PermitRootLogin yes\n',
      'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\nold:$1$abc:1001:1001::/:/bin/sh\n',
      'etc/group': ['root:x:0:\n', 0o666],
      'etc/shadow': ['root:$y$j9T$abc:19000::::::\nguest::19000::::::\n', 0o644],
      'etc/gshadow': ['root:*::\n', 0o640],
    });
    const r = results(root);
    const expectFail = ['1.1.1.1', '1.1.1.4', '1.1.2.1.2', '1.1.2.1.4', '1.5.1', '3.3.1', '3.3.10', '5.1.20', '5.4.2.1', '7.1.3', '7.1.5', '7.2.1', '7.2.2'];
    if (asRoot) expectFail.push('5.1.1');
    for (const s of expectFail) expect(r[id(s)].result, s).toBe('fail');
    for (const s of ['1.1.1.2', '1.1.1.3', '1.1.2.1.3', '5.1.19']) expect(r[id(s)].result, s).toBe('pass');
    // Nothing the core receives as a failure carries an error text.
    expect(Object.values(r).filter((x) => x.result === 'fail' && x.error)).toEqual([]);
  });

  it('report error, with the reason, when a check cannot run', () => {
    const root = tree({ 'proc/self/mounts': 'overlay / overlay rw 0 0\n', 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n' });
    const r = results(root);
    expect(r[id('1.1.2.1.1')].result).toBe('fail'); // no separate /tmp
    expect(r[id('1.1.2.1.2')]).toMatchObject({ result: 'error', error: expect.stringMatching(/not a separate mount/) });
    expect(r[id('5.1.20')]).toMatchObject({ result: 'error', error: expect.stringMatching(/sshd_config not found/) });
    expect(r[id('1.5.1')]).toMatchObject({ result: 'error', error: 'kernel parameter kernel.randomize_va_space not present' });
    expect(r[id('7.2.2')]).toMatchObject({ result: 'error', error: '/etc/shadow not found' });
    // No /proc/modules: a kernel without loadable modules, so only built-in filesystems count.
    expect(r[id('1.1.1.1')].result).toBe('pass');
  });

  it('run on this machine without throwing, each with a definite result', () => {
    const r = runChecks(CIS_DEBIAN_CHECKS, 5, fsContext('/'));
    expect(r).toHaveLength(CIS_DEBIAN_CHECKS.length);
    for (const x of r) {
      expect(['pass', 'fail', 'error']).toContain(x.result);
      if (x.result === 'error') expect(x.error).toBeTruthy();
      expect(x.t).toBe(5);
    }
  });
});
