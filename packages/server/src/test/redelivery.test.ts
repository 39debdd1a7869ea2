import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { login, registerUser, sleep, suiteServer, TestSocket, type TestUser } from '../testing/harness.js';
import {
  assertGapFreeFrom,
  dedupe,
  makeItems,
  newMessages,
  roundTrip,
  sendPipelined,
  waitForMessages,
  waitForSyncComplete,
  type Frame,
} from './delivery-support.js';

/*
 * Guarantee 4, at-least-once: a device gets every message until it sends ack_delivered,
 * and ack_delivered is a cursor (guarantee 6): it covers every earlier message of the chat.
 */

describe('redelivery until ack_delivered', () => {
  const { srv, connect } = suiteServer();

  /** a and b with both online; a sends n messages and b receives them (without acking). */
  async function setup(n: number) {
    const a = await registerUser(srv.baseUrl, 'rda');
    const b = await registerUser(srv.baseUrl, 'rdb');
    const chatId = directChatId(a.user_id, b.user_id);
    const sa = await connect(a);
    const sb = await connect(b);
    await Promise.all([waitForSyncComplete(sa), waitForSyncComplete(sb)]);
    const acks = [...(await sendPipelined(sa, chatId, makeItems(n, 'redeliver'))).values()].sort((x, y) => x.seq - y.seq);
    await waitForMessages(
      sb,
      chatId,
      acks.map((f) => f.message_id),
    );
    return { a, b, chatId, sa, sb, acks };
  }

  /**
   * Waits until the server has taken in b's ack: the sender is told (status_update), or at
   * least every frame b sent has been handled.
   */
  async function ackTakenIn(sa: TestSocket, sb: TestSocket, lastAcked: Frame): Promise<void> {
    await roundTrip(sb);
    try {
      await sa.waitFor(
        (f) => f.type === 'status_update' && f.status === 'delivered' && f.seq >= lastAcked.seq,
        3000,
        'status_update delivered',
      );
    } catch {
      await sleep(300); // receipts.test.ts reports a missing status_update; here only redelivery matters
    }
  }

  async function reconnectAndSync(u: TestUser) {
    const s = await connect(u);
    const syncAt = await waitForSyncComplete(s);
    return { s, syncAt };
  }

  test('redelivers unacknowledged messages in seq order after reconnect, then sync_complete', async () => {
    const { b, chatId, sb, acks } = await setup(5);
    sb.terminate();
    await sb.closed;
    const { s, syncAt } = await reconnectAndSync(b);
    const again = dedupe(newMessages(s, chatId, 0, syncAt));
    assert.deepEqual(
      again.map((f) => f.message_id),
      acks.map((f) => f.message_id),
      'all 5 unacknowledged messages come again before sync_complete, in seq order',
    );
    assertGapFreeFrom(
      again.map((f) => f.seq),
      1,
      'redelivered seqs',
    );

    // And again on the next reconnect: receiving is not acknowledging.
    s.terminate();
    await s.closed;
    const third = await reconnectAndSync(b);
    assert.equal(dedupe(newMessages(third.s, chatId, 0, third.syncAt)).length, 5);
    third.s.terminate();
  });

  test('stops redelivering after ack_delivered of the latest message_id, which covers the earlier ones', async () => {
    const { b, chatId, sa, sb, acks } = await setup(5);
    const last = acks[acks.length - 1]!;
    sb.send({ type: 'ack_delivered', message_id: last.message_id });
    await ackTakenIn(sa, sb, last);
    sb.terminate();
    await sb.closed;
    const { s, syncAt } = await reconnectAndSync(b);
    assert.deepEqual(newMessages(s, chatId, 0, syncAt), [], 'acknowledged messages delivered again before sync_complete');
    await sleep(300);
    assert.deepEqual(newMessages(s, chatId), [], 'acknowledged messages delivered again after sync_complete');
    s.terminate();
  });

  test('stops redelivering after ack_delivered with a message_ids array', async () => {
    const { b, chatId, sa, sb, acks } = await setup(5);
    sb.send({ type: 'ack_delivered', message_ids: acks.map((f) => f.message_id) });
    await ackTakenIn(sa, sb, acks[acks.length - 1]!);
    sb.terminate();
    await sb.closed;
    const { s, syncAt } = await reconnectAndSync(b);
    assert.deepEqual(newMessages(s, chatId, 0, syncAt), [], 'acknowledged messages delivered again before sync_complete');
    await sleep(300);
    assert.deepEqual(newMessages(s, chatId), [], 'acknowledged messages delivered again after sync_complete');
    s.terminate();
  });

  test('takes a message_ids array as long as a 10,000-message backlog in one frame (unknown ids ignored)', async () => {
    const { b, chatId, sa, sb, acks } = await setup(5);
    const unknown = Array.from({ length: 10_000 - acks.length }, (_, i) => String(9_000_000_000_000 + i));
    sb.send({ type: 'ack_delivered', message_ids: [...unknown, ...acks.map((f) => f.message_id)] });
    await ackTakenIn(sa, sb, acks[acks.length - 1]!);
    assert.equal(sb.frames.filter((f) => f.type === 'error').length, 0, 'no error frame');
    sb.terminate();
    await sb.closed;
    const { s, syncAt } = await reconnectAndSync(b);
    assert.deepEqual(newMessages(s, chatId, 0, syncAt), [], 'acknowledged messages delivered again');
    s.terminate();
  });

  test('after acking a middle message redelivers only the later ones', async () => {
    const { b, chatId, sa, sb, acks } = await setup(5);
    const middle = acks[2]!;
    sb.send({ type: 'ack_delivered', message_ids: [middle.message_id] });
    await ackTakenIn(sa, sb, middle);
    sb.terminate();
    await sb.closed;
    const { s, syncAt } = await reconnectAndSync(b);
    const got = dedupe(newMessages(s, chatId, 0, syncAt));
    assert.deepEqual(
      got.map((f) => f.seq),
      [4, 5],
      'only messages after the acknowledged one come again',
    );
    s.terminate();
  });

  test('redelivers to a device messages that only another device of the same user acknowledged', async () => {
    const a = await registerUser(srv.baseUrl, 'rdma');
    const b1 = await registerUser(srv.baseUrl, 'rdmb');
    const b2 = await login(srv.baseUrl, b1.username, b1.password, 'second');
    const chatId = directChatId(a.user_id, b1.user_id);
    const sa = await connect(a);
    const sb1 = await connect(b1);
    await Promise.all([waitForSyncComplete(sa), waitForSyncComplete(sb1)]);
    const acks = [...(await sendPipelined(sa, chatId, makeItems(3, 'per device'))).values()].sort((x, y) => x.seq - y.seq);
    await waitForMessages(
      sb1,
      chatId,
      acks.map((f) => f.message_id),
    );
    const last = acks[acks.length - 1]!;
    sb1.send({ type: 'ack_delivered', message_id: last.message_id });
    await ackTakenIn(sa, sb1, last);

    // b2 was offline throughout: it is still owed all three.
    const { s, syncAt } = await reconnectAndSync(b2);
    assert.deepEqual(
      dedupe(newMessages(s, chatId, 0, syncAt)).map((f) => f.message_id),
      acks.map((f) => f.message_id),
    );
    s.terminate();
    sb1.terminate();
  });
});
