// `microtally decode`: a CBOR sequence (replay --format cbor, or a device with messageFormat
// "cbor") back to the JSON lines --format json prints (host/decode.ts), as the input arrives.

import { writeSync } from 'node:fs';
import { IoError, openTrace, type TraceInput } from '../engines/v8.js';
import type { Command, Values } from './command.js';
import { FdWriter, ioFailure } from './output.js';

export const decode: Command = {
  name: 'decode',
  summary: 'Reads a CBOR sequence of messages (docs/CBOR.md) and prints each as the JSON line `replay --format json` prints.',
  positionals: { names: '[<file>|-]', min: 0, max: 1 },
  options: {},
  notes: `The sequence is read from its start (a message split by packing is joined again), and each message is
printed as soon as it has been read. A message is at most 262,144 bytes and 5 levels deep, and every value
is held to the layout's bounds (docs/CBOR.md, "What decode accepts"). Exit status: 0 done, 1 malformed
input or a value out of bounds (one line names it; what was decoded before it is printed), 2 usage error,
74 the input could not be read or the output not written.`,
  run: async (_values: Values, positionals: string[]) => runDecode(positionals[0] ?? '-'),
};

async function runDecode(path: string): Promise<number> {
  const { DecodeError, SequenceDecoder } = await import('../decode.js');
  const stdout = new FdWriter(1, 'stdout', 64 << 10);
  let input: TraceInput;
  try {
    input = openTrace(path);
  } catch (e) {
    if (e instanceof IoError) return ioFailure(e);
    throw e;
  }
  const decoder = new SequenceDecoder((text) => stdout.write(text));
  try {
    try {
      for await (const chunk of input.chunks()) {
        decoder.push(chunk);
        stdout.flush(); // what this piece completed goes out before the next is read
      }
      decoder.end();
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      decoder.abort();
      stdout.flush();
      try { writeSync(2, `microtally: decode: ${e.message}\n`); } catch { /* stderr itself is gone */ }
      return 1;
    }
    stdout.flush();
    return 0;
  } catch (e) {
    if (e instanceof IoError) return ioFailure(e);
    throw e;
  } finally {
    input.close();
  }
}
