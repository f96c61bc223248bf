// uid → user name from /etc/passwd, re-read only when the file changes.

import { readFileSync, statSync } from 'node:fs';

export interface PasswdEntry { name: string; password: string; uid: number; gid: number; home: string; shell: string }

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7) continue;
    out.push({ name: f[0], password: f[1], uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] });
  }
  return out;
}

export class UserNames {
  private names = new Map<number, string>();
  private mtimeMs = -1;

  constructor(private readonly passwdPath = '/etc/passwd') {}

  lookup(uid: number): string | undefined {
    this.refresh();
    return this.names.get(uid);
  }

  private refresh(): void {
    try {
      const m = statSync(this.passwdPath).mtimeMs;
      if (m === this.mtimeMs) return;
      this.mtimeMs = m;
      this.names = new Map(parsePasswd(readFileSync(this.passwdPath, 'utf8')).map((e) => [e.uid, e.name]));
    } catch {
      this.names = new Map();
    }
  }
}
