import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { SwitchboardApi, SwitchboardClient } from '@switchboard/client';
import { serverUrl, httpCall } from '../context.js';
import { resolvePassword } from '../prompt.js';
import { saveSession } from '../session-store.js';
import { CliError } from '../errors.js';

const USAGE = 'usage: switchboard login <username> [--password P] [--device-name X] | switchboard login --assertion JWT [--device-name X]';

export async function login(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      password: { type: 'string' },
      'device-name': { type: 'string' },
      assertion: { type: 'string' },
    },
  });
  const [username] = positionals;
  const server = serverUrl(values.server);
  const deviceName = values['device-name'] ?? `cli@${hostname()}`.slice(0, 64);
  // A token the host app signed (PROTOCOL.md "Signing in from your own app"): --assertion, or SWITCHBOARD_ASSERTION.
  const assertion = values.assertion ?? (username ? undefined : process.env.SWITCHBOARD_ASSERTION || undefined);
  if (assertion !== undefined) {
    if (username) throw new CliError(USAGE);
    const session = await httpCall('login', () => SwitchboardClient.loginWithAssertion(server, { assertion, device_name: deviceName }));
    const me = await httpCall('login', () => new SwitchboardApi(server, session.token).me());
    const file = saveSession({ server, username: me.username, ...session });
    process.stdout.write(`logged in as ${me.username} (${session.user_id}), device ${session.device_id}; session saved to ${file}\n`);
    return 0;
  }
  if (!username) throw new CliError(USAGE);
  const password = await resolvePassword(values.password);
  const session = await httpCall('login', () => SwitchboardClient.login(server, { username, password, device_name: deviceName }));
  const file = saveSession({ server, username, ...session });
  process.stdout.write(`logged in as ${username} (${session.user_id}), device ${session.device_id}; session saved to ${file}\n`);
  return 0;
}
