import { parseArgs } from 'node:util';
import { SwitchboardClient } from '@switchboard/client';
import { serverUrl, httpCall } from '../context.js';
import { resolvePassword } from '../prompt.js';
import { CliError } from '../errors.js';

export async function register(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { server: { type: 'string' }, 'display-name': { type: 'string' }, password: { type: 'string' } },
  });
  const [username] = positionals;
  if (!username) throw new CliError('usage: switchboard register <username> [--display-name X] [--password P]');
  const password = await resolvePassword(values.password);
  const server = serverUrl(values.server);
  const user = await httpCall('register', () =>
    SwitchboardClient.register(server, { username, password, ...(values['display-name'] ? { display_name: values['display-name'] } : {}) }),
  );
  process.stdout.write(`registered ${user.username} (${user.user_id})\n`);
  return 0;
}
