// Agent diagnostics go to stderr, one line each, so stdout stays a clean stream of messages.
// Secrets registered here are masked in every line, whatever code path printed them.

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export class StderrLogger implements Logger {
  private readonly secrets: string[] = [];

  constructor(private readonly write: (line: string) => void = (l) => process.stderr.write(l)) {}

  /** Never print `s` (a key, a token): it is replaced by `***` in every later line. */
  redact(s: string | undefined): void {
    if (s && s.length >= 4) this.secrets.push(s, encodeURIComponent(s));
  }

  info(msg: string): void { this.line('info', msg); }
  warn(msg: string): void { this.line('warn', msg); }
  error(msg: string): void { this.line('error', msg); }

  private line(level: string, msg: string): void {
    let text = msg;
    for (const s of this.secrets) text = text.split(s).join('***');
    this.write(`microtally ${level}: ${text}\n`);
  }
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
