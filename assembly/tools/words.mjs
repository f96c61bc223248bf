// Writes the lines of assembly/words.ts: each static byte string of the core as
//   @lazy export const Name: Lit = memory.data<u8>([length, …UTF-8 bytes], 1); // "text"
// (AssemblyScript would keep a string literal as UTF-16 plus a 20-byte header, and on a
// microcontroller static data is RAM). Usage: node assembly/tools/words.mjs "text" ["text"…]
// prints the lines to add; test/words.test.ts checks every line's bytes against its text.

const PUNCT = { '"': 'Quote', ',': 'Comma', ':': 'Colon', '(': 'Open', ')': 'Close', ';': 'Semi', '.': 'Dot',
  '\\': 'Backslash', "'": 'Apos', '-': 'Dash', '{': 'Brace', '}': 'Unbrace', '[': 'Bracket', ']': 'Unbracket' };

const RESERVED = new Set(['false', 'in', 'null', 'true']);

/**
 * An identifier naming the text: its words joined, each after the first capitalised (the
 * first keeps its case, so "bytesIn" and "BytesIn" stay apart), punctuation spelled out; a
 * JSON string value ("\"tcp\"") is named by its content after `json`.
 */
export function nameOf(text) {
  const quoted = text.length > 1 && text.startsWith('"');
  const body = quoted ? text.slice(1, text.endsWith('"') ? -1 : undefined) : text;
  let name = quoted ? 'json' : '';
  for (const part of body.match(/[A-Za-z0-9]+|[^A-Za-z0-9]/g) ?? []) {
    if (/^[A-Za-z0-9]+$/.test(part)) name += name === '' ? part : part[0].toUpperCase() + part.slice(1);
    else if (PUNCT[part]) name += PUNCT[part];
  }
  if (name === '') return 'empty';
  if (/^[0-9]/.test(name)) name = 'w' + name;
  if (RESERVED.has(name)) name += 'Word';
  return name.slice(0, 48);
}

export function lineOf(name, text) {
  const bytes = [...Buffer.from(text, 'utf8')];
  if (bytes.length > 255) throw new Error(`longer than 255 bytes: ${text}`);
  return `@lazy export const ${name}: Lit = memory.data<u8>([${[bytes.length, ...bytes].join(', ')}], 1); // ${JSON.stringify(text)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const text of process.argv.slice(2)) console.log(lineOf(nameOf(text), text));
}
