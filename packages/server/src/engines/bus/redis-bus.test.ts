import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { startRedis, redisUnavailable, testRedisUrl, uniquePrefix } from '../../testing/services.js';
import { runBusContract } from './bus.contract.js';
import { RedisBus } from './redis-bus.js';

const unavailable = await redisUnavailable();

if (unavailable) {
  test('redis bus', { skip: unavailable }, () => {});
} else {
  // Two nodes: two RedisBus instances (four connections) on one Redis, channels under a prefix of this run.
  runBusContract('redis', async () => {
    const channelPrefix = uniquePrefix();
    const a = await RedisBus.connect({ url: testRedisUrl, channelPrefix });
    const b = await RedisBus.connect({ url: testRedisUrl, channelPrefix });
    return { a, b, cleanup: async () => void (await Promise.all([a.close(), b.close()])) };
  });

  // The outage test stops and restarts a redis-server of its own, never the shared one.
  const noServerBinary = spawnSync('redis-server', ['--version']).error ? 'redis-server is not on PATH' : false;
  describe('redis bus through a Redis outage', { skip: noServerBinary }, () => {
    test('publish rejects quickly while Redis is down; topics come back and onReconnect fires after', async (t) => {
      const redis = await startRedis();
      t.after(() => redis.stop());
      const a = await RedisBus.connect({ url: redis.url });
      const b = await RedisBus.connect({ url: redis.url });
      t.after(async () => void (await Promise.all([a.close(), b.close()])));
      const received: string[] = [];
      b.onEvent((topic) => received.push(topic));
      let reconnects = 0;
      const reconnected = new Promise<void>((resolve) => b.onReconnect(() => (reconnects++, resolve())));

      await b.subscribe('user:kept');
      await b.subscribe('user:dropped');
      await redis.stop();
      await new Promise((resolve) => setTimeout(resolve, 100)); // let the clients see the socket close

      const started = Date.now();
      await assert.rejects(a.publish(['user:kept'], { kind: 'frame', frame: 'lost' }));
      assert.ok(Date.now() - started < 500, 'publish must fail fast, not wait for Redis');

      // Changes made during the outage are kept in the node's own record.
      await b.subscribe('user:added-while-down');
      await b.unsubscribe('user:dropped');

      await redis.start();
      await reconnected;
      assert.equal(reconnects, 1);
      // The publisher reconnects on its own schedule; retry until it is back.
      let counts: number[] = [];
      for (let i = 0; i < 100; i++) {
        try {
          counts = await a.publish(['user:kept', 'user:dropped', 'user:added-while-down'], { kind: 'frame', frame: 'after' });
          break;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      assert.deepEqual(counts, [1, 0, 1]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(received.sort(), ['user:added-while-down', 'user:kept']);
    });
  });
}
