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

    test('a node never takes the id of a live node: not after the counter wraps, not after Redis lost the counter', async () => {
      const a = await lease('node-a');
      // 1,024 node starts later the counter points at a's id again.
      await redis.set(`${prefix}snowflake-node`, String(a.id - 1 + NODE_IDS));
      const b = await lease('node-b');
      assert.notEqual(b.id, a.id);
      // Redis lost the counter: it starts again from 1.
      await redis.del(`${prefix}snowflake-node`);
      const c = await lease('node-c');
      assert.ok(![a.id, b.id].includes(c.id), `${c.id} is held by a live node`);
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
      // Lost again, and a node starting meanwhile took it: a moves on, and its ids change node bits.
      await redis.del(`${prefix}snowflake-node:${held}`);
      await redis.set(`${prefix}snowflake-node`, String(held - 1 + NODE_IDS));
      const e = await lease('node-e');
      assert.equal(e.id, held);
      const ids = new Snowflake(held);
      const next = await a.renew();
      assert.notEqual(next, held);
      assert.deepEqual(moved, [next]);
      ids.setNodeId(next);
      assert.equal(Number((BigInt(ids.next()) >> 12n) & 1023n), next);
      assert.equal(await redis.get(`${prefix}snowflake-node:${next}`), 'node-d');
      assert.equal(await redis.get(`${prefix}snowflake-node:${held}`), 'node-e');
    });

    test('closing frees the id only while this node still holds it', async () => {
      const f = await lease('node-f');
      await f.close();
      assert.equal(await redis.get(`${prefix}snowflake-node:${f.id}`), null);
      const g = await lease('node-g');
      await redis.set(`${prefix}snowflake-node:${g.id}`, 'someone-else');
      await g.close();
      assert.equal(await redis.get(`${prefix}snowflake-node:${g.id}`), 'someone-else');
    });
  });
}
