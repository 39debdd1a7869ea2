import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, beforeEach, afterEach } from 'node:test';
import type { Bus, BusEvent } from './bus.js';

/*
 * The bus contract: every Bus implementation runs this suite (in-process-bus.test.ts,
 * redis-bus.test.ts). `a` and `b` are two nodes sharing one transport; the in-process
 * bus has no transport between instances, so there a === b and the tests that count
 * nodes expect one.
 */

export interface BusPair {
  a: Bus;
  b: Bus;
  cleanup: () => Promise<void>;
}

const topicId = () => randomBytes(6).toString('hex');

/** Collects what a bus hands its handler, and waits for it. */
function recorder(bus: Bus) {
  const seen: { topic: string; event: BusEvent }[] = [];
  let wake: (() => void) | null = null;
  bus.onEvent((topic, event) => {
    seen.push({ topic, event });
    wake?.();
  });
  return {
    seen,
    async until(count: number, timeoutMs = 2000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (seen.length < count) {
        const left = deadline - Date.now();
        assert.ok(left > 0, `expected ${count} events, got ${seen.length}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, left).unref();
        });
      }
    },
    /** Gives a transport time to deliver something it should not. */
    async quiet(ms = 100): Promise<void> {
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
  };
}

const event = (frame = '{"type":"new_message"}'): BusEvent => ({ kind: 'frame', frame });

export function runBusContract(name: string, open: () => Promise<BusPair>): void {
  describe(`${name} bus contract`, () => {
    let pair: BusPair;
    beforeEach(async () => {
      pair = await open();
    });
    afterEach(async () => pair.cleanup());

    test('publishing to a topic nobody subscribes counts 0 receivers', async () => {
      assert.deepEqual(await pair.a.publish([`user:${topicId()}`], event()), [0]);
    });

    test('an event published on one node reaches the node subscribed to the topic', async () => {
      const got = recorder(pair.b);
      const topic = `user:${topicId()}`;
      await pair.b.subscribe(topic);
      assert.deepEqual(await pair.a.publish([topic], event('hello')), [1]);
      await got.until(1);
      assert.deepEqual(got.seen, [{ topic, event: { kind: 'frame', frame: 'hello' } }]);
    });

    test('after unsubscribe the topic counts 0 and nothing arrives', async () => {
      const got = recorder(pair.b);
      const topic = `user:${topicId()}`;
      await pair.b.subscribe(topic);
      await pair.b.unsubscribe(topic);
      assert.deepEqual(await pair.a.publish([topic], event()), [0]);
      await got.quiet();
      assert.equal(got.seen.length, 0);
    });

    test('one publish to many topics returns a count per topic, in order', async () => {
      const got = recorder(pair.b);
      const [t1, t2, t3] = [`user:${topicId()}`, `user:${topicId()}`, `presence:${topicId()}`];
      await pair.b.subscribe(t1);
      await pair.b.subscribe(t3);
      await pair.a.subscribe(t3); // a second node on t3 (the same node when a === b)
      const both = pair.a === pair.b ? 1 : 2;
      assert.deepEqual(await pair.a.publish([t1, t2, t3], event()), [1, 0, both]);
      await got.until(2);
      assert.deepEqual(got.seen.map((s) => s.topic).sort(), [t1, t3].sort());
    });

    test('a publish to a thousand topics answers every one', async () => {
      const topics = Array.from({ length: 1024 }, () => `user:${topicId()}`);
      const subscribed = topics.filter((_, i) => i % 3 === 0);
      for (const t of subscribed) await pair.b.subscribe(t);
      const got = recorder(pair.b);
      const counts = await pair.a.publish(topics, event());
      assert.deepEqual(
        counts,
        topics.map((_, i) => (i % 3 === 0 ? 1 : 0)),
      );
      await got.until(subscribed.length);
    });

    test('an event round-trips intact, every field', async () => {
      const got = recorder(pair.b);
      const topic = `user:${topicId()}`;
      await pair.b.subscribe(topic);
      const full: BusEvent = {
        kind: 'message',
        frame: JSON.stringify({ type: 'new_message', text: 'héllo "quoted" \n 👋' }),
        chatId: 'g:1',
        seq: 42,
        messageId: 'm-1',
        senderId: 'u-1',
        redeliver: true,
        exceptDevice: 'dev-1',
      };
      await pair.a.publish([topic], full);
      await got.until(1);
      assert.deepEqual(got.seen[0]?.event, full);
    });

    test("a frame's text arrives exactly as published, newlines and all", async () => {
      const got = recorder(pair.b);
      const topic = `user:${topicId()}`;
      await pair.b.subscribe(topic);
      const frames = ['line one\nline two\n', '\n', '', '{"kind":"frame","frame":"x"}\n{"kind":"_hello"}', '"quoted" \\ 👋'];
      for (const frame of frames) await pair.a.publish([topic], { kind: 'frame', frame, exceptDevice: 'd\n1' });
      await pair.a.publish([topic], { kind: 'message', frame: '\n{}\n', chatId: 'c', seq: 1, messageId: 'm', senderId: 'u', change: true });
      await got.until(frames.length + 1);
      assert.deepEqual(
        got.seen.map((s) => s.event),
        [
          ...frames.map((frame) => ({ kind: 'frame', frame, exceptDevice: 'd\n1' })),
          { kind: 'message', frame: '\n{}\n', chatId: 'c', seq: 1, messageId: 'm', senderId: 'u', change: true },
        ],
      );
    });

    test('events published in one turn arrive one by one, in order, each publish counting the nodes reached', async () => {
      const got = recorder(pair.b);
      const topic = `user:${topicId()}`;
      const other = `user:${topicId()}`;
      await pair.b.subscribe(topic);
      await pair.b.subscribe(other);
      // Frames that look like a batch's header, and one past the Redis bus's batch size.
      const frames = ['*1,2\n', '*', '1', 'x'.repeat(300_000), ',', '👋\n*3\n'];
      const counts = await Promise.all([
        ...frames.map((frame) => pair.a.publish([topic], { kind: 'frame', frame })),
        pair.a.publish([other], { kind: 'members-changed', chatId: 'g:1' }),
        pair.a.publish([topic], { kind: 'message', frame: 'm', chatId: 'c', seq: 9, messageId: 'm9', senderId: 'u' }),
      ]);
      assert.deepEqual(
        counts,
        Array.from({ length: frames.length + 2 }, () => [1]),
      );
      await got.until(frames.length + 2);
      assert.deepEqual(
        got.seen
          .filter((s) => s.topic === topic)
          .map((s) => (s.event.kind === 'frame' || s.event.kind === 'message' ? s.event.frame : s.event.kind)),
        [...frames, 'm'],
      );
      assert.deepEqual(
        got.seen.filter((s) => s.topic === other).map((s) => s.event),
        [{ kind: 'members-changed', chatId: 'g:1' }],
      );
    });

    test('every handler added gets every event', async () => {
      const first = recorder(pair.b);
      const second = recorder(pair.b);
      const topic = `user:${topicId()}`;
      await pair.b.subscribe(topic);
      await pair.a.publish([topic], { kind: 'members-changed', chatId: 'g:7' });
      await first.until(1);
      await second.until(1);
      assert.deepEqual(second.seen[0]?.event, { kind: 'members-changed', chatId: 'g:7' });
    });

    test('publishing to no topics resolves with no counts', async () => {
      assert.deepEqual(await pair.a.publish([], event()), []);
    });
  });
}
