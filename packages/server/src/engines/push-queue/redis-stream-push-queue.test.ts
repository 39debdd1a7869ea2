import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openRedis, type RedisClient } from '../redis-connection.js';
import { StreamGroup } from '../redis-stream-group.js';
import { deleteKeys, redisUnavailable, testRedisUrl, uniquePrefix } from '../../testing/services.js';
import { pollUntil, waitUntil } from '../../testing/poll.js';
import type { PushJob } from './push-queue.js';
import { RedisStreamPushQueue } from './redis-stream-push-queue.js';

/*
 * The cluster push queue over the shared test Redis: how jobs that fail, and jobs left by
 * a consumer that died, come back. Each test has keys of its own (a fresh prefix).
 * reclaimIdleMs is short, so the reclaim period is its floor, one second.
 */
const unavailable = await redisUnavailable();

const job = (seq: number): PushJob => ({
  chatId: 'dm:a:b',
  seq,
  messageId: `m${seq}`,
  senderId: 'a',
  senderDeviceId: 'da',
  userIds: ['b'],
});

describe('redis stream push queue', { skip: unavailable ?? false }, () => {
  let redis: RedisClient;
  const prefixes: string[] = [];
  const queues: RedisStreamPushQueue[] = [];

  before(() => {
    redis = openRedis(testRedisUrl, { maxRetriesPerRequest: 2 });
    redis.on('error', () => {});
  });

  after(async () => {
    await Promise.all(queues.map((q) => q.close()));
    for (const prefix of prefixes) await deleteKeys(testRedisUrl, prefix);
    redis.disconnect();
  });

  const makeQueue = (keyPrefix: string, reclaimIdleMs: number, warnings: object[] = []) => {
    const queue = new RedisStreamPushQueue({
      redis,
      target: testRedisUrl,
      consumer: `node-${queues.length}`,
      keyPrefix,
      blockMs: 100,
      reclaimIdleMs,
      log: { warn: (obj: object) => void warnings.push(obj) },
    });
    queues.push(queue);
    return queue;
  };
  const fresh = () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    return prefix;
  };
  const pendingCount = async (prefix: string) => ((await redis.xpending(`${prefix}push-jobs`, 'push')) as [number, ...unknown[]])[0];

  test('a job whose handler always fails is tried five times, then acked as a dead letter and logged', async () => {
    const prefix = fresh();
    const warnings: object[] = [];
    const queue = makeQueue(prefix, 200, warnings);
    let attempts = 0;
    queue.start(async (jobs) => {
      if (jobs.some((j) => j.messageId === 'm1')) attempts++;
      throw new Error('poison');
    }, 2);
    await queue.enqueue(job(1));
    await waitUntil(
      () => attempts >= 5,
      15_000,
      'five attempts',
      () => `${attempts} attempts`,
    );
    await waitUntil(() => warnings.length > 0, 5_000, 'the dead letter logged');
    assert.equal(await pendingCount(prefix), 0, 'no longer pending: nobody will claim it again');
    // Two more reclaim periods: it is not tried again.
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(attempts, 5);
    assert.equal(warnings.length, 1);
    assert.equal((warnings[0] as { message_id?: string }).message_id, 'm1');
  });

  test('a job that fails twice and then succeeds is handled (at least once) and not logged', async () => {
    const prefix = fresh();
    const warnings: object[] = [];
    const queue = makeQueue(prefix, 200, warnings);
    let attempts = 0;
    let handled = false;
    queue.start(async () => {
      if (++attempts <= 2) throw new Error('transient');
      handled = true;
    }, 2);
    await queue.enqueue(job(2));
    await waitUntil(() => handled, 10_000, 'handled on the third attempt');
    await pollUntil(
      'acked',
      () => pendingCount(prefix),
      (n) => n === 0,
      2_000,
    );
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(attempts, 3);
    assert.deepEqual(warnings, []);
  });

  test('a dead consumer’s backlog of 1,000 jobs is taken over within a few reclaim periods, not 1,000/64', async () => {
    const prefix = fresh();
    const key = `${prefix}push-jobs`;
    const n = 1_000;
    const pipeline = redis.pipeline();
    for (let seq = 1; seq <= n; seq++) pipeline.xadd(key, '*', 'job', JSON.stringify(job(seq)));
    await pipeline.exec();
    // A consumer that read every job and died: all of them pending in its hands, never acked.
    const dead = new StreamGroup(redis, key, 'push', 'dead-node');
    await dead.create();
    assert.equal((await dead.read('>', n)).length, n);

    const reclaimIdleMs = 300;
    const seen = new Set<number>();
    let inFlight = 0;
    let mostInFlight = 0;
    const queue = makeQueue(prefix, reclaimIdleMs);
    const started = Date.now();
    queue.start(async (jobs) => {
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      await new Promise((r) => setTimeout(r, 5)); // a handler that takes a little time
      for (const j of jobs) seen.add(j.seq);
      inFlight--;
    }, 4);
    // One reclaim period is 1 s here: one batch of 64 per period would take 16 s.
    await waitUntil(
      () => seen.size === n,
      6_000,
      'the whole backlog handled',
      () => `${seen.size} of ${n} after ${Date.now() - started} ms`,
    );
    assert.ok(mostInFlight <= 4, `at most the concurrency in flight (${mostInFlight})`);
    await pollUntil(
      'all acked',
      () => pendingCount(prefix),
      (count) => count === 0,
      3_000,
    );
  });
});
