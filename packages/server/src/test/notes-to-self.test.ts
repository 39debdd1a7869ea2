import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, login, registerUser, suiteServer } from '../testing/harness.js';
import { assertNoFrameWithin, dedupe, fetchHistory, newMessages, waitForSyncComplete, type Frame } from './delivery-support.js';

/* A direct chat with oneself (notes to self) is allowed: dm:A:A. */

describe('notes to self', () => {
  const { srv, open, connect } = suiteServer({}, { synced: waitForSyncComplete });

  test('accepts messages to dm:A:A, keeps them in history and mirrors them to the other devices', async () => {
    const a1 = await registerUser(srv.baseUrl, 'self');
    const a2 = await login(srv.baseUrl, a1.username, a1.password, 'laptop');
    const a3 = await login(srv.baseUrl, a1.username, a1.password, 'tablet'); // stays offline until the end
    const chatId = directChatId(a1.user_id, a1.user_id);
    assert.equal(chatId, `dm:${a1.user_id}:${a1.user_id}`);
    const [s1, s2] = await Promise.all([open(a1), open(a2)]);

    const first = await s1.sendMessage(chatId, 'remember the milk');
    assert.equal(first.type, 'ack_sent', JSON.stringify(first));
    assert.equal(first.chat_id, chatId);
    assert.equal(first.seq, 1);
    const mirrored = await s2.waitFor(
      (f) => f.type === 'new_message' && f.message_id === first.message_id,
      5000,
      'new_message on the other device',
    );
    assert.equal(mirrored.chat_id, chatId);
    assert.equal(mirrored.sender_id, a1.user_id);
    assert.equal(mirrored.sender_device_id, a1.device_id);
    assert.equal(mirrored.content, 'remember the milk');

    const second = await s2.sendMessage(chatId, 'and the eggs');
    assert.equal(second.type, 'ack_sent', JSON.stringify(second));
    assert.equal(second.seq, 2);
    const back = await s1.waitFor(
      (f) => f.type === 'new_message' && f.message_id === second.message_id,
      5000,
      'new_message back on the first device',
    );
    assert.equal(back.sender_device_id, a2.device_id);
    await assertNoFrameWithin(
      s1,
      (f) => f.type === 'new_message' && f.message_id === first.message_id,
      200,
      'own message on the sending device',
    );
    assert.equal(newMessages(s2, chatId).filter((f) => f.message_id === second.message_id).length, 0, 'own message on the sending device');

    const history = await fetchHistory(srv.baseUrl, a1.token, chatId);
    assert.deepEqual(
      history.map((m) => [m.seq, m.content, m.sender_id]),
      [
        [1, 'remember the milk', a1.user_id],
        [2, 'and the eggs', a1.user_id],
      ],
    );

    const chats = await http(srv.baseUrl, 'GET', '/v1/chats', { token: a1.token });
    assert.equal(chats.status, 200);
    const summary = (chats.body.chats as Frame[]).find((c) => c.chat_id === chatId);
    assert.ok(summary, `notes-to-self chat missing from GET /v1/chats: ${JSON.stringify(chats.body)}`);
    assert.equal(summary.kind, 'direct');
    assert.equal(summary.last_seq, 2);

    // The device that was offline gets both on connect.
    const s3 = await connect(a3);
    const syncAt = await waitForSyncComplete(s3);
    assert.deepEqual(
      dedupe(newMessages(s3, chatId, 0, syncAt)).map((f) => f.message_id),
      [first.message_id, second.message_id],
    );
  });

  test("does not let another user read one's notes", async () => {
    const a = await registerUser(srv.baseUrl, 'selfa');
    const eve = await registerUser(srv.baseUrl, 'selfe');
    const chatId = directChatId(a.user_id, a.user_id);
    const sa = await open(a);
    assert.equal((await sa.sendMessage(chatId, 'private')).type, 'ack_sent');
    const res = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chatId)}/messages`, { token: eve.token });
    assert.equal(res.status, 403);
    assert.equal(res.body.error, 'not_a_member');
  });
});
