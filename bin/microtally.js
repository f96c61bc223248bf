#!/usr/bin/env node
// Entry point of `npx microtally`: runs the compiled host (npm run build makes dist/).
import { main } from '../dist/host/cli.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`microtally: ${err?.stack ?? err}\n`); process.exitCode = 2; },
);
