#!/usr/bin/env node
// Entry point of `microtally`: runs the compiled host (dist/, made by `npm run build`; a packed
// package ships it built).

import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/host/cli.js', import.meta.url);
let main;
try {
  ({ main } = await import(cli.href));
} catch (err) {
  // Only the host itself missing means "not built": a missing dependency deeper down is reported as is.
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(fileURLToPath(cli))) {
    process.stderr.write('microtally: not built yet: run `npm run build` in ' + fileURLToPath(new URL('..', import.meta.url)) + '\n');
    process.exit(1);
  }
  throw err;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`microtally: ${err?.stack ?? err}\n`); process.exitCode = 70; },
);
