import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InProcessPushQueue } from './in-process-push-queue.js';
import type { PushJob } from './push-queue.js';
import { waitUntil } from '../../testing/poll.js';

const job = (seq: number): PushJob => ({
  chatId: 'dm:a:b',
  seq,
  messageId: `m${seq}`,
  senderId: 'a',
  senderDeviceId: 'da',
  userIds: ['b'],
});

test('the embedded push queue stays bounded while its handler hangs, and resumes when it returns', async () => {
  const queue = new InProcessPushQueue(10);
  const batches: PushJob[][] = [];
  let release!: () => void;
  const hanging = new Promise<void>((r) => (release = r));
  queue.start(async (jobs) => {
    batches.push(jobs);
    if (batches.length === 1) await hanging; // a provider that does not answer
  }, 1);
  assert.equal(await queue.enqueue(job(1)), true); // taken by the handler at once
  const accepted = [];
  for (let seq = 2; seq <= 100; seq++) accepted.push(await queue.enqueue(job(seq)));
  assert.equal(accepted.filter(Boolean).length, 10, 'ten more wait; the rest are refused, not kept');
  release();
  await waitUntil(() => batches.flat().length === 11, 5_000, 'the waiting jobs handled');
  assert.deepEqual(
    batches.flat().map((j) => j.seq),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
  assert.equal(await queue.enqueue(job(101)), true, 'room again');
  await queue.close();
  assert.equal(await queue.enqueue(job(102)), false, 'closed');
});
