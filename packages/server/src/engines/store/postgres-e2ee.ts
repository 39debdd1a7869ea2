import type pg from 'pg';
import type { ClaimResult, KeyPackageCounts, MemberDevice, MlsWelcome } from '@switchboard/protocol';
import type { CommitRequest, CommitResult, E2eeStore, MlsChatRecord } from './e2ee-store.js';
import { M_MESSAGE_COLS, toEntry } from './rows.js';
import { WELCOMES_SQL, toWelcome } from './sqlite-e2ee.js';
import type { StoredCommit } from './store.js';

type Tx = Pick<pg.PoolClient, 'query'>;
type Row = Record<string, any>;

/** The $n form of a `?` statement shared with SQLite. */
const numbered = (sql: string) => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

/**
 * PostgresStore's e2ee part (docs/e2ee.md). A commit is written through the store's chat
 * write lane (the same lock key and row lock, FOR UPDATE on the chat, as every append), so
 * the epoch check and the seq it takes are atomic whichever node posts it. Key packages
 * are taken with FOR UPDATE SKIP LOCKED: two claims at once never get the same one.
 */
export class PostgresE2ee implements E2eeStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly writeChat: <T>(chatId: string, run: (tx: Tx) => Promise<T>) => Promise<T>,
  ) {}

  private async tx<T>(run: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const out = await run(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async counts(q: Tx, deviceId: string): Promise<KeyPackageCounts> {
    const { rows } = await q.query<{ n: number; lr: boolean }>(
      `SELECT count(*) FILTER (WHERE NOT last_resort)::int AS n, bool_or(last_resort) AS lr FROM mls_key_packages WHERE device_id = $1`,
      [deviceId],
    );
    return { available: rows[0]?.n ?? 0, last_resort: rows[0]?.lr === true };
  }

  async addKeyPackages(deviceId: string, userId: string, packages: string[], lastResort: string | undefined, at: number, max: number) {
    return this.tx(async (c): Promise<KeyPackageCounts | 'too_many'> => {
      // The device's own lock: two uploads at once cannot pass the bound together.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`mls-key-packages:${deviceId}`]);
      if ((await this.counts(c, deviceId)).available + packages.length > max) return 'too_many';
      if (packages.length > 0)
        await c.query(
          `INSERT INTO mls_key_packages (device_id, user_id, data, last_resort, created_at)
           SELECT $1, $2, d, false, $4 FROM unnest($3::text[]) WITH ORDINALITY AS p(d, ord) ORDER BY ord`,
          [deviceId, userId, packages, at],
        );
      if (lastResort !== undefined) {
        await c.query('DELETE FROM mls_key_packages WHERE device_id = $1 AND last_resort', [deviceId]);
        await c.query('INSERT INTO mls_key_packages (device_id, user_id, data, last_resort, created_at) VALUES ($1, $2, $3, true, $4)', [
          deviceId,
          userId,
          lastResort,
          at,
        ]);
      }
      return this.counts(c, deviceId);
    });
  }

  keyPackageCounts(deviceId: string): Promise<KeyPackageCounts> {
    return this.counts(this.pool, deviceId);
  }

  async liveDevices(userIds: string[]): Promise<MemberDevice[]> {
    const { rows } = await this.pool.query<MemberDevice>(
      `SELECT d.user_id, d.id AS device_id FROM devices d JOIN users u ON u.id = d.user_id
       WHERE d.user_id = ANY($1::text[]) AND d.revoked_at IS NULL AND u.deleted_at IS NULL ORDER BY d.user_id, d.id`,
      [[...new Set(userIds)]],
    );
    return rows;
  }

  async claimKeyPackages(userIds: string[], exceptDevice: string): Promise<ClaimResult> {
    const devices = (await this.liveDevices(userIds)).filter((d) => d.device_id !== exceptDevice);
    return this.tx(async (c) => {
      const out: ClaimResult = { key_packages: [], missing: [] };
      for (const d of devices) {
        const { rows } = await c.query<{ data: string }>(
          `DELETE FROM mls_key_packages WHERE id = (
             SELECT id FROM mls_key_packages WHERE device_id = $1 AND NOT last_resort ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING data`,
          [d.device_id],
        );
        if (rows[0]) {
          out.key_packages.push({ ...d, key_package: rows[0].data, last_resort: false });
          continue;
        }
        const last = await c.query<{ data: string }>(
          'SELECT data FROM mls_key_packages WHERE device_id = $1 AND last_resort ORDER BY id DESC LIMIT 1',
          [d.device_id],
        );
        if (last.rows[0]) out.key_packages.push({ ...d, key_package: last.rows[0].data, last_resort: true });
        else out.missing.push(d);
      }
      return out;
    });
  }

  async chat(chatId: string): Promise<MlsChatRecord | null> {
    const { rows } = await this.pool.query<Row>('SELECT encrypted, mls_epoch, mls_group_info FROM chats WHERE id = $1', [chatId]);
    const r = rows[0];
    return r
      ? { encrypted: r.encrypted === true, epoch: Number(r.mls_epoch), groupInfo: (r.mls_group_info as string | null) ?? null }
      : null;
  }

  appendCommit(req: CommitRequest): Promise<CommitResult> {
    return this.writeChat(req.chatId, async (tx): Promise<CommitResult> => {
      if (req.createDirectWith && req.epoch === 0) {
        // Two nodes may create it at once: the loser's INSERT waits for the winner's commit, then does nothing.
        await tx.query(
          `WITH chat AS (
             INSERT INTO chats (id, kind, name, created_by, created_at, last_seq, last_at) VALUES ($1, 'direct', NULL, $2, $3, 0, $3)
             ON CONFLICT (id) DO NOTHING RETURNING id)
           INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq)
           SELECT chat.id, u, 'member', 0, $3, 0, 0 FROM chat, unnest($4::text[]) AS u ON CONFLICT (chat_id, user_id) DO NOTHING`,
          [req.chatId, req.senderId, req.createdAt, [...new Set(req.createDirectWith)]],
        );
      }
      const { rows: chats } = await tx.query<Row>('SELECT kind, encrypted, mls_epoch FROM chats WHERE id = $1 FOR UPDATE', [req.chatId]);
      const chat = chats[0];
      const existing = await tx.query<Row>(
        `SELECT ${M_MESSAGE_COLS} FROM messages m WHERE m.chat_id = $1 AND m.sender_id = $2 AND m.client_msg_id = $3`,
        [req.chatId, req.senderId, req.clientMsgId],
      );
      if (existing.rows[0]) {
        if (existing.rows[0].kind !== 'mls_commit') return { refused: 'not_encrypted' };
        const entry = toEntry(existing.rows[0]) as StoredCommit;
        return { entry, duplicate: true, epoch: entry.epoch + 1 };
      }
      if (!chat) return { refused: 'no_chat' };
      const member = await tx.query('SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = $2', [req.chatId, req.senderId]);
      if (member.rowCount === 0) return { refused: 'not_a_member' };
      if (chat.kind === 'group' && chat.encrypted !== true) return { refused: 'not_encrypted' };
      if (Number(chat.mls_epoch) !== req.epoch) return { stale: Number(chat.mls_epoch) };
      const named = [...new Set(req.welcomes.flatMap((w) => w.deviceIds))];
      if (named.length > 0) {
        const { rows } = await tx.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM devices d JOIN chat_members cm ON cm.user_id = d.user_id AND cm.chat_id = $1
           WHERE d.id = ANY($2::text[]) AND d.revoked_at IS NULL`,
          [req.chatId, named],
        );
        if (rows[0]!.n !== named.length) return { refused: 'unknown_device' };
      }
      const { rows: bumped } = await tx.query<Row>(
        `UPDATE chats SET last_seq = last_seq + 1, last_at = GREATEST(last_at, $2), mls_epoch = mls_epoch + 1, encrypted = true,
           mls_group_info = $3 WHERE id = $1 RETURNING last_seq, mls_epoch, msg_count, CASE WHEN kind = 'direct' THEN creator_count END AS creator_count`,
        [req.chatId, req.createdAt, req.groupInfo],
      );
      const seq = Number(bumped[0]!.last_seq);
      await tx.query(
        `INSERT INTO messages (chat_id, seq, id, sender_id, sender_device_id, client_msg_id, content, created_at, kind, ciphertext, epoch, msg_ord,
           creator_ord)
         VALUES ($1, $2, $3, $4, $5, $6, '', $7, 'mls_commit', $8, $9, $10, $11)`,
        // msg_ord, creator_ord: the chat's message counts as of this row, like a change row (unread counts; a commit is never unread).
        [
          req.chatId,
          seq,
          req.messageId,
          req.senderId,
          req.senderDeviceId,
          req.clientMsgId,
          req.createdAt,
          req.commit,
          req.epoch,
          bumped[0]!.msg_count,
          bumped[0]!.creator_count,
        ],
      );
      for (const w of req.welcomes) {
        await tx.query(
          `WITH w AS (INSERT INTO mls_welcomes (id, chat_id, epoch, data, created_at) VALUES ($1, $2, $3, $4, $5))
           INSERT INTO mls_welcome_devices (device_id, welcome_id) SELECT DISTINCT d, $1 FROM unnest($6::text[]) AS d`,
          [w.welcomeId, req.chatId, req.epoch + 1, w.data, req.createdAt, w.deviceIds],
        );
      }
      const entry: StoredCommit = {
        message_id: req.messageId,
        chat_id: req.chatId,
        seq,
        sender_id: req.senderId,
        sender_device_id: req.senderDeviceId,
        client_msg_id: req.clientMsgId,
        created_at: req.createdAt,
        epoch: req.epoch,
        commit: req.commit,
      };
      return { entry, duplicate: false, epoch: Number(bumped[0]!.mls_epoch) };
    });
  }

  async welcomes(deviceId: string): Promise<MlsWelcome[]> {
    const { rows } = await this.pool.query<Row>(numbered(WELCOMES_SQL), [deviceId]);
    return rows.map(toWelcome);
  }

  async ackWelcome(deviceId: string, welcomeId: string): Promise<boolean> {
    return this.tx(async (c) => {
      // The welcome's row lock: the last two devices acknowledging at once cannot both leave it behind.
      await c.query('SELECT 1 FROM mls_welcomes WHERE id = $1 FOR UPDATE', [welcomeId]);
      const gone = await c.query('DELETE FROM mls_welcome_devices WHERE device_id = $1 AND welcome_id = $2', [deviceId, welcomeId]);
      if (gone.rowCount === 0) return false;
      // Stored once for every device it names: gone with the last acknowledgement.
      await c.query(
        'DELETE FROM mls_welcomes w WHERE w.id = $1 AND NOT EXISTS (SELECT 1 FROM mls_welcome_devices d WHERE d.welcome_id = $1)',
        [welcomeId],
      );
      return true;
    });
  }
}
