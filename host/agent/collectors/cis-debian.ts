// A set of CIS Debian Linux 12 benchmark checks, evaluated on the running system.
// Ids carry the benchmark's section numbers; texts are our own summaries of what each checks.

import { type Check, type CheckContext, CheckError, type Severity } from './baseline.js';
import { parsePasswd } from './users.js';

const ID = (section: string): string => `CIS-debian-12-${section}`;

// ---- kernel modules -------------------------------------------------------------------------

/** True when modprobe configuration stops `mod` from loading (`install mod /bin/false` or a blacklist). */
function modprobeDisabled(ctx: CheckContext, mod: string): boolean {
  const names = new Set([mod, mod.replace(/-/g, '_')]);
  for (const dir of ['etc/modprobe.d', 'lib/modprobe.d', 'usr/lib/modprobe.d']) {
    for (const f of ctx.list(dir)) {
      if (!f.endsWith('.conf')) continue;
      for (const line of (ctx.read(`${dir}/${f}`) ?? '').split('\n')) {
        const w = line.trim().split(/\s+/);
        if (w[0] === 'install' && names.has(w[1]) && /^\/(usr\/)?bin\/(false|true)$/.test(w[2] ?? '')) return true;
        if (w[0] === 'blacklist' && names.has(w[1])) return true;
      }
    }
  }
  return false;
}

function moduleCheck(section: string, mod: string, what: string): Check {
  return {
    id: ID(section),
    group: 'Filesystem',
    severity: 'warning',
    description: `The ${mod} kernel module (${what}) should be unavailable: rarely needed filesystem code is attack surface.`,
    remediation: `Add "install ${mod} /bin/false" and "blacklist ${mod}" to a file in /etc/modprobe.d/, then unload it with "modprobe -r ${mod}".`,
    run(ctx) {
      const fs = ctx.read('proc/filesystems') ?? '';
      const registered = fs.split('\n').some((l) => l.trim().split(/\s+/).pop() === mod);
      // A kernel built without module support has no /proc/modules: only built-in code counts.
      const modules = ctx.read('proc/modules');
      if (modules === undefined) return !registered;
      const loaded = modules.split('\n').some((l) => l.split(' ')[0] === mod.replace(/-/g, '_'));
      if (loaded || registered) return false;
      if (modprobeDisabled(ctx, mod)) return true;
      const kernel = ctx.read('proc/sys/kernel/osrelease')?.trim();
      const dep = kernel ? ctx.read(`lib/modules/${kernel}/modules.dep`) : undefined;
      if (dep === undefined) throw new CheckError(`no module list for kernel ${kernel ?? '?'} (lib/modules/<release>/modules.dep)`);
      return !new RegExp(`/${mod}\\.ko(\\.[a-z]+)?:`).test(dep);
    },
  };
}

// ---- mounts ---------------------------------------------------------------------------------

interface Mount { dev: string; dir: string; type: string; options: string[] }

function mounts(ctx: CheckContext): Mount[] {
  const text = ctx.read('proc/self/mounts');
  if (text === undefined) throw new CheckError('/proc/self/mounts not readable');
  return text.split('\n').filter(Boolean).map((l) => {
    const f = l.split(' ');
    const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    return { dev: f[0], dir: unescape(f[1]), type: f[2], options: (f[3] ?? '').split(',') };
  });
}

/** The last mount on `dir` is the one in effect. */
function mountOf(ctx: CheckContext, dir: string): Mount | undefined {
  return mounts(ctx).filter((m) => m.dir === dir).pop();
}

function tmpOption(section: string, option: string, why: string): Check {
  return {
    id: ID(section),
    group: 'Filesystem',
    severity: 'warning',
    description: `/tmp should be mounted with ${option}: ${why}.`,
    remediation: `Add ${option} to the options of /tmp in /etc/fstab (or the tmp.mount unit) and remount: "mount -o remount,${option} /tmp".`,
    run(ctx) {
      const m = mountOf(ctx, '/tmp');
      if (!m) throw new CheckError(`/tmp is not a separate mount, so it cannot carry ${option} (see ${ID('1.1.2.1.1')})`);
      return m.options.includes(option);
    },
  };
}

// ---- kernel parameters ----------------------------------------------------------------------

function sysctl(ctx: CheckContext, name: string): string | undefined {
  return ctx.read(`proc/sys/${name.replace(/\./g, '/')}`)?.trim();
}

/**
 * Every listed parameter must have the wanted value. Parameters marked optional (IPv6 ones) are
 * skipped when the kernel does not have them; a missing required one is an error.
 */
function sysctlCheck(section: string, group: string, severity: Severity, wanted: Array<[string, string, boolean?]>, description: string): Check {
  const settings = wanted.map(([k, v]) => `${k} = ${v}`).join(', ');
  return {
    id: ID(section),
    group,
    severity,
    description,
    remediation: `Set ${settings} in a file under /etc/sysctl.d/ and load it with "sysctl --system".`,
    run(ctx) {
      let ok = true;
      for (const [name, value, optional] of wanted) {
        const got = sysctl(ctx, name);
        if (got === undefined) {
          if (optional) continue;
          throw new CheckError(`kernel parameter ${name} not present`);
        }
        if (got !== value) ok = false;
      }
      return ok;
    },
  };
}

// ---- file permissions -----------------------------------------------------------------------

function groupId(ctx: CheckContext, name: string): number | undefined {
  for (const line of (ctx.read('etc/group') ?? '').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 3) return Number(f[2]);
  }
  return undefined;
}

function fileMode(section: string, group: string, severity: Severity, path: string, maxMode: number, chmod: string, groups: string[]): Check {
  const octal = maxMode.toString(8).padStart(4, '0');
  return {
    id: ID(section),
    group,
    severity,
    description: `${path} should be owned by root, group ${groups.join(' or ')}, with mode ${octal} or stricter, so only the right accounts can read or change it.`,
    remediation: `Run "chown root:${groups[groups.length - 1]} ${path}" and "chmod ${chmod} ${path}".`,
    run(ctx) {
      const st = ctx.stat(path.slice(1));
      if (!st) throw new CheckError(`${path} not found`);
      const gids = groups.map((g) => (g === 'root' ? 0 : groupId(ctx, g))).filter((g): g is number => g !== undefined);
      return (st.mode & 0o7777 & ~maxMode) === 0 && st.uid === 0 && gids.includes(st.gid);
    },
  };
}

// ---- accounts -------------------------------------------------------------------------------

function passwd(ctx: CheckContext) {
  const text = ctx.read('etc/passwd');
  if (text === undefined) throw new CheckError('/etc/passwd not found');
  return parsePasswd(text);
}

// ---- sshd -----------------------------------------------------------------------------------

/** sshd's effective global settings: first value wins, `Include` is followed, `Match` blocks end the global part. */
function sshdSettings(ctx: CheckContext): Map<string, string> {
  const main = ctx.read('etc/ssh/sshd_config');
  if (main === undefined) throw new CheckError('/etc/ssh/sshd_config not found (openssh-server is not installed)');
  const out = new Map<string, string>();
  const visit = (text: string, depth: number): boolean => {
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      if (!line) continue;
      const m = /^(\S+)\s*=?\s*(.*)$/.exec(line);
      if (!m) continue;
      const key = m[1].toLowerCase();
      if (key === 'match') return false;
      if (key === 'include' && depth < 4) {
        for (const pattern of m[2].split(/\s+/)) {
          const abs = pattern.startsWith('/') ? pattern.slice(1) : `etc/ssh/${pattern}`;
          const slash = abs.lastIndexOf('/');
          const dir = abs.slice(0, slash);
          const glob = new RegExp(`^${abs.slice(slash + 1).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
          for (const f of ctx.list(dir).filter((n) => glob.test(n))) {
            if (!visit(ctx.read(`${dir}/${f}`) ?? '', depth + 1)) return false;
          }
        }
        continue;
      }
      if (!out.has(key)) out.set(key, m[2].trim().toLowerCase());
    }
    return true;
  };
  visit(main, 0);
  return out;
}

// ---- the checks -----------------------------------------------------------------------------

export const CIS_DEBIAN_CHECKS: readonly Check[] = [
  moduleCheck('1.1.1.1', 'cramfs', 'compressed ROM filesystem'),
  moduleCheck('1.1.1.2', 'freevxfs', 'Veritas filesystem'),
  moduleCheck('1.1.1.3', 'hfs', 'Apple HFS filesystem'),
  moduleCheck('1.1.1.4', 'hfsplus', 'Apple HFS+ filesystem'),
  moduleCheck('1.1.1.5', 'jffs2', 'journalling flash filesystem'),
  {
    id: ID('1.1.2.1.1'),
    group: 'Filesystem',
    severity: 'warning',
    description: '/tmp should be its own filesystem, so world-writable scratch space cannot fill the root filesystem and can carry restrictive mount options.',
    remediation: 'Mount /tmp separately, for example as tmpfs: "systemctl unmask tmp.mount && systemctl enable --now tmp.mount", or with an /etc/fstab entry.',
    run: (ctx) => mountOf(ctx, '/tmp') !== undefined,
  },
  tmpOption('1.1.2.1.2', 'nodev', 'device files placed in /tmp must not give access to devices'),
  tmpOption('1.1.2.1.3', 'nosuid', 'set-user-id programs placed in /tmp must not gain privileges'),
  tmpOption('1.1.2.1.4', 'noexec', 'programs dropped into /tmp should not run from there'),
  sysctlCheck('1.5.1', 'Kernel', 'important', [['kernel.randomize_va_space', '2']],
    'Address space layout randomization should be fully on, so exploits cannot rely on fixed memory addresses.'),
  sysctlCheck('1.5.2', 'Kernel', 'warning', [['kernel.yama.ptrace_scope', '1']],
    'ptrace should be limited to a process\'s own descendants, so a compromised process cannot read the memory of others of the same user.'),
  sysctlCheck('3.3.1', 'Network', 'important', [['net.ipv4.ip_forward', '0'], ['net.ipv6.conf.all.forwarding', '0', true]],
    'A host that is not a router should not forward packets between interfaces.'),
  sysctlCheck('3.3.2', 'Network', 'warning', [['net.ipv4.conf.all.send_redirects', '0'], ['net.ipv4.conf.default.send_redirects', '0']],
    'A host that is not a router should not send ICMP redirects, which an attacker could use to reroute traffic.'),
  sysctlCheck('3.3.5', 'Network', 'warning', [
    ['net.ipv4.conf.all.accept_redirects', '0'], ['net.ipv4.conf.default.accept_redirects', '0'],
    ['net.ipv6.conf.all.accept_redirects', '0', true], ['net.ipv6.conf.default.accept_redirects', '0', true],
  ], 'ICMP redirects should be ignored, so nobody on the network can change this host\'s routes.'),
  sysctlCheck('3.3.7', 'Network', 'warning', [['net.ipv4.conf.all.rp_filter', '1'], ['net.ipv4.conf.default.rp_filter', '1']],
    'Strict reverse path filtering should drop packets whose source address could not be answered on the interface they came in on (spoofing).'),
  sysctlCheck('3.3.8', 'Network', 'important', [
    ['net.ipv4.conf.all.accept_source_route', '0'], ['net.ipv4.conf.default.accept_source_route', '0'],
    ['net.ipv6.conf.all.accept_source_route', '0', true], ['net.ipv6.conf.default.accept_source_route', '0', true],
  ], 'Source-routed packets should be refused: they let a sender choose the path and bypass filters.'),
  sysctlCheck('3.3.10', 'Network', 'important', [['net.ipv4.tcp_syncookies', '1']],
    'TCP SYN cookies should be on, so a SYN flood cannot exhaust the connection backlog.'),
  {
    id: ID('5.1.1'),
    group: 'SSH',
    severity: 'important',
    description: '/etc/ssh/sshd_config should be owned by root and readable by root only, so nobody else can weaken the SSH server.',
    remediation: 'chown root:root /etc/ssh/sshd_config && chmod u-x,og-rwx /etc/ssh/sshd_config',
    run(ctx) {
      const st = ctx.stat('etc/ssh/sshd_config');
      if (!st) throw new CheckError('/etc/ssh/sshd_config not found (openssh-server is not installed)');
      return (st.mode & 0o7777 & ~0o600) === 0 && st.uid === 0 && st.gid === 0;
    },
  },
  {
    id: ID('5.1.19'),
    group: 'SSH',
    severity: 'critical',
    description: 'The SSH server should refuse logins to accounts with an empty password.',
    remediation: 'Set "PermitEmptyPasswords no" in /etc/ssh/sshd_config (above any Match block) and reload sshd.',
    run: (ctx) => (sshdSettings(ctx).get('permitemptypasswords') ?? 'no') === 'no',
  },
  {
    id: ID('5.1.20'),
    group: 'SSH',
    severity: 'important',
    description: 'The SSH server should not accept logins as root: administrators log in as themselves and escalate, which leaves an audit trail.',
    remediation: 'Set "PermitRootLogin no" in /etc/ssh/sshd_config (above any Match block) and reload sshd.',
    run: (ctx) => sshdSettings(ctx).get('permitrootlogin') === 'no',
  },
  {
    id: ID('5.4.2.1'),
    group: 'Accounts',
    severity: 'critical',
    description: 'root should be the only account with user id 0, since any UID 0 account has full control of the system.',
    remediation: 'Give every other account with UID 0 its own non-zero UID (usermod -u), or remove it.',
    run: (ctx) => passwd(ctx).every((e) => e.uid !== 0 || e.name === 'root'),
  },
  fileMode('7.1.1', 'Files', 'important', '/etc/passwd', 0o644, 'u-x,go-wx', ['root']),
  fileMode('7.1.3', 'Files', 'important', '/etc/group', 0o644, 'u-x,go-wx', ['root']),
  fileMode('7.1.5', 'Files', 'critical', '/etc/shadow', 0o640, 'u-x,g-wx,o-rwx', ['root', 'shadow']),
  fileMode('7.1.7', 'Files', 'critical', '/etc/gshadow', 0o640, 'u-x,g-wx,o-rwx', ['root', 'shadow']),
  {
    id: ID('7.2.1'),
    group: 'Accounts',
    severity: 'important',
    description: 'Password hashes should live in /etc/shadow, not in the world-readable /etc/passwd.',
    remediation: 'Run "pwconv" to move password hashes into /etc/shadow, then check that every /etc/passwd entry shows "x".',
    run: (ctx) => passwd(ctx).every((e) => e.password === 'x'),
  },
  {
    id: ID('7.2.2'),
    group: 'Accounts',
    severity: 'critical',
    description: 'Every account in /etc/shadow should have a password or be locked: an empty field lets anyone log in without one.',
    remediation: 'Lock each account with an empty password field ("passwd -l <user>") or set a password for it.',
    run(ctx) {
      const text = ctx.read('etc/shadow');
      if (text === undefined) throw new CheckError('/etc/shadow not found');
      return text.split('\n').filter(Boolean).every((l) => l.split(':')[1] !== '');
    },
  },
];
