import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { Redis } from 'ioredis';
import { directChatId } from '@switchboard/protocol';
import { encodeBusEvent } from '../engines/bus/redis-bus.js';
import { PostgresStore } from '../engines/store/postgres-store.js';
import { cliEntry, http, registerUser, sleep, TestSocket, type ServerProcess, type TestUser } from '../testing/harness.js';
import { clusterServicesMissing, freshPgSchema, startRedis, type TestRedis } from '../testing/services.js';
import { startBalancer, startNode, testPrefix } from '../testing/cluster.js';
import { assertNoFrameWithin, fetchHistory, waitUntil } from './delivery-support.js';

/*
 * Guarantee 8 across a cluster: three nodes and a separate fan-out worker on one Redis
 * and one PostgreSQL. A membership change answered by one node is already in force on
 * every other node and in the worker: for sends, typing, acks and what is received,
 * for groups delivered directly and for groups fanned out by the worker. Concurrent
 * changes on different nodes keep the rules (size cap, at least one admin). And a node
 * hearing a chat's messages out of order (two nodes publishing at once) still gives its
 * socket every seq, in order.
 */
const missing = await clusterServicesMissing();

/** Groups above this many members go through the fan-out worker. */
const FANOUT_THRESHOLD = 3;

describe('cluster: membership is the same on every node at once', { skip: missing ?? false }, () => {
  let redis: TestRedis;
  let pgSchema: { url: string; drop: () => Promise<void> };
  const nodes: ServerProcess[] = [];
  let worker: ChildProcess | null = null;
  let db: pg.Client;
  let prefix: string;

  before(async () => {
    redis = await startRedis();
    pgSchema = await freshPgSchema();
    prefix = testPrefix();
    const env = { FANOUT_THRESHOLD: String(FANOUT_THRESHOLD), FANOUT_WORKER: '0' };
    nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: pgSchema.url, prefix, env }));
    nodes.push(...(await Promise.all([1, 2].map(() => startNode({ redisUrl: redis.url, databaseUrl: pgSchema.url, prefix, env })))));
    worker = spawn(process.execPath, [cliEntry, 'worker'], {
      env: { ...process.env, REDIS_URL: redis.url, DATABASE_URL: pgSchema.url, REDIS_PREFIX: prefix, LOG_LEVEL: 'error' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    db = new pg.Client({ connectionString: pgSchema.url });
    await db.connect();
  });

  after(async () => {
    await db?.end();
    worker?.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await redis?.stop();
    await pgSchema?.drop();
  });

  const nodeOf = (i: number) => nodes[i % nodes.length]!;

  async function createGroup(on: ServerProcess, owner: TestUser, members: TestUser[]): Promise<{ group_id: string; chat_id: string }> {
    const res = await http(on.baseUrl, 'POST', '/v1/groups', {
      token: owner.token,
      body: { name: 'g', member_ids: members.map((m) => m.user_id) },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  }

  /** Every socket has sent once and received the others' messages: each node (and the worker) holds the member list. */
  async function warm(chatId: string, sockets: TestSocket[]): Promise<void> {
    const acks = [];
    for (const s of sockets) acks.push(await s.sendMessage(chatId, 'warming up'));
    for (const [i, s] of sockets.entries()) {
      for (const [j, ack] of acks.entries()) {
        if (i !== j) await s.waitFor((f) => f.type === 'new_message' && f.message_id === ack.message_id, 15_000, 'warm-up message');
      }
    }
  }

  for (const size of ['small', 'large'] as const) {
    const how = size === 'small' ? 'delivered directly' : 'fanned out by the worker';
    test(`a member removed through node A can no longer send, type, ack or receive through node B (${how})`, async () => {
      const [a, b, c] = nodes as [ServerProcess, ServerProcess, ServerProcess];
      const owner = await registerUser(a.baseUrl, 'rm_owner');
      const victim = await registerUser(b.baseUrl, 'rm_victim');
      const watcher = await registerUser(c.baseUrl, 'rm_watcher');
      const quiet = size === 'large' ? [await registerUser(a.baseUrl, 'rm_q1'), await registerUser(a.baseUrl, 'rm_q2')] : [];
      const group = await createGroup(a, owner, [victim, watcher, ...quiet]);
      const so = await TestSocket.connectSynced(a.wsUrl, owner.token);
      const sv = await TestSocket.connectSynced(b.wsUrl, victim.token);
      const sw = await TestSocket.connectSynced(c.wsUrl, watcher.token);
      await warm(group.chat_id, [so, sv, sw]);

      const removed = await http(a.baseUrl, 'DELETE', `/v1/groups/${group.group_id}/members/${victim.user_id}`, { token: owner.token });
      assert.equal(removed.status, 204);

      // At once, through node B, which cached the old members.
      const refused = await sv.sendMessage(group.chat_id, 'sent after my removal');
      assert.deepEqual([refused.type, refused.code], ['error', 'not_a_member']);
      const typingFrom = sw.frames.length;
      sv.send({ type: 'typing', chat_id: group.chat_id, state: 'composing' });
      assert.equal((await sv.next('error')).code, 'not_a_member');

      const after = await so.sendMessage(group.chat_id, 'after the removal');
      assert.equal(after.type, 'ack_sent');
      await sw.waitFor((f) => f.type === 'new_message' && f.message_id === after.message_id, 15_000, 'the message on the watcher');
      await assertNoFrameWithin(
        sv,
        (f) => f.type === 'new_message' && f.message_id === after.message_id,
        500,
        'a message sent after the removal',
      );
      await assertNoFrameWithin(
        sw,
        (f) => f.type === 'typing' && f.user_id === victim.user_id,
        100,
        'typing from a removed member',
        typingFrom,
      );

      const errorsBefore = sv.all('error').length;
      sv.send({ type: 'ack_delivered', message_id: after.message_id });
      await waitUntil(() => sv.all('error').length > errorsBefore, 5000, 'an error for the ack');
      assert.equal(sv.all('error').at(-1)!.code, 'not_a_member');

      const history = await fetchHistory(c.baseUrl, watcher.token, group.chat_id);
      assert.ok(!history.some((m) => m.content === 'sent after my removal'), 'nothing of the removed member after its removal');
      assert.equal(history.at(-1)!.message_id, after.message_id);
      await Promise.all([so.close(), sv.close(), sw.close()]);
    });

    test(`a member added through node A can send at once through node B and gets what follows (${how})`, async () => {
      const [a, b, c] = nodes as [ServerProcess, ServerProcess, ServerProcess];
      const owner = await registerUser(a.baseUrl, 'add_owner');
      const member = await registerUser(c.baseUrl, 'add_member');
      const extra = size === 'large' ? [await registerUser(a.baseUrl, 'add_q1'), await registerUser(a.baseUrl, 'add_q2')] : [];
      const newbie = await registerUser(b.baseUrl, 'add_newbie');
      const group = await createGroup(a, owner, [member, ...extra]);
      const so = await TestSocket.connectSynced(a.wsUrl, owner.token);
      const sm = await TestSocket.connectSynced(c.wsUrl, member.token);
      const sn = await TestSocket.connectSynced(b.wsUrl, newbie.token);
      await warm(group.chat_id, [so, sm]);
      // Node B learns the old membership too: the newbie is refused before being added.
      assert.equal((await sn.sendMessage(group.chat_id, 'too early')).code, 'not_a_member');

      const added = await http(a.baseUrl, 'POST', `/v1/groups/${group.group_id}/members`, {
        token: owner.token,
        body: { user_ids: [newbie.user_id] },
      });
      assert.equal(added.status, 200);
      const first = await sn.sendMessage(group.chat_id, 'hello, I am new');
      assert.equal(first.type, 'ack_sent', JSON.stringify(first));
      await so.waitFor((f) => f.type === 'new_message' && f.message_id === first.message_id, 15_000);
      await sm.waitFor((f) => f.type === 'new_message' && f.message_id === first.message_id, 15_000);

      const fromC = await sm.sendMessage(group.chat_id, 'welcome');
      await sn.waitFor((f) => f.type === 'new_message' && f.message_id === fromC.message_id, 15_000, 'a message sent after joining');
      assert.ok(!sn.all('new_message').some((f) => f.content === 'warming up'), 'nothing from before joining');
      await Promise.all([so.close(), sm.close(), sn.close()]);
    });
  }

  /** Users straight into the shared database (creating thousands over HTTP is slow); they never log in. */
  async function bulkUsers(n: number, tag: string): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO users (id, username, display_name, password_hash, created_at)
       SELECT $1 || i, $1 || i, 'bulk', 'x', 1 FROM generate_series(1, $2) AS i RETURNING id`,
      [`${tag}${Date.now().toString(36)}_`, n],
    );
    return rows.map((r) => r.id);
  }

  async function makeAdmin(chatId: string, userId: string): Promise<void> {
    // The protocol has no call to promote; the tests set a second and third admin directly.
    await db.query(`UPDATE chat_members SET role = 'admin' WHERE chat_id = $1 AND user_id = $2`, [chatId, userId]);
  }

  test('three admins on three nodes adding 1,000 members each at once never make a group larger than 1,024', async () => {
    const admins = [
      await registerUser(nodeOf(0).baseUrl, 'cap_a'),
      await registerUser(nodeOf(1).baseUrl, 'cap_b'),
      await registerUser(nodeOf(2).baseUrl, 'cap_c'),
    ];
    const group = await createGroup(nodeOf(0), admins[0]!, admins.slice(1));
    for (const a of admins.slice(1)) await makeAdmin(group.chat_id, a.user_id);
    const batches = [await bulkUsers(1000, 'cap0'), await bulkUsers(1000, 'cap1'), await bulkUsers(1000, 'cap2')];
    const answers = await Promise.all(
      batches.map((ids, i) =>
        http(nodeOf(i).baseUrl, 'POST', `/v1/groups/${group.group_id}/members`, { token: admins[i]!.token, body: { user_ids: ids } }),
      ),
    );
    assert.deepEqual(answers.map((r) => r.status).sort(), [200, 422, 422]);
    for (const r of answers.filter((x) => x.status === 422)) assert.equal(r.body.error, 'group_too_large');
    const view = await http(nodeOf(2).baseUrl, 'GET', `/v1/groups/${group.group_id}`, { token: admins[2]!.token });
    assert.equal(view.body.members.length, 1003);
  });

  test('two admins on two nodes leaving at once never leave a group without an admin', async () => {
    for (let round = 0; round < 5; round++) {
      const [x, y, m1, m2] = [
        await registerUser(nodeOf(0).baseUrl, 'lv_x'),
        await registerUser(nodeOf(1).baseUrl, 'lv_y'),
        await registerUser(nodeOf(2).baseUrl, 'lv_m'),
        await registerUser(nodeOf(2).baseUrl, 'lv_n'),
      ] as [TestUser, TestUser, TestUser, TestUser];
      const group = await createGroup(nodeOf(0), x, [y, m1, m2]);
      await makeAdmin(group.chat_id, y.user_id);
      const left = await Promise.all([
        http(nodeOf(0).baseUrl, 'DELETE', `/v1/groups/${group.group_id}/members/${x.user_id}`, { token: x.token }),
        http(nodeOf(1).baseUrl, 'DELETE', `/v1/groups/${group.group_id}/members/${y.user_id}`, { token: y.token }),
      ]);
      assert.deepEqual(
        left.map((r) => r.status),
        [204, 204],
      );
      const view = await http(nodeOf(2).baseUrl, 'GET', `/v1/groups/${group.group_id}`, { token: m1.token });
      assert.equal(view.body.members.length, 2);
      assert.equal(view.body.members.filter((m: { role: string }) => m.role === 'admin').length, 1, `round ${round}: one member promoted`);
    }
  });

  test('a socket whose first live message of a chat overtakes an earlier one, and a gap past 10,000, still gets every seq in order', async () => {
    // Messages go straight into the shared PostgreSQL and only some are published, as two
    // nodes publishing at once (or a lost publish) look to the node holding the socket.
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const alice = await registerUser(a.baseUrl, 'ooo_a');
    const bob = await registerUser(b.baseUrl, 'ooo_b');
    const sb = await TestSocket.connectSynced(b.wsUrl, bob.token);
    const chatId = directChatId(alice.user_id, bob.user_id);
    const store = await PostgresStore.open(pgSchema.url);
    const publisher = new Redis(redis.url);
    try {
      let n = 0;
      const quietly = async (count: number) =>
        (
          await store.append(
            Array.from({ length: count }, () => ({
              messageId: `ooo${Date.now()}x${++n}`,
              chatId,
              senderId: alice.user_id,
              senderDeviceId: alice.device_id,
              clientMsgId: `ooo-${n}`,
              content: `quiet ${n}`,
              createdAt: Date.now(),
              createDirectWith: [alice.user_id, bob.user_id],
            })),
          )
        ).map((r) => r.message!);
      const publish = (m: { chat_id: string; seq: number; message_id: string; sender_id: string; sender_device_id: string }) =>
        publisher.spublish(
          `${prefix}user:${bob.user_id}`,
          encodeBusEvent({
            kind: 'message',
            frame: JSON.stringify({ type: 'new_message', ...m }),
            chatId: m.chat_id,
            seq: m.seq,
            messageId: m.message_id,
            senderId: m.sender_id,
            exceptDevice: m.sender_device_id,
          }),
        );
      const [m1, m2] = await quietly(2);
      await publish(m2!); // seq 2 first: the chat is new to this socket
      await publish(m1!);
      const burst = await quietly(10_050);
      await publish(burst.at(-1)!); // only the last of 10,050 is heard live
      const count = () => sb.all('new_message').filter((f) => f.chat_id === chatId).length;
      await waitUntil(() => count() >= 10_052, 60_000, 'every message');
      const seqs = sb
        .all('new_message')
        .filter((f) => f.chat_id === chatId)
        .map((f) => f.seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: 10_052 }, (_, i) => i + 1),
      );
    } finally {
      publisher.disconnect();
      await store.close();
      await sb.close();
    }
  });

  test('a node that lost Redis while a member was removed elsewhere does not serve the old membership when it is back', async () => {
    // Node D reaches Redis through a proxy the test can cut.
    let redisUp = true;
    const proxy = await startBalancer(() => (redisUp ? [redis.port] : []));
    const d = await startNode({
      redisUrl: `redis://127.0.0.1:${proxy.port}`,
      databaseUrl: pgSchema.url,
      prefix,
      env: { FANOUT_THRESHOLD: String(FANOUT_THRESHOLD), FANOUT_WORKER: '0' },
    });
    try {
      const owner = await registerUser(nodeOf(0).baseUrl, 'cut_owner');
      const victim = await registerUser(d.baseUrl, 'cut_victim');
      const watcher = await registerUser(nodeOf(1).baseUrl, 'cut_watcher');
      const group = await createGroup(nodeOf(0), owner, [victim, watcher]);
      const so = await TestSocket.connectSynced(nodeOf(0).wsUrl, owner.token);
      const sv = await TestSocket.connectSynced(d.wsUrl, victim.token);
      const sw = await TestSocket.connectSynced(nodeOf(1).wsUrl, watcher.token);
      await warm(group.chat_id, [so, sv, sw]);

      redisUp = false;
      proxy.cut();
      const removed = await http(nodeOf(0).baseUrl, 'DELETE', `/v1/groups/${group.group_id}/members/${victim.user_id}`, {
        token: owner.token,
      });
      assert.equal(removed.status, 204);
      // Committed while D cannot hear the bus: D's socket gets it from the store once D is back.
      const missed = await sw.sendMessage(directChatId(watcher.user_id, victim.user_id), 'sent during the outage');
      assert.equal(missed.type, 'ack_sent');
      await sleep(300);
      redisUp = true;
      // Node D resubscribes, forgets the memberships it cached, and its sockets catch up without closing.
      const got = await sv.nextWhere((f) => f.type === 'new_message' && f.message_id === missed.message_id, 15_000);
      assert.equal(got.content, 'sent during the outage');
      assert.equal(sv.closeCode, null, 'a Redis blip closes no socket');
      await sleep(200);
      const from = sw.frames.length;
      sv.send({ type: 'typing', chat_id: group.chat_id, state: 'composing' });
      assert.equal((await sv.next('error')).code, 'not_a_member');
      await assertNoFrameWithin(sw, (f) => f.type === 'typing' && f.user_id === victim.user_id, 300, 'typing from a removed member', from);
      assert.equal((await sv.sendMessage(group.chat_id, 'still here?')).code, 'not_a_member');
      await Promise.all([so.close(), sv.close(), sw.close()]);
    } finally {
      await d.kill('SIGKILL');
      proxy.close();
    }
  });
});
