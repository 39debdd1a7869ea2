import { deleteKeys, uniquePrefix } from '../../testing/services.js';
import type { runFanoutQueueContract } from './fanout-queue.contract.js';
import { partitionOf, RedisStreamFanoutQueue } from './redis-stream-fanout-queue.js';

type ContractSetup = Parameters<typeof runFanoutQueueContract>[2];

/**
 * The contract's two workers ("nodes") on the Redis at `url` (one server or a cluster's
 * seed list), keys under a prefix of their own, short leases so failover is quick.
 */
export function redisStreamContractSetup(url: string): ContractSetup {
  return async () => {
    const keyPrefix = uniquePrefix();
    const partitions = 8;
    const make = (consumer: string) => new RedisStreamFanoutQueue({ url, consumer, keyPrefix, partitions, leaseMs: 300, blockMs: 100 });
    const a = make('node-a');
    const b = make('node-b');
    const crashed = new Set<RedisStreamFanoutQueue>();
    return {
      a,
      b,
      independent: (x: string, y: string) => partitionOf(x, partitions) !== partitionOf(y, partitions),
      crash: (q: unknown) => {
        const queue = q as RedisStreamFanoutQueue;
        crashed.add(queue);
        queue.halt();
      },
      cleanup: async () => {
        await Promise.all([a, b].filter((q) => !crashed.has(q)).map((q) => q.close()));
        await deleteKeys(url, keyPrefix);
      },
    };
  };
}
