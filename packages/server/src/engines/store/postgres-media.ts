import type pg from 'pg';
import { toMediaRecord, type MediaIndex, type MediaInfo, type MediaRecord, type MediaRow } from './media-index.js';

/** Some stored message carries media m (messages_id: one probe per partition). */
const STORED = 'EXISTS (SELECT 1 FROM media_refs r JOIN messages g ON g.id = r.message_id WHERE r.media_id = m.id)';

/**
 * PostgresStore's media index. Media writes are rare (one per upload, one per send with
 * attachments), so they run as plain statements on the store's general pool.
 */
export class PostgresMediaIndex implements MediaIndex {
  constructor(private readonly pool: pg.Pool) {}

  async create(m: MediaRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO media (id, owner_id, content_type, size, filename, created_at, parent_id, attached, info)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [m.id, m.ownerId, m.contentType, m.size, m.filename, m.createdAt, m.parentId, m.attached, m.info ? JSON.stringify(m.info) : null],
    );
  }

  async get(ids: string[]): Promise<MediaRecord[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query<MediaRow>('SELECT * FROM media WHERE id = ANY($1::text[])', [[...new Set(ids)]]);
    return rows.map(toMediaRecord);
  }

  async setInfo(id: string, info: MediaInfo): Promise<void> {
    await this.pool.query('UPDATE media SET info = $1 WHERE id = $2', [JSON.stringify(info), id]);
  }

  async attach(mediaIds: string[], messageId: string, at: number): Promise<number> {
    const ids = [...new Set(mediaIds)];
    // One statement, so one transaction: the refs and the marks commit together. A sweep
    // deleting one of these rows at the same moment either goes first (the row is gone and
    // is not counted) or waits for this update's row lock and then skips the row (its
    // pending_since is then recent). An original a stored message already carries (attached,
    // not pending) stays settled; SET reads the row as it was.
    const { rows } = await this.pool.query<{ found: number }>(
      `WITH marked AS (
         UPDATE media SET attached = true,
           pending_since = CASE WHEN id = ANY($1::text[]) AND (NOT attached OR pending_since IS NOT NULL)
             THEN GREATEST(pending_since, $3) ELSE pending_since END
         WHERE id = ANY($1::text[]) OR parent_id = ANY($1::text[]) RETURNING id
       ), refs AS (
         INSERT INTO media_refs (media_id, message_id) SELECT id, $2 FROM marked WHERE id = ANY($1::text[])
         ON CONFLICT DO NOTHING
       )
       SELECT count(*)::int AS found FROM marked WHERE id = ANY($1::text[])`,
      [ids, messageId, at],
    );
    return rows[0]?.found ?? 0;
  }

  async messagesOf(mediaId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ message_id: string }>('SELECT message_id FROM media_refs WHERE media_id = $1', [mediaId]);
    return rows.map((r) => r.message_id);
  }

  async visibleTo(mediaId: string, userId: string): Promise<boolean> {
    const { rows } = await this.pool.query<{ visible: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM media_refs r
         JOIN messages g ON g.id = r.message_id
         JOIN chat_members c ON c.chat_id = g.chat_id AND c.user_id = $2
         WHERE r.media_id = $1 AND g.seq > c.joined_seq
       ) AS visible`,
      [mediaId, userId],
    );
    return rows[0]?.visible === true;
  }

  async refCounts(mediaIds: string[]): Promise<Map<string, number>> {
    if (mediaIds.length === 0) return new Map();
    const { rows } = await this.pool.query<{ media_id: string; n: number }>(
      'SELECT media_id, count(*)::int AS n FROM media_refs WHERE media_id = ANY($1::text[]) GROUP BY media_id',
      [[...new Set(mediaIds)]],
    );
    return new Map(rows.map((r) => [r.media_id, r.n]));
  }

  async usageSince(userId: string, since: number): Promise<{ bytes: number; oldest: number | null }> {
    const { rows } = await this.pool.query<{ bytes: string; oldest: string | null }>(
      `SELECT COALESCE(SUM(size), 0)::text AS bytes, MIN(created_at)::text AS oldest FROM media
       WHERE owner_id = $1 AND created_at >= $2 AND parent_id IS NULL`,
      [userId, since],
    );
    const r = rows[0]!;
    return { bytes: Number(r.bytes), oldest: r.oldest === null ? null : Number(r.oldest) };
  }

  async settle(before: number, limit: number): Promise<number> {
    // Safe whatever runs beside it: a stored message stays stored.
    const { rowCount } = await this.pool.query(
      `WITH due AS (
         SELECT id FROM media m WHERE pending_since < $1 AND parent_id IS NULL AND ${STORED}
         ORDER BY pending_since LIMIT $2 FOR UPDATE SKIP LOCKED
       )
       UPDATE media m SET pending_since = NULL FROM due WHERE m.id = due.id`,
      [before, limit],
    );
    return rowCount ?? 0;
  }

  async takeOrphans(before: number, limit: number): Promise<MediaRecord[]> {
    // SKIP LOCKED: nodes sweeping at once take disjoint rows; the DELETE's RETURNING hands
    // each row to exactly one of them. Re-checked under the lock: an attach may have won
    // (it marks the row, or moves pending_since on). Whether a stored message carries a
    // pending one is read once, before the lock: a message is stored moments after its
    // attach, never an orphan age later. Two picks, so each kind walks its own index.
    const { rows } = await this.pool.query<MediaRow>(
      `WITH never AS (
         SELECT id FROM media WHERE NOT attached AND created_at < $1 AND parent_id IS NULL
         ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
       ), unsent AS (
         SELECT id FROM media m WHERE pending_since < $1 AND created_at < $1 AND parent_id IS NULL AND NOT ${STORED}
         ORDER BY pending_since LIMIT GREATEST($2 - (SELECT count(*) FROM never), 0) FOR UPDATE SKIP LOCKED
       ), gone AS (
         DELETE FROM media m USING (SELECT id FROM never UNION ALL SELECT id FROM unsent) p
         WHERE m.id = p.id AND (NOT m.attached OR m.pending_since < $1)
         RETURNING m.*
       ), thumbs AS (
         DELETE FROM media t USING gone g WHERE t.parent_id = g.id RETURNING t.*
       ), refs AS (
         DELETE FROM media_refs r USING gone g WHERE r.media_id = g.id
       )
       SELECT * FROM gone UNION ALL SELECT * FROM thumbs`,
      [before, limit],
    );
    return rows.map(toMediaRecord);
  }
}
