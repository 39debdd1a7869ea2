import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { registerUser, suiteServer, TestSocket, type TestUser } from '../testing/harness.js';
import { clientMsgId, fetchHistory, newMessages, waitForSyncComplete, waitUntil, type Frame } from './delivery-support.js';

/*
 * Guarantee 2, idempotent send: the same sender, chat_id and client_msg_id make one
 * message, whatever the number of sends, and a repeat delivers again to recipients
 * that have not acknowledged it.
 */

function ackFor(sock: TestSocket, cid: string, from = 0, timeoutMs = 5000): Promise<Frame> {
  return sock.waitFor((f) => (f.type === 'ack_sent' || f.type === 'error') && f.client_msg_id === cid, timeoutMs, `ack for ${cid}`, from);
}

function sendFrame(chatId: string, cid: string, content: string) {
  return { type: 'send_message', chat_id: chatId, client_msg_id: cid, content };
}

describe('idempotent send', () => {
  const { srv, open, connect } = suiteServer({}, { synced: waitForSyncComplete });
  let a: TestUser;
  let b: TestUser;
  let chatId: string;

  before(async () => {
    a = await registerUser(srv.baseUrl, 'ida');
    b = await registerUser(srv.baseUrl, 'idb');
    chatId = directChatId(a.user_id, b.user_id);
  });

  async function historyWith(cid: string) {
    const history = await fetchHistory(srv.baseUrl, a.token, chatId);
    return history.filter((m) => m.client_msg_id === cid);
  }

  test('answers a repeated client_msg_id on the same socket with the same message_id and seq', async () => {
    const sa = await open(a);
    const cid = clientMsgId();
    const first = await sa.sendMessage(chatId, 'hello once', cid);
    assert.equal(first.type, 'ack_sent', JSON.stringify(first));
    const from = sa.frames.length;
    sa.send(sendFrame(chatId, cid, 'hello once'));
    const second = await ackFor(sa, cid, from);
    assert.equal(second.type, 'ack_sent', JSON.stringify(second));
    assert.equal(second.message_id, first.message_id);
    assert.equal(second.seq, first.seq);
    assert.equal(second.chat_id, chatId);
    const stored = await historyWith(cid);
    assert.equal(stored.length, 1, `history holds ${stored.length} messages with client_msg_id ${cid}`);
    assert.equal(stored[0]!.message_id, first.message_id);
    await sa.close();
  });

  test('makes one message of two identical sends pipelined back to back', async () => {
    const sa = await open(a);
    const cid = clientMsgId();
    const from = sa.frames.length;
    sa.send(sendFrame(chatId, cid, 'racing'));
    sa.send(sendFrame(chatId, cid, 'racing'));
    await waitUntil(() => sa.frames.slice(from).filter((f: Frame) => f.client_msg_id === cid).length >= 2, 5000, 'two answers');
    const answers = (sa.frames.slice(from) as Frame[]).filter((f) => f.client_msg_id === cid);
    for (const f of answers) assert.equal(f.type, 'ack_sent', JSON.stringify(f));
    assert.equal(answers[0]!.message_id, answers[1]!.message_id);
    assert.equal(answers[0]!.seq, answers[1]!.seq);
    assert.equal((await historyWith(cid)).length, 1);
    await sa.close();
  });

  test('answers a repeated client_msg_id after reconnecting with the same message_id and seq', async () => {
    const sa = await open(a);
    const cid = clientMsgId();
    const first = await sa.sendMessage(chatId, 'before reconnect', cid);
    assert.equal(first.type, 'ack_sent', JSON.stringify(first));
    sa.terminate();
    await sa.closed;
    // Another message in between, so a wrongly created duplicate would get a different seq.
    const sb = await open(b);
    assert.equal((await sb.sendMessage(chatId, 'in between')).type, 'ack_sent');
    await sb.close();

    const sa2 = await open(a);
    const from = sa2.frames.length;
    sa2.send(sendFrame(chatId, cid, 'before reconnect'));
    const second = await ackFor(sa2, cid, from);
    assert.equal(second.type, 'ack_sent', JSON.stringify(second));
    assert.equal(second.message_id, first.message_id);
    assert.equal(second.seq, first.seq);
    const stored = await historyWith(cid);
    assert.equal(stored.length, 1, `history holds ${stored.length} messages with client_msg_id ${cid}`);
    assert.equal(stored[0]!.seq, first.seq);
    await sa2.close();
  });

  test('delivers a repeated send again to an online recipient that has not acknowledged it', async () => {
    const sa = await open(a);
    const sb = await open(b);
    const cid = clientMsgId();
    const ack = await sa.sendMessage(chatId, 'please ack', cid);
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    await sb.waitFor((f) => f.type === 'new_message' && f.message_id === ack.message_id, 5000, 'first delivery');
    const from = sb.frames.length;
    sa.send(sendFrame(chatId, cid, 'please ack'));
    await ackFor(sa, cid, sa.frames.indexOf(ack) + 1);
    const again = await sb.waitFor((f) => f.type === 'new_message' && f.client_msg_id === cid, 5000, 'delivery of the repeated send', from);
    assert.equal(again.message_id, ack.message_id);
    assert.equal(again.seq, ack.seq);
    sa.terminate();
    sb.terminate();
  });

  test('delivers a repeated send again after reconnect to a recipient that did not acknowledge it, as one message', async () => {
    const sa = await open(a);
    const sb = await open(b);
    const cid = clientMsgId();
    const ack = await sa.sendMessage(chatId, 'not acked', cid);
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    await sb.waitFor((f) => f.type === 'new_message' && f.message_id === ack.message_id, 5000, 'first delivery');
    sb.terminate();
    await sb.closed;
    const from = sa.frames.length;
    sa.send(sendFrame(chatId, cid, 'not acked'));
    const second = await ackFor(sa, cid, from);
    assert.equal(second.message_id, ack.message_id);

    const sb2 = await connect(b);
    const syncAt = await waitForSyncComplete(sb2);
    const got = newMessages(sb2, chatId, 0, syncAt).filter((f) => f.client_msg_id === cid);
    assert.ok(got.length >= 1, 'the unacknowledged message was not delivered again before sync_complete');
    for (const f of got) {
      assert.equal(f.message_id, ack.message_id);
      assert.equal(f.seq, ack.seq);
    }
    assert.equal((await historyWith(cid)).length, 1);
    sa.terminate();
    sb2.terminate();
  });

  test('creates a separate message when a different sender uses the same client_msg_id', async () => {
    const sa = await open(a);
    const sb = await open(b);
    const cid = clientMsgId();
    const fromA = await sa.sendMessage(chatId, 'from a', cid);
    const fromB = await sb.sendMessage(chatId, 'from b', cid);
    assert.equal(fromA.type, 'ack_sent', JSON.stringify(fromA));
    assert.equal(fromB.type, 'ack_sent', JSON.stringify(fromB));
    assert.notEqual(fromA.message_id, fromB.message_id);
    assert.notEqual(fromA.seq, fromB.seq);
    const stored = await historyWith(cid);
    assert.equal(stored.length, 2, `history holds ${stored.length} messages with client_msg_id ${cid}`);
    assert.deepEqual(stored.map((m) => m.sender_id).sort(), [a.user_id, b.user_id].sort());
    assert.deepEqual(stored.map((m) => m.content).sort(), ['from a', 'from b']);
    sa.terminate();
    sb.terminate();
  });

  test('creates a separate message when the same sender uses the same client_msg_id in another chat', async () => {
    const c = await registerUser(srv.baseUrl, 'idc');
    const otherChat = directChatId(a.user_id, c.user_id);
    const sa = await open(a);
    const cid = clientMsgId();
    const one = await sa.sendMessage(chatId, 'to b', cid);
    const two = await sa.sendMessage(otherChat, 'to c', cid);
    assert.equal(one.type, 'ack_sent', JSON.stringify(one));
    assert.equal(two.type, 'ack_sent', JSON.stringify(two));
    assert.notEqual(one.message_id, two.message_id);
    assert.equal(two.chat_id, otherChat);
    const inOther = (await fetchHistory(srv.baseUrl, c.token, otherChat)).filter((m) => m.client_msg_id === cid);
    assert.equal(inOther.length, 1);
    assert.equal(inOther[0]!.content, 'to c');
    assert.equal((await historyWith(cid)).length, 1);
    sa.terminate();
  });
});
