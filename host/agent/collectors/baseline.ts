// Runs the baseline checks and turns each outcome into a typed record for the core.
// A check reads the system through a CheckContext rooted at `root`, so tests run it on a fixture tree.

import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { BaselineRecord } from '../../core.js';

export type Severity = BaselineRecord['severity'];

/** Thrown by a check that cannot decide: reported as `error` with this reason. */
export class CheckError extends Error {}

export interface CheckContext {
  /** The file's text, or undefined when it does not exist. */
  read(path: string): string | undefined;
  stat(path: string): Stats | undefined;
  list(dir: string): string[];
}

export interface Check {
  id: string;
  group: string;
  severity: Severity;
  description: string;
  remediation: string;
  /** true: compliant; false: not compliant; throws CheckError when it cannot tell. */
  run(ctx: CheckContext): boolean;
}

export function fsContext(root = '/'): CheckContext {
  const at = (p: string): string => join(root, p);
  return {
    read(p) {
      try {
        return readFileSync(at(p), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new CheckError(`cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    },
    stat(p) {
      try {
        return statSync(at(p));
      } catch {
        return undefined;
      }
    },
    list(d) {
      try {
        return readdirSync(at(d)).sort();
      } catch {
        return [];
      }
    },
  };
}

export function runChecks(checks: readonly Check[], t: number, ctx: CheckContext): BaselineRecord[] {
  return checks.map((c) => {
    const rec: BaselineRecord = {
      t, id: c.id, group: c.group, severity: c.severity, description: c.description, remediation: c.remediation, result: 'pass',
    };
    try {
      rec.result = c.run(ctx) ? 'pass' : 'fail';
    } catch (e) {
      rec.result = 'error';
      rec.error = e instanceof CheckError ? e.message : `check failed: ${(e as Error).message}`;
    }
    return rec;
  });
}
