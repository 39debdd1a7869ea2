import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rmSync } from 'node:fs';
import {
  http,
  pollUntil,
  waitUntil,
  registerUser,
  startServerProcess,
  startTestServer,
  tempDir,
  TestSocket,
  type TestServer,
} from '../testing/harness.js';
import { ADMIN_TOKEN, FAST_WEBHOOKS, Receiver, addWebhook, createGroup, edit, erasedLeaveTheOutbox, send } from './webhook-support.js';

/*
 * Webhooks on one embedded server (PROTOCOL.md "Webhooks" and the webhook rows of
 * "Operators"): the admin calls, each event type with its data and a valid signature,
 * retries until a failing receiver recovers, events surviving a SIGKILL (the outbox is
 * written in the transaction of what caused the event), and nothing recorded without
 * webhooks.
 */
describe('webhooks (embedded)', () => {
  let server: TestServer;
  let receiver: Receiver;
  before(async () => {
    server = await startTestServer({ adminToken: ADMIN_TOKEN, webhookPollMs: 50, webhookRetryBaseMs: 100, webhookRetryMaxMs: 500 });
    receiver = await Receiver.start();
  });
  after(async () => {
    await server.stop();
    await receiver.close();
  });

  test('admin calls: add (secret once), list without secrets, remove; bad url or events are 400; no token 401', async () => {
    const base = server.baseUrl;
    assert.equal((await http(base, 'GET', '/v1/admin/webhooks')).status, 401);
    for (const body of [
      { url: 'ftp://example.com/x' },
      { url: 'not a url' },
      { url: 'http://example.com', events: ['message.created', 'nope'] },
      { url: 'http://example.com', events: [] },
      {},
    ]) {
      const res = await http(base, 'POST', '/v1/admin/webhooks', { token: ADMIN_TOKEN, body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error, 'invalid_request');
    }
    const made = await http(base, 'POST', '/v1/admin/webhooks', {
      token: ADMIN_TOKEN,
      body: { url: 'https://hooks.example.com/in', events: ['user.created'] },
    });
    assert.equal(made.status, 201);
    assert.deepEqual(made.body.events, ['user.created']);
    assert.equal(made.body.url, 'https://hooks.example.com/in');
    const list = await http(base, 'GET', '/v1/admin/webhooks', { token: ADMIN_TOKEN });
    assert.equal(list.status, 200);
    const listed = list.body.webhooks.find((w: any) => w.webhook_id === made.body.webhook_id);
    assert.ok(listed);
    assert.equal(listed.secret, undefined);
    assert.ok(!JSON.stringify(list.body).includes(made.body.secret));
    const all = await http(base, 'POST', '/v1/admin/webhooks', { token: ADMIN_TOKEN, body: { url: 'http://127.0.0.1:9/x' } });
    assert.deepEqual(all.body.events, ['message.created', 'message.updated', 'user.created', 'group.updated', 'report.created']);
    for (const id of [made.body.webhook_id, all.body.webhook_id]) {
      assert.equal((await http(base, 'DELETE', `/v1/admin/webhooks/${id}`, { token: ADMIN_TOKEN })).status, 204);
    }
    assert.equal((await http(base, 'DELETE', `/v1/admin/webhooks/${made.body.webhook_id}`, { token: ADMIN_TOKEN })).status, 404);
    assert.deepEqual((await http(base, 'GET', '/v1/admin/webhooks', { token: ADMIN_TOKEN })).body.webhooks, []);
  });

  test('nothing is recorded while no webhook exists', async () => {
    const store = server.server.engines.store;
    const [a, b] = await Promise.all([registerUser(server.baseUrl, 'whq'), registerUser(server.baseUrl, 'whq')]);
    const group = await createGroup(server.baseUrl, a, [b], 'quiet');
    const s = await TestSocket.connectSynced(server.wsUrl, a.token);
    try {
      const ack = await send(s, group.chat_id, 'no one listens');
      await edit(s, group.chat_id, ack.message_id as string, 'still no one');
    } finally {
      s.terminate();
    }
    assert.equal(await store.webhooks.pending(), 0);
  });

  test('each event type arrives once, signed, with its data', async () => {
    const hookId = await addWebhook(server.baseUrl, receiver);
    try {
      const alice = await registerUser(server.baseUrl, 'wha');
      const bob = await registerUser(server.baseUrl, 'whb');
      const group = await createGroup(server.baseUrl, alice, [bob], 'hooked');
      const s = await TestSocket.connectSynced(server.wsUrl, alice.token);
      let messageId: string;
      try {
        const ack = await send(s, group.chat_id, 'hello hooks');
        messageId = ack.message_id as string;
        await edit(s, group.chat_id, messageId, 'hello hooks, edited');
      } finally {
        s.terminate();
      }
      const renamed = await http(server.baseUrl, 'PATCH', `/v1/groups/${group.group_id}`, {
        token: alice.token,
        body: { name: 'renamed' },
      });
      assert.equal(renamed.status, 200);
      const report = await http(server.baseUrl, 'POST', '/v1/reports', {
        token: bob.token,
        body: { user_id: alice.user_id, message_id: messageId, reason: 'spam', note: 'hooked' },
      });
      assert.equal(report.status, 201, JSON.stringify(report.body));
      await pollUntil(
        'all events',
        async () => receiver.unique().size,
        (n) => n >= 7,
      );
      for (const d of receiver.accepted) {
        assert.ok(d.signed, `signature of ${d.id}`);
        assert.equal(d.eventIdHeader, d.id);
        assert.match(d.contentType ?? '', /^application\/json/);
      }
      const users = receiver.of('user.created').map((d) => d.data);
      assert.deepEqual(
        users.map((u) => [u.user_id, u.username, u.display_name]).sort(),
        [alice, bob].map((u) => [u.user_id, u.username, u.username]).sort(),
      );
      const created = receiver.of('message.created');
      assert.equal(created.length, 1);
      assert.equal(created[0]!.data.message_id, messageId);
      assert.equal(created[0]!.data.content, 'hello hooks');
      assert.equal(created[0]!.data.chat_id, group.chat_id);
      assert.equal(created[0]!.data.sender_id, alice.user_id);
      assert.equal(typeof created[0]!.data.seq, 'number');
      const updated = receiver.of('message.updated');
      assert.equal(updated.length, 1);
      assert.equal(updated[0]!.data.message_id, messageId);
      assert.equal(updated[0]!.data.content, 'hello hooks, edited');
      const groups = receiver.of('group.updated').map((d) => d.data);
      assert.deepEqual(
        groups.map((g) => g.name),
        ['hooked', 'renamed'],
      );
      assert.equal(groups[0].group_id, group.group_id);
      assert.deepEqual(groups[0].members.map((m: any) => m.user_id).sort(), [alice.user_id, bob.user_id].sort());
      const reports = receiver.of('report.created').map((d) => d.data);
      assert.deepEqual(reports, [
        {
          report_id: report.body.report_id,
          reporter_id: bob.user_id,
          user_id: alice.user_id,
          message_id: messageId,
          reason: 'spam',
          note: 'hooked',
          created_at: reports[0]?.created_at,
        },
      ]);
    } finally {
      await http(server.baseUrl, 'DELETE', `/v1/admin/webhooks/${hookId}`, { token: ADMIN_TOKEN });
    }
  });
});

describe('webhooks (embedded): a failing receiver and a SIGKILL', () => {
  test('events recorded before a kill -9 reach a receiver that failed and recovered, each exactly once by id, signed', async () => {
    const dataDir = tempDir();
    const receiver = await Receiver.start();
    let proc = await startServerProcess({ dataDir, env: FAST_WEBHOOKS });
    try {
      await addWebhook(proc.baseUrl, receiver);
      receiver.failing = true;
      const alice = await registerUser(proc.baseUrl, 'whk');
      const bob = await registerUser(proc.baseUrl, 'whk');
      const group = await createGroup(proc.baseUrl, alice, [bob], 'before the crash');
      const s = await TestSocket.connectSynced(proc.wsUrl, alice.token);
      const sent: string[] = [];
      try {
        for (let i = 0; i < 5; i++) sent.push((await send(s, group.chat_id, `m${i}`)).message_id as string);
      } finally {
        s.terminate();
      }
      // Retried while failing (the first retry comes within WEBHOOK_RETRY_BASE_MS)...
      await pollUntil(
        'refused attempts',
        async () => receiver.refused,
        (n) => n >= 16,
      );
      // ...then the process dies without a word, and comes back on the same data.
      await proc.kill('SIGKILL');
      proc = await startServerProcess({ dataDir, env: FAST_WEBHOOKS });
      receiver.failing = false;
      await pollUntil(
        'every event delivered',
        async () => receiver.unique().size,
        (n) => n >= 8,
        15_000,
      );
      const byType = (t: string) => receiver.of(t);
      assert.deepEqual(
        byType('message.created')
          .map((d) => d.data.message_id)
          .sort(),
        [...sent].sort(),
      );
      assert.deepEqual(
        byType('user.created')
          .map((d) => d.data.user_id)
          .sort(),
        [alice.user_id, bob.user_id].sort(),
      );
      assert.equal(byType('group.updated').length, 1);
      assert.ok(receiver.accepted.every((d) => d.signed));
      // Delivered rows are gone: nothing more arrives.
      const count = receiver.accepted.length;
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(receiver.accepted.length, count);
      assert.equal(receiver.unique().size, 8);
    } finally {
      await proc.kill('SIGKILL');
      await receiver.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('webhooks (embedded): erasure reaches the outbox', () => {
  test("events not yet delivered lose a deleted message's text, mentions and the previews quoting it", async () => {
    const server = await startTestServer({ adminToken: ADMIN_TOKEN, webhookPollMs: 50, webhookRetryBaseMs: 100, webhookRetryMaxMs: 500 });
    const receiver = await Receiver.start();
    try {
      await erasedLeaveTheOutbox({ a: server, b: server }, receiver, (done) => waitUntil(done, 20_000, 'deliveries'), 0);
    } finally {
      await server.stop();
      await receiver.close();
    }
  });
});
