import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, login, registerUser, suiteServer, type TestUser } from '../testing/harness.js';
import { fetchHistory, makeItems, sendPipelined, waitForMessages, waitForSyncComplete, type Frame } from './delivery-support.js';

/*
 * Guarantee 6, receipts: ack_delivered and ack_read are cursors; the sender's devices get
 * status_update, the reader's other devices get read_sync, and the REST views (receipts,
 * chat list, history status) agree with them.
 */

describe('receipts', () => {
  const { srv, open } = suiteServer({}, { synced: waitForSyncComplete });

  async function receipts(u: TestUser, messageId: string) {
    const res = await http(srv.baseUrl, 'GET', `/v1/messages/${encodeURIComponent(messageId)}/receipts`, { token: u.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.message_id, messageId);
    return res.body as {
      message_id: string;
      chat_id: string;
      receipts: { user_id: string; delivered_at: number | null; read_at: number | null }[];
    };
  }

  async function chatSummary(u: TestUser, chatId: string) {
    const res = await http(srv.baseUrl, 'GET', '/v1/chats', { token: u.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const chat = (res.body.chats as Frame[]).find((c) => c.chat_id === chatId);
    assert.ok(chat, `chat ${chatId} missing from GET /v1/chats: ${JSON.stringify(res.body)}`);
    return chat;
  }

  async function ownStatuses(u: TestUser, chatId: string) {
    return (await fetchHistory(srv.baseUrl, u.token, chatId)).map((m) => m.status);
  }

  test('reports delivered and read to the sender, syncs reads across devices, and keeps the REST views consistent', async () => {
    const a1 = await registerUser(srv.baseUrl, 'rca');
    const b1 = await registerUser(srv.baseUrl, 'rcb');
    const a2 = await login(srv.baseUrl, a1.username, a1.password, 'a2');
    const b2 = await login(srv.baseUrl, b1.username, b1.password, 'b2');
    const chatId = directChatId(a1.user_id, b1.user_id);
    const [sa1, sa2, sb1, sb2] = await Promise.all([open(a1), open(a2), open(b1), open(b2)]);

    const acks = [...(await sendPipelined(sa1, chatId, makeItems(3, 'receipt'))).values()].sort((x, y) => x.seq - y.seq);
    const [m1, m2, m3] = acks as [Frame, Frame, Frame];
    assert.deepEqual(
      acks.map((f) => f.seq),
      [1, 2, 3],
    );
    await waitForMessages(
      sb1,
      chatId,
      acks.map((f) => f.message_id),
    );
    await waitForMessages(
      sb2,
      chatId,
      acks.map((f) => f.message_id),
    );

    // Before any acknowledgement: nothing delivered or read, three unread for b.
    for (const m of acks) {
      const r = await receipts(a1, m.message_id);
      assert.equal(r.chat_id, chatId);
      assert.equal(r.receipts.length, 1, `one receipt per recipient: ${JSON.stringify(r)}`);
      const [only] = r.receipts;
      assert.deepEqual(
        { user_id: only?.user_id, delivered_at: only?.delivered_at, read_at: only?.read_at },
        { user_id: b1.user_id, delivered_at: null, read_at: null },
        `receipts of seq ${m.seq} before any ack`,
      );
    }
    assert.deepEqual(await ownStatuses(a1, chatId), ['sent', 'sent', 'sent']);
    {
      const c = await chatSummary(b1, chatId);
      assert.equal(c.kind, 'direct');
      assert.equal(c.last_seq, 3);
      assert.equal(c.last_message?.message_id, m3.message_id);
      assert.equal(c.read_seq, 0);
      assert.equal(c.unread_count, 3);
    }
    assert.equal((await chatSummary(a1, chatId)).unread_count, 0, "the sender's own messages are not unread for it");

    // b1 acknowledges delivery of the latest message: covers all three.
    const t0 = Date.now();
    sb1.send({ type: 'ack_delivered', message_id: m3.message_id });
    for (const [name, sock] of [
      ['a1', sa1],
      ['a2', sa2],
    ] as const) {
      const su = await sock.waitFor(
        (f) => f.type === 'status_update' && f.status === 'delivered' && f.seq === 3,
        5000,
        `status_update delivered of seq 3 on ${name}`,
      );
      assert.equal(su.chat_id, chatId, name);
      assert.equal(su.user_id, b1.user_id, name);
      assert.equal(su.message_id, m3.message_id, name);
      assert.equal(su.seq, 3, name);
      assert.equal(typeof su.at, 'number', name);
      assert.ok(su.at >= t0 - 1000, `${name}: at ${su.at}`);
    }
    for (const m of acks) {
      const [r] = (await receipts(a1, m.message_id)).receipts;
      assert.equal(r?.user_id, b1.user_id);
      assert.equal(typeof r?.delivered_at, 'number', `delivered_at of seq ${m.seq} after the delivered cursor passed it`);
      assert.equal(r?.read_at, null, `read_at of seq ${m.seq} before any read`);
    }
    assert.deepEqual(await ownStatuses(a1, chatId), ['delivered', 'delivered', 'delivered']);
    assert.equal((await chatSummary(b1, chatId)).unread_count, 3, 'delivery does not make messages read');

    // b1 reads up to m2: a's devices get status_update read, b2 gets read_sync.
    const readFromA1 = sa1.frames.length;
    const readFromA2 = sa2.frames.length;
    const readFromB2 = sb2.frames.length;
    sb1.send({ type: 'ack_read', chat_id: chatId, last_read_message_id: m2.message_id });
    for (const [name, sock, from] of [
      ['a1', sa1, readFromA1],
      ['a2', sa2, readFromA2],
    ] as const) {
      const su = await sock.waitFor(
        (f) => f.type === 'status_update' && f.status === 'read' && f.seq === 2,
        5000,
        `status_update read of seq 2 on ${name}`,
        from,
      );
      assert.equal(su.chat_id, chatId, name);
      assert.equal(su.user_id, b1.user_id, name);
      assert.equal(su.message_id, m2.message_id, name);
      assert.equal(su.seq, 2, name);
      assert.equal(typeof su.at, 'number', name);
    }
    const rs = await sb2.waitFor((f) => f.type === 'read_sync', 5000, 'read_sync on b2', readFromB2);
    assert.deepEqual({ type: rs.type, chat_id: rs.chat_id, read_seq: rs.read_seq }, { type: 'read_sync', chat_id: chatId, read_seq: 2 });

    for (const m of [m1, m2]) {
      const [r] = (await receipts(a1, m.message_id)).receipts;
      assert.equal(typeof r?.read_at, 'number', `read_at of seq ${m.seq} after reading up to seq 2`);
      assert.equal(typeof r?.delivered_at, 'number');
    }
    {
      const [r] = (await receipts(a1, m3.message_id)).receipts;
      assert.equal(r?.read_at, null, 'read_at of seq 3 after reading up to seq 2');
    }
    assert.deepEqual(await ownStatuses(a1, chatId), ['read', 'read', 'delivered']);
    {
      const c = await chatSummary(b1, chatId);
      assert.equal(c.read_seq, 2);
      assert.equal(c.unread_count, 1);
      const c2 = await chatSummary(b2, chatId);
      assert.equal(c2.read_seq, 2, 'read_seq is per user, the same on every device');
      assert.equal(c2.unread_count, 1);
    }

    // b2 reads the rest: b1 gets read_sync, everything is read.
    const fromB1 = sb1.frames.length;
    const fromA1 = sa1.frames.length;
    sb2.send({ type: 'ack_read', chat_id: chatId, last_read_message_id: m3.message_id });
    const rs1 = await sb1.waitFor((f) => f.type === 'read_sync', 5000, 'read_sync on b1', fromB1);
    assert.equal(rs1.chat_id, chatId);
    assert.equal(rs1.read_seq, 3);
    const su = await sa1.waitFor(
      (f) => f.type === 'status_update' && f.status === 'read' && f.seq === 3,
      5000,
      'status_update read of seq 3',
      fromA1,
    );
    assert.equal(su.message_id, m3.message_id);
    assert.equal(su.seq, 3);
    assert.deepEqual(await ownStatuses(a1, chatId), ['read', 'read', 'read']);
    const c = await chatSummary(b1, chatId);
    assert.equal(c.read_seq, 3);
    assert.equal(c.unread_count, 0);
  });

  test("reports delivered when any one of the recipient's devices acknowledges", async () => {
    const a = await registerUser(srv.baseUrl, 'anya');
    const b1 = await registerUser(srv.baseUrl, 'anyb');
    const b2 = await login(srv.baseUrl, b1.username, b1.password, 'b2');
    const chatId = directChatId(a.user_id, b1.user_id);
    const sa = await open(a);
    const ack = await sa.sendMessage(chatId, 'any device will do');
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    // b1 never connects; b2 connects, receives and acknowledges.
    const sb2 = await open(b2);
    await waitForMessages(sb2, chatId, [ack.message_id]);
    sb2.send({ type: 'ack_delivered', message_ids: [ack.message_id] });
    const su = await sa.waitFor((f) => f.type === 'status_update' && f.status === 'delivered', 5000, 'status_update delivered');
    assert.equal(su.message_id, ack.message_id);
    assert.equal(su.user_id, b1.user_id);
    const [r] = (await receipts(a, ack.message_id)).receipts;
    assert.equal(typeof r?.delivered_at, 'number');
    assert.deepEqual(await ownStatuses(a, chatId), ['delivered']);
  });

  test('a burst of acknowledgements in a direct chat reaches the sender as a few status frames, the latest included (guarantee 6 folding)', async () => {
    const a = await registerUser(srv.baseUrl, 'folda');
    const b = await registerUser(srv.baseUrl, 'foldb');
    const chatId = directChatId(a.user_id, b.user_id);
    const [sa, sb] = await Promise.all([open(a), open(b)]);
    const acks = [...(await sendPipelined(sa, chatId, makeItems(20, 'fold'))).values()].sort((x, y) => x.seq - y.seq);
    await waitForMessages(
      sb,
      chatId,
      acks.map((f) => f.message_id),
    );
    const from = sa.frames.length;
    // One frame per message, delivered then read, as a client that acknowledges each would.
    for (const m of acks) {
      sb.send({ type: 'ack_delivered', message_ids: [m.message_id] });
      sb.send({ type: 'ack_read', chat_id: chatId, last_read_message_id: m.message_id });
    }
    const last = acks[acks.length - 1]!;
    await sa.waitFor(
      (f) => f.type === 'status_update' && f.status === 'read' && f.seq === last.seq,
      5000,
      'read of the last message',
      from,
    );
    // Nothing older comes after the latest: each status's frames only move forward.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const updates = sa.frames.slice(from).filter((f) => f.type === 'status_update');
    for (const status of ['delivered', 'read']) {
      const seqs = updates.filter((f) => f.status === status).map((f) => f.seq as number);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        `${status} frames in order: ${seqs.join(',')}`,
      );
    }
    assert.ok(updates.length <= 6, `40 acknowledgements gave ${updates.length} status frames, not one or two per message`);
    assert.deepEqual(
      await ownStatuses(a, chatId),
      acks.map(() => 'read'),
    );
  });

  test('a held status frame still reaches the sender within a second of the acknowledgement (guarantee 6)', async () => {
    const a = await registerUser(srv.baseUrl, 'holda');
    const b = await registerUser(srv.baseUrl, 'holdb');
    const chatId = directChatId(a.user_id, b.user_id);
    const [sa, sb] = await Promise.all([open(a), open(b)]);
    const ack = await sa.sendMessage(chatId, 'read me');
    await waitForMessages(sb, chatId, [ack.message_id]);
    const from = sa.frames.length;
    const sent = Date.now();
    sb.send({ type: 'ack_read', chat_id: chatId, last_read_message_id: ack.message_id });
    await sa.waitFor((f) => f.type === 'status_update' && f.status === 'read' && f.seq === ack.seq, 5000, 'read status', from);
    const took = Date.now() - sent;
    assert.ok(took <= 1000, `the read status came ${took} ms after the ack_read: guarantee 6 allows a second`);
  });
});
