// Agent diagnostics go to stderr, one line each with its UTC time and level, so stdout stays a
// clean stream of messages. Secrets are masked in every line, whatever code path printed them:
// the values registered with `redact` (in every encoding they may be printed in), and by their
// shape, URL passwords (`scheme://user:…@`, percent-encoded or not) and SAS keys and signatures.

export interface Logger {
  debug?(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const MASK = '***';

/** Masks secrets recognisable by their shape: URL passwords and IoT Hub SAS keys and signatures. */
export function maskSecretShapes(text: string): string {
  return text
    // scheme://user:password@host: the password, whatever its encoding
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)[^@\s/]*@/gi, `$1${MASK}@`)
    // connection strings: SharedAccessKey=…, SharedAccessSignature=… (up to ; or the end of the word)
    .replace(/(SharedAccess(?:Key|Signature)\s*[=:]\s*)[^;\s"',]+/gi, `$1${MASK}`)
    // SAS tokens: sig=… (also percent-encoded: sig%3D…)
    .replace(/(\bsig(?:=|%3D))[^&\s;"',]+/gi, `$1${MASK}`);
}

/** Literal forms a secret may be printed in besides percent-encoding: as is, base64, JSON-escaped. */
function encodings(s: string): string[] {
  return [...new Set([s, JSON.stringify(s).slice(1, -1), Buffer.from(s).toString('base64')])].filter((f) => f.length >= 4);
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A pattern matching `s` with any of its characters percent-encoded or not (either case of hex
 * digits; a space also as `+`): every way a URL or form may spell it.
 */
function percentPattern(s: string): RegExp {
  const parts = [...s].map((ch) => {
    const bytes = [...Buffer.from(ch)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
    const alts = [escapeRegExp(ch), bytes.replace(/[a-f]/g, (h) => `[${h}${h.toUpperCase()}]`)];
    if (ch === ' ') alts.push('\\+');
    return `(?:${alts.join('|')})`;
  });
  return new RegExp(parts.join(''), 'g');
}

/** Masks the given secrets (in every encoding) and everything shaped like one. */
export class SecretMask {
  private readonly secrets: string[] = [];
  private readonly patterns: RegExp[] = [];

  add(s: string | undefined): void {
    if (!s || s.length < 4) return;
    let decoded = s;
    try { decoded = decodeURIComponent(s); } catch { /* not percent-encoded */ }
    for (const v of new Set([s, decoded])) {
      for (const f of encodings(v)) if (!this.secrets.includes(f)) this.secrets.push(f);
      this.patterns.push(percentPattern(v));
    }
    this.secrets.sort((a, b) => b.length - a.length); // longest first, so no part of one survives
  }

  apply(text: string): string {
    let out = text;
    for (const p of this.patterns) out = out.replace(p, MASK);
    for (const s of this.secrets) out = out.split(s).join(MASK);
    return maskSecretShapes(out);
  }
}

export class StderrLogger implements Logger {
  readonly mask = new SecretMask();
  private min = 1;

  constructor(private readonly write: (line: string) => void = (l) => process.stderr.write(l),
    private readonly clock: () => Date = () => new Date()) {}

  /** Never print `s` (a key, a token, a password): it is replaced by `***` in every later line. */
  redact(s: string | undefined): void { this.mask.add(s); }

  /** Lines below this level are not written (default info). */
  setLevel(level: LogLevel): void { this.min = LOG_LEVELS.indexOf(level); }

  debug(msg: string): void { this.line(0, msg); }
  info(msg: string): void { this.line(1, msg); }
  warn(msg: string): void { this.line(2, msg); }
  error(msg: string): void { this.line(3, msg); }

  private line(level: number, msg: string): void {
    if (level < this.min) return;
    this.write(`${this.clock().toISOString()} microtally ${LOG_LEVELS[level]}: ${this.mask.apply(msg)}\n`);
  }
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
