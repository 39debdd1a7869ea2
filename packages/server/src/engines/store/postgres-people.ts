import type pg from 'pg';
import type { ListChange, PeopleStore, ProfilePatch } from './people.js';
import { toUser, type UserRow } from './rows.js';
import { prefixEnd } from './sqlite-people.js';
import type { UserRecord } from './store.js';

/**
 * PostgresStore's people part. Its writes are rare (a profile edit, a contact, a block), so
 * each runs in a transaction of its own on the general pool, holding the user's row lock:
 * two nodes adding at once can never push a list past its bound.
 */
export class PostgresPeople implements PeopleStore {
  constructor(private readonly pool: pg.Pool) {}

  private async tx<T>(userId: string, run: (c: pg.PoolClient, user: UserRow) => Promise<T>): Promise<T | null> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<UserRow>('SELECT * FROM users WHERE id = $1 FOR UPDATE', [userId]);
      if (!rows[0]) {
        await client.query('ROLLBACK');
        return null;
      }
      const out = await run(client, rows[0]);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async setProfile(userId: string, patch: ProfilePatch): Promise<UserRecord | null | 'media_gone'> {
    return this.tx(userId, async (c, before) => {
      // FOR SHARE before any change: an erasure of this media (which locks it FOR UPDATE
      // and then keeps media that is an avatar) either committed first, and the media is
      // gone (nothing changed here), or waits for this commit and then sees the avatar.
      if (patch.avatar && (await c.query('SELECT 1 FROM media WHERE id = $1 FOR SHARE', [patch.avatar.media_id])).rowCount !== 1)
        return 'media_gone' as const;
      if (patch.displayName !== undefined) await c.query('UPDATE users SET display_name = $1 WHERE id = $2', [patch.displayName, userId]);
      if (patch.about !== undefined) await c.query('UPDATE users SET about = $1 WHERE id = $2', [patch.about, userId]);
      if (patch.avatar !== undefined) {
        const id = patch.avatar?.media_id ?? null;
        await c.query('UPDATE users SET avatar = $1, avatar_media_id = $2 WHERE id = $3', [
          patch.avatar ? JSON.stringify(patch.avatar) : null,
          id,
          userId,
        ]);
        // Kept from the orphan sweep while it is an avatar; the one it replaces goes back to the sweep unless a message carries it.
        if (id) await c.query('UPDATE media SET attached = true, pending_since = NULL WHERE id = $1 OR parent_id = $1', [id]);
        const old = toUser(before).avatar?.media_id;
        if (old && old !== id)
          await c.query(
            `UPDATE media SET attached = false WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM media_refs WHERE media_id = $1)
               AND NOT EXISTS (SELECT 1 FROM users WHERE avatar_media_id = $1)`,
            [old],
          );
      }
      const { rows } = await c.query<UserRow>('SELECT * FROM users WHERE id = $1', [userId]);
      return toUser(rows[0]!);
    });
  }

  async usersByPrefix(prefix: string, limit: number): Promise<UserRecord[]> {
    const { rows } = await this.pool.query<UserRow>(
      `SELECT * FROM users WHERE username COLLATE "C" >= $1 AND username COLLATE "C" < $2 AND deleted_at IS NULL
       ORDER BY username COLLATE "C" LIMIT $3`,
      [prefix, prefixEnd(prefix), limit],
    );
    return rows.map(toUser);
  }

  private async addTo(table: 'contacts' | 'blocks', userId: string, otherId: string, at: number, max: number): Promise<ListChange> {
    const [col, atCol] = table === 'contacts' ? ['contact_id', 'added_at'] : ['blocked_id', 'blocked_at'];
    const out = await this.tx(userId, async (c): Promise<ListChange> => {
      const other = await c.query('SELECT 1 FROM users WHERE id = $1', [otherId]);
      if (other.rowCount === 0) return 'no_such_user';
      const has = await c.query(`SELECT 1 FROM ${table} WHERE user_id = $1 AND ${col} = $2`, [userId, otherId]);
      if ((has.rowCount ?? 0) > 0) return 'ok';
      const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE user_id = $1`, [userId]);
      if (rows[0]!.n >= max) return 'too_many';
      await c.query(`INSERT INTO ${table} (user_id, ${col}, ${atCol}) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [userId, otherId, at]);
      return 'ok';
    });
    return out ?? 'no_such_user';
  }

  addContact(userId: string, contactId: string, at: number, max: number): Promise<ListChange> {
    return this.addTo('contacts', userId, contactId, at, max);
  }

  async removeContact(userId: string, contactId: string): Promise<void> {
    await this.pool.query('DELETE FROM contacts WHERE user_id = $1 AND contact_id = $2', [userId, contactId]);
  }

  async contacts(userId: string): Promise<UserRecord[]> {
    const { rows } = await this.pool.query<UserRow>(
      'SELECT u.* FROM contacts c JOIN users u ON u.id = c.contact_id WHERE c.user_id = $1 ORDER BY u.username COLLATE "C"',
      [userId],
    );
    return rows.map(toUser);
  }

  block(userId: string, blockedId: string, at: number, max: number): Promise<ListChange> {
    return this.addTo('blocks', userId, blockedId, at, max);
  }

  async unblock(userId: string, blockedId: string): Promise<void> {
    await this.pool.query('DELETE FROM blocks WHERE user_id = $1 AND blocked_id = $2', [userId, blockedId]);
  }

  async blocked(userId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ blocked_id: string }>(
      'SELECT blocked_id FROM blocks WHERE user_id = $1 ORDER BY blocked_at, blocked_id',
      [userId],
    );
    return rows.map((r) => r.blocked_id);
  }

  async isBlocked(blocker: string, blocked: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM blocks WHERE user_id = $1 AND blocked_id = $2', [blocker, blocked]);
    return (rowCount ?? 0) > 0;
  }

  async blockRelations(userId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      'SELECT blocked_id AS id FROM blocks WHERE user_id = $1 UNION SELECT user_id FROM blocks WHERE blocked_id = $1',
      [userId],
    );
    return rows.map((r) => r.id);
  }

  async blockersAmong(userId: string, candidates: string[]): Promise<string[]> {
    if (candidates.length === 0) return [];
    const { rows } = await this.pool.query<{ user_id: string }>(
      'SELECT user_id FROM blocks WHERE blocked_id = $1 AND user_id = ANY($2::text[])',
      [userId, candidates],
    );
    return rows.map((r) => r.user_id);
  }

  async isAvatar(mediaId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM users WHERE avatar_media_id = $1 LIMIT 1', [mediaId]);
    return (rowCount ?? 0) > 0;
  }
}
