import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { SwitchboardClient } from '@switchboard/client';
import { serverUrl, httpCall } from '../context.js';
import { resolvePassword } from '../prompt.js';
import { saveSession } from '../session-store.js';
import { CliError } from '../errors.js';

export async function login(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { server: { type: 'string' }, password: { type: 'string' }, 'device-name': { type: 'string' } },
  });
  const [username] = positionals;
  if (!username) throw new CliError('usage: switchboard login <username> [--password P] [--device-name X]');
  const password = await resolvePassword(values.password);
  const server = serverUrl(values.server);
  const deviceName = values['device-name'] ?? `cli@${hostname()}`.slice(0, 64);
  const session = await httpCall('login', () => SwitchboardClient.login(server, { username, password, device_name: deviceName }));
  const file = saveSession({ server, username, ...session });
  process.stdout.write(`logged in as ${username} (${session.user_id}), device ${session.device_id}; session saved to ${file}\n`);
  return 0;
}
