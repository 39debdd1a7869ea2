import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, registerUser, TestSocket } from '../testing/harness.js';
import { clusterServicesMissing } from '../testing/services.js';
import { clusterSuite } from '../testing/cluster.js';
import { assertNoFrameWithin, clientMsgId, sendPipelined, waitForSyncComplete, type Frame } from './delivery-support.js';

/*
 * Issue 9 (bounds) where cluster mode has code of its own: PostgreSQL's chat-list paging,
 * its history byte budget and chat-by-chat search, and presence watches ended across
 * nodes (the members-changed event carries who left, through Redis).
 */
const missing = await clusterServicesMissing();

describe('cluster: bounds', { skip: missing ?? false }, () => {
  const { nodes } = clusterSuite(2);

  test('chat list pages, history stops at the byte budget, search sees only the caller’s chats', async () => {
    const [a, b, c] = [nodes[0]!, nodes[1]!, nodes[0]!];
    const owner = await registerUser(a.baseUrl, 'cbo');
    const stranger = await registerUser(b.baseUrl, 'cbs');
    for (let i = 0; i < 5; i++) {
      assert.equal(
        (await http(a.baseUrl, 'POST', '/v1/groups', { token: owner.token, body: { name: `g${i}`, member_ids: [] } })).status,
        201,
      );
    }
    const one = await http(b.baseUrl, 'GET', '/v1/chats', { token: owner.token });
    assert.equal(one.body.chats.length, 5);
    assert.equal(one.body.next_cursor, undefined);
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const res = await http(c.baseUrl, 'GET', `/v1/chats?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, {
        token: owner.token,
      });
      assert.equal(res.status, 200);
      paged.push(...res.body.chats.map((x: { chat_id: string }) => x.chat_id));
      cursor = res.body.next_cursor;
    } while (cursor);
    assert.deepEqual(
      paged,
      one.body.chats.map((x: { chat_id: string }) => x.chat_id),
    );

    // 12 messages of 600 KB of JSON each: a page of them stops by bytes.
    const dm = directChatId(owner.user_id, stranger.user_id);
    const so = await TestSocket.connect(a.wsUrl, owner.token);
    await waitForSyncComplete(so);
    const items = Array.from({ length: 12 }, () => ({ client_msg_id: clientMsgId(), content: '\u0001'.repeat(100_000) }));
    await sendPipelined(so, dm, items, { window: 4 });
    const seqs: number[] = [];
    let after = 0;
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${b.baseUrl}/v1/chats/${encodeURIComponent(dm)}/messages?after=${after}&limit=200`, {
        headers: { authorization: `Bearer ${stranger.token}` },
      });
      const text = await res.text();
      assert.ok(Buffer.byteLength(text) < 5 * 1024 * 1024);
      const body = JSON.parse(text) as { messages: Frame[]; next_cursor: number | null };
      seqs.push(...body.messages.map((m) => m.seq as number));
      if (body.next_cursor === null) break;
      assert.ok(body.messages.length < 12);
      after = body.next_cursor;
    }
    assert.deepEqual(
      seqs,
      Array.from({ length: 12 }, (_, i) => i + 1),
    );

    // Search: the owner's word in the owner's group; a third user finds nothing.
    const g = await http(a.baseUrl, 'POST', '/v1/groups', { token: owner.token, body: { name: 'search', member_ids: [] } });
    const ack = await so.sendMessage(g.body.chat_id, 'zanzibarquux here');
    assert.equal(ack.type, 'ack_sent');
    const found = await http(b.baseUrl, 'GET', '/v1/search?q=zanzibar', { token: owner.token });
    assert.deepEqual(
      found.body.messages.map((m: Frame) => m.message_id),
      [ack.message_id],
    );
    const third = await registerUser(b.baseUrl, 'cbt');
    assert.deepEqual((await http(b.baseUrl, 'GET', '/v1/search?q=zanzibar', { token: third.token })).body.messages, []);
    so.terminate();
  });

  test('a watcher on one node stops getting presence when the watched user leaves their only shared chat through another', async () => {
    const [na, nb] = [nodes[0]!, nodes[1]!];
    const alice = await registerUser(na.baseUrl, 'cpa');
    const bob = await registerUser(nb.baseUrl, 'cpb');
    const g = await http(na.baseUrl, 'POST', '/v1/groups', { token: alice.token, body: { name: 'shared', member_ids: [bob.user_id] } });
    const sa = await TestSocket.connect(na.wsUrl, alice.token);
    await waitForSyncComplete(sa);
    sa.send({ type: 'presence_subscribe', user_ids: [bob.user_id] });
    await sa.nextWhere((f) => f.type === 'presence' && f.user_id === bob.user_id);
    assert.equal(
      (await http(nb.baseUrl, 'DELETE', `/v1/groups/${g.body.group_id}/members/${bob.user_id}`, { token: bob.token })).status,
      204,
    );
    await sa.nextWhere((f) => f.type === 'presence' && f.user_id === bob.user_id && f.online === false && f.last_seen === null, 10_000);
    const mark = sa.frames.length;
    const sb = await TestSocket.connect(nb.wsUrl, bob.token);
    await assertNoFrameWithin(sa, (f) => f.type === 'presence' && f.user_id === bob.user_id, 1000, 'presence after leaving', mark);
    sa.terminate();
    sb.terminate();
  });
});
