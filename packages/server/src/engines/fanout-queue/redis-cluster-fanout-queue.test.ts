import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { clusterSlotPorts, deleteKeys, redisClusterMissing, startRedisCluster, uniquePrefix } from '../../testing/services.js';
import { slotOf } from '../redis-connection.js';
import type { FanoutJob } from './fanout-queue.js';
import { runFanoutQueueContract } from './fanout-queue.contract.js';
import { redisStreamContractSetup } from './redis-stream-contract-setup.js';
import { RedisStreamFanoutQueue } from './redis-stream-fanout-queue.js';

/*
 * The fan-out queue on a real 3-master Redis Cluster (started once for this file): the
 * contract, with the partitions spread over the masters, each partition's blocking
 * reader on its slot's owner and the lease round split by slot.
 */
const missing = await redisClusterMissing();

if (missing) {
  test('redis cluster stream fan-out queue', { skip: missing }, () => {});
} else {
  const cluster = await startRedisCluster();
  after(() => cluster.stop());

  runFanoutQueueContract('redis cluster stream', { backpressure: false }, redisStreamContractSetup(cluster.url));

  describe('redis cluster stream fan-out queue: slots', () => {
    test('partitions spread over every master; a stream and its lease share a slot; every job arrives', async (t) => {
      const keyPrefix = uniquePrefix();
      const partitions = 16;
      const queue = new RedisStreamFanoutQueue({ url: cluster.url, consumer: 'solo', keyPrefix, partitions, leaseMs: 600, blockMs: 200 });
      t.after(async () => {
        await queue.close();
        await deleteKeys(cluster.url, keyPrefix);
      });
      const ports = await clusterSlotPorts(cluster.urls[0]!);
      const owners = new Set<number>();
      for (let p = 0; p < partitions; p++) {
        const stream = `${keyPrefix}fanout:{${p}}`;
        assert.equal(slotOf(stream), slotOf(`${stream}:lease`));
        owners.add(ports[slotOf(stream)]!);
      }
      assert.equal(owners.size, cluster.ports.length, 'the 16 partitions land on all three masters');

      const seen: FanoutJob[] = [];
      queue.start(async (job) => void seen.push(job));
      const chats = Array.from({ length: 40 }, (_, i) => `g:slots:${i}`);
      for (const chatId of chats) {
        for (let seq = 1; seq <= 3; seq++) {
          await queue.enqueue({ chatId, seq, messageId: `${chatId}:${seq}`, senderId: 'u', senderDeviceId: 'd', frame: '{}' });
        }
      }
      for (let i = 0; i < 500 && seen.length < chats.length * 3; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(seen.length, chats.length * 3);
      for (const chatId of chats) {
        assert.deepEqual(
          seen.filter((j) => j.chatId === chatId).map((j) => j.seq),
          [1, 2, 3],
          `${chatId} in order`,
        );
      }
      // The keys really are where the slot map says (each master holds its own partitions' streams).
      const r = new Redis(cluster.urls[0]!);
      t.after(() => r.disconnect());
      const keys = (await r.keys(`${keyPrefix}*`)) as string[];
      for (const key of keys) assert.equal(ports[slotOf(key)], cluster.ports[0]);
    });
  });
}
