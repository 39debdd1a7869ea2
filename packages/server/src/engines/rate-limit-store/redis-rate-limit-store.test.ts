import { deleteKeys, redisUnavailable, testRedisUrl, uniquePrefix } from '../../testing/services.js';
import { runRateLimitStoreContract } from './rate-limit-store.contract.js';
import { RedisRateLimitStore } from './redis-rate-limit-store.js';

const unavailable = await redisUnavailable();

if (unavailable) {
  const { test } = await import('node:test');
  test('redis rate-limit store', { skip: unavailable }, () => {});
} else {
  runRateLimitStoreContract('redis', async () => {
    const keyPrefix = uniquePrefix();
    // Two connections stand for two nodes sharing the counters.
    const store = new RedisRateLimitStore({ url: testRedisUrl, keyPrefix });
    const other = new RedisRateLimitStore({ url: testRedisUrl, keyPrefix });
    return {
      store,
      other,
      cleanup: async () => {
        await Promise.all([store.close(), other.close()]);
        await deleteKeys(testRedisUrl, keyPrefix);
      },
    };
  });
}
