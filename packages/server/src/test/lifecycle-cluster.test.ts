import { after, before, describe } from 'node:test';
import pg from 'pg';
import type { ServerProcess } from '../testing/harness.js';
import { startNode, testPrefix } from '../testing/cluster.js';
import { clusterServicesMissing, freshPgSchema, startRedis, type TestRedis } from '../testing/services.js';
import { lifecycleSuite, WINDOW_S, type RawRow } from './lifecycle-support.js';

/*
 * The message lifecycle in cluster mode: two server processes on Redis and PostgreSQL
 * (media bytes in PostgreSQL), the users of each test spread over both nodes. Erasure is
 * checked in PostgreSQL's tables themselves.
 */
const missing = await clusterServicesMissing();

describe('message lifecycle (cluster)', { skip: missing ?? false }, () => {
  const nodes: ServerProcess[] = [];
  let redis: TestRedis;
  let schema: { url: string; drop: () => Promise<void> };
  let db: pg.Pool;
  before(async () => {
    [redis, schema] = await Promise.all([startRedis(), freshPgSchema()]);
    const prefix = testPrefix();
    // FANOUT_THRESHOLD 2: group messages and changes go through the Redis fan-out queue.
    const env = { EDIT_WINDOW_S: String(WINDOW_S), DELETE_WINDOW_S: String(WINDOW_S), RATE_LIMITS: 'off', FANOUT_THRESHOLD: '2' };
    nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: schema.url, prefix, env }));
    nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: schema.url, prefix, env }));
    db = new pg.Pool({ connectionString: schema.url, max: 2 });
  });
  after(async () => {
    await db?.end();
    await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
    await Promise.all([redis?.stop(), schema?.drop()]);
  });
  lifecycleSuite(() => ({
    nodes: nodes.map((n) => ({ baseUrl: n.baseUrl, wsUrl: n.wsUrl })),
    rawRows: async (chatId) =>
      (
        await db.query<RawRow>(
          'SELECT id, kind, content, attachments, mentions, emoji, reply_preview, deleted FROM messages WHERE chat_id = $1 ORDER BY seq',
          [chatId],
        )
      ).rows,
    reactionRows: async (messageId) =>
      Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM reactions WHERE message_id = $1', [messageId])).rows[0]!.n),
    mediaBytes: async (mediaId) => ((await db.query('SELECT 1 FROM media_blobs WHERE key = $1', [mediaId])).rowCount ?? 0) > 0,
  }));
});
