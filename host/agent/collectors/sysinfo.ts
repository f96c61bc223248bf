// System information from the OS: /etc/os-release, the kernel release, the board or machine model.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { machine, release, totalmem } from 'node:os';
import type { SysinfoRecord } from '../../core.js';

/** KEY=value lines, values optionally quoted (os-release(5)). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2];
    if (/^(["']).*\1$/.test(v)) v = v.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    out[m[1]] = v;
  }
  return out;
}

/** `MemTotal:` of /proc/meminfo, in bytes. */
export function parseMemTotal(text: string): number | undefined {
  const m = /^MemTotal:\s+(\d+)\s*kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

function readTrim(path: string): string | undefined {
  try {
    const s = readFileSync(path, 'utf8').replace(/\0/g, '').trim();
    return s || undefined;
  } catch {
    return undefined;
  }
}

/** Reads the system information; `root` lets tests point it at a fixture tree. */
export function readSysinfo(t: number, root = '/'): SysinfoRecord {
  const osr = parseOsRelease(readTrim(join(root, 'etc/os-release')) ?? readTrim(join(root, 'usr/lib/os-release')) ?? '');
  const kernel = readTrim(join(root, 'proc/sys/kernel/osrelease')) ?? release();
  // Boards name themselves in the device tree; PCs and VMs through DMI; otherwise the CPU architecture.
  const model = readTrim(join(root, 'proc/device-tree/model'))
    ?? [readTrim(join(root, 'sys/class/dmi/id/sys_vendor')), readTrim(join(root, 'sys/class/dmi/id/product_name'))].filter(Boolean).join(' ');
  const hw = model ? `${model} (${machine()})` : machine();
  const mem = parseMemTotal(readTrim(join(root, 'proc/meminfo')) ?? '') ?? totalmem();
  return {
    t,
    os: osr.NAME ?? osr.ID ?? 'Linux',
    osVersion: osr.VERSION ?? osr.VERSION_ID ?? '',
    kernel,
    hw,
    memTotal: mem,
  };
}
