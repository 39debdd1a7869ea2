import { deleteKeys, redisUnavailable, testRedisUrl, uniquePrefix } from '../../testing/services.js';
import { runPresenceStoreContract } from './presence-store.contract.js';
import { RedisPresenceStore } from './redis-presence-store.js';

const unavailable = await redisUnavailable();

if (unavailable) {
  const { test } = await import('node:test');
  test('redis presence store', { skip: unavailable }, () => {});
} else {
  runPresenceStoreContract('redis', async ({ ttlMs }) => {
    const keyPrefix = uniquePrefix();
    const store = new RedisPresenceStore({ url: testRedisUrl, ttlMs, keyPrefix });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await deleteKeys(testRedisUrl, keyPrefix);
      },
    };
  });
}
