import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe } from 'node:test';
import Database from 'better-sqlite3';
import { loadConfig } from '../config.js';
import { suiteServer } from '../testing/harness.js';
import { retentionEnv, retentionSuite } from './retention-support.js';

/*
 * Retention in embedded mode: one server, SQLite, media on local disk; what is erased is
 * checked in the database file and the media folder themselves, beside the server.
 */
describe('retention (embedded)', () => {
  const { retentionMs, retentionIntervalMs, retentionBatch, retentionPauseMs, rateLimits } = loadConfig({}, retentionEnv);
  const { srv } = suiteServer({ retentionMs, retentionIntervalMs, retentionBatch, retentionPauseMs, rateLimits });
  const count = (sql: string, arg: string): number => {
    const d = new Database(path.join(srv.dataDir, 'switchboard.db'), { readonly: true });
    try {
      return (d.prepare(sql).get(arg) as { n: number }).n;
    } finally {
      d.close();
    }
  };
  retentionSuite(() => ({
    nodes: [{ baseUrl: srv.baseUrl, wsUrl: srv.wsUrl }],
    logRows: async (chatId) => count('SELECT COUNT(*) AS n FROM messages WHERE chat_id = ?', chatId),
    reactionRows: async (messageId) => count('SELECT COUNT(*) AS n FROM reactions WHERE message_id = ?', messageId),
    mediaBytes: async (mediaId) => existsSync(path.join(srv.dataDir, 'media', 'objects', mediaId)),
  }));
});
