// `microtally decode`: a CBOR sequence (replay --format cbor, or a device with messageFormat
// "cbor") back to the JSON lines --format json prints (host/decode.ts).

import type { Command, Values } from './command.js';

export const decode: Command = {
  name: 'decode',
  summary: 'Reads a CBOR sequence of messages (docs/CBOR.md) and prints each as the JSON line `replay --format json` prints.',
  positionals: { names: '[<file>|-]', min: 0, max: 1 },
  options: {},
  notes: `The sequence is read from its start (a message split by packing is joined again). Exit status: 0 done,
1 malformed input (what was decoded before it is printed), 2 usage error, 74 the input could not be read.`,
  run: async (_values: Values, positionals: string[]) => {
    const { decodeFile } = await import('../decode.js');
    return decodeFile(positionals[0] ?? '-');
  },
};
