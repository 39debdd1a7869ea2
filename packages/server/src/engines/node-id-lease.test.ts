import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { deleteKeys, redisUnavailable, testRedisUrl, uniquePrefix } from '../testing/services.js';
import { Snowflake } from '../util/snowflake.js';
import { NODE_IDS, NodeIdLease } from './node-id-lease.js';

const unavailable = await redisUnavailable();

if (unavailable) {
  test('snowflake node id leases', { skip: unavailable }, () => {});
} else {
  describe('snowflake node id leases (Redis)', () => {
    let redis: Redis;
    const prefix = uniquePrefix();
    const leases: NodeIdLease[] = [];
    const lease = async (owner: string, onMoved?: (id: number) => void) => {
      const l = await NodeIdLease.acquire(redis, { prefix, owner, renewMs: 0, onMoved });
      leases.push(l);
      return l;
    };
    before(() => {
      redis = new Redis(testRedisUrl);
    });
    after(async () => {
      await Promise.all(leases.map((l) => l.close()));
      redis.disconnect();
      await deleteKeys(testRedisUrl, prefix);
    });

    /** Leases every id but `free` to someone else (as live nodes would hold them). */
    const fillAllBut = async (...free: number[]) => {
      const pipeline = redis.pipeline();
      for (let id = 0; id < NODE_IDS; id++)
        if (!free.includes(id) && !leases.some((l) => l.id === id))
          pipeline.set(`${prefix}snowflake-node:${id}`, 'other-node', 'PX', 60_000);
      await pipeline.exec();
    };
    const clearAll = async () => {
      const pipeline = redis.pipeline();
      for (let id = 0; id < NODE_IDS; id++) if (!leases.some((l) => l.id === id)) pipeline.del(`${prefix}snowflake-node:${id}`);
      await pipeline.exec();
    };

    test('a node never takes the id of a live node; with every id held, it does not start', async () => {
      const first = await Promise.all(Array.from({ length: 40 }, (_, i) => lease(`node-${i}`)));
      assert.equal(new Set(first.map((l) => l.id)).size, 40, 'nodes starting at once hold different ids');
      await fillAllBut(777);
      const last = leases.some((l) => l.id === 777) ? null : await lease('node-last');
      if (last) assert.equal(last.id, 777, 'the one free id');
      await assert.rejects(
        NodeIdLease.acquire(redis, { prefix, owner: 'node-none', renewMs: 0 }),
        /all 1024 snowflake node ids are leased/,
      );
      await clearAll();
    });

    test('a lease Redis lost is taken back at the next renewal; one taken over meanwhile moves to a free id', async () => {
      const moved: number[] = [];
      const a = await lease('node-d', (id) => moved.push(id));
      const held = a.id;
      // Redis restarted without the key: renewing takes the same id back.
      await redis.del(`${prefix}snowflake-node:${held}`);
      assert.equal(await a.renew(), held);
      assert.equal(await redis.get(`${prefix}snowflake-node:${held}`), 'node-d');
      assert.deepEqual(moved, []);
      // Lost again, and a node starting meanwhile took it (the only free id then).
      await redis.del(`${prefix}snowflake-node:${held}`);
      await fillAllBut(held);
      const e = await lease('node-e');
      assert.equal(e.id, held);
      const spare = (held + 1) % NODE_IDS;
      await redis.del(`${prefix}snowflake-node:${spare}`);
      // a moves to the free id, and its ids change node bits; renewals at once are one renewal.
      const ids = new Snowflake(held);
      const [next, same] = await Promise.all([a.renew(), a.renew()]);
      assert.equal(next, spare);
      assert.equal(same, spare);
      assert.deepEqual(moved, [spare]);
      ids.setNodeId(next);
      assert.equal(Number((BigInt(ids.next()) >> 12n) & 1023n), next);
      assert.equal(await redis.get(`${prefix}snowflake-node:${next}`), 'node-d');
      assert.equal(await redis.get(`${prefix}snowflake-node:${held}`), 'node-e');
      await clearAll();
    });

    test('closing stops renewing and lets the lease run out: no new node mints with it at once', async () => {
      const f = await NodeIdLease.acquire(redis, { prefix, owner: 'node-f', renewMs: 0, leaseMs: 300 });
      await f.close();
      assert.equal(await redis.get(`${prefix}snowflake-node:${f.id}`), 'node-f');
      assert.equal(await f.renew(), f.id, 'a closed lease renews nothing');
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(await redis.get(`${prefix}snowflake-node:${f.id}`), null);
    });
  });
}
