import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { NO_PASSWORD } from './identities.js';
import type { Store } from './store.js';

/*
 * The contract of the store's external identities (identities.ts), for every store. Run by
 * sqlite-identities.test.ts and postgres-identities.test.ts.
 */

let n = 0;
const uid = (p: string) => `${p}${++n}x${randomBytes(3).toString('hex')}`;
const user = (username = uid('ext_')) => ({ id: uid('u'), username, displayName: 'Ext', passwordHash: NO_PASSWORD, createdAt: 5 });

export function runIdentitiesContract(name: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  describe(`external identities contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await open());
    });
    after(() => cleanup?.());

    test('create makes the user and the pair; userOf finds it; the same pair again answers the first user', async () => {
      const sub = uid('sub');
      assert.equal(await store.identities.userOf('iss-a', sub), null);
      const u = user();
      const made = await store.identities.create(u, 'iss-a', sub);
      assert.deepEqual(made, { ...u, lastSeen: null });
      assert.equal((await store.identities.userOf('iss-a', sub))?.id, u.id);
      assert.equal((await store.getUser(u.id))?.username, u.username);
      const again = await store.identities.create(user(), 'iss-a', sub);
      assert.notEqual(again, 'username_taken');
      assert.equal((again as { id: string }).id, u.id, 'the first user');
      // The same subject of another issuer is another user.
      assert.equal(await store.identities.userOf('iss-b', sub), null);
    });

    test('a taken username creates nothing', async () => {
      const first = user();
      await store.identities.create(first, 'iss-a', uid('sub'));
      const sub = uid('sub');
      const clash = user(first.username);
      assert.equal(await store.identities.create(clash, 'iss-a', sub), 'username_taken');
      assert.equal(await store.identities.userOf('iss-a', sub), null);
      assert.equal(await store.getUser(clash.id), null);
    });

    test('concurrent creates of one pair end with one user and no orphan', async () => {
      const sub = uid('sub');
      const tries = Array.from({ length: 8 }, () => user());
      const made = await Promise.all(tries.map((u) => store.identities.create(u, 'iss-a', sub)));
      const ids = new Set(made.map((m) => (m === 'username_taken' ? 'taken' : m.id)));
      assert.equal(ids.size, 1, JSON.stringify([...ids]));
      const winner = [...ids][0]!;
      for (const u of tries) if (u.id !== winner) assert.equal(await store.getUser(u.id), null, 'a loser left no user row');
    });
  });
}
