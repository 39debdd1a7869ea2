import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FifoCache } from './fifo-cache.js';

test('a fifo cache keeps the newest entries up to its capacity, oldest out first', () => {
  const cache = new FifoCache<string, number>(3);
  for (const [k, v] of [
    ['a', 1],
    ['b', 2],
    ['c', 3],
  ] as const)
    assert.equal(cache.add(k, v), true);
  assert.equal(cache.size, 3);
  assert.equal(cache.add('b', 20), false, 'a key already there is not added again');
  assert.equal(cache.get('b'), 2);
  cache.add('d', 4);
  assert.equal(cache.has('a'), false, 'the oldest went first');
  assert.deepEqual(
    ['b', 'c', 'd'].map((k) => cache.get(k)),
    [2, 3, 4],
  );
  for (let i = 0; i < 10; i++) cache.add(`x${i}`, i);
  assert.equal(cache.size, 3);
  assert.deepEqual(
    ['x7', 'x8', 'x9'].map((k) => cache.get(k)),
    [7, 8, 9],
  );
  assert.equal(cache.get('d'), undefined);
});

test('a fifo cache of one holds the last key added', () => {
  const cache = new FifoCache<number, string>(1);
  cache.add(1, 'one');
  cache.add(2, 'two');
  assert.equal(cache.size, 1);
  assert.equal(cache.get(2), 'two');
  assert.throws(() => new FifoCache(0), RangeError);
});
