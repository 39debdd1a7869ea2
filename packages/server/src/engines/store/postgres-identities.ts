import type pg from 'pg';
import type { UserRecord } from './store.js';
import type { ExternalIdentities } from './identities.js';
import { toUser, type UserRow } from './rows.js';
import { recordEventPg } from './postgres-webhook-outbox.js';
import { userData } from './sqlite-webhook-outbox.js';

/**
 * PostgresStore's external identities. Rare writes (a user's first sign-in), so a plain
 * transaction on the store's general pool. Two nodes creating the same (issuer, subject) at
 * once: the second's identity insert waits on the first's unique-index entry, finds it
 * committed, rolls its own user back and answers the first's.
 */
export class PostgresIdentities implements ExternalIdentities {
  constructor(private readonly pool: pg.Pool) {}

  async userOf(issuer: string, subject: string): Promise<UserRecord | null> {
    const { rows } = await this.pool.query<UserRow>(
      'SELECT u.* FROM external_identities e JOIN users u ON u.id = e.user_id WHERE e.issuer = $1 AND e.subject = $2',
      [issuer, subject],
    );
    return rows[0] ? toUser(rows[0]) : null;
  }

  async create(user: Omit<UserRecord, 'lastSeen'>, issuer: string, subject: string): Promise<UserRecord | 'username_taken'> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const made = await client.query(
        `INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (username) DO NOTHING`,
        [user.id, user.username, user.displayName, user.passwordHash, user.createdAt],
      );
      if (made.rowCount === 0) {
        await client.query('ROLLBACK');
        return 'username_taken';
      }
      const linked = await client.query(
        `INSERT INTO external_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (issuer, subject) DO NOTHING`,
        [issuer, subject, user.id, user.createdAt],
      );
      if (linked.rowCount === 0) {
        await client.query('ROLLBACK');
        const first = await this.userOf(issuer, subject);
        if (!first) throw new Error('external identity vanished while being created');
        return first;
      }
      // Rare writes: recorded for every webhook that wants it, without the recording-set shortcut.
      await recordEventPg(client, 'user.created', userData(user), user.createdAt);
      await client.query('COMMIT');
      return { ...user, lastSeen: null };
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release(broken);
    }
  }
}
