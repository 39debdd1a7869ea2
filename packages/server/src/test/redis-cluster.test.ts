import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { http, registerUser, TestSocket, type ServerProcess } from '../testing/harness.js';
import {
  clusterServicesMissing,
  freshPgSchema,
  redisClusterMissing,
  startRedisCluster,
  type TestRedisCluster,
} from '../testing/services.js';
import { startNode, testPrefix } from '../testing/cluster.js';
import { crossNodeMessage } from '../testing/cross-node.js';
import { openRedis } from '../engines/redis-connection.js';
import { partitionOf } from '../engines/fanout-queue/redis-stream-fanout-queue.js';

/*
 * Three real server processes on a 3-master Redis Cluster (REDIS_URL = the seed list)
 * and one PostgreSQL: a message crosses nodes over the sharded bus, and a group above
 * FANOUT_THRESHOLD fans out through the partition streams spread over the masters.
 */
const missing = (await clusterServicesMissing()) ?? (await redisClusterMissing());

describe('cluster on a Redis Cluster: three nodes', { skip: missing ?? false }, () => {
  let redis: TestRedisCluster;
  let pgSchema: { url: string; drop: () => Promise<void> };
  let prefix: string;
  const nodes: ServerProcess[] = [];

  before(async () => {
    redis = await startRedisCluster();
    pgSchema = await freshPgSchema();
    prefix = testPrefix();
    const env = { FANOUT_THRESHOLD: '2' };
    // The first node migrates the schema; the others start together after it.
    nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: pgSchema.url, prefix, env }));
    nodes.push(...(await Promise.all([1, 2].map(() => startNode({ redisUrl: redis.url, databaseUrl: pgSchema.url, prefix, env })))));
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await redis?.stop();
    await pgSchema?.drop();
  });

  test('a message sent on node A reaches the recipient on nodes B and C, and the tick comes back', async () => {
    const { sa, sb, sc } = await crossNodeMessage(nodes, 'rc_');
    await Promise.all([sa.close(), sb.close(), sc.close()]);
  });

  test('a group above FANOUT_THRESHOLD fans out through the cluster streams to members on every node, in order', async () => {
    const owner = await registerUser(nodes[0]!.baseUrl, 'rc_owner');
    const members = await Promise.all(Array.from({ length: 6 }, (_, i) => registerUser(nodes[i % 3]!.baseUrl, `rc_m${i}`)));
    const group = await http(nodes[0]!.baseUrl, 'POST', '/v1/groups', {
      token: owner.token,
      body: { name: 'rc', member_ids: members.map((m) => m.user_id) },
    });
    assert.equal(group.status, 201);
    const chatId: string = group.body.chat_id;
    const sockets = await Promise.all(members.map((m, i) => TestSocket.connectSynced(nodes[i % 3]!.wsUrl, m.token)));
    const so = await TestSocket.connectSynced(nodes[1]!.wsUrl, owner.token);

    const acks = [];
    for (let i = 0; i < 5; i++) acks.push(await so.sendMessage(chatId, `to the group ${i}`));
    for (const s of sockets) {
      for (const ack of acks) {
        const got = await s.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id, 15_000);
        assert.equal(got.seq, ack.seq);
      }
      const seqs = s.all('new_message').map((f) => f.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        'in seq order',
      );
    }

    // The jobs went through the chat's partition stream on the Redis Cluster.
    const client = openRedis(redis.url);
    try {
      const length = await client.xlen(`${prefix}fanout:{${partitionOf(chatId, 16)}}`);
      assert.ok(length >= acks.length, `the partition stream holds the group's jobs (${length})`);
    } finally {
      client.disconnect();
    }
    await Promise.all([...sockets, so].map((s) => s.close()));
  });
});
