import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { PresenceStore } from './presence-store.js';

/*
 * The presence-store contract: every PresenceStore runs this suite
 * (in-memory-presence-store.test.ts, redis-presence-store.test.ts). Two node ids stand
 * for two nodes; the TTL tests use real time with a short TTL.
 */

export interface PresenceHarness {
  store: PresenceStore;
  cleanup: () => Promise<void>;
}

const run = randomBytes(3).toString('hex');
let n = 0;
const user = () => `u-${run}-${++n}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function runPresenceStoreContract(name: string, open: (options: { ttlMs: number }) => Promise<PresenceHarness>): void {
  describe(`${name} presence store contract`, () => {
    test('a user is online while any node holds them, and offline after the last lets go', async (t) => {
      const { store, cleanup } = await open({ ttlMs: 30_000 });
      t.after(cleanup);
      const u = user();
      assert.equal(await store.setOnline(u, 'node-1'), true, 'was offline everywhere');
      assert.equal(await store.setOnline(u, 'node-2'), false, 'already online on node-1');
      assert.equal(await store.setOnline(u, 'node-1'), false, 'the same node again');
      assert.deepEqual(await store.isOnline([u]), [true]);
      assert.equal(await store.setOffline(u, 'node-1'), false, 'still on node-2');
      assert.deepEqual(await store.isOnline([u]), [true]);
      assert.equal(await store.setOffline(u, 'node-2'), true, 'now offline everywhere');
      assert.deepEqual(await store.isOnline([u]), [false]);
      assert.equal(await store.setOnline(u, 'node-2'), true, 'back from offline');
    });

    test('isOnline answers per user, in order, unknown users offline', async (t) => {
      const { store, cleanup } = await open({ ttlMs: 30_000 });
      t.after(cleanup);
      const [u1, u2, u3] = [user(), user(), user()];
      await store.setOnline(u1, 'node-1');
      await store.setOnline(u3, 'node-2');
      assert.deepEqual(await store.isOnline([u1, u2, u3, u1]), [true, false, true, true]);
      assert.deepEqual(await store.isOnline([]), []);
    });

    test('an entry nobody refreshes expires after the TTL', async (t) => {
      const { store, cleanup } = await open({ ttlMs: 150 });
      t.after(cleanup);
      const u = user();
      await store.setOnline(u, 'node-1');
      assert.deepEqual(await store.isOnline([u]), [true]);
      await sleep(250);
      assert.deepEqual(await store.isOnline([u]), [false]);
      assert.equal(await store.setOnline(u, 'node-1'), true, 'it counts as a return from offline');
    });

    test('refresh keeps a user online past the TTL', async (t) => {
      const { store, cleanup } = await open({ ttlMs: 200 });
      t.after(cleanup);
      const [kept, dropped] = [user(), user()];
      await store.setOnline(kept, 'node-1');
      await store.setOnline(dropped, 'node-1');
      for (let i = 0; i < 4; i++) {
        await sleep(80);
        await store.refresh([kept], 'node-1');
      }
      assert.deepEqual(await store.isOnline([kept, dropped]), [true, false]);
      await store.refresh([], 'node-1');
    });

    test("a dead node's entry stops counting while the live node's refreshes go on", async (t) => {
      const { store, cleanup } = await open({ ttlMs: 200 });
      t.after(cleanup);
      const u = user();
      await store.setOnline(u, 'node-dead');
      await store.setOnline(u, 'node-live');
      for (let i = 0; i < 4; i++) {
        await sleep(80);
        await store.refresh([u], 'node-live');
      }
      assert.deepEqual(await store.isOnline([u]), [true]);
      assert.equal(await store.setOffline(u, 'node-live'), true, 'only the dead node was left, and it does not count');
    });
  });
}
