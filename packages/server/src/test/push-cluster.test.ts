import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, login, registerUser, TestSocket, type ServerProcess, type TestUser } from '../testing/harness.js';
import { clusterServicesMissing, freshPgSchema, startRedis, type TestRedis } from '../testing/services.js';
import { startNode, testPrefix } from '../testing/cluster.js';
import { FakePushServices, makeTestCa, opensslMissing, type TestCa } from '../testing/push-services.js';

/*
 * Push in a cluster of three server processes on one Redis and PostgreSQL: each device
 * gets one push per message whichever node committed it, devices online on any node
 * get none, and a node that dies holding a push job does not lose the wake-up.
 */
const missing = opensslMissing() ?? (await clusterServicesMissing());

describe('push in a cluster of three nodes', { skip: missing ?? false }, () => {
  let ca: TestCa;
  let fake: FakePushServices;
  let redis: TestRedis;
  let pgSchema: { url: string; drop: () => Promise<void> };
  const nodes: ServerProcess[] = [];

  before(async () => {
    ca = makeTestCa();
    fake = await FakePushServices.start(ca);
    redis = await startRedis();
    pgSchema = await freshPgSchema();
    const prefix = testPrefix();
    const start = (i: number) =>
      startNode({
        redisUrl: redis.url,
        databaseUrl: pgSchema.url,
        prefix,
        // Each node signs with its own VAPID subject (same key): the push service can tell them apart.
        env: { ...fake.env(), NODE_EXTRA_CA_CERTS: ca.caFile, VAPID_SUBJECT: `mailto:node${i}@switchboard.test`, PUSH_RECLAIM_MS: '4000' },
      });
    nodes.push(await start(0)); // migrates the schema
    nodes.push(...(await Promise.all([1, 2].map(start))));
    const keys = await Promise.all(nodes.map(async (n) => (await http(n.baseUrl, 'GET', '/v1/push/webpush')).body.vapid_public_key));
    assert.equal(new Set(keys).size, 1, 'every node has the same VAPID key');
    fake.vapidPublicKey = keys[0];
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await fake?.close();
    await redis?.stop();
    await pgSchema?.drop();
    if (ca) rmSync(ca.dir, { recursive: true, force: true });
  });

  const put = (base: string, u: TestUser, body: unknown) => http(base, 'PUT', '/v1/devices/current/push', { token: u.token, body });

  test('each offline device gets exactly one push per message, whichever node committed it; an online device gets none', async () => {
    const [a, b, c] = nodes as [ServerProcess, ServerProcess, ServerProcess];
    const alice = await registerUser(a.baseUrl, 'alice');
    const bob = await registerUser(b.baseUrl, 'bob');
    const chat = directChatId(alice.user_id, bob.user_id);
    // bob: one device online on node C, three offline ones, one per provider.
    const online = fake.newSubscription();
    const web = fake.newSubscription();
    const apnsToken = 'e1'.repeat(32);
    const fcmToken = `fcm-cluster-${Date.now()}`;
    const [d2, d3, d4] = await Promise.all([a, b, c].map((n, i) => login(n.baseUrl, bob.username, bob.password, `d${i}`)));
    assert.equal((await put(a.baseUrl, bob, { provider: 'webpush', subscription: online })).status, 204);
    assert.equal((await put(b.baseUrl, d2!, { provider: 'webpush', subscription: web })).status, 204);
    assert.equal((await put(c.baseUrl, d3!, { provider: 'apns', token: apnsToken })).status, 204);
    assert.equal((await put(a.baseUrl, d4!, { provider: 'fcm', token: fcmToken })).status, 204);
    const sb = await TestSocket.connectSynced(c.wsUrl, bob.token);

    // alice sends from a device on every node, in turns.
    const senders = await Promise.all(
      nodes.map(async (n, i) =>
        TestSocket.connectSynced(n.wsUrl, (i === 0 ? alice : await login(n.baseUrl, alice.username, alice.password)).token),
      ),
    );
    const acks: Awaited<ReturnType<TestSocket['sendMessage']>>[] = [];
    for (let i = 0; i < 9; i++) acks.push(await senders[i % 3]!.sendMessage(chat, `message ${i}`));
    for (const ack of acks) {
      for (const id of [web.id, apnsToken, fcmToken]) {
        await fake.waitFor((r) => r.id === id && r.payload.message_id === ack.message_id && r.status < 300, 15_000, `${id} ${ack.seq}`);
      }
    }
    // A last message, after which no duplicate of the earlier ones can still be on its way.
    const last = await senders[0]!.sendMessage(chat, 'last');
    await fake.waitFor((r) => r.id === web.id && r.payload.message_id === last.message_id, 15_000);
    await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === last.message_id);

    for (const id of [web.id, apnsToken, fcmToken]) {
      const got = fake.pushesTo(id).filter((r) => acks.some((a) => a.message_id === r.payload.message_id));
      assert.equal(got.length, acks.length, `${id}: one push per message`);
      assert.equal(new Set(got.map((r) => r.payload.message_id)).size, acks.length);
      for (const r of got) assert.deepEqual(r.problems, []);
    }
    assert.equal(fake.pushesTo(online.id).length, 0, 'bob’s connected device (node C) got none');
    for (const s of [sb, ...senders]) s.terminate();
  });

  test('a registration on one node is seen at once by the others, even those that just found the user had no target', async () => {
    const [a, b, c] = nodes as [ServerProcess, ServerProcess, ServerProcess];
    const carol = await registerUser(a.baseUrl, 'carol');
    const dave = await registerUser(b.baseUrl, 'dave');
    const chat = directChatId(carol.user_id, dave.user_id);
    const senders = await Promise.all(
      nodes.map(async (n, i) =>
        TestSocket.connectSynced(n.wsUrl, (i === 0 ? carol : await login(n.baseUrl, carol.username, carol.password)).token),
      ),
    );
    // Messages committed on every node while dave has no target: each node notes "none".
    for (const s of senders) await s.sendMessage(chat, 'before dave registers');
    const sub = fake.newSubscription();
    assert.equal((await put(c.baseUrl, dave, { provider: 'webpush', subscription: sub })).status, 204);
    // dave has no socket: the next message from any node must wake him, at once.
    const acks = [];
    for (const s of senders) acks.push(await s.sendMessage(chat, 'after dave registered'));
    for (const ack of acks) {
      await fake.waitFor(
        (r) => r.id === sub.id && r.payload.message_id === ack.message_id && r.status < 300,
        15_000,
        `push for seq ${ack.seq}`,
      );
    }
    for (const s of senders) s.terminate();
  });

  test('a node that dies while pushing does not lose the wake-up: another node takes the job over', async () => {
    const alice = await registerUser(nodes[0]!.baseUrl, 'alice');
    const bob = await registerUser(nodes[1]!.baseUrl, 'bob');
    const sub = fake.newSubscription();
    fake.script.set(sub.id, [{ status: 201, hold: new Promise<void>(() => {}) }]); // the first attempt never gets an answer
    assert.equal((await put(nodes[1]!.baseUrl, bob, { provider: 'webpush', subscription: sub })).status, 204);
    const sa = await TestSocket.connectSynced(nodes[0]!.wsUrl, alice.token);
    const ack = await sa.sendMessage(directChatId(alice.user_id, bob.user_id), 'wake up');
    sa.terminate();
    const deadline = Date.now() + 10_000;
    while (fake.heldFrom.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const holder = fake.heldFrom[0];
    assert.ok(holder, 'the push reached the push service');
    const index = Number(/node(\d)@/.exec(holder)![1]);
    await nodes[index]!.kill('SIGKILL');

    const push = await fake.waitFor(
      (r) => r.id === sub.id && r.payload.message_id === ack.message_id && r.status < 300,
      30_000,
      'the taken-over push',
    );
    assert.notEqual(push.vapidSub, holder, 'sent by another node');
    assert.deepEqual(push.problems, []);
  });
});
