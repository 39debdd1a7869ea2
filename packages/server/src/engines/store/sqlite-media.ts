import type Database from 'better-sqlite3';
import { toMediaRecord, type MediaIndex, type MediaInfo, type MediaRecord, type MediaRow } from './media-index.js';

/**
 * SqliteStore's media index. Writes go through the store's group commit (`write`), so
 * they share its transactions and its single writer.
 */
export class SqliteMediaIndex implements MediaIndex {
  private readonly stmts;

  constructor(
    db: Database.Database,
    private readonly write: <T>(run: () => T) => Promise<T>,
  ) {
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO media (id, owner_id, content_type, size, filename, created_at, parent_id, attached, info)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      byId: db.prepare('SELECT * FROM media WHERE id = ?'),
      setInfo: db.prepare('UPDATE media SET info = ? WHERE id = ?'),
      ref: db.prepare('INSERT OR IGNORE INTO media_refs (media_id, message_id) VALUES (?, ?)'),
      markAttached: db.prepare('UPDATE media SET attached = 1 WHERE id = ? OR parent_id = ?'),
      exists: db.prepare('SELECT 1 FROM media WHERE id = ?'),
      messagesOf: db.prepare('SELECT message_id FROM media_refs WHERE media_id = ?'),
      usage: db.prepare(
        `SELECT COALESCE(SUM(size), 0) AS bytes, MIN(created_at) AS oldest FROM media
         WHERE owner_id = ? AND created_at >= ? AND parent_id IS NULL`,
      ),
      orphans: db.prepare('SELECT * FROM media WHERE attached = 0 AND created_at < ? AND parent_id IS NULL ORDER BY created_at LIMIT ?'),
      thumbsOf: db.prepare('SELECT * FROM media WHERE parent_id = ?'),
      delete: db.prepare('DELETE FROM media WHERE id = ?'),
    };
  }

  async create(m: MediaRecord): Promise<void> {
    await this.write(() =>
      this.stmts.insert.run(
        m.id,
        m.ownerId,
        m.contentType,
        m.size,
        m.filename,
        m.createdAt,
        m.parentId,
        m.attached ? 1 : 0,
        m.info ? JSON.stringify(m.info) : null,
      ),
    );
  }

  async get(ids: string[]): Promise<MediaRecord[]> {
    return [...new Set(ids)].flatMap((id) => {
      const r = this.stmts.byId.get(id) as MediaRow | undefined;
      return r ? [toMediaRecord(r)] : [];
    });
  }

  async setInfo(id: string, info: MediaInfo): Promise<void> {
    await this.write(() => this.stmts.setInfo.run(JSON.stringify(info), id));
  }

  attach(mediaIds: string[], messageId: string): Promise<number> {
    return this.write(() => {
      let found = 0;
      for (const id of new Set(mediaIds)) {
        if (!this.stmts.exists.get(id)) continue;
        found++;
        this.stmts.ref.run(id, messageId);
        this.stmts.markAttached.run(id, id);
      }
      return found;
    });
  }

  async messagesOf(mediaId: string): Promise<string[]> {
    return (this.stmts.messagesOf.all(mediaId) as { message_id: string }[]).map((r) => r.message_id);
  }

  async usageSince(userId: string, since: number): Promise<{ bytes: number; oldest: number | null }> {
    const r = this.stmts.usage.get(userId, since) as { bytes: number; oldest: number | null };
    return { bytes: r.bytes, oldest: r.oldest };
  }

  takeOrphans(before: number, limit: number): Promise<MediaRecord[]> {
    return this.write(() => {
      const taken: MediaRecord[] = [];
      for (const row of this.stmts.orphans.all(before, limit) as MediaRow[]) {
        for (const r of [row, ...(this.stmts.thumbsOf.all(row.id) as MediaRow[])]) {
          this.stmts.delete.run(r.id);
          taken.push(toMediaRecord(r));
        }
      }
      return taken;
    });
  }
}
