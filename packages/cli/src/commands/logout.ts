import { SwitchboardHttpError } from '@switchboard/client';
import { sessionClient } from '../context.js';
import { deleteSession } from '../session-store.js';

export async function logout(): Promise<number> {
  const { client, session } = sessionClient();
  try {
    await client.logout();
  } catch (err) {
    // An already revoked token still means "logged out" here.
    if (!(err instanceof SwitchboardHttpError && err.status === 401)) throw err;
  }
  deleteSession();
  process.stdout.write(`logged out ${session.username}\n`);
  return 0;
}
