import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { clusterSlotPorts, deleteKeys, redisClusterMissing, startRedisCluster, uniquePrefix } from '../../testing/services.js';
import { slotOf } from '../redis-connection.js';
import { runPresenceStoreContract } from './presence-store.contract.js';
import { RedisPresenceStore } from './redis-presence-store.js';

/*
 * The presence store on a real 3-master Redis Cluster (started once for this file): the
 * contract, and the multi-user calls (one pipeline per slot) over users spread on every
 * master.
 */
const missing = await redisClusterMissing();

if (missing) {
  test('redis cluster presence store', { skip: missing }, () => {});
} else {
  const cluster = await startRedisCluster();
  after(() => cluster.stop());

  runPresenceStoreContract('redis cluster', async ({ ttlMs }) => {
    const keyPrefix = uniquePrefix();
    const store = new RedisPresenceStore({ url: cluster.url, ttlMs, keyPrefix });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await deleteKeys(cluster.url, keyPrefix);
      },
    };
  });

  describe('redis cluster presence store: slots', () => {
    test('refresh and isOnline over users on every master answer per user, in order', async (t) => {
      const keyPrefix = uniquePrefix();
      const store = new RedisPresenceStore({ url: cluster.url, ttlMs: 30_000, keyPrefix });
      t.after(async () => {
        await store.close();
        await deleteKeys(cluster.url, keyPrefix);
      });
      const users = Array.from({ length: 300 }, (_, i) => `u-slots-${i}`);
      const ports = await clusterSlotPorts(cluster.urls[0]!);
      assert.equal(
        new Set(users.map((u) => ports[slotOf(`${keyPrefix}presence:${u}`)])).size,
        3,
        'the users spread over all three masters',
      );
      const online = users.filter((_, i) => i % 2 === 0);
      await store.refresh(online, 'node-1');
      assert.deepEqual(
        await store.isOnline(users),
        users.map((_, i) => i % 2 === 0),
      );
      assert.equal(await store.setOffline(online[0]!, 'node-1'), true);
      assert.deepEqual(await store.isOnline(users.slice(0, 4)), [false, false, true, false]);
    });
  });
}
