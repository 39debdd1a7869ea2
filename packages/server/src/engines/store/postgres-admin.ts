import type pg from 'pg';
import { recordEventPg } from './postgres-webhook-outbox.js';
import { userData } from './sqlite-webhook-outbox.js';
import {
  BOT_PASSWORD_HASH,
  reportData,
  deletedUsername,
  prefixChars,
  toAdminUser,
  toReport,
  type AdminStore,
  type AdminUserRecord,
  type ReportCursor,
  type ReportRecord,
} from './admin-store.js';
import type { DeviceRecord, UserRecord } from './store.js';

/**
 * PostgresStore's admin side. Operator calls are rare: plain transactions on the store's
 * pool, each taking the user's row lock first so a suspend and a delete of one user run
 * one after the other.
 */
export class PostgresAdminStore implements AdminStore {
  constructor(private readonly pool: pg.Pool) {}

  private async tx<T>(run: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await run(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  private async endSessions(c: pg.PoolClient, userId: string, at: number): Promise<string[]> {
    const { rows } = await c.query<{ id: string }>(
      'UPDATE devices SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL RETURNING id',
      [at, userId],
    );
    await c.query('DELETE FROM push_targets WHERE user_id = $1', [userId]);
    return rows.map((r) => r.id);
  }

  async listUsers(o: { prefix: string; after: string; limit: number }): Promise<AdminUserRecord[]> {
    // COLLATE "C": byte order, the same as the cursor comparison, whatever the database's collation.
    const { rows } = await this.pool.query(
      `SELECT id, username, display_name, created_at, suspended, bot FROM users
       WHERE deleted_at IS NULL AND substr(username, 1, $1) = $2 AND username COLLATE "C" > $3
       ORDER BY username COLLATE "C" LIMIT $4`,
      [prefixChars(o.prefix), o.prefix, o.after, o.limit],
    );
    return rows.map(toAdminUser);
  }

  setSuspended(userId: string, suspended: boolean, at: number): Promise<string[] | null> {
    return this.tx(async (c) => {
      const { rows } = await c.query('SELECT deleted_at FROM users WHERE id = $1 FOR UPDATE', [userId]);
      if (!rows[0] || rows[0].deleted_at !== null) return null;
      await c.query('UPDATE users SET suspended = $1 WHERE id = $2', [suspended, userId]);
      return suspended ? this.endSessions(c, userId, at) : [];
    });
  }

  async createBot(
    user: Omit<UserRecord, 'lastSeen' | 'passwordHash' | 'bot' | 'suspended'>,
    d: DeviceRecord & { tokenHash: string },
  ): Promise<UserRecord | 'username_taken'> {
    try {
      return await this.tx(async (c) => {
        await c.query('INSERT INTO users (id, username, display_name, password_hash, created_at, bot) VALUES ($1, $2, $3, $4, $5, true)', [
          user.id,
          user.username,
          user.displayName,
          BOT_PASSWORD_HASH,
          user.createdAt,
        ]);
        await c.query('INSERT INTO devices (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)', [
          d.id,
          d.userId,
          d.name,
          d.tokenHash,
          d.createdAt,
        ]);
        await recordEventPg(c, 'user.created', userData(user), user.createdAt);
        return { ...user, passwordHash: BOT_PASSWORD_HASH, lastSeen: null, bot: true };
      });
    } catch (err) {
      if ((err as { code?: string; constraint?: string }).code === '23505' && /username/.test(String((err as Error).message)))
        return 'username_taken';
      throw err;
    }
  }

  newBotSession(userId: string, d: DeviceRecord & { tokenHash: string }, at: number): Promise<string[] | 'not_found' | 'suspended'> {
    return this.tx(async (c) => {
      const { rows } = await c.query('SELECT suspended FROM users WHERE id = $1 AND bot AND deleted_at IS NULL FOR UPDATE', [userId]);
      if (!rows[0]) return 'not_found' as const;
      if (rows[0].suspended) return 'suspended' as const;
      const ended = await this.endSessions(c, userId, at);
      await c.query('INSERT INTO devices (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)', [
        d.id,
        userId,
        d.name,
        d.tokenHash,
        d.createdAt,
      ]);
      // A bot's new device is owed only what comes after it, like any new session.
      await c.query(
        `INSERT INTO device_cursors (device_id, chat_id, delivered_seq)
         SELECT $1, c.id, c.last_seq FROM chat_members cm JOIN chats c ON c.id = cm.chat_id WHERE cm.user_id = $2`,
        [d.id, userId],
      );
      return ended;
    });
  }

  deleteUser(userId: string, at: number): Promise<string[] | null> {
    return this.tx(async (c) => {
      const { rows } = await c.query('SELECT deleted_at FROM users WHERE id = $1 FOR UPDATE', [userId]);
      if (!rows[0]) return null;
      if (rows[0].deleted_at !== null) return [];
      // The profile goes with the account (PROTOCOL.md "Operators": the account is gone); the row stays for message ids.
      await c.query(
        "UPDATE users SET deleted_at = $1, username = $2, suspended = false, display_name = '', about = '', avatar = NULL, avatar_media_id = NULL, password_hash = '!' WHERE id = $3",
        [at, deletedUsername(userId), userId],
      );
      // A deleted account's host-app identity signs in to nothing: the next sign-in makes a new user.
      await c.query('DELETE FROM external_identities WHERE user_id = $1', [userId]);
      return this.endSessions(c, userId, at);
    });
  }

  async isDeleted(userId: string): Promise<boolean> {
    const { rows } = await this.pool.query('SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NOT NULL', [userId]);
    return rows.length > 0;
  }

  async undeletedMessages(userId: string, limit: number): Promise<{ messageId: string; chatId: string }[]> {
    // Chat by chat from chat_senders (migration 21), each through its (chat_id, sender_id,
    // client_msg_id) key range. A chat left with none is forgotten, so later calls do not
    // walk its erased rows again. (A deleted account sends nothing more; for a live user a
    // send racing that would go unlisted here, and nothing else reads the table.)
    const { rows } = await this.pool.query<{ id: string | null; chat_id: string }>(
      `WITH found AS (
         SELECT s.chat_id, m.id FROM chat_senders s
         LEFT JOIN LATERAL (
           SELECT m.id FROM messages m
           WHERE m.chat_id = s.chat_id AND m.sender_id = s.sender_id AND m.kind = 'message' AND NOT m.deleted LIMIT $2) m ON true
         WHERE s.sender_id = $1
       ), emptied AS (
         DELETE FROM chat_senders s WHERE s.sender_id = $1 AND s.chat_id IN (SELECT chat_id FROM found GROUP BY chat_id HAVING count(id) = 0)
       )
       SELECT id, chat_id FROM found WHERE id IS NOT NULL ORDER BY chat_id, id LIMIT $2`,
      [userId, limit],
    );
    return rows.map((r) => ({ messageId: r.id!, chatId: r.chat_id }));
  }

  /** The report and its `report.created` webhook event, in one transaction. */
  async createReport(r: ReportRecord): Promise<void> {
    await this.tx(async (c) => {
      await c.query(
        'INSERT INTO reports (id, reporter_id, user_id, message_id, reason, note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [r.id, r.reporterId, r.userId, r.messageId, r.reason, r.note, r.createdAt],
      );
      await recordEventPg(c, 'report.created', reportData(r), r.createdAt);
    });
  }

  async listReports(o: { after?: ReportCursor; limit: number }): Promise<ReportRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM reports WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3', [
      o.after?.createdAt ?? -1,
      o.after?.id ?? '',
      o.limit,
    ]);
    return rows.map(toReport);
  }
}
