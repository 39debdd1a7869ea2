import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { login, registerUser, suiteServer } from '../testing/harness.js';
import { assertNoFrameWithin, dedupe, newMessages, waitForSyncComplete } from './delivery-support.js';

/*
 * Devices: every device of every member gets every message committed after its session
 * was created (guarantee 4); new_message goes to every device of every member except the
 * sending device, so a user's devices mirror each other.
 */

describe('devices', () => {
  const { srv, open, connect } = suiteServer({}, { synced: waitForSyncComplete });

  test('gives a new device only the messages committed after its session was created', async () => {
    const a = await registerUser(srv.baseUrl, 'dva');
    const b1 = await registerUser(srv.baseUrl, 'dvb');
    const chatId = directChatId(a.user_id, b1.user_id);
    const sa = await open(a);
    const old1 = await sa.sendMessage(chatId, 'old one');
    const old2 = await sa.sendMessage(chatId, 'old two');
    assert.equal(old2.type, 'ack_sent', JSON.stringify(old2));

    const b2 = await login(srv.baseUrl, b1.username, b1.password, 'new phone');
    const fresh = await sa.sendMessage(chatId, 'new one');
    assert.equal(fresh.type, 'ack_sent', JSON.stringify(fresh));

    const s = await connect(b2);
    const syncAt = await waitForSyncComplete(s);
    const got = dedupe(newMessages(s, chatId, 0, syncAt));
    assert.deepEqual(
      got.map((f) => f.message_id),
      [fresh.message_id],
      `new device got ${JSON.stringify(got.map((f) => f.content))}; older messages were ${old1.message_id}, ${old2.message_id}`,
    );

    // The older device, offline all along, still gets all three.
    const s1 = await connect(b1);
    const sync1 = await waitForSyncComplete(s1);
    assert.deepEqual(
      dedupe(newMessages(s1, chatId, 0, sync1)).map((f) => f.message_id),
      [old1.message_id, old2.message_id, fresh.message_id],
    );
  });

  test("mirrors a message to the recipient's devices and the sender's other devices, but not the sending device", async () => {
    const a1 = await registerUser(srv.baseUrl, 'mira');
    const b1 = await registerUser(srv.baseUrl, 'mirb');
    const a2 = await login(srv.baseUrl, a1.username, a1.password, 'a2');
    const b2 = await login(srv.baseUrl, b1.username, b1.password, 'b2');
    const chatId = directChatId(a1.user_id, b1.user_id);
    const [sa1, sa2, sb1, sb2] = await Promise.all([open(a1), open(a2), open(b1), open(b2)]);

    const ack = await sa1.sendMessage(chatId, 'from a1');
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    for (const [name, sock] of [
      ['b1', sb1],
      ['b2', sb2],
      ['a2', sa2],
    ] as const) {
      const f = await sock.waitFor((x) => x.type === 'new_message' && x.message_id === ack.message_id, 5000, `new_message on ${name}`);
      assert.equal(f.chat_id, chatId, name);
      assert.equal(f.seq, ack.seq, name);
      assert.equal(f.sender_id, a1.user_id, name);
      assert.equal(f.sender_device_id, a1.device_id, name);
      assert.equal(f.content, 'from a1', name);
      assert.equal(f.client_msg_id, ack.client_msg_id, name);
      assert.equal(f.created_at, ack.created_at, name);
    }
    await assertNoFrameWithin(
      sa1,
      (x) => x.type === 'new_message' && x.message_id === ack.message_id,
      300,
      'new_message on the sending device',
    );

    const back = await sb2.sendMessage(chatId, 'from b2');
    assert.equal(back.type, 'ack_sent', JSON.stringify(back));
    for (const [name, sock] of [
      ['a1', sa1],
      ['a2', sa2],
      ['b1', sb1],
    ] as const) {
      const f = await sock.waitFor((x) => x.type === 'new_message' && x.message_id === back.message_id, 5000, `new_message on ${name}`);
      assert.equal(f.sender_id, b1.user_id, name);
      assert.equal(f.sender_device_id, b2.device_id, name);
      assert.equal(f.seq, ack.seq + 1, name);
    }
    await assertNoFrameWithin(
      sb2,
      (x) => x.type === 'new_message' && x.message_id === back.message_id,
      300,
      'new_message on the sending device',
    );
  });

  test("delivers a message to the sender's other device that was offline when it was sent", async () => {
    const a1 = await registerUser(srv.baseUrl, 'offa');
    const b = await registerUser(srv.baseUrl, 'offb');
    const a2 = await login(srv.baseUrl, a1.username, a1.password, 'a2');
    const chatId = directChatId(a1.user_id, b.user_id);
    const sa1 = await open(a1);
    const ack = await sa1.sendMessage(chatId, 'sent while a2 slept');
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));

    const s = await connect(a2);
    const syncAt = await waitForSyncComplete(s);
    const got = dedupe(newMessages(s, chatId, 0, syncAt));
    assert.equal(got.length, 1);
    assert.equal(got[0]!.message_id, ack.message_id);
    assert.equal(got[0]!.sender_device_id, a1.device_id);
  });
});
