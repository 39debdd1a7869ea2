import type Database from 'better-sqlite3';
import type { SqliteWriter } from './sqlite-writer.js';
import { toMediaRecord, type MediaIndex, type MediaInfo, type MediaRecord, type MediaRow } from './media-index.js';

/**
 * SqliteStore's media index: reads on the store's connection, writes through its writer
 * thread (sqlite-writes.ts), so they share its transactions and its single writer.
 */
export class SqliteMediaIndex implements MediaIndex {
  private readonly stmts;

  constructor(
    db: Database.Database,
    private readonly writer: SqliteWriter,
  ) {
    this.stmts = {
      byId: db.prepare('SELECT * FROM media WHERE id = ?'),
      messagesOf: db.prepare('SELECT message_id FROM media_refs WHERE media_id = ?'),
      visibleTo: db.prepare(
        `SELECT 1 FROM media_refs r
         JOIN messages g ON g.id = r.message_id
         JOIN chat_members c ON c.chat_id = g.chat_id AND c.user_id = ?
         WHERE r.media_id = ? AND g.seq > c.joined_seq LIMIT 1`,
      ),
      refCount: db.prepare('SELECT count(*) AS n FROM media_refs WHERE media_id = ?'),
      usage: db.prepare(
        `SELECT COALESCE(SUM(size), 0) AS bytes, MIN(created_at) AS oldest FROM media
         WHERE owner_id = ? AND created_at >= ? AND parent_id IS NULL`,
      ),
    };
  }

  async create(m: MediaRecord): Promise<void> {
    await this.writer.write('createMedia', m);
  }

  async get(ids: string[]): Promise<MediaRecord[]> {
    return [...new Set(ids)].flatMap((id) => {
      const r = this.stmts.byId.get(id) as MediaRow | undefined;
      return r ? [toMediaRecord(r)] : [];
    });
  }

  async setInfo(id: string, info: MediaInfo): Promise<void> {
    await this.writer.write('setMediaInfo', id, info);
  }

  attach(mediaIds: string[], messageId: string, at: number): Promise<number> {
    return this.writer.write('attachMedia', mediaIds, messageId, at);
  }

  async messagesOf(mediaId: string): Promise<string[]> {
    return (this.stmts.messagesOf.all(mediaId) as { message_id: string }[]).map((r) => r.message_id);
  }

  async visibleTo(mediaId: string, userId: string): Promise<boolean> {
    return this.stmts.visibleTo.get(userId, mediaId) !== undefined;
  }

  async refCounts(mediaIds: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const id of new Set(mediaIds)) {
      const { n } = this.stmts.refCount.get(id) as { n: number };
      if (n > 0) counts.set(id, n);
    }
    return counts;
  }

  async usageSince(userId: string, since: number): Promise<{ bytes: number; oldest: number | null }> {
    const r = this.stmts.usage.get(userId, since) as { bytes: number; oldest: number | null };
    return { bytes: r.bytes, oldest: r.oldest };
  }

  settle(before: number, limit: number): Promise<number> {
    return this.writer.write('settleMedia', before, limit);
  }

  takeOrphans(before: number, limit: number): Promise<MediaRecord[]> {
    return this.writer.write('takeMediaOrphans', before, limit);
  }
}
