import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PushTargetRecord } from '../engines/store/push-targets.js';
import { PushTargetOwners } from './target-owners.js';

/** A store whose pushTargets answers from `owners` and counts reads; `gate` holds a read open. */
function fakeTargets(owners: Set<string>) {
  const reads: string[][] = [];
  let gate: Promise<void> | null = null;
  return {
    reads,
    hold(p: Promise<void>) {
      gate = p;
    },
    store: {
      async pushTargets(userIds: string[]): Promise<PushTargetRecord[]> {
        reads.push(userIds);
        const answer = userIds.filter((u) => owners.has(u));
        if (gate) await gate;
        return answer.map((userId) => ({ userId, deviceId: `d-${userId}` }) as PushTargetRecord);
      },
    },
  };
}

test('push target owners: one read per user per TTL; a registration is seen at once; a read that raced it is not kept', async () => {
  const owners = new Set(['a']);
  let now = 0;
  const f = fakeTargets(owners);
  const cache = new PushTargetOwners(f.store, () => now);

  assert.deepEqual(await cache.withTargets(['a', 'b']), ['a']);
  assert.deepEqual(await cache.withTargets(['a', 'b']), ['a']);
  assert.equal(f.reads.length, 1, 'the second answer came from the cache');

  // b registers (on any node): the next message to b must see it, whatever was cached.
  owners.add('b');
  cache.added('b');
  assert.deepEqual(await cache.withTargets(['a', 'b']), ['a', 'b']);
  assert.deepEqual(f.reads[1], ['b'], 'only the invalidated user is read again');

  // A read under way when c registers answered "none": it must not be cached.
  let release!: () => void;
  f.hold(new Promise<void>((r) => (release = r)));
  const racing = cache.withTargets(['c']);
  owners.add('c');
  cache.added('c');
  release();
  assert.deepEqual(await racing, []);
  f.hold(Promise.resolve());
  assert.deepEqual(await cache.withTargets(['c']), ['c'], 'the raced answer was not kept');

  // Everything is read again after the TTL, and after a bus reconnect.
  const before = f.reads.length;
  now += 30_000;
  await cache.withTargets(['a']);
  assert.equal(f.reads.length, before + 1);
  cache.addedAnywhere();
  await cache.withTargets(['a']);
  assert.equal(f.reads.length, before + 2);
});

test('push target owners: callers asking while a read is in flight share it, unless the user registered meanwhile', async () => {
  const owners = new Set(['a']);
  const f = fakeTargets(owners);
  const cache = new PushTargetOwners(f.store);
  let release!: () => void;
  f.hold(new Promise<void>((r) => (release = r)));
  // A cold start: many messages to the same users at once make one read, not one each.
  const asking = Array.from({ length: 50 }, () => cache.withTargets(['a', 'b']));
  const another = cache.withTargets(['b', 'c']);
  // b registers while that read is under way: a caller from now on must not take its answer.
  owners.add('b');
  cache.added('b');
  f.hold(Promise.resolve());
  const afterRegistration = cache.withTargets(['b']);
  release();
  for (const answer of await Promise.all(asking)) assert.deepEqual(answer, ['a']);
  assert.deepEqual(await another, []);
  assert.deepEqual(await afterRegistration, ['b']);
  assert.deepEqual(f.reads, [['a', 'b'], ['c'], ['b']]);
});
