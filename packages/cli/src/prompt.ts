import { createInterface } from 'node:readline';
import { CliError } from './errors.js';

/** Reads a password from the terminal without echoing it. */
export function promptPassword(label = 'Password: '): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    // Piped: read the first line.
    return new Promise((resolve, reject) => {
      const rl = createInterface({ input });
      rl.once('line', (line) => {
        rl.close();
        resolve(line);
      });
      rl.once('close', () => reject(new CliError('no password given (use --password, SWITCHBOARD_PASSWORD or a terminal)')));
    });
  }
  return new Promise((resolve) => {
    process.stderr.write(label);
    input.setRawMode(true);
    input.resume();
    let value = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          input.setRawMode(false);
          input.pause();
          input.off('data', onData);
          process.stderr.write('\n');
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          input.setRawMode(false);
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}

/** --password, then $SWITCHBOARD_PASSWORD, then a prompt. */
export async function resolvePassword(flag: string | undefined): Promise<string> {
  if (flag !== undefined) return flag;
  if (process.env.SWITCHBOARD_PASSWORD) return process.env.SWITCHBOARD_PASSWORD;
  return promptPassword();
}
