import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { http, pollUntil, registerUser, sleep, TestSocket, waitUntil, type ServerProcess } from '../testing/harness.js';
import { clusterServicesMissing } from '../testing/services.js';
import { clusterSuite } from '../testing/cluster.js';
import { ADMIN_TOKEN, FAST_WEBHOOKS, Receiver, addWebhook, createGroup, edit, erasedLeaveTheOutbox, send } from './webhook-support.js';

/*
 * Webhooks in a cluster: two server processes on one Redis and one PostgreSQL. Nothing is
 * written to the outbox while no webhook exists; once one is added on node A, events made
 * through either node reach the receiver, each delivered by one node only (counted by id
 * at the receiver), signed, and a receiver that fails and recovers still gets each once.
 */
const missing = await clusterServicesMissing();

describe('cluster: webhooks', { skip: missing ?? false }, () => {
  const { nodes, databaseUrl } = clusterSuite(2, { env: FAST_WEBHOOKS });
  let receiver: Receiver;
  let db: pg.Client;
  before(async () => {
    receiver = await Receiver.start();
    db = new pg.Client({ connectionString: databaseUrl() });
    await db.connect();
  });
  after(async () => {
    await receiver.close();
    await db.end();
  });
  const outboxRows = async () => Number((await db.query('SELECT count(*) AS n FROM webhook_outbox')).rows[0].n);

  test('without webhooks nothing is written to the outbox', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const [x, y] = await Promise.all([registerUser(a.baseUrl, 'cwq'), registerUser(b.baseUrl, 'cwq')]);
    const group = await createGroup(b.baseUrl, x, [y], 'quiet');
    const s = await TestSocket.connectSynced(a.wsUrl, x.token);
    try {
      const ack = await send(s, group.chat_id, 'unheard');
      await edit(s, group.chat_id, ack.message_id as string, 'still unheard');
    } finally {
      s.terminate();
    }
    assert.equal(await outboxRows(), 0);
  });

  test('events made through both nodes are each delivered once, by one node, signed; a failing receiver gets them after it recovers', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const hookId = await addWebhook(a.baseUrl, receiver);
    // Node B hears of the webhook over the bus (and re-reads the list); give it a moment.
    const listed = await http(b.baseUrl, 'GET', '/v1/admin/webhooks', { token: ADMIN_TOKEN });
    assert.equal(listed.body.webhooks.length, 1);
    await sleep(300);
    receiver.failing = true;
    const users = await Promise.all([registerUser(a.baseUrl, 'cwa'), registerUser(b.baseUrl, 'cwb')]);
    const [x, y] = users;
    const group = await createGroup(b.baseUrl, x, [y], 'hooked');
    const sa = await TestSocket.connectSynced(a.wsUrl, x.token);
    const sb = await TestSocket.connectSynced(b.wsUrl, y.token);
    const sent: string[] = [];
    try {
      for (let i = 0; i < 10; i++) sent.push((await send(i % 2 ? sb : sa, group.chat_id, `c${i}`)).message_id as string);
      await edit(sa, group.chat_id, sent[0]!, 'edited through A');
    } finally {
      sa.terminate();
      sb.terminate();
    }
    await pollUntil(
      'refused attempts',
      async () => receiver.refused,
      (n) => n >= 20,
    );
    receiver.failing = false;
    // 2 users, 1 group, 10 messages, 1 edit.
    await pollUntil(
      'every event',
      async () => receiver.unique().size,
      (n) => n >= 14,
      15_000,
    );
    await pollUntil('outbox emptied', outboxRows, (n) => n === 0);
    assert.equal(receiver.accepted.length, receiver.unique().size, 'an event was delivered twice');
    assert.ok(receiver.accepted.every((d) => d.signed));
    assert.deepEqual(
      receiver
        .of('message.created')
        .map((d) => d.data.message_id)
        .sort(),
      [...sent].sort(),
    );
    assert.deepEqual(
      receiver
        .of('user.created')
        .map((d) => d.data.user_id)
        .sort(),
      users.map((u) => u.user_id).sort(),
    );
    const updated = receiver.of('message.updated');
    assert.equal(updated.length, 1);
    assert.equal(updated[0]!.data.content, 'edited through A');
    assert.equal(receiver.of('group.updated')[0]!.data.group_id, group.group_id);
    assert.equal((await http(b.baseUrl, 'DELETE', `/v1/admin/webhooks/${hookId}`, { token: ADMIN_TOKEN })).status, 204);
  });

  test("events not yet delivered lose a deleted message's text, mentions and the previews quoting it", async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const own = await Receiver.start();
    try {
      // Node B hears of the webhook over the bus: given a second.
      await erasedLeaveTheOutbox({ a, b }, own, (done) => waitUntil(done, 30_000, 'deliveries'), 1000);
    } finally {
      await own.close();
    }
  });

  test('a node killed with events claimed: the other node takes them over once the lease ends', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    receiver.accepted.length = 0;
    const hookId = await addWebhook(b.baseUrl, receiver);
    await sleep(300);
    receiver.failing = true;
    const [x, y] = await Promise.all([registerUser(a.baseUrl, 'cwk'), registerUser(a.baseUrl, 'cwk')]);
    const group = await createGroup(a.baseUrl, x, [y], 'before the kill');
    const s = await TestSocket.connectSynced(a.wsUrl, x.token);
    const sent: string[] = [];
    try {
      for (let i = 0; i < 6; i++) sent.push((await send(s, group.chat_id, `k${i}`)).message_id as string);
    } finally {
      s.terminate();
    }
    const refused = receiver.refused;
    await pollUntil(
      'attempts from both nodes',
      async () => receiver.refused,
      (n) => n >= refused + 20,
      20_000,
    );
    await a.kill('SIGKILL');
    receiver.failing = false;
    await pollUntil(
      'every event through node B',
      async () => receiver.unique().size,
      (n) => n >= 9,
      20_000,
    );
    await pollUntil('outbox emptied', outboxRows, (n) => n === 0, 20_000);
    assert.deepEqual(
      receiver
        .of('message.created')
        .map((d) => d.data.message_id)
        .sort(),
      [...sent].sort(),
    );
    assert.equal(receiver.unique().size, 9);
    assert.ok(receiver.accepted.every((d) => d.signed));
    assert.equal((await http(b.baseUrl, 'DELETE', `/v1/admin/webhooks/${hookId}`, { token: ADMIN_TOKEN })).status, 204);
  });
});
