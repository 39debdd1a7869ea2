import { deleteKeys, redisUnavailable, testRedisUrl, uniquePrefix } from '../../testing/services.js';
import { runWsTicketStoreContract } from './ws-ticket-store.contract.js';
import { RedisWsTicketStore } from './redis-ws-ticket-store.js';

const unavailable = await redisUnavailable();

if (unavailable) {
  const { test } = await import('node:test');
  test('redis ws-ticket store', { skip: unavailable }, () => {});
} else {
  runWsTicketStoreContract('redis', async () => {
    const keyPrefix = uniquePrefix();
    // Two connections stand for two nodes sharing the tickets.
    const store = new RedisWsTicketStore({ url: testRedisUrl, keyPrefix });
    const other = new RedisWsTicketStore({ url: testRedisUrl, keyPrefix });
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
