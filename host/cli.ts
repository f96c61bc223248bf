// `microtally` command line (SPEC R11). It only finds the command and hands it its arguments;
// each command is one entry of COMMANDS (a module under commands/), parsed by commands/command.ts.

import { helpText, runCommand, synopsis, usageError, PROGRAM, type Command, type Io } from './commands/command.js';
import { bench } from './commands/bench.js';
import { decode } from './commands/decode.js';
import { replay } from './commands/replay.js';
import { run } from './commands/run.js';
import { keygen, sign, verify } from './commands/update.js';
import { VERSION } from './version.js';

/** Every command, in the order `microtally --help` lists them. Add a command here. */
export const COMMANDS: readonly Command[] = [replay, run, bench, decode, keygen, sign, verify];

const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

export function programHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return `usage: ${PROGRAM} <command> [options]    (${PROGRAM} <command> --help for its options)\n\n` +
    COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}\n`).join('') +
    `\n  ${PROGRAM} --version    prints the version\n\n` + COMMANDS.map((c) => `${synopsis(c)}\n`).join('');
}

export { helpText };

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    if (rest.length > 0) return usageError(io, undefined, '--version takes no arguments');
    io.out(`${VERSION}\n`);
    return 0;
  }
  if (name === '--help' || name === '-h' || name === 'help') { io.out(programHelp()); return 0; }
  if (name === undefined) { io.err(programHelp()); return 2; }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    return usageError(io, undefined, name.startsWith('-') ? `unknown option "${name}" (a command comes first: ${COMMANDS.map((c) => c.name).join(', ')})`
      : `unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
  }
  return runCommand(command, rest, io);
}
