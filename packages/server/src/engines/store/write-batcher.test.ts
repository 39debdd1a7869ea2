import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AGAIN, WriteBatcher } from './write-batcher.js';

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

test('a full batch does not wait for the interval: the interval gathers, it does not cap', async () => {
  const runs: number[][] = [];
  const batcher = new WriteBatcher<number, number>(
    async (items) => {
      runs.push(items);
      return items.map((value) => ({ ok: true, value }));
    },
    { maxItems: 3, minIntervalMs: 3_000 },
  );
  await batcher.add(0); // an idle batcher runs at once; the next run would wait 3 s
  const started = Date.now();
  const full = [1, 2, 3].map((n) => batcher.add(n));
  const partial = batcher.add(4);
  assert.deepEqual(await Promise.all(full), [1, 2, 3]);
  assert.ok(Date.now() - started < 1_500, 'the full batch ran without waiting out the interval');
  assert.deepEqual(runs, [[0], [1, 2, 3]]);
  // A batch that is not full still waits for the interval.
  const pending = await Promise.race([partial.then(() => 'ran'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 200))]);
  assert.equal(pending, 'waiting');
  await batcher.drain();
  assert.equal(await partial, 4);
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

test('with two runs in flight, a key held by the running one waits for it; other keys run beside it, each key in queue order', async () => {
  const runs: string[][] = [];
  let inFlight = 0;
  let most = 0;
  const release: (() => void)[] = [];
  const batcher = new WriteBatcher<string, string>(
    async (items) => {
      runs.push(items);
      most = Math.max(most, ++inFlight);
      await new Promise<void>((resolve) => release.push(resolve));
      inFlight--;
      return items.map((value) => ({ ok: true, value }));
    },
    { maxItems: 10, minIntervalMs: 0, maxInFlight: 2, key: (item) => item[0]! },
  );
  const first = [batcher.add('x1'), batcher.add('y1')];
  await new Promise((resolve) => setImmediate(resolve));
  // x and y are held by the first run: x2 and y2 wait; z1 runs beside it.
  const later = [batcher.add('x2'), batcher.add('z1'), batcher.add('y2')];
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(runs, [['x1', 'y1'], ['z1']]);
  release.shift()!(); // the first run ends: x2 and y2 may go, in queue order
  await Promise.all(first);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(runs, [['x1', 'y1'], ['z1'], ['x2', 'y2']]);
  while (release.length > 0) release.shift()!();
  const drained = batcher.drain();
  while (release.length > 0) release.shift()!();
  await drained;
  assert.deepEqual(await Promise.all(later), ['x2', 'z1', 'y2']);
  assert.equal(most, 2);
});

test('an item a run answers AGAIN goes back before the later items of its key, into the next run; the others resolve at once', async () => {
  const runs: string[][] = [];
  let putBack = true;
  const batcher = new WriteBatcher<string, string>(
    async (items) => {
      runs.push(items);
      return items.map((item) => {
        if (item === 'x1' && putBack) {
          putBack = false;
          return AGAIN;
        }
        return { ok: true, value: item };
      });
    },
    { maxItems: 10, minIntervalMs: 0, maxInFlight: 2, key: (item) => item[0]! },
  );
  const first = [batcher.add('x1'), batcher.add('y1')];
  // y1 resolves from the first run, x1 from the second.
  assert.equal(await first[1], 'y1');
  const later = batcher.add('x2');
  assert.deepEqual(await Promise.all([first[0], later]), ['x1', 'x2']);
  await batcher.drain();
  assert.deepEqual(runs[0], ['x1', 'y1']);
  // x1 runs again, still ahead of x2 (which may share its run).
  assert.deepEqual(runs.slice(1).flat(), ['x1', 'x2']);
});
