#!/usr/bin/env node
import { commands, usage } from './commands/index.js';
import { CliError } from './errors.js';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`switchboard: unknown command "${name}"\n\n${usage()}`);
    return 1;
  }
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    // Commands that leave the event loop busy (serve, listen) never resolve; the rest exit here.
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof CliError) process.stderr.write(`switchboard: ${err.message}\n`);
    else process.stderr.write(`switchboard: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 1;
  },
);
