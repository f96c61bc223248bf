// `microtally bench`: the benchmark report (host/bench/bench.ts).

import type { Command, Values } from './command.js';
import { positiveInteger, UsageError } from './command.js';

export const bench: Command = {
  name: 'bench',
  summary: 'Measures the engines against a native C reference, the cost as the cache fills, the footprint and the IoT Hub quota per scenario.',
  options: {
    json: { type: 'boolean', help: 'print the report as one JSON object' },
    html: { type: 'string', value: 'file', help: 'also write the report as one self-contained HTML page with charts' },
    events: { type: 'string', value: 'n', default: '1000000', help: 'events in the timed gateway trace' },
    'quota-events': { type: 'string', value: 'n', default: '200000', help: 'events per quota scenario' },
    repeat: { type: 'string', value: 'n', default: '5', help: 'runs per engine and round (the best is kept)' },
  },
  notes: `Engines that need something this machine lacks (a C compiler for the native reference, wasm3 and aot;
QEMU and the firmware for qemu and qemu-aot) are skipped with one line on stderr saying what is missing.
Times depend on the machine: the report names it.`,
  run: async (values: Values) => {
    const options = {
      json: values.json === true, html: values.html as string | undefined,
      events: positiveInteger(values, 'events'), quotaEvents: positiveInteger(values, 'quota-events'),
      repeat: positiveInteger(values, 'repeat'),
    };
    if (options.html === '') throw new UsageError('--html needs a file name');
    const { runBench } = await import('../bench/bench.js');
    return runBench(options);
  },
};
