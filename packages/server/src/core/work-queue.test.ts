import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkQueue } from './work-queue.js';

test('a work queue runs at most `concurrency` jobs at once, in turn, and refuses past `maxWaiting` waiting', async () => {
  const q = new WorkQueue(1, 2);
  let running = 0;
  let most = 0;
  const order: number[] = [];
  const releases: (() => void)[] = [];
  const job = (n: number) => async () => {
    running++;
    most = Math.max(most, running);
    await new Promise<void>((resolve) => releases.push(resolve));
    order.push(n);
    running--;
    return n;
  };
  const jobs = [q.tryRun(job(1))!, q.tryRun(job(2))!, q.tryRun(job(3))!];
  assert.equal(q.tryRun(job(4)), null, 'one running, two waiting: full');
  for (let i = 0; i < 3; i++) {
    while (releases.length === 0) await new Promise((r) => setImmediate(r));
    releases.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(await Promise.all(jobs), [1, 2, 3]);
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(most, 1);
  assert.equal(await q.tryRun(async () => 5), 5, 'free again');
});
