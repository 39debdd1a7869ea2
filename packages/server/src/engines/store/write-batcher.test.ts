import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WriteBatcher } from './write-batcher.js';

test('a write batcher runs what arrived together as one batch, one at a time, in order, bounded by items and weight', async () => {
  const runs: string[][] = [];
  const batcher = new WriteBatcher<string, string>(
    async (items) => {
      runs.push(items);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return items.map((value) =>
        value === 'bad' ? { ok: false, error: new Error('refused') } : { ok: true, value: value.toUpperCase() },
      );
    },
    { maxItems: 3, maxWeight: 10, weight: (item) => item.length, minIntervalMs: 0 },
  );
  const results = ['a', 'b', 'c', 'd', 'bad', 'eeeeeeeeeeee', 'f'].map((item) => batcher.add(item).catch((err: Error) => err.message));
  await batcher.drain();
  assert.deepEqual(await Promise.all(results), ['A', 'B', 'C', 'D', 'refused', 'EEEEEEEEEEEE', 'F']);
  // At most 3 items, at most 10 characters (a heavier item goes alone), queue order kept.
  assert.deepEqual(runs, [['a', 'b', 'c'], ['d', 'bad'], ['eeeeeeeeeeee'], ['f']]);
});

test('a run that fails as a whole fails each of its items', async () => {
  const batcher = new WriteBatcher<number, number>(async () => Promise.reject(new Error('connection lost')), {
    maxItems: 10,
    minIntervalMs: 0,
  });
  const settled = await Promise.allSettled([batcher.add(1), batcher.add(2)]);
  assert.deepEqual(
    settled.map((s) => s.status),
    ['rejected', 'rejected'],
  );
});
