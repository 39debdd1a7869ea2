import type pg from 'pg';
import { toMediaRecord, type MediaIndex, type MediaInfo, type MediaRecord, type MediaRow } from './media-index.js';

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

  async attach(mediaIds: string[], messageId: string): Promise<number> {
    const ids = [...new Set(mediaIds)];
    // One statement, so one transaction: the refs and the marks commit together. A sweep
    // deleting one of these rows at the same moment either goes first (the row is gone and
    // is not counted) or waits for this update's row lock and then skips the row.
    const { rows } = await this.pool.query<{ found: number }>(
      `WITH marked AS (
         UPDATE media SET attached = true WHERE id = ANY($1::text[]) OR parent_id = ANY($1::text[]) RETURNING id
       ), refs AS (
         INSERT INTO media_refs (media_id, message_id) SELECT id, $2 FROM marked WHERE id = ANY($1::text[])
         ON CONFLICT DO NOTHING
       )
       SELECT count(*)::int AS found FROM marked WHERE id = ANY($1::text[])`,
      [ids, messageId],
    );
    return rows[0]?.found ?? 0;
  }

  async messagesOf(mediaId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ message_id: string }>('SELECT message_id FROM media_refs WHERE media_id = $1', [mediaId]);
    return rows.map((r) => r.message_id);
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

  async takeOrphans(before: number, limit: number): Promise<MediaRecord[]> {
    // SKIP LOCKED: nodes sweeping at once take disjoint rows; the DELETE's RETURNING hands
    // each row to exactly one of them. Re-checked under the lock: an attach may have won.
    const { rows } = await this.pool.query<MediaRow>(
      `WITH picked AS (
         SELECT id FROM media WHERE NOT attached AND created_at < $1 AND parent_id IS NULL
         ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
       )
       DELETE FROM media m USING picked p
       WHERE (m.id = p.id AND NOT m.attached) OR (m.parent_id = p.id AND NOT m.attached)
       RETURNING m.*`,
      [before, limit],
    );
    return rows.map(toMediaRecord);
  }
}
