import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { http, registerUser, TestSocket, type ServerProcess } from '../testing/harness.js';
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

  test('a reply racing the delete of the message it quotes goes out as stored: with an empty preview', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const x = await registerUser(a.baseUrl, 'rrx');
    const y = await registerUser(b.baseUrl, 'rry');
    const made = await http(a.baseUrl, 'POST', '/v1/groups', { token: x.token, body: { name: 'race', member_ids: [y.user_id] } });
    assert.equal(made.status, 201);
    const chat = made.body.chat_id as string;
    const sx = await TestSocket.connectSynced(a.wsUrl, x.token);
    const sy = await TestSocket.connectSynced(b.wsUrl, y.token);
    const holder = await db.connect();
    try {
      const quoted = await sx.sendMessage(chat, 'soon to be erased');
      assert.equal(quoted.type, 'ack_sent');
      // A transaction of the test's holds the chat's row lock: the delete queues on it
      // first, then the reply (core read the quoted text before the delete committed).
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [chat]);
      const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // Waiting on our lock, or queued behind one that is (a row lock's second waiter waits on the first).
      const blocked = async () =>
        Number(
          (
            await db.query<{ n: string }>(
              `WITH first AS (SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)))
               SELECT count(*) AS n FROM pg_stat_activity WHERE pg_blocking_pids(pid) && (ARRAY(SELECT pid FROM first) || $1::int)`,
              [rows[0]!.pid],
            )
          ).rows[0]!.n,
        );
      const waitBlocked = async (n: number) => {
        const deadline = Date.now() + 15_000;
        for (let seen = await blocked(); seen < n; seen = await blocked()) {
          assert.ok(Date.now() < deadline, `waiting for ${n} blocked writes, saw ${seen}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      sx.send({ type: 'delete_message', chat_id: chat, client_msg_id: 'rr-del', message_id: quoted.message_id });
      await waitBlocked(1);
      sy.send({ type: 'send_message', chat_id: chat, client_msg_id: 'rr-reply', content: 'replying', reply_to: quoted.message_id });
      await waitBlocked(2);
      await holder.query('ROLLBACK');
      assert.equal((await sx.nextWhere((f) => f.client_msg_id === 'rr-del', 10_000, 'delete ack')).type, 'ack_sent');
      const ack = await sy.nextWhere((f) => f.client_msg_id === 'rr-reply', 10_000, 'reply ack');
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      const live = await sx.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id, 10_000, 'the reply, live');
      const [stored] = (await db.query('SELECT reply_preview FROM messages WHERE id = $1', [ack.message_id])).rows;
      assert.equal(stored.reply_preview, '', 'the stored reply quotes nothing of the erased message');
      assert.equal((live.reply_to as { preview: string }).preview, '', 'the live frame says what was stored');
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
      sx.terminate();
      sy.terminate();
    }
  });
});
