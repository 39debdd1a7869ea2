import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { RateLimitStore } from './rate-limit-store.js';

/*
 * The rate-limit-store contract: every RateLimitStore runs this suite
 * (in-memory-rate-limit-store.test.ts, redis-rate-limit-store.test.ts). Refill is
 * checked with slow rates and short sleeps, never with tight timing.
 */

export interface RateLimitHarness {
  store: RateLimitStore;
  /** A second handle on the same counters (another node); the same object where there is one process. */
  other: RateLimitStore;
  cleanup: () => Promise<void>;
}

const run = randomBytes(3).toString('hex');
let n = 0;
const key = (what: string) => `${what}:${run}:${++n}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function runRateLimitStoreContract(name: string, open: () => Promise<RateLimitHarness>): void {
  describe(`${name} rate-limit store contract`, () => {
    test('a bucket gives its burst, then refuses with the wait until the next token', async (t) => {
      const { store, other, cleanup } = await open();
      t.after(cleanup);
      const k = key('burst');
      const spec = { capacity: 5, perSecond: 1 };
      for (let i = 0; i < 3; i++) assert.equal(await store.take(k, spec), 0, `take ${i}`);
      for (let i = 3; i < 5; i++) assert.equal(await other.take(k, spec), 0, `take ${i} elsewhere`);
      const wait = await store.take(k, spec);
      assert.ok(wait > 0 && wait <= 1000, `wait ${wait}`);
      assert.ok((await other.take(k, spec)) > 0, 'refused on the other handle too');
      assert.equal(await store.take(key('fresh'), spec), 0, 'another key has its own bucket');
    });

    test('tokens come back at the rate', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const k = key('refill');
      const spec = { capacity: 2, perSecond: 20 };
      assert.equal(await store.take(k, spec, 2), 0);
      assert.ok((await store.take(k, spec)) > 0);
      await sleep(150); // 3 tokens' worth at 20/s, capped at 2
      assert.equal(await store.take(k, spec), 0);
      assert.equal(await store.take(k, spec), 0);
      assert.ok((await store.take(k, spec)) > 0, 'never more than the capacity');
    });

    test('cost and need: a peek takes nothing, a weighted take charges its cost', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const k = key('weighted');
      const spec = { capacity: 10, perSecond: 0.001 };
      assert.equal(await store.take(k, spec, 0, 1), 0, 'peek on a full bucket');
      assert.equal(await store.take(k, spec, 7), 0);
      assert.ok((await store.take(k, spec, 4)) > 0, '3 left: a cost of 4 is refused');
      assert.equal(await store.take(k, spec, 3), 0);
      assert.ok((await store.take(k, spec, 0, 1)) > 0, 'peek on an empty bucket');
      const big = key('oversized');
      assert.equal(await store.take(big, spec, 50), 0, 'a cost above the capacity passes from a full bucket');
      assert.ok((await store.take(big, spec)) > 0, 'and empties it');
    });

    test('concurrent takes never exceed the bucket', async (t) => {
      const { store, other, cleanup } = await open();
      t.after(cleanup);
      const k = key('race');
      const spec = { capacity: 20, perSecond: 0.001 };
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? store : other).take(k, spec)));
      assert.equal(answers.filter((w) => w === 0).length, 20);
    });

    test('slots: at most the limit held; a released slot frees its place; holding again is idempotent', async (t) => {
      const { store, other, cleanup } = await open();
      t.after(cleanup);
      const k = key('slots');
      assert.equal(await store.acquireSlot(k, 'a', 2, 30_000), true);
      assert.equal(await other.acquireSlot(k, 'b', 2, 30_000), true);
      assert.equal(await store.acquireSlot(k, 'c', 2, 30_000), false, 'full');
      assert.equal(await store.acquireSlot(k, 'a', 2, 30_000), true, 'a slot already held');
      await other.releaseSlot(k, 'a');
      assert.equal(await store.acquireSlot(k, 'c', 2, 30_000), true, 'a freed place');
      assert.equal(await store.acquireSlot(key('slots'), 'x', 1, 30_000), true, 'another key');
    });

    test('slots expire unless refreshed', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const k = key('expiry');
      assert.equal(await store.acquireSlot(k, 'kept', 2, 300), true);
      assert.equal(await store.acquireSlot(k, 'dropped', 2, 300), true);
      await sleep(150);
      await store.refreshSlots([{ key: k, id: 'kept' }], 5_000);
      await sleep(300);
      assert.equal(await store.acquireSlot(k, 'new', 2, 5_000), true, 'the unrefreshed slot expired');
      assert.equal(await store.acquireSlot(k, 'third', 2, 5_000), false, 'the refreshed slot still counts');
      await store.releaseSlot(k, 'new');
      await store.refreshSlots([{ key: k, id: 'new' }], 5_000);
      assert.equal(await store.acquireSlot(k, 'third', 2, 5_000), true, 'a refresh does not bring a released slot back');
    });
  });
}
