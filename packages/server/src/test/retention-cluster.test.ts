import { after, before, describe } from 'node:test';
import pg from 'pg';
import type { ServerProcess } from '../testing/harness.js';
import { startNode, testPrefix } from '../testing/cluster.js';
import { clusterServicesMissing, freshPgSchema, startRedis, type TestRedis } from '../testing/services.js';
import { retentionEnv, retentionSuite } from './retention-support.js';

/*
 * Retention in cluster mode: two server processes on Redis and PostgreSQL (media bytes in
 * PostgreSQL), both running retention, which takes one node at a time; what is erased is
 * checked in PostgreSQL's tables themselves.
 */
const missing = await clusterServicesMissing();

describe('retention (cluster)', { skip: missing ?? false }, () => {
  const nodes: ServerProcess[] = [];
  let redis: TestRedis;
  let schema: { url: string; drop: () => Promise<void> };
  let db: pg.Pool;
  before(async () => {
    [redis, schema] = await Promise.all([startRedis(), freshPgSchema()]);
    const prefix = testPrefix();
    nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: schema.url, prefix, env: retentionEnv }));
    nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: schema.url, prefix, env: retentionEnv }));
    db = new pg.Pool({ connectionString: schema.url, max: 2 });
  });
  after(async () => {
    await db?.end();
    await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
    await Promise.all([redis?.stop(), schema?.drop()]);
  });
  const count = async (sql: string, arg: string): Promise<number> => Number((await db.query<{ n: string }>(sql, [arg])).rows[0]!.n);
  retentionSuite(() => ({
    nodes: nodes.map((n) => ({ baseUrl: n.baseUrl, wsUrl: n.wsUrl })),
    logRows: (chatId) => count('SELECT count(*) AS n FROM messages WHERE chat_id = $1', chatId),
    reactionRows: (messageId) => count('SELECT count(*) AS n FROM reactions WHERE message_id = $1', messageId),
    mediaBytes: async (mediaId) => (await count('SELECT count(*) AS n FROM media_blobs WHERE key = $1', mediaId)) > 0,
  }));
});
