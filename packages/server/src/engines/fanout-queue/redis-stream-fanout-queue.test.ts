import { deleteKeys, redisUnavailable, testRedisUrl, uniquePrefix } from '../redis-for-tests.js';
import { runFanoutQueueContract } from './fanout-queue.contract.js';
import { partitionOf, RedisStreamFanoutQueue } from './redis-stream-fanout-queue.js';

const unavailable = await redisUnavailable();

if (unavailable) {
  const { test } = await import('node:test');
  test('redis stream fan-out queue', { skip: unavailable }, () => {});
} else {
  // Two workers ("nodes") on one Redis, keys under a prefix of their own; short leases so failover is quick.
  runFanoutQueueContract('redis stream', { backpressure: false }, async () => {
    const keyPrefix = uniquePrefix();
    const partitions = 8;
    const make = (consumer: string) =>
      new RedisStreamFanoutQueue({ url: testRedisUrl, consumer, keyPrefix, partitions, leaseMs: 300, blockMs: 100 });
    const a = make('node-a');
    const b = make('node-b');
    const crashed = new Set<RedisStreamFanoutQueue>();
    return {
      a,
      b,
      independent: (x, y) => partitionOf(x, partitions) !== partitionOf(y, partitions),
      crash: (q) => {
        const queue = q as RedisStreamFanoutQueue;
        crashed.add(queue);
        queue.halt();
      },
      cleanup: async () => {
        await Promise.all([a, b].filter((q) => !crashed.has(q)).map((q) => q.close()));
        await deleteKeys(testRedisUrl, keyPrefix);
      },
    };
  });
}
