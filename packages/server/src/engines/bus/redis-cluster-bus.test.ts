import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { clusterSlotPorts, redisClusterMissing, startRedisCluster, uniquePrefix } from '../../testing/services.js';
import { slotOf } from '../redis-connection.js';
import { runBusContract } from './bus.contract.js';
import { RedisBus } from './redis-bus.js';

/*
 * The bus on a real 3-master Redis Cluster (started once for this file): the contract,
 * then what only a cluster has: shard channels spread over the masters and subscribed on
 * each slot's owner, a publish spanning every slot, and a master's restart.
 */
const missing = await redisClusterMissing();

if (missing) {
  test('redis cluster bus', { skip: missing }, () => {});
} else {
  const cluster = await startRedisCluster();
  after(() => cluster.stop());

  // Two nodes: two RedisBus instances on one cluster, reached through the seed list.
  runBusContract('redis cluster', async () => {
    const channelPrefix = uniquePrefix();
    const a = await RedisBus.connect({ url: cluster.url, channelPrefix });
    const b = await RedisBus.connect({ url: cluster.url, channelPrefix });
    return { a, b, cleanup: async () => void (await Promise.all([a.close(), b.close()])) };
  });

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  /** A topic whose channel (prefix + topic) lives on the master listening on `port`. */
  const topicOn = (ports: number[], prefix: string, port: number, name: string): string => {
    for (;;) {
      const topic = `${name}:${randomBytes(4).toString('hex')}`;
      if (ports[slotOf(prefix + topic)] === port) return topic;
    }
  };

  describe('redis cluster bus: shards', () => {
    test('one node URL is enough: the cluster is detected and channels are subscribed on each slot owner', async (t) => {
      const prefix = uniquePrefix();
      // A single URL naming one master: detected as a cluster by INFO cluster.
      const a = await RedisBus.connect({ url: cluster.urls[1]!, channelPrefix: prefix });
      const b = await RedisBus.connect({ url: cluster.urls[2]!, channelPrefix: prefix });
      t.after(async () => void (await Promise.all([a.close(), b.close()])));
      const received: string[] = [];
      b.onEvent((topic) => received.push(topic));

      // Random user topics, a broadcast topic every node subscribes to, and names with hash tags and odd characters.
      const topics = [
        ...Array.from({ length: 60 }, () => `user:${randomBytes(6).toString('hex')}`),
        'chat-members',
        'members',
        '{tagged}topic',
        'presence:ünïcode 👋',
      ];
      for (const topic of topics) await b.subscribe(topic);
      const counts = await a.publish(topics, { kind: 'frame', frame: 'x' });
      assert.deepEqual(
        counts,
        topics.map(() => 1),
      );
      for (let i = 0; i < 100 && received.length < topics.length; i++) await sleep(20);
      assert.deepEqual([...received].sort(), [...topics].sort());

      // Each channel is subscribed on exactly the master owning its slot, and every master has some.
      const ports = await clusterSlotPorts(cluster.urls[0]!);
      const perMaster = await Promise.all(
        cluster.urls.map(async (url) => {
          const r = new Redis(url);
          try {
            const channels = (await r.call('PUBSUB', 'SHARDCHANNELS', `${prefix}*`)) as string[];
            const keyslots = await Promise.all(channels.map(async (c) => Number(await r.call('CLUSTER', 'KEYSLOT', c))));
            return { port: Number(new URL(url).port), channels, keyslots };
          } finally {
            r.disconnect();
          }
        }),
      );
      let total = 0;
      for (const { port, channels, keyslots } of perMaster) {
        assert.ok(channels.length > 0, `master ${port} holds some of the 64 channels`);
        channels.forEach((c, i) => {
          assert.equal(slotOf(c), keyslots[i], `our slot function agrees with CLUSTER KEYSLOT for ${c}`);
          assert.equal(ports[slotOf(c)], port, `${c} is subscribed on its slot's owner`);
        });
        total += channels.length;
      }
      assert.equal(total, topics.length);
    });

    test('a dropped shard connection: its topics come back and onReconnect fires once', async (t) => {
      const prefix = uniquePrefix();
      const a = await RedisBus.connect({ url: cluster.url, channelPrefix: prefix });
      const b = await RedisBus.connect({ url: cluster.url, channelPrefix: prefix });
      t.after(async () => void (await Promise.all([a.close(), b.close()])));
      const ports = await clusterSlotPorts(cluster.urls[0]!);
      const topics = cluster.ports.map((port) => topicOn(ports, prefix, port, 'user'));
      for (const topic of topics) await b.subscribe(topic);
      let reconnects = 0;
      const reconnected = new Promise<void>((resolve) => b.onReconnect(() => (reconnects++, resolve())));

      // The server drops every sharded-pub/sub client of the first master (as on a node restart or a network cut).
      const admin = new Redis(cluster.urls[0]!);
      t.after(() => admin.disconnect());
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await reconnected;
      await sleep(50);
      assert.equal(reconnects, 1);
      assert.deepEqual(await a.publish(topics, { kind: 'frame', frame: 'after' }), [1, 1, 1]);
    });

    test('a master restart: publishes to its slots fail, other shards go on, then everything comes back', async (t) => {
      const prefix = uniquePrefix();
      const ports = await clusterSlotPorts(cluster.urls[0]!);
      const down = cluster.ports[0]!;
      const up = cluster.ports[1]!;
      const a = await RedisBus.connect({ url: cluster.url, channelPrefix: prefix });
      const b = await RedisBus.connect({ url: cluster.url, channelPrefix: prefix });
      t.after(async () => void (await Promise.all([a.close(), b.close()])));
      const received: string[] = [];
      b.onEvent((topic) => received.push(topic));
      let reconnects = 0;
      const reconnected = new Promise<void>((resolve) => b.onReconnect(() => (reconnects++, resolve())));

      const kept = topicOn(ports, prefix, down, 'user:kept');
      const dropped = topicOn(ports, prefix, down, 'user:dropped');
      const added = topicOn(ports, prefix, down, 'user:added');
      const elsewhere = topicOn(ports, prefix, up, 'user:elsewhere');
      for (const topic of [kept, dropped, elsewhere]) await b.subscribe(topic);

      t.after(() => cluster.startNode(0).catch(() => undefined)); // whatever happens, leave the cluster whole
      await cluster.stopNode(0);
      await sleep(100);
      await assert.rejects(a.publish([kept], { kind: 'frame', frame: 'lost' }));
      // The other shards are not affected.
      assert.deepEqual(await a.publish([elsewhere], { kind: 'frame', frame: 'during' }), [1]);

      // Changes made during the outage are kept in the node's own record.
      await b.subscribe(added);
      await b.unsubscribe(dropped);

      await cluster.startNode(0);
      await reconnected;
      let counts: number[] = [];
      for (let i = 0; i < 100; i++) {
        try {
          counts = await a.publish([kept, dropped, added], { kind: 'frame', frame: 'after' });
          break;
        } catch {
          await sleep(50);
        }
      }
      assert.deepEqual(counts, [1, 0, 1]);
      await sleep(50);
      assert.equal(reconnects, 1);
      assert.deepEqual([...received].sort(), [added, elsewhere, kept].sort());
    });

    // Last in this file: it leaves one slot on another master (a failover looks the same
    // to a subscriber: the slot's owner changes).
    test('a slot moved to another master: its channels follow it and onReconnect fires once', async (t) => {
      const prefix = uniquePrefix();
      const a = await RedisBus.connect({ url: cluster.url, channelPrefix: prefix });
      const b = await RedisBus.connect({ url: cluster.url, channelPrefix: prefix });
      t.after(async () => void (await Promise.all([a.close(), b.close()])));
      const received: string[] = [];
      b.onEvent((topic) => received.push(topic));
      let reconnects = 0;
      const reconnected = new Promise<void>((resolve) => b.onReconnect(() => (reconnects++, resolve())));

      const ports = await clusterSlotPorts(cluster.urls[0]!);
      const [source, target] = [2, 1];
      const topic = topicOn(ports, prefix, cluster.ports[source]!, 'user:moving');
      const staying = topicOn(ports, prefix, cluster.ports[target]!, 'user:staying');
      const slot = slotOf(prefix + topic);
      await b.subscribe(topic);
      await b.subscribe(staying);

      // Move the (key-less) slot: the documented SETSLOT sequence, told to every master.
      const admins = cluster.urls.map((url) => new Redis(url));
      t.after(() => admins.forEach((r) => r.disconnect()));
      const ids = await Promise.all(admins.map((r) => r.call('CLUSTER', 'MYID')));
      await admins[target]!.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', String(ids[source]));
      await admins[source]!.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', String(ids[target]));
      for (const i of [target, source, 0]) await admins[i]!.call('CLUSTER', 'SETSLOT', slot, 'NODE', String(ids[target]));

      // b learns of the move at its next slot-map refresh (every 5 s, or at once after a MOVED reply, which its own publish provokes).
      let moved = false;
      void reconnected.then(() => (moved = true));
      for (let i = 0; i < 200 && !moved; i++) {
        await b.publish([topic], { kind: 'frame', frame: 'nudge' }).catch(() => undefined);
        await sleep(50);
      }
      await reconnected;
      received.length = 0;
      assert.deepEqual(await a.publish([topic, staying], { kind: 'frame', frame: 'after' }), [1, 1]);
      for (let i = 0; i < 50 && received.length < 2; i++) await sleep(20);
      assert.deepEqual([...received].sort(), [staying, topic].sort());
      assert.equal(reconnects, 1);
      const where = await Promise.all(admins.map(async (r) => (await r.call('PUBSUB', 'SHARDCHANNELS', `${prefix}*`)) as string[]));
      assert.ok(where[target]!.includes(prefix + topic), 'subscribed on the new owner');
      assert.ok(!where[source]!.includes(prefix + topic), 'no longer on the old one');
    });
  });
}
