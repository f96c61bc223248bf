// The version, defined once: package.json's `version` (the blob's AgentVersion is generated from
// it too, see scripts/version.mjs). Read at run time so a packed copy reports its own.

import { existsSync, readFileSync } from 'node:fs';

/** package.json of this package: next to host/ in the repository, next to dist/ when built. */
function packageJson(): { name: string; version: string } {
  for (const rel of ['../package.json', '../../package.json']) {
    const url = new URL(rel, import.meta.url);
    if (!existsSync(url)) continue;
    const pkg = JSON.parse(readFileSync(url, 'utf8'));
    if (pkg.name === 'microtally') return pkg;
  }
  throw new Error('microtally: package.json not found next to the host code');
}

export const VERSION: string = packageJson().version;
