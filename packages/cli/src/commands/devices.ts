import { sessionClient, httpCall } from '../context.js';
import { CliError } from '../errors.js';
import { time } from '../format.js';

const USAGE = `usage:
  switchboard devices                 lists this account's signed-in devices
  switchboard devices revoke <id>     signs that device out (its sockets close)`;

export async function devices(args: string[]): Promise<number> {
  const [sub, id] = args;
  const { client } = sessionClient();
  if (sub === undefined) {
    for (const d of await httpCall('devices', () => client.devices())) {
      const mark = d.current ? '*' : ' ';
      process.stdout.write(`${mark} ${d.device_id}  ${d.name}  signed in ${time(d.created_at)}  last active ${time(d.last_active_at)}\n`);
    }
    return 0;
  }
  if (sub === 'revoke' && id) {
    await httpCall('devices revoke', () => client.revokeDevice(id));
    process.stdout.write(`revoked ${id}\n`);
    return 0;
  }
  throw new CliError(USAGE);
}
