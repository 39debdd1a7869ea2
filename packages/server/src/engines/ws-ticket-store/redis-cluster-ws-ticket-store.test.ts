import { after, test } from 'node:test';
import { deleteKeys, redisClusterMissing, startRedisCluster, uniquePrefix } from '../../testing/services.js';
import { runWsTicketStoreContract } from './ws-ticket-store.contract.js';
import { RedisWsTicketStore } from './redis-ws-ticket-store.js';

/* The ws-ticket store on a real 3-master Redis Cluster: the contract, keys spread over every master. */
const missing = await redisClusterMissing();

if (missing) {
  test('redis cluster ws-ticket store', { skip: missing }, () => {});
} else {
  const cluster = await startRedisCluster();
  after(() => cluster.stop());

  runWsTicketStoreContract('redis cluster', async () => {
    const keyPrefix = uniquePrefix();
    const store = new RedisWsTicketStore({ url: cluster.url, keyPrefix });
    const other = new RedisWsTicketStore({ url: cluster.url, keyPrefix });
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
