import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { http, registerUser, startServerProcess, tempDir, TestSocket, type ServerProcess } from '../testing/harness.js';
import { FakePushServices, makeTestCa, opensslMissing, type TestCa } from '../testing/push-services.js';

/*
 * Mute and push (PROTOCOL.md "Chat settings"): a muted chat wakes none of the user's
 * devices, except for a message that mentions them; edits, deletes and reactions wake
 * nobody. A real server process and stand-in push services (see push.test.ts).
 */
const missing = opensslMissing();

describe('push: muted chats and mentions', { skip: missing ?? false }, () => {
  let ca: TestCa;
  let fake: FakePushServices;
  let srv: ServerProcess;
  let dataDir: string;

  before(async () => {
    ca = makeTestCa();
    fake = await FakePushServices.start(ca);
    dataDir = tempDir();
    srv = await startServerProcess({ dataDir, env: { ...fake.env(), NODE_EXTRA_CA_CERTS: ca.caFile } });
    fake.vapidPublicKey = (await http(srv.baseUrl, 'GET', '/v1/push/webpush')).body.vapid_public_key;
  });
  after(async () => {
    await srv?.kill('SIGTERM');
    await fake?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(ca.dir, { recursive: true, force: true });
  });

  test('a muted chat pushes only messages that mention the user; changes push nobody; unmuted, every message pushes', async () => {
    const base = srv.baseUrl;
    const [alice, bob] = await Promise.all([registerUser(base, 'pma'), registerUser(base, 'pmb')]);
    const g = await http(base, 'POST', '/v1/groups', { token: alice.token, body: { name: 'quiet', member_ids: [bob.user_id] } });
    const chatId = g.body.chat_id as string;
    const sub = fake.newSubscription();
    assert.equal(
      (await http(base, 'PUT', '/v1/devices/current/push', { token: bob.token, body: { provider: 'webpush', subscription: sub } })).status,
      204,
    );
    const muted = await http(base, 'PATCH', `/v1/chats/${chatId}/settings`, {
      token: bob.token,
      body: { muted_until: Date.now() + 3_600_000 },
    });
    assert.equal(muted.status, 200);
    const sa = await TestSocket.connectSynced(srv.wsUrl, alice.token);
    const act = async (frame: Record<string, unknown>) => {
      const id = randomUUID();
      sa.send({ ...frame, client_msg_id: id });
      const ack = await sa.waitFor((f) => f.client_msg_id === id && (f.type === 'ack_sent' || f.type === 'error'), 10_000, 'ack');
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      return ack;
    };
    const pushed = (messageId: string) =>
      fake.waitFor((r) => r.id === sub.id && r.payload.message_id === messageId && r.status < 300, 15_000, `push of ${messageId}`);
    const plain = await act({ type: 'send_message', chat_id: chatId, content: 'nothing for bob in particular' });
    const reaction = await act({ type: 'react', chat_id: chatId, message_id: plain.message_id, emoji: '👍' });
    const edit = await act({ type: 'edit_message', chat_id: chatId, message_id: plain.message_id, content: 'still nothing' });
    const mention = await act({ type: 'send_message', chat_id: chatId, content: 'bob, look', mentions: [bob.user_id] });
    const push = await pushed(mention.message_id);
    assert.deepEqual(push.problems, []);
    // Pushes leave in commit order: by the time the mention's came, the earlier ones would have.
    const ids = fake.pushesTo(sub.id).map((r) => r.payload.message_id);
    for (const quiet of [plain, reaction, edit])
      assert.ok(!ids.includes(quiet.message_id), `no push for ${quiet.message_id}: ${JSON.stringify(ids)}`);
    assert.equal(
      (await http(base, 'PATCH', `/v1/chats/${chatId}/settings`, { token: bob.token, body: { muted_until: null } })).status,
      200,
    );
    // Unmuted: a change still wakes nobody, the next message does.
    const lateReaction = await act({ type: 'react', chat_id: chatId, message_id: mention.message_id, emoji: '👀' });
    const loud = await act({ type: 'send_message', chat_id: chatId, content: 'unmuted now' });
    await pushed(loud.message_id);
    const after = fake.pushesTo(sub.id).map((r) => r.payload.message_id);
    assert.ok(!after.includes(lateReaction.message_id), `no push for a reaction: ${JSON.stringify(after)}`);
    sa.terminate();
  });
});
