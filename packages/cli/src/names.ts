import type { SwitchboardClient } from '@switchboard/client';
import { CliError } from './errors.js';

/** user_id → username, fetched once per user. */
export class NameCache {
  private names = new Map<string, Promise<string>>();
  constructor(private readonly client: SwitchboardClient) {}

  get(userId: string): Promise<string> {
    let p = this.names.get(userId);
    if (!p) {
      p = this.client.getUser(userId).then(
        (u) => u.username,
        () => userId,
      );
      this.names.set(userId, p);
    }
    return p;
  }
}

/** username → user_id; throws for unknown names. */
export async function userIdsOf(client: SwitchboardClient, usernames: string[]): Promise<string[]> {
  return Promise.all(
    usernames.map(async (name) => {
      const u = await client.findUser(name.replace(/^@/, ''));
      if (!u) throw new CliError(`no user named "${name}"`);
      return u.user_id;
    }),
  );
}
