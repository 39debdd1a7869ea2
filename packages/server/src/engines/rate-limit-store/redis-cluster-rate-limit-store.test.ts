import { after, test } from 'node:test';
import { deleteKeys, redisClusterMissing, startRedisCluster, uniquePrefix } from '../../testing/services.js';
import { runRateLimitStoreContract } from './rate-limit-store.contract.js';
import { RedisRateLimitStore } from './redis-rate-limit-store.js';

/* The rate-limit store on a real 3-master Redis Cluster: the contract, keys spread over every master. */
const missing = await redisClusterMissing();

if (missing) {
  test('redis cluster rate-limit store', { skip: missing }, () => {});
} else {
  const cluster = await startRedisCluster();
  after(() => cluster.stop());

  runRateLimitStoreContract('redis cluster', async () => {
    const keyPrefix = uniquePrefix();
    const store = new RedisRateLimitStore({ url: cluster.url, keyPrefix });
    const other = new RedisRateLimitStore({ url: cluster.url, keyPrefix });
    return {
      store,
      other,
      cleanup: async () => {
        await Promise.all([store.close(), other.close()]);
        await deleteKeys(cluster.url, keyPrefix);
      },
    };
  });
}
