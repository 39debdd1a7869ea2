import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { startRedis, redisUnavailable, testRedisUrl, uniquePrefix } from '../../testing/services.js';
import { runBusContract } from './bus.contract.js';
import { RedisBus, decodeBusBatch, encodeBusBatch, encodeBusEvent } from './redis-bus.js';
import type { BusEvent } from './bus.js';

const unavailable = await redisUnavailable();

describe('redis bus: several events in one payload', () => {
  const events: BusEvent[] = [
    { kind: 'frame', frame: '*2,1\n' },
    { kind: 'message', frame: '\n{"a":1}\n', chatId: 'c', seq: 3, messageId: 'm', senderId: 'u' },
    { kind: 'members-changed', chatId: 'g:1' },
    { kind: 'frame', frame: '👋 , *', exceptDevice: 'd,1' },
    { kind: 'frame', frame: '' },
  ];

  test('decode gives back every event, in order; a lone event decodes as itself', () => {
    assert.deepEqual(decodeBusBatch(encodeBusBatch(events.map(encodeBusEvent))), events);
    for (const e of events) assert.deepEqual(decodeBusBatch(encodeBusEvent(e)), [e]);
  });

  test('a batch whose lengths do not match its text is refused whole', () => {
    const good = encodeBusBatch(events.map(encodeBusEvent));
    for (const bad of ['*', '*1', '*5\n{}', '*2,x\n{}{}', '*-1\n{}', good + ' ', good.slice(0, -1), '*1,1\n{}']) {
      assert.throws(() => decodeBusBatch(bad), Error, JSON.stringify(bad));
    }
  });
});

if (unavailable) {
  test('redis bus', { skip: unavailable }, () => {});
} else {
  // Two nodes: two RedisBus instances (four connections) on one Redis, channels under a prefix of this run.
  runBusContract('redis', async () => {
    const channelPrefix = uniquePrefix();
    const a = await RedisBus.connect({ url: testRedisUrl, channelPrefix });
    const b = await RedisBus.connect({ url: testRedisUrl, channelPrefix });
    return { a, b, cleanup: async () => void (await Promise.all([a.close(), b.close()])) };
  });

  describe('redis bus: a topic only this node subscribes', () => {
    const settle = () => new Promise((resolve) => setTimeout(resolve, 50));
    const connect = (channelPrefix: string) => RedisBus.connect({ url: testRedisUrl, channelPrefix });

    test('is delivered to this node without Redis, and through Redis again once another node subscribes and until it leaves', async (t) => {
      const prefix = uniquePrefix();
      const a = await connect(prefix);
      const b = await connect(prefix);
      t.after(async () => void (await Promise.all([a.close(), b.close()])));
      const onA: string[] = [];
      const onB: string[] = [];
      a.onEvent((_, e) => e.kind === 'frame' && onA.push(e.frame));
      b.onEvent((_, e) => e.kind === 'frame' && onB.push(e.frame));
      const topic = 'user:solo';

      await a.subscribe(topic);
      await settle(); // a's check of whether it is alone ends after its subscribe
      assert.deepEqual(await a.publish([topic], { kind: 'frame', frame: '1' }), [1]);
      assert.deepEqual(onA, ['1']);
      assert.equal(a.stats.local, 1, 'handed over locally');

      // b's subscribe resolves only once a has been told: a's next publish goes through Redis to both.
      await b.subscribe(topic);
      assert.deepEqual(await a.publish([topic], { kind: 'frame', frame: '2' }), [2]);
      await settle();
      assert.deepEqual(onA, ['1', '2']);
      assert.deepEqual(onB, ['2']);
      assert.equal(a.stats.local, 1);

      // b leaves: a checks again and is alone.
      await b.unsubscribe(topic);
      for (let i = 0; i < 50 && a.stats.local === 1; i++) {
        await a.publish([topic], { kind: 'frame', frame: 'x' });
        await settle();
      }
      assert.ok(a.stats.local > 1, 'local again after the other node left');
      assert.deepEqual(onB, ['2']);
    });

    test("one turn's events for a topic leave in one SPUBLISH", async (t) => {
      const prefix = uniquePrefix();
      const a = await connect(prefix);
      const b = await connect(prefix);
      t.after(async () => void (await Promise.all([a.close(), b.close()])));
      const onB: string[] = [];
      b.onEvent((_, e) => e.kind === 'frame' && onB.push(e.frame));
      await b.subscribe('user:many');
      await b.subscribe('user:other');
      const before = a.stats.publishes;
      await Promise.all([
        ...['1', '2', '3', '4'].map((frame) => a.publish(['user:many'], { kind: 'frame', frame })),
        a.publish(['user:other'], { kind: 'frame', frame: 'o' }),
      ]);
      assert.equal(a.stats.publishes - before, 2, 'one SPUBLISH per topic');
      for (let i = 0; i < 50 && onB.length < 5; i++) await settle();
      assert.deepEqual(
        onB.filter((f) => f !== 'o'),
        ['1', '2', '3', '4'],
      );
      assert.ok(onB.includes('o'));
    });

    test('closes and broadcasts always go through Redis', async (t) => {
      const a = await connect(uniquePrefix());
      t.after(() => a.close());
      const seen: string[] = [];
      a.onEvent((_, e) => seen.push(e.kind));
      await a.subscribe('user:c');
      await a.publish(['user:c'], { kind: 'close-device', deviceId: 'd', code: 4100, reason: 'r' });
      await a.publish(['user:c'], { kind: 'members-changed', chatId: 'g:1' });
      for (let i = 0; i < 50 && seen.length < 2; i++) await settle();
      assert.deepEqual(seen, ['close-device', 'members-changed']);
      assert.equal(a.stats.local, 0);
    });
  });

  // The outage test stops and restarts a redis-server of its own, never the shared one.
  const noServerBinary = spawnSync('redis-server', ['--version']).error ? 'redis-server is not on PATH' : false;
  describe('redis bus through a Redis outage', { skip: noServerBinary }, () => {
    test('publish rejects quickly while Redis is down; topics come back and onReconnect fires after', async (t) => {
      const redis = await startRedis();
      t.after(() => redis.stop());
      const a = await RedisBus.connect({ url: redis.url });
      const b = await RedisBus.connect({ url: redis.url });
      t.after(async () => void (await Promise.all([a.close(), b.close()])));
      const received: string[] = [];
      b.onEvent((topic) => received.push(topic));
      let reconnects = 0;
      const reconnected = new Promise<void>((resolve) => b.onReconnect(() => (reconnects++, resolve())));

      await b.subscribe('user:kept');
      await b.subscribe('user:dropped');
      await redis.stop();
      await new Promise((resolve) => setTimeout(resolve, 100)); // let the clients see the socket close

      const started = Date.now();
      await assert.rejects(a.publish(['user:kept'], { kind: 'frame', frame: 'lost' }));
      assert.ok(Date.now() - started < 500, 'publish must fail fast, not wait for Redis');

      // Changes made during the outage are kept in the node's own record.
      await b.subscribe('user:added-while-down');
      await b.unsubscribe('user:dropped');

      await redis.start();
      await reconnected;
      assert.equal(reconnects, 1);
      // The publisher reconnects on its own schedule; retry until it is back.
      let counts: number[] = [];
      for (let i = 0; i < 100; i++) {
        try {
          counts = await a.publish(['user:kept', 'user:dropped', 'user:added-while-down'], { kind: 'frame', frame: 'after' });
          break;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      assert.deepEqual(counts, [1, 0, 1]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(received.sort(), ['user:added-while-down', 'user:kept']);
    });
  });
}
