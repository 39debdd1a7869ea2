import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FanoutQueueFullError, type FanoutJob } from './fanout-queue.js';
import { InProcessFanoutQueue } from './in-process-fanout-queue.js';

/*
 * Backpressure of the embedded fan-out queue (issue 9): a full queue makes enqueue()
 * wait, and a bounded number of waiters at most; past that it refuses at once.
 */

const job = (chatId: string, seq: number): FanoutJob => ({
  chatId,
  seq,
  messageId: `${chatId}-${seq}`,
  senderId: 's',
  senderDeviceId: 'd',
  frame: `{"seq":${seq}}`,
});

test('a full queue makes senders wait, at most maxWaiting of them; the rest are refused at once and nothing grows', async () => {
  const queue = new InProcessFanoutQueue(2, 3);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const done: string[] = [];
  queue.start(async (j) => {
    await gate;
    done.push(j.messageId);
  });
  const settled: string[] = [];
  const track = (p: Promise<void>, id: string) =>
    p.then(
      () => settled.push(`${id} accepted`),
      (err: unknown) => settled.push(`${id} ${err instanceof FanoutQueueFullError ? 'refused' : String(err)}`),
    );
  const all = [1, 2, 3, 4, 5, 6, 7].map((seq) => track(queue.enqueue(job('c', seq)), `#${seq}`));
  await new Promise((resolve) => setImmediate(resolve));
  // Two held, three waiting, two refused.
  assert.deepEqual(settled.sort(), ['#1 accepted', '#2 accepted', '#6 refused', '#7 refused']);
  assert.equal(queue.depth(), 2);
  open();
  await Promise.all(all);
  await queue.close();
  assert.deepEqual(done, ['c-1', 'c-2', 'c-3', 'c-4', 'c-5'], 'the accepted jobs, in order');
  assert.equal(queue.depth(), 0);
});
