import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { FanoutJob, FanoutQueue, FanoutWorker } from './fanout-queue.js';
import { waitUntil } from '../../testing/poll.js';

/*
 * The fan-out queue contract: every FanoutQueue runs this suite
 * (in-process-fanout-queue.test.ts, redis-stream-fanout-queue.test.ts).
 *
 * Delivery: the in-process queue hands each job over exactly once (and loses what it
 * holds if the process dies: replay covers it); the Redis queue at least once (a job
 * whose ack was lost runs again), exactly once while nothing fails. The tests below run
 * without failures, so they expect exactly once from both, except the failover test.
 */

export interface FanoutHarness {
  /** Two consumers of one queue (in-process: the same instance twice; there is no shared transport). */
  a: FanoutQueue;
  b: FanoutQueue;
  /** Whether jobs of these two chats may run at the same time (Redis: only on different partitions). */
  independent(chatA: string, chatB: string): boolean;
  /** A dead process's consumer: stops without acking or releasing. Absent where a queue dies with its process. */
  crash?(queue: FanoutQueue): void;
  cleanup(): Promise<void>;
}

export interface FanoutHarnessOptions {
  /** Jobs the queue may hold before enqueue() waits. Absent: the queue's default. */
  capacity?: number;
}

export interface FanoutContractFeatures {
  /** enqueue() waits while the queue is full (in-process); a Redis stream is bounded by MAXLEN instead. */
  backpressure: boolean;
}

let n = 0;
const run = randomBytes(3).toString('hex');
const chat = (name: string) => `g:${run}:${name}:${++n}`;
const job = (chatId: string, seq: number): FanoutJob => ({
  chatId,
  seq,
  messageId: `m-${chatId}-${seq}`,
  senderId: 'u1',
  senderDeviceId: 'd1',
  frame: JSON.stringify({ type: 'new_message', chatId, seq }),
});

const startAll = (h: FanoutHarness, worker: FanoutWorker) => {
  for (const q of new Set([h.a, h.b])) q.start(worker);
};

export function runFanoutQueueContract(
  name: string,
  features: FanoutContractFeatures,
  open: (options?: FanoutHarnessOptions) => Promise<FanoutHarness>,
): void {
  describe(`${name} fan-out queue contract`, () => {
    test('every job reaches the worker once', async (t) => {
      const h = await open();
      t.after(() => h.cleanup());
      const seen: string[] = [];
      startAll(h, async (j) => void seen.push(j.messageId));
      const jobs = Array.from({ length: 60 }, (_, i) => job(chat('once'), i));
      await Promise.all(jobs.map((j, i) => (i % 2 ? h.a : h.b).enqueue(j)));
      await waitUntil(() => seen.length >= jobs.length, 10_000, 'all jobs handled', undefined, 10);
      await new Promise((resolve) => setTimeout(resolve, 100)); // room for a duplicate to show up
      assert.deepEqual([...seen].sort(), jobs.map((j) => j.messageId).sort());
    });

    test('jobs of one chat arrive in order across interleaved chats and two consumers', async (t) => {
      const h = await open();
      t.after(() => h.cleanup());
      const byChat = new Map<string, number[]>();
      startAll(h, async (j) => {
        // A random pause, so a consumer that let two jobs of a chat overlap would reorder them.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
        byChat.set(j.chatId, [...(byChat.get(j.chatId) ?? []), j.seq]);
      });
      const chats = Array.from({ length: 8 }, (_, i) => chat(`order${i}`));
      const perChat = 25;
      // Enqueued one after another (order of acceptance is the order promised), alternating producers.
      for (let seq = 1; seq <= perChat; seq++) {
        for (const [i, c] of chats.entries()) await (i % 2 ? h.a : h.b).enqueue(job(c, seq));
      }
      await waitUntil(() => chats.every((c) => (byChat.get(c)?.length ?? 0) >= perChat), 10_000, 'every chat finished', undefined, 10);
      const expected = Array.from({ length: perChat }, (_, i) => i + 1);
      for (const c of chats) assert.deepEqual(byChat.get(c), expected, `order of ${c}`);
    });

    test('a slow chat does not hold up another chat', async (t) => {
      const h = await open();
      t.after(() => h.cleanup());
      const slow = chat('slow');
      let other = chat('fast');
      while (!h.independent(slow, other)) other = chat('fast');
      let release: () => void = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      const done: string[] = [];
      startAll(h, async (j) => {
        if (j.chatId === slow) await released;
        done.push(`${j.chatId}#${j.seq}`);
      });
      await h.a.enqueue(job(slow, 1));
      await h.a.enqueue(job(other, 1));
      await h.b.enqueue(job(other, 2));
      await waitUntil(() => done.length === 2, 10_000, 'the other chat finished while the slow one waits', undefined, 10);
      assert.deepEqual(done, [`${other}#1`, `${other}#2`]);
      release();
      await waitUntil(() => done.length === 3, 10_000, 'the slow chat finished once released', undefined, 10);
    });

    test('enqueue waits while the queue is full', { skip: !features.backpressure && 'bounded by MAXLEN, not by waiting' }, async (t) => {
      const h = await open({ capacity: 2 });
      t.after(() => h.cleanup());
      let release: () => void = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      startAll(h, async () => released);
      await h.a.enqueue(job(chat('full'), 1));
      await h.a.enqueue(job(chat('full'), 1));
      let accepted = false;
      const third = h.a.enqueue(job(chat('full'), 1)).then(() => (accepted = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(accepted, false, 'a full queue must make the sender wait');
      assert.equal(h.a.depth(), 2);
      release();
      await third;
      assert.equal(accepted, true);
    });

    test('close waits for the jobs in hand to finish', async (t) => {
      const h = await open();
      t.after(() => h.cleanup());
      const finished: number[] = [];
      startAll(h, async (j) => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        finished.push(j.seq);
      });
      const c = chat('closing');
      await h.a.enqueue(job(c, 1));
      await waitUntil(() => h.a.depth() + h.b.depth() > 0 || finished.length > 0, 10_000, 'the job was taken', undefined, 10);
      await Promise.all([...new Set([h.a, h.b])].map((q) => q.close()));
      assert.deepEqual(finished, [1]);
    });

    test('jobs a dead consumer had taken are finished by another, in order', async (t) => {
      const h = await open();
      t.after(() => h.cleanup());
      if (!h.crash) return t.skip('a queue in this process dies with it; members get the message by replay');
      const c = chat('failover');
      const order: number[] = [];
      // a hangs on its first job (a process about to die); b works normally.
      let aTook = false;
      h.a.start(async () => {
        aTook = true;
        await new Promise(() => {});
      });
      for (let seq = 1; seq <= 5; seq++) await h.a.enqueue(job(c, seq));
      await waitUntil(() => aTook, 10_000, 'the doomed consumer took the chat', undefined, 10);
      h.crash(h.a);
      h.b.start(async (j) => void order.push(j.seq));
      await waitUntil(() => order.length >= 5, 10_000, 'the survivor finished every job', undefined, 10);
      assert.deepEqual(order, [1, 2, 3, 4, 5]);
    });
  });
}
