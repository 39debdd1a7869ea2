import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe } from 'node:test';
import Database from 'better-sqlite3';
import { suiteServer } from '../testing/harness.js';
import { lifecycleSuite, WINDOW_S, type RawRow } from './lifecycle-support.js';

/*
 * The message lifecycle in embedded mode: one server, SQLite, media on local disk. Erasure
 * is checked in the database file and the media folder themselves, beside the server.
 * FANOUT_THRESHOLD 2: group messages and changes go through the fan-out queue, direct
 * chats are published at once.
 */
describe('message lifecycle (embedded)', () => {
  const { srv } = suiteServer({ editWindowS: WINDOW_S, deleteWindowS: WINDOW_S, rateLimits: false, fanoutThreshold: 2 });
  const db = () => new Database(path.join(srv.dataDir, 'switchboard.db'), { readonly: true });
  const read = <T>(fn: (d: Database.Database) => T): T => {
    const d = db();
    try {
      return fn(d);
    } finally {
      d.close();
    }
  };
  lifecycleSuite(() => ({
    nodes: [{ baseUrl: srv.baseUrl, wsUrl: srv.wsUrl }],
    rawRows: async (chatId) =>
      read((d) =>
        (
          d
            .prepare(
              'SELECT id, kind, content, attachments, mentions, emoji, reply_preview, deleted FROM messages WHERE chat_id = ? ORDER BY seq',
            )
            .all(chatId) as (Omit<RawRow, 'deleted'> & { deleted: number })[]
        ).map((r) => ({ ...r, deleted: r.deleted === 1 })),
      ),
    reactionRows: async (messageId) =>
      read((d) => (d.prepare('SELECT COUNT(*) AS n FROM reactions WHERE message_id = ?').get(messageId) as { n: number }).n),
    mediaBytes: async (mediaId) => existsSync(path.join(srv.dataDir, 'media', 'objects', mediaId)),
  }));
});
