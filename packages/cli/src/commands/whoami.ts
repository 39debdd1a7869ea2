import { sessionClient, httpCall } from '../context.js';

export async function whoami(): Promise<number> {
  const { client, session } = sessionClient();
  const me = await httpCall('whoami', () => client.me());
  process.stdout.write(`${me.username} (${me.user_id}) "${me.display_name}" on ${session.server}, device ${session.device_id}\n`);
  return 0;
}
