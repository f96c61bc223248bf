// One command-line layer for every command (SPEC R11): each command is a table entry with its
// options, and the layer parses them with node:util.parseArgs, answers --help from the table and
// turns every usage error into one `microtally: <command>: <reason>` line and exit status 2.

import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in the help for a string option: `--engine <name>`. */
  value?: string;
  /** One line of help. */
  help: string;
  /** Accepted values of a string option; anything else is a usage error. */
  choices?: readonly string[];
  default?: string | boolean;
}

export type Values = Record<string, string | boolean | undefined>;

export interface Command {
  name: string;
  /** One line for `microtally --help`. */
  summary: string;
  options: Record<string, OptionSpec>;
  /** Positional arguments: their names in the usage line, how many are allowed. */
  positionals?: { names: string; min: number; max: number };
  /** More help after the options: exit statuses, examples. */
  notes?: string;
  run(values: Values, positionals: string[]): Promise<number>;
}

/** A usage error a command finds after parsing (a bad combination, a malformed value): exit 2. */
export class UsageError extends Error {}

export const PROGRAM = 'microtally';

function optionLabel(name: string, o: OptionSpec): string {
  const value = o.type === 'string' ? ` <${o.value ?? 'value'}>` : '';
  return `${o.short ? `-${o.short}, ` : ''}--${name}${value}`;
}

/** `microtally replay <trace.jsonl|-> [--engine <name>] …`: the synopsis line. */
export function synopsis(c: Command): string {
  const opts = Object.entries(c.options).map(([n, o]) => `[--${n}${o.type === 'boolean' ? '' : ` ${o.choices ? o.choices.join('|') : `<${o.value ?? 'value'}>`}`}]`);
  return [`${PROGRAM} ${c.name}`, ...(c.positionals ? [c.positionals.names] : []), ...opts].join(' ');
}

export function helpText(c: Command): string {
  const rows = [...Object.entries(c.options), ['help', { type: 'boolean', short: 'h', help: 'print this help and exit' } as OptionSpec] as const]
    .map(([n, o]) => {
      const extra = o.choices ? ` (${o.choices.join(', ')}${o.default !== undefined ? `; default ${o.default}` : ''})`
        : o.default !== undefined && o.type === 'string' ? ` (default ${o.default})` : '';
      return [optionLabel(n, o), o.help + extra] as const;
    });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return `usage: ${synopsis(c)}\n\n${c.summary}\n\noptions:\n` +
    rows.map(([l, h]) => `  ${l.padEnd(width)}${h}\n`).join('') + (c.notes ? `\n${c.notes.trimEnd()}\n` : '');
}

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

/** The line after a usage error that points to the help: `(\`microtally run --help\` lists the options)`. */
export function usageHint(command: string | undefined): string {
  const hint = command ? `${PROGRAM} ${command} --help` : `${PROGRAM} --help`;
  return `(\`${hint}\` lists the ${command ? 'options' : 'commands'})`;
}

/** Reports a usage error the one way every command does; returns the exit status 2. */
export function usageError(io: Io, command: string | undefined, message: string): number {
  const where = command ? `${command}: ` : '';
  io.err(`${PROGRAM}: ${where}${message}\n${usageHint(command)}\n`);
  return 2;
}

/** Parses a command's arguments and runs it; usage errors exit 2, --help exits 0. */
export async function runCommand(c: Command, args: string[], io: Io): Promise<number> {
  let parsed;
  try {
    const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
    for (const [n, o] of Object.entries(c.options)) options[n] = o.short ? { type: o.type, short: o.short } : { type: o.type };
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    return usageError(io, c.name, (e as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  const { values, positionals, tokens } = parsed;
  if (values.help) { io.out(helpText(c)); return 0; }
  const seen = new Set<string>();
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    if (seen.has(t.name)) return usageError(io, c.name, `--${t.name} given twice`);
    seen.add(t.name);
  }
  const p = c.positionals ?? { names: '', min: 0, max: 0 };
  if (positionals.length < p.min || positionals.length > p.max) {
    return usageError(io, c.name, p.max === 0 ? `takes no arguments, got "${positionals[0]}"`
      : p.min === p.max ? `takes ${p.names} (${p.min === 1 ? 'one argument' : `${p.min} arguments`}), got ${positionals.length}`
        : `takes ${p.names}, got ${positionals.length} arguments`);
  }
  const filled: Values = {};
  for (const [n, o] of Object.entries(c.options)) {
    const v = values[n] as string | boolean | undefined;
    if (o.choices && typeof v === 'string' && !o.choices.includes(v)) {
      return usageError(io, c.name, `--${n} must be one of ${o.choices.join(', ')}, got "${v}"`);
    }
    filled[n] = v ?? o.default;
  }
  try {
    return await c.run(filled, positionals);
  } catch (e) {
    if (e instanceof UsageError) return usageError(io, c.name, e.message);
    throw e;
  }
}

/** A positive integer option value, or a UsageError naming the option. */
export function positiveInteger(values: Values, name: string): number {
  const text = String(values[name]);
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer, got "${text}"`);
  return n;
}
