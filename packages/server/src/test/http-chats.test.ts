import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { directChatId } from '@switchboard/protocol';
import { http, login, sleep, suiteServer, TestSocket, type TestUser } from '../testing/harness.js';
import { pollUntil } from '../testing/poll.js';

/*
 * Acceptance tests for chat history, the chat list and receipts over HTTP (PROTOCOL.md,
 * "Chats"), and the rule that nobody learns about chats they are not a member of.
 */

const { srv, open } = suiteServer();
let nameCounter = 0;

interface Sent {
  client_msg_id: string;
  content: string;
  message_id: string;
  seq: number;
  created_at: number;
}

async function newUser(displayName: string): Promise<TestUser & { display_name: string }> {
  const username = `chat_${process.pid}_${++nameCounter}_${Math.floor(Math.random() * 1e5)}`.slice(0, 32);
  const password = 'chat password 1';
  const res = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username, password, display_name: displayName } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const dev = await login(srv.baseUrl, username, password);
  return { ...dev, username, password, display_name: displayName };
}

/** Pipelines sends and waits for every ack_sent (acks may arrive in any order). */
async function sendMany(sock: TestSocket, chatId: string, contents: string[]): Promise<Sent[]> {
  const ids = contents.map((_, i) => `cm-${Date.now()}-${i}-${Math.random().toString(36).slice(2)}`);
  contents.forEach((content, i) => sock.send({ type: 'send_message', chat_id: chatId, client_msg_id: ids[i], content }));
  const wanted = new Set(ids);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const errors = sock.all('error').filter((f) => wanted.has(f.client_msg_id ?? ''));
    assert.equal(errors.length, 0, `send errors: ${JSON.stringify(errors.slice(0, 3))}`);
    const acks = new Map(
      sock
        .all('ack_sent')
        .filter((f) => wanted.has(f.client_msg_id))
        .map((f) => [f.client_msg_id, f]),
    );
    if (acks.size === ids.length) {
      return ids.map((id, i) => {
        const a = acks.get(id)!;
        return { client_msg_id: id, content: contents[i]!, message_id: a.message_id, seq: a.seq, created_at: a.created_at };
      });
    }
    if (Date.now() > deadline) assert.fail(`only ${acks.size} of ${ids.length} acks arrived`);
    await sleep(20);
  }
}

function history(user: TestUser, chatId: string, query = '') {
  return http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chatId)}/messages${query}`, { token: user.token });
}

function seqs(body: any): number[] {
  return (body.messages as any[]).map((m) => m.seq);
}

describe('GET /v1/chats/{chat_id}/messages', () => {
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let dm: string;
  let sent: Sent[]; // in send order (= seq order, one sender, one socket)
  const N = 230;

  before(async () => {
    alice = await newUser('Alice');
    bob = await newUser('Bob');
    carol = await newUser('Carol');
    dm = directChatId(alice.user_id, bob.user_id);
    const sa = await open(alice);
    // Sent in 3 batches so that seq order is certain to be send order.
    sent = [];
    for (let b = 0; b < 3; b++) {
      const contents = Array.from({ length: b < 2 ? 100 : N - 200 }, (_, i) => `message ${b * 100 + i}`);
      sent.push(...(await sendMany(sa, dm, contents)));
    }
    // Acks are in seq order within the chat: strictly increasing without gaps.
    const ordered = [...sent].sort((x, y) => x.seq - y.seq);
    for (let i = 1; i < ordered.length; i++) assert.equal(ordered[i]!.seq, ordered[i - 1]!.seq + 1, 'seq without gaps');
    sent = ordered;
  });

  it('without a cursor gives the latest 50 (default limit) in ascending seq', async () => {
    const res = await history(alice, dm);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(
      seqs(res.body),
      sent.slice(-50).map((m) => m.seq),
    );
  });

  it('returns full Message objects; the sender sees its own messages with a status', async () => {
    const res = await history(alice, dm, '?limit=5');
    assert.equal(res.status, 200);
    const expected = sent.slice(-5);
    assert.equal(res.body.messages.length, 5);
    res.body.messages.forEach((m: any, i: number) => {
      const e = expected[i]!;
      assert.equal(m.message_id, e.message_id);
      assert.equal(m.chat_id, dm);
      assert.equal(m.seq, e.seq);
      assert.equal(m.sender_id, alice.user_id);
      assert.equal(m.sender_device_id, alice.device_id);
      assert.equal(m.client_msg_id, e.client_msg_id);
      assert.equal(m.content, e.content);
      assert.equal(m.created_at, e.created_at);
      assert.ok(['sent', 'delivered', 'read'].includes(m.status), `status ${m.status}`);
    });
    // The recipient reads the same messages.
    const forBob = await history(bob, dm, '?limit=5');
    assert.equal(forBob.status, 200);
    assert.deepEqual(
      forBob.body.messages.map((m: any) => m.message_id),
      expected.map((m) => m.message_id),
    );
  });

  it('limit without a cursor gives the latest `limit`', async () => {
    for (const limit of [1, 10, 200]) {
      const res = await history(alice, dm, `?limit=${limit}`);
      assert.equal(res.status, 200);
      assert.deepEqual(
        seqs(res.body),
        sent.slice(-limit).map((m) => m.seq),
        `limit=${limit}`,
      );
    }
  });

  it('before=SEQ gives the latest `limit` messages strictly before SEQ, ascending', async () => {
    const pivot = sent[120]!.seq;
    const res = await history(alice, dm, `?before=${pivot}&limit=20`);
    assert.equal(res.status, 200);
    assert.deepEqual(
      seqs(res.body),
      sent.slice(100, 120).map((m) => m.seq),
    );
    const near = await history(alice, dm, `?before=${sent[3]!.seq}&limit=20`);
    assert.deepEqual(
      seqs(near.body),
      sent.slice(0, 3).map((m) => m.seq),
      'fewer than limit near the start',
    );
    const none = await history(alice, dm, `?before=${sent[0]!.seq}`);
    assert.equal(none.status, 200);
    assert.deepEqual(none.body.messages, []);
  });

  it('after=SEQ pages forward: the first `limit` messages strictly after SEQ, ascending', async () => {
    const res = await history(alice, dm, `?after=${sent[9]!.seq}&limit=15`);
    assert.equal(res.status, 200);
    assert.deepEqual(
      seqs(res.body),
      sent.slice(10, 25).map((m) => m.seq),
    );
    const fromStart = await history(alice, dm, `?after=${sent[0]!.seq - 1}`);
    assert.deepEqual(
      seqs(fromStart.body),
      sent.slice(0, 50).map((m) => m.seq),
      'after with default limit 50',
    );
    const tail = await history(alice, dm, `?after=${sent[N - 3]!.seq}&limit=50`);
    assert.deepEqual(
      seqs(tail.body),
      sent.slice(N - 2).map((m) => m.seq),
    );
    const none = await history(alice, dm, `?after=${sent[N - 1]!.seq}`);
    assert.equal(none.status, 200);
    assert.deepEqual(none.body.messages, []);
  });

  it('limit outside 1..200 (or not a number) answers 400 invalid_request', async () => {
    for (const limit of ['0', '201', '-1', '1000', 'abc', '2.5']) {
      const res = await history(alice, dm, `?limit=${limit}`);
      assert.equal(res.status, 400, `limit=${limit}: ${res.status}`);
      assert.equal(res.body?.error, 'invalid_request', `limit=${limit}`);
    }
  });

  /*
   * next_cursor (PROTOCOL.md names it but does not define it). What is asserted:
   * - it is present on every page (null or a cursor value);
   * - passing it back in the same parameter the page was fetched with (`after` for
   *   forward pages; `before` for pages fetched with `before` or with no cursor) gives the
   *   next page in that direction, with no message skipped or repeated;
   * - a page with fewer than `limit` messages has next_cursor null (nothing more that way);
   * - a full page that is not the end has a non-null next_cursor.
   * Walking backwards from "latest" and forwards from the start both visit all N messages.
   */
  it('next_cursor walks backwards from the latest page through all history', async () => {
    const seen: number[] = [];
    let res = await history(alice, dm, '?limit=40');
    for (let pages = 0; ; pages++) {
      assert.equal(res.status, 200);
      assert.ok('next_cursor' in res.body, 'next_cursor is present');
      const page = seqs(res.body);
      seen.unshift(...page);
      if (page.length < 40) assert.equal(res.body.next_cursor, null, 'short page ends the walk');
      if (res.body.next_cursor === null || res.body.next_cursor === undefined) break;
      assert.ok(pages < 20, 'too many pages');
      res = await history(alice, dm, `?limit=40&before=${encodeURIComponent(String(res.body.next_cursor))}`);
      if (res.body.messages?.length === 0) break; // a full last page may carry a cursor to an empty page
    }
    assert.deepEqual(
      seen,
      sent.map((m) => m.seq),
    );
  });

  it('next_cursor walks forwards from the start through all history', async () => {
    const seen: number[] = [];
    let res = await history(alice, dm, `?limit=40&after=${sent[0]!.seq - 1}`);
    for (let pages = 0; ; pages++) {
      assert.equal(res.status, 200);
      assert.ok('next_cursor' in res.body, 'next_cursor is present');
      const page = seqs(res.body);
      seen.push(...page);
      if (page.length < 40) assert.equal(res.body.next_cursor, null, 'short page ends the walk');
      if (page.length === 40 && seen.length < N) assert.notEqual(res.body.next_cursor, null, 'full page before the end has a cursor');
      if (res.body.next_cursor === null || res.body.next_cursor === undefined) break;
      assert.ok(pages < 20, 'too many pages');
      res = await history(alice, dm, `?limit=40&after=${encodeURIComponent(String(res.body.next_cursor))}`);
      if (res.body.messages?.length === 0) break;
    }
    assert.deepEqual(
      seen,
      sent.map((m) => m.seq),
    );
  });

  it('a user who is not in the dm gets 403 not_a_member, whatever the query', async () => {
    for (const q of ['', '?limit=10', `?after=0`, `?before=${sent[N - 1]!.seq}`]) {
      const res = await history(carol, dm, q);
      assert.equal(res.status, 403, `carol reading ${dm}${q}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      assert.equal(res.body?.error, 'not_a_member');
      assert.equal(res.body?.messages, undefined, 'no messages leak');
    }
  });

  it('a dm nobody has sent to yet reads as empty for its users (it exists implicitly), not 403', async () => {
    // PROTOCOL.md: a direct chat "exists implicitly"; both users are members by its very id.
    for (const [reader, chatId] of [
      [carol, directChatId(carol.user_id, carol.user_id)],
      [carol, directChatId(carol.user_id, bob.user_id)],
      [bob, directChatId(carol.user_id, bob.user_id)],
    ] as const) {
      const res = await history(reader, chatId);
      assert.equal(res.status, 200, `${chatId} read by a participant: ${res.status} ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body.messages, []);
    }
  });
});

describe('GET /v1/chats', () => {
  it("lists the caller's chats, most recent first, with title, last message, read position and unread count", async () => {
    const alice = await newUser('Alice Chats');
    const bob = await newUser('Bob Chats');
    const carol = await newUser('Carol Chats');
    const dave = await newUser('Dave Outsider');

    const empty = await http(srv.baseUrl, 'GET', '/v1/chats', { token: dave.token });
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.body, { chats: [] });

    const ab = directChatId(alice.user_id, bob.user_id);
    const ac = directChatId(alice.user_id, carol.user_id);
    const sa = await open(alice);
    const sb = await open(bob);

    const toBob = await sendMany(
      sa,
      ab,
      Array.from({ length: 12 }, (_, i) => `to bob ${i}`),
    );
    await sleep(5);
    const toCarol = await sendMany(sa, ac, ['to carol']);

    let list = await http(srv.baseUrl, 'GET', '/v1/chats', { token: alice.token });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.deepEqual(
      list.body.chats.map((c: any) => c.chat_id),
      [ac, ab],
      'most recent first',
    );
    const [cAC, cAB] = list.body.chats;
    assert.equal(cAC.kind, 'direct');
    assert.equal(cAC.title, 'Carol Chats', "title of a direct chat is the other user's display name");
    assert.equal(cAB.title, 'Bob Chats');
    assert.equal(cAB.last_seq, toBob[11]!.seq);
    assert.equal(cAB.last_message?.message_id, toBob[11]!.message_id);
    assert.equal(cAB.last_message?.content, 'to bob 11');
    assert.equal(cAB.last_message?.sender_id, alice.user_id);
    assert.equal(cAB.unread_count, 0, "one's own messages are never unread");
    assert.equal(cAC.last_seq, toCarol[0]!.seq);
    assert.equal(typeof cAB.read_seq, 'number');

    // Bob has 12 unread in his only chat, titled with Alice's display name.
    let bobList = await http(srv.baseUrl, 'GET', '/v1/chats', { token: bob.token });
    assert.equal(bobList.status, 200);
    assert.equal(bobList.body.chats.length, 1);
    const bobChat = bobList.body.chats[0];
    assert.equal(bobChat.chat_id, ab);
    assert.equal(bobChat.kind, 'direct');
    assert.equal(bobChat.title, 'Alice Chats');
    assert.equal(bobChat.last_seq, toBob[11]!.seq);
    assert.equal(bobChat.unread_count, 12);
    assert.ok(bobChat.read_seq < toBob[0]!.seq, `read_seq ${bobChat.read_seq} is before the first message`);

    // Bob reads up to the 8th message: read_seq moves there and 4 remain unread.
    sb.send({ type: 'ack_read', chat_id: ab, last_read_message_id: toBob[7]!.message_id });
    bobList = await pollUntil(
      'bob read_seq after ack_read',
      () => http(srv.baseUrl, 'GET', '/v1/chats', { token: bob.token }),
      (r) => r.body?.chats?.[0]?.read_seq === toBob[7]!.seq,
    );
    assert.equal(bobList.body.chats[0].unread_count, 4);

    // Bob replies: dm:A:B becomes Alice's most recent chat and she has 1 unread there.
    const reply = await sendMany(sb, ab, ['hi alice']);
    list = await http(srv.baseUrl, 'GET', '/v1/chats', { token: alice.token });
    assert.deepEqual(
      list.body.chats.map((c: any) => c.chat_id),
      [ab, ac],
    );
    assert.equal(list.body.chats[0].last_seq, reply[0]!.seq);
    assert.equal(list.body.chats[0].last_message?.content, 'hi alice');
    assert.equal(list.body.chats[0].last_message?.sender_id, bob.user_id);
    assert.equal(list.body.chats[0].unread_count, 1);
    // Bob's own reply is not unread for him; his earlier 4 still are.
    bobList = await http(srv.baseUrl, 'GET', '/v1/chats', { token: bob.token });
    assert.equal(bobList.body.chats[0].unread_count, 4);

    // Reading the whole chat clears it.
    sb.send({ type: 'ack_read', chat_id: ab, last_read_message_id: reply[0]!.message_id });
    await pollUntil(
      'bob unread 0',
      () => http(srv.baseUrl, 'GET', '/v1/chats', { token: bob.token }),
      (r) => r.body?.chats?.[0]?.unread_count === 0 && r.body.chats[0].read_seq === reply[0]!.seq,
    );

    // Carol sees only her chat with Alice; Dave sees nothing; neither learns of dm:A:B.
    const carolList = await http(srv.baseUrl, 'GET', '/v1/chats', { token: carol.token });
    assert.deepEqual(
      carolList.body.chats.map((c: any) => c.chat_id),
      [ac],
    );
    assert.equal(carolList.body.chats[0].unread_count, 1);
    const daveList = await http(srv.baseUrl, 'GET', '/v1/chats', { token: dave.token });
    assert.deepEqual(daveList.body.chats, []);
  });

  it('lists a group with kind "group" and the group name as title', async () => {
    const owner = await newUser('Group Owner');
    const member = await newUser('Group Member');
    const created = await http(srv.baseUrl, 'POST', '/v1/groups', {
      token: owner.token,
      body: { name: 'Book club', member_ids: [member.user_id] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const so = await open(owner);
    const [m] = await sendMany(so, created.body.chat_id, ['first meeting on friday']);
    const list = await pollUntil(
      'group in member list',
      () => http(srv.baseUrl, 'GET', '/v1/chats', { token: member.token }),
      (r) => (r.body?.chats ?? []).some((c: any) => c.chat_id === created.body.chat_id && c.last_seq === m!.seq),
    );
    const chat = list.body.chats.find((c: any) => c.chat_id === created.body.chat_id);
    assert.equal(chat.kind, 'group');
    assert.equal(chat.title, 'Book club');
    assert.equal(chat.unread_count, 1);
    assert.equal(chat.last_message?.content, 'first meeting on friday');
  });
});

describe('GET /v1/messages/{message_id}/receipts', () => {
  it('answers one entry per recipient that fills in as the message is delivered and read', async () => {
    const alice = await newUser('Alice R');
    const bob = await newUser('Bob R');
    const dm = directChatId(alice.user_id, bob.user_id);
    const sa = await open(alice);
    const [m] = await sendMany(sa, dm, ['receipt me']);

    const r0 = await http(srv.baseUrl, 'GET', `/v1/messages/${encodeURIComponent(m!.message_id)}/receipts`, { token: alice.token });
    assert.equal(r0.status, 200, JSON.stringify(r0.body));
    assert.equal(r0.body.message_id, m!.message_id);
    assert.equal(r0.body.chat_id, dm);
    assert.equal(r0.body.receipts.length, 1, 'one entry per recipient; the sender is not a recipient');
    assert.equal(r0.body.receipts[0].user_id, bob.user_id);
    assert.equal(r0.body.receipts[0].delivered_at, null);
    assert.equal(r0.body.receipts[0].read_at, null);

    const sb = await open(bob);
    // Replayed on connect, so it arrived before sync_complete.
    const nm = sb.all('new_message').find((f) => f.message_id === m!.message_id);
    assert.ok(nm, 'the message was replayed to bob on connect');
    sb.send({ type: 'ack_delivered', message_id: nm.message_id });
    const r1 = await pollUntil(
      'delivered_at set',
      () => http(srv.baseUrl, 'GET', `/v1/messages/${encodeURIComponent(m!.message_id)}/receipts`, { token: alice.token }),
      (r) => typeof r.body?.receipts?.[0]?.delivered_at === 'number',
    );
    assert.equal(r1.body.receipts.length, 1);
    assert.equal(r1.body.receipts[0].user_id, bob.user_id);
    assert.ok(r1.body.receipts[0].delivered_at >= m!.created_at - 1000);
    assert.equal(r1.body.receipts[0].read_at, null);

    sb.send({ type: 'ack_read', chat_id: dm, last_read_message_id: m!.message_id });
    const r2 = await pollUntil(
      'read_at set',
      () => http(srv.baseUrl, 'GET', `/v1/messages/${encodeURIComponent(m!.message_id)}/receipts`, { token: alice.token }),
      (r) => typeof r.body?.receipts?.[0]?.read_at === 'number',
    );
    assert.ok(r2.body.receipts[0].read_at >= r2.body.receipts[0].delivered_at);
  });

  it('answers 404 not_found for an unknown message', async () => {
    const alice = await newUser('Alice 404');
    const res = await http(srv.baseUrl, 'GET', '/v1/messages/no_such_message_999/receipts', { token: alice.token });
    assert.equal(res.status, 404, JSON.stringify(res.body));
    assert.equal(res.body?.error, 'not_found');
  });

  it("never gives a non-member the receipts of a message in someone else's chat", async () => {
    const alice = await newUser('Alice NM');
    const bob = await newUser('Bob NM');
    const eve = await newUser('Eve NM');
    const dm = directChatId(alice.user_id, bob.user_id);
    const sa = await open(alice);
    const [m] = await sendMany(sa, dm, ['private']);
    const res = await http(srv.baseUrl, 'GET', `/v1/messages/${encodeURIComponent(m!.message_id)}/receipts`, { token: eve.token });
    assert.ok(res.status === 403 || res.status === 404, `expected 403 or 404, got ${res.status} ${JSON.stringify(res.body)}`);
    assert.equal(typeof res.body?.error, 'string');
    assert.equal(res.body?.receipts, undefined, 'no receipts leak');
    assert.equal(res.body?.chat_id, undefined, 'the chat id does not leak');
    assert.ok(!JSON.stringify(res.body).includes(bob.user_id), 'the recipient does not leak');
  });
});
