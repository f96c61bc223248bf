// Agent diagnostics go to stderr, one line each with its UTC time and level, so stdout stays a
// clean stream of messages. Secrets are masked in every line, whatever code path printed them,
// and in every command line the agent reports: the values registered with `redact` (in every
// encoding they may be printed in), and anything shaped like a secret (SECRET_SHAPES).

export interface Logger {
  debug?(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const MASK = '***';

/** Names whose value is a secret in `name=value`, `name: value`, `"name":"value"`, `name%3Dvalue` and the like. */
// (after `%3B` too; `DB_PASSWORD` counts, `/etc/passwd` does not; a bare `pass` only as an option, `-pass x`;
// `API_TOKEN`, `client_secret` count, but only with `=` or quoted: "the SAS token: reconnecting" is prose)
const SECRET_NAMES = /(?<=^|[^a-z0-9]|%[0-9a-f]{2})(?:SharedAccessKey|SharedAccessSignature|sig|Authorization)(?![a-z0-9])|(?<!\/)pass(?:word|wd)?(?![a-z0-9])|(?:token|secret)(?![a-z0-9])/gi;
/** HTTP authentication schemes: `Authorization: Bearer x` keeps `Bearer ` and masks `x`; any other first word is the credential. */
const AUTH_SCHEME = /^(?:Basic|Bearer|Digest|DPoP|HOBA|Mutual|Negotiate|NTLM|OAuth|SCRAM-SHA-1|SCRAM-SHA-256|vapid|token|SharedAccessSignature|AWS4-HMAC-SHA256) +(?=[^\s"'\\])/i;
/** What ends a credential in an `Authorization` value that is not quoted itself (`-H 'Authorization: Bearer x'`). */
const CREDENTIAL_END = /[\s"'\\]/g;
/** Before the name, an option whose next word is a password: `--password x`, `--mqtt-password x`, `-pass x`, `--api-token x`. */
const OPTION_START = /(?:^|\s)-{1,2}(?:[a-z0-9_-]*-)?$/i;
const OPTION_AFTER_SPACE = /\s-{1,2}(?:[a-z0-9_-]*-)?$/i;
/** Between a name and its value: a closing quote, then `=` or `:` (either maybe percent-encoded), then an opening quote. */
const SEPARATOR = /^(\\?["']|%2[27])?\s*(=|:|%3D|%3A)\s*(\\?["']|%2[27])?/i;
/** What ends an unquoted value: white space, a quote, `;`, `&`, `,`, `}`, or one of those percent-encoded. */
const VALUE_END = /[\s"';&,}]|%(?:2[0267C]|3B|7D)|\\["']/gi;

/** Masks each `name=value` (in the SEPARATOR forms) and `--password value`. */
function maskNamedValues(text: string): string {
  let out = '';
  let from = 0;
  SECRET_NAMES.lastIndex = 0;
  for (let m = SECRET_NAMES.exec(text); m; m = SECRET_NAMES.exec(text)) {
    const nameEnd = m.index + m[0].length;
    if (nameEnd < from) continue;
    let start: number;
    let end: number;
    const lo = Math.max(0, m.index - 64); // an option's name is short: no scan back over a long word
    const tokenLike = /^(?:token|secret)$/i.test(m[0]);
    const isOption = /^(?:pass|token|secret)/i.test(m[0]) && (lo === 0 ? OPTION_START : OPTION_AFTER_SPACE).test(text.slice(lo, m.index));
    if (/^pass$/i.test(m[0]) && !isOption) continue;
    const sep = SEPARATOR.exec(text.slice(nameEnd, nameEnd + 16));
    if (sep && tokenLike && !isOption && !/=|%3D/i.test(sep[2]) && sep[1] === undefined && sep[3] === undefined) continue;
    if (sep && /^authorization$/i.test(m[0])) {
      start = nameEnd + sep[0].length;
      const scheme = AUTH_SCHEME.exec(text.slice(start, start + 32));
      if (scheme) start += scheme[0].length;
      if (sep[3] !== undefined) {
        const close = text.indexOf(sep[3], start);
        end = close < 0 ? text.length : close;
      } else {
        CREDENTIAL_END.lastIndex = start;
        end = CREDENTIAL_END.exec(text)?.index ?? text.length;
        // a first word that is no scheme we know may be one we do not: its next word goes too
        if (!scheme && end > start && text[end] === ' ' && /[^\s"'\\]/.test(text[end + 1] ?? ' ')) {
          CREDENTIAL_END.lastIndex = end + 1;
          end = CREDENTIAL_END.exec(text)?.index ?? text.length;
        }
      }
    } else if (sep && sep[3] !== undefined) {
      // quoted: up to the same quote, or to the end of the text when it is not closed
      start = nameEnd + sep[0].length;
      const close = text.indexOf(sep[3], start);
      end = close < 0 ? text.length : close;
    } else if (sep) {
      start = nameEnd + sep[0].length;
      // an option's value (`--password=a;b`) runs to the end of the word
      if (isOption) end = indexOfSpace(text, start);
      else {
        VALUE_END.lastIndex = start;
        end = VALUE_END.exec(text)?.index ?? text.length;
      }
    } else if (isOption && (tokenLike ? /^\s[^\s-]/ : /^\s\S/).test(text.slice(nameEnd, nameEnd + 2))) {
      start = nameEnd + 1;
      end = indexOfSpace(text, start);
    } else {
      continue;
    }
    if (end === start) continue;
    out += text.slice(from, start) + MASK;
    from = end;
    SECRET_NAMES.lastIndex = end;
  }
  return out + text.slice(from);
}

/**
 * Masks the password of `scheme://user:password@host`: everything from the colon to the last `@`
 * of the word, so a `/`, `@` or `:` in it hides nothing; percent-encoded or not. When the word has
 * no `@` and what follows the colon is not a port, the password had a space in it: masked up to
 * the next `@` (or the end of the word when there is none).
 */
function maskUrlPasswords(text: string): string {
  let out = '';
  let from = 0;
  // Searches only move forward (linear time, whatever the text): the first `needle` at or after p.
  const cursor = (needle: string): ((p: number) => number) => {
    let found = -1;
    return (p) => {
      if (found !== Infinity && found < p) found = text.indexOf(needle, p) >= 0 ? text.indexOf(needle, p) : Infinity;
      return found;
    };
  };
  const atFrom = cursor('@');
  const urlFrom = cursor('://');
  let wordEnd = -1;
  let lastAt = -1; // the last `@` of the current word
  const delimiter = /[:/?#[\s]/g;
  const port = /\d*(?=[/?#\s:.,;)\]}'"]|$)/y; // `host:8883/`, `host:8883: refused`, `(host:8883)`
  for (let at = urlFrom(0); at < text.length; at = urlFrom(Math.max(at + 3, from))) {
    if (at === 0 || !/[a-z0-9+.-]/i.test(text[at - 1]) || at < from) continue;
    if (at + 3 > wordEnd) {
      wordEnd = indexOfSpace(text, at + 3);
      lastAt = -1;
      for (let k = atFrom(at + 3); k < wordEnd; k = atFrom(k + 1)) lastAt = k;
    }
    delimiter.lastIndex = at + 3;
    const colon = delimiter.exec(text)?.index ?? -1;
    if (colon < 0 || text[colon] !== ':') continue;
    const start = colon + 1;
    let end = lastAt;
    if (end < start) {
      port.lastIndex = start;
      if (port.test(text)) continue; // host:port
      const nextAt = atFrom(wordEnd);
      end = nextAt < urlFrom(wordEnd) ? nextAt : wordEnd;
    }
    if (end === start) continue;
    out += text.slice(from, start) + MASK;
    from = end;
  }
  return out + text.slice(from);
}

/**
 * A proxy URL's userinfo, the user name too (`http://token@proxy:3128`: a proxy may take a user
 * name alone as its credential): the URL of `HTTPS_PROXY=`, `http_proxy=` and the like, and of
 * `--proxy`, `--https-proxy=` and the like. Elsewhere a user name stays (`mqtt://user@host`).
 */
const PROXY_USERINFO = /(?<=(?:^|[\s"';])(?:[a-z_]*proxy\s*=\s*|--[a-z-]*proxy(?:=|\s+))["']?[a-z][a-z0-9+.-]*:\/\/)[^\s/?#"']+(?=@)/gi;

/**
 * One-letter password options of the programs that have one, and `-u`/`--user user:password`.
 * An option counts only after its program's name (and before a `;`, `|`, `||` or `&&` word), once:
 * `ssh -p 22` and `docker run -p 8080:80` give a port, `mkdir -p` and `cp -pr` no value at all.
 * Groups: 1 the program takes `-p` attached only (`mysql -p db` asks for the password and opens db),
 * 2 `-p`, 3 `-P`, 4 `-a` (attached or the next word), 5 a command separator, 6 an option letter,
 * 7 a user option.
 */
const SHORT_OPTIONS = /(?<=^|[\s/'"])(?:(mysql[a-z_]*|mariadb(?:-[a-z]+)?)|(sshpass|login)|(mosquitto_(?:pub|sub|rr))|(redis-cli))(?=$|[\s'"])|(?<=^|\s)(?:(;|&&|\|\|?)(?=\s|$)|-([pPa])|(-u|--(?:[a-z0-9_-]*-)?user(?=[=\s]|$)))/g;
const OWNERS: ReadonlyArray<{ letter: string; nextWord: boolean }> = [
  { letter: 'p', nextWord: false }, { letter: 'p', nextWord: true }, { letter: 'P', nextWord: true }, { letter: 'a', nextWord: true },
];

/** Masks `mysql -pS`, `sshpass -p S`, `docker login -p S`, `mosquitto_pub -P S`, `redis-cli -a S`, and `curl -u user:S`. */
function maskShortOptions(text: string): string {
  let out = '';
  let from = 0;
  let owner: { letter: string; nextWord: boolean } | undefined;
  SHORT_OPTIONS.lastIndex = 0;
  for (let m = SHORT_OPTIONS.exec(text); m; m = SHORT_OPTIONS.exec(text)) {
    const k = [1, 2, 3, 4].find((g) => m![g] !== undefined);
    if (k !== undefined) { owner = OWNERS[k - 1]; continue; }
    if (m[5] !== undefined) { owner = undefined; continue; }
    const after = m.index + m[0].length;
    let start = -1;
    if (m[6] !== undefined) {
      if (!owner || m[6] !== owner.letter) continue;
      if (after < text.length && !/\s/.test(text[after])) start = after;
      else if (owner.nextWord && /^\s[^\s-]/.test(text.slice(after, after + 2))) start = after + 1;
      owner = undefined;
    } else {
      // the value is `user:password` (curl): the password from its first colon
      let word = -1;
      if (text[after] === '=') word = after + 1;
      else if (m[7] === '-u' && after < text.length && !/\s/.test(text[after])) word = after; // -uuser:password
      else if (/^\s[^\s-]/.test(text.slice(after, after + 2))) word = after + 1;
      if (word < 0) continue;
      const colon = text.slice(word, indexOfSpace(text, word)).indexOf(':');
      if (colon >= 0) start = word + colon + 1;
    }
    if (start < 0) continue;
    const end = indexOfSpace(text, start);
    if (end === start) continue;
    out += text.slice(from, start) + MASK;
    from = end;
    SHORT_OPTIONS.lastIndex = end;
  }
  return out + text.slice(from);
}

function indexOfSpace(text: string, from: number): number {
  const e = /\s/g;
  e.lastIndex = from;
  return e.exec(text)?.index ?? text.length;
}

/**
 * The shapes masked whatever their value, each with the example the README lists (README
 * "Secrets"; test/agent/secrets.test.ts keeps the two equal) and what it becomes.
 */
export const SECRET_SHAPES: ReadonlyArray<{ example: string; masked: string }> = [
  { example: 'mqtt://user:pa/ss@w:rd@host', masked: 'mqtt://user:***@host' },
  { example: 'mqtt://user:pa%40ss@host', masked: 'mqtt://user:***@host' },
  { example: 'mqtt://user:pa ss@host', masked: 'mqtt://user:***@host' },
  { example: 'HTTPS_PROXY=http://S@proxy:3128', masked: 'HTTPS_PROXY=http://***@proxy:3128' },
  { example: '--proxy http://user:S@proxy:3128', masked: '--proxy http://***@proxy:3128' },
  { example: 'HostName=h;DeviceId=d;SharedAccessKey=S', masked: 'HostName=h;DeviceId=d;SharedAccessKey=***' },
  { example: 'SharedAccessKey%3DS%3B', masked: 'SharedAccessKey%3D***%3B' },
  { example: '{"SharedAccessKey":"S"}', masked: '{"SharedAccessKey":"***"}' },
  { example: '{\\"SharedAccessKey\\": \\"S\\"}', masked: '{\\"SharedAccessKey\\": \\"***\\"}' },
  { example: "SharedAccessKey='S'", masked: "SharedAccessKey='***'" },
  { example: 'SharedAccessKey: S', masked: 'SharedAccessKey: ***' },
  { example: 'SharedAccessSignature=S', masked: 'SharedAccessSignature=***' },
  { example: 'sr=h&sig=S&se=1', masked: 'sr=h&sig=***&se=1' },
  { example: 'sig%3DS%26', masked: 'sig%3D***%26' },
  { example: 'password=S', masked: 'password=***' },
  { example: 'DB_PASSWORD="S"', masked: 'DB_PASSWORD="***"' },
  { example: 'passwd: S', masked: 'passwd: ***' },
  { example: '--password S', masked: '--password ***' },
  { example: '--password=S;T', masked: '--password=***' },
  { example: '-pass S', masked: '-pass ***' },
  { example: 'curl -u user:S', masked: 'curl -u user:***' },
  { example: 'curl --user=user:S', masked: 'curl --user=user:***' },
  { example: 'mysql -pS', masked: 'mysql -p***' },
  { example: 'sshpass -p S', masked: 'sshpass -p ***' },
  { example: 'docker login -p S', masked: 'docker login -p ***' },
  { example: 'mosquitto_pub -P S', masked: 'mosquitto_pub -P ***' },
  { example: 'redis-cli -a S', masked: 'redis-cli -a ***' },
  { example: 'Authorization: Bearer S', masked: 'Authorization: Bearer ***' },
  { example: 'Authorization: Basic S', masked: 'Authorization: Basic ***' },
  { example: '{"Authorization":"S"}', masked: '{"Authorization":"***"}' },
  { example: '--token S', masked: '--token ***' },
  { example: '--api-token=S', masked: '--api-token=***' },
  { example: 'API_TOKEN=S', masked: 'API_TOKEN=***' },
  { example: '--client-secret S', masked: '--client-secret ***' },
];

/** Masks secrets recognisable by their shape (SECRET_SHAPES): URL passwords, SAS keys and signatures, passwords, tokens. */
export function maskSecretShapes(text: string): string {
  return maskShortOptions(maskNamedValues(maskUrlPasswords(text).replace(PROXY_USERINFO, MASK)));
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const hexAlternatives = (n: number, width: number): string =>
  n.toString(16).padStart(width, '0').replace(/[a-f]/g, (h) => `[${h}${h.toUpperCase()}]`);

/**
 * A pattern matching `s` with each character as is, percent-encoded (either case of hex digits;
 * a space also as `+`) or JSON-escaped (`\u00xx`, `\/`, `\"`, `\\`): every way a URL, a form
 * or a JSON text may spell it.
 */
function spellings(s: string): string {
  return [...s].map((ch) => {
    const alts = [escapeRegExp(ch), [...Buffer.from(ch)].map((b) => `%${hexAlternatives(b, 2)}`).join('')];
    for (let i = 0; i < ch.length; i++) alts.push(`\\\\u${hexAlternatives(ch.charCodeAt(i), 4)}`);
    if (ch === ' ') alts.push('\\+');
    if (ch === '/' || ch === '"' || ch === '\\') alts.push(`\\\\${escapeRegExp(ch)}`);
    return `(?:${alts.join('|')})`;
  }).join('');
}

/** `s` in base64: padded, unpadded, and base64url. */
function base64Forms(bytes: Buffer): string[] {
  const b64 = bytes.toString('base64');
  return [b64, b64.replace(/=+$/, ''), bytes.toString('base64url')];
}

/**
 * Every form a secret may be printed in: as given, its base64 and hex, and when it is itself
 * base64 (a SAS key), also without its padding, as base64url and as the hex of its bytes.
 */
export function secretForms(s: string): { text: string[]; hex: string[] } {
  const text = [s, ...base64Forms(Buffer.from(s))];
  const hex = [Buffer.from(s).toString('hex')];
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(s) && s.length % 4 === 0) {
    const bytes = Buffer.from(s, 'base64');
    text.push(...base64Forms(bytes));
    hex.push(bytes.toString('hex'));
  }
  return { text: [...new Set(text)], hex: [...new Set(hex)] };
}

/** Masks the given secrets (in every encoding) and everything shaped like one. */
export class SecretMask {
  private readonly forms = new Set<string>();
  private readonly patterns: Array<{ re: RegExp; length: number }> = [];

  add(s: string | undefined): void {
    if (!s || s.length < 4) return;
    let decoded = s;
    try { decoded = decodeURIComponent(s); } catch { /* not percent-encoded */ }
    const added: Array<[string, string]> = [];
    for (const v of new Set([s, decoded])) {
      const { text, hex } = secretForms(v);
      for (const f of text) added.push([f, '']);
      for (const f of hex) added.push([f, 'i']);
    }
    for (const [f, flags] of added) {
      if (f.length < 4 || this.forms.has(f + flags)) continue;
      this.forms.add(f + flags);
      this.patterns.push({ re: new RegExp(spellings(f), `g${flags}`), length: f.length });
    }
    this.patterns.sort((a, b) => b.length - a.length); // longest first, so no part of one survives a shorter one's mask
  }

  apply(text: string): string {
    let out = text;
    for (const p of this.patterns) out = out.replace(p.re, MASK);
    return maskSecretShapes(out);
  }
}

/** How log lines are written: `text` (time, level, message) or `json` (one object a line). */
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The syslog priority of each level (sd-daemon(3): `<N>` before a line the journal reads). */
const PRIORITIES = [7, 6, 4, 3];

export class StderrLogger implements Logger {
  readonly mask = new SecretMask();
  private min = 1;
  private format: LogFormat = 'text';
  private journal = false;

  constructor(private readonly write: (line: string) => void = (l) => process.stderr.write(l),
    private readonly clock: () => Date = () => new Date()) {}

  /** Never print `s` (a key, a token, a password): it is replaced by `***` in every later line. */
  redact(s: string | undefined): void { this.mask.add(s); }

  /** Lines below this level are not written (default info). */
  setLevel(level: LogLevel): void { this.min = LOG_LEVELS.indexOf(level); }

  /**
   * `json` writes one object a line; `journal` (stderr is the journal) puts each line's priority
   * first, `<3>` to `<7>`, and leaves the time to the journal.
   */
  setFormat(format: LogFormat, journal: boolean): void { this.format = format; this.journal = journal; }

  debug(msg: string): void { this.line(0, msg); }
  info(msg: string): void { this.line(1, msg); }
  warn(msg: string): void { this.line(2, msg); }
  error(msg: string): void { this.line(3, msg); }

  private line(level: number, msg: string): void {
    if (level < this.min) return;
    const text = this.mask.apply(msg);
    const prefix = this.journal ? `<${PRIORITIES[level]}>` : '';
    if (this.format === 'json') {
      this.write(`${prefix}${JSON.stringify({ time: this.clock().toISOString(), level: LOG_LEVELS[level], message: text })}\n`);
    } else if (this.journal) {
      // The journal reads each line on its own (and names the service itself): every line its priority.
      this.write(text.split('\n').map((l) => `${prefix}${LOG_LEVELS[level]}: ${l}\n`).join(''));
    } else {
      this.write(`${this.clock().toISOString()} microtally ${LOG_LEVELS[level]}: ${text}\n`);
    }
  }
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
