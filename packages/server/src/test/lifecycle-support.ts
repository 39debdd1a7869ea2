import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { directChatId, type Message } from '@switchboard/protocol';
import { http, login, registerUser, sleep, TestSocket, type TestUser } from '../testing/harness.js';
import { fetchHistory, roundTrip, type Frame } from './delivery-support.js';
import { download, upload } from './media-support.js';

/*
 * The message lifecycle (PROTOCOL.md "Message lifecycle" and "Chat settings") over real
 * sockets, as a suite both modes run: embedded (lifecycle.test.ts) and a two-node cluster
 * (lifecycle-cluster.test.ts), where the users of one test sit on different nodes. The
 * servers run with EDIT_WINDOW_S = DELETE_WINDOW_S = WINDOW_S, so a window can pass in a test.
 */

export const WINDOW_S = 2;

/** One stored row of a chat's log, read straight from the store's tables (not through the server). */
export interface RawRow {
  id: string;
  kind: string;
  content: string;
  attachments: string | null;
  mentions: string | null;
  emoji: string | null;
  reply_preview: string | null;
  deleted: boolean;
}

export interface LifecycleTarget {
  /** Nodes to spread users over (one entry in embedded mode). */
  nodes: { baseUrl: string; wsUrl: string }[];
  rawRows(chatId: string): Promise<RawRow[]>;
  reactionRows(messageId: string): Promise<number>;
  /** Whether the media store still holds the object's bytes. */
  mediaBytes(mediaId: string): Promise<boolean>;
}

export function lifecycleSuite(target: () => LifecycleTarget): void {
  const node = (i: number) => target().nodes[i % target().nodes.length]!;
  const users = (n: number, prefix: string) => Promise.all(Array.from({ length: n }, () => registerUser(node(0).baseUrl, prefix)));
  const sockets: TestSocket[] = [];
  after(() => {
    for (const s of sockets) s.terminate();
  });
  const open = async (u: TestUser, i = 0) => {
    const s = await TestSocket.connectSynced(node(i).wsUrl, u.token);
    sockets.push(s);
    return s;
  };
  const group = async (admin: TestUser, members: TestUser[]) => {
    const res = await http(node(0).baseUrl, 'POST', '/v1/groups', {
      token: admin.token,
      body: { name: 'lifecycle', member_ids: members.map((m) => m.user_id) },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.chat_id as string;
  };
  /** Sends a frame with a fresh client_msg_id and waits for its ack_sent or error. */
  const act = async (s: TestSocket, frame: Record<string, unknown>, clientMsgId: string = randomUUID()): Promise<Frame> => {
    const from = s.frames.length;
    s.send({ ...frame, client_msg_id: clientMsgId });
    return s.waitFor(
      (f) => (f.type === 'ack_sent' || f.type === 'error') && f.client_msg_id === clientMsgId,
      10_000,
      `answer to ${String(frame.type)}`,
      from,
    );
  };
  const send = (s: TestSocket, chatId: string, content: string, extra: Record<string, unknown> = {}) =>
    act(s, { type: 'send_message', chat_id: chatId, content, ...extra });
  const update = (s: TestSocket, targetId: string, action: string) =>
    s.waitFor((f) => f.type === 'message_update' && f.target_message_id === targetId && f.action === action, 10_000, `${action} update`);
  const history = (u: TestUser, chatId: string, i = 0): Promise<Message[]> => fetchHistory(node(i).baseUrl, u.token, chatId);
  const chatEntry = async (u: TestUser, chatId: string) => {
    const res = await http(node(0).baseUrl, 'GET', '/v1/chats', { token: u.token });
    assert.equal(res.status, 200);
    return (res.body.chats as Frame[]).find((c) => c.chat_id === chatId)!;
  };
  const read = async (s: TestSocket, chatId: string, messageId: string) => {
    s.send({ type: 'ack_read', chat_id: chatId, last_read_message_id: messageId });
    await roundTrip(s); // the pong waits for the read cursor to be stored
  };
  const refused = (answer: Frame, code: string, clientMsgId?: string) => {
    assert.equal(answer.type, 'error', JSON.stringify(answer));
    assert.equal(answer.code, code, JSON.stringify(answer));
    if (clientMsgId) assert.equal(answer.client_msg_id, clientMsgId);
  };

  test('replies, mentions and forwarded messages reach members and history as sent; bad references are refused and not stored', async () => {
    const [a, b, c, d] = await users(4, 'lrep');
    const chatId = await group(a!, [b!, c!]);
    const [sa, sb, sc] = [await open(a!, 0), await open(b!, 1), await open(c!, 1)];
    const quoted = `${'q'.repeat(50)}${'😀'.repeat(60)}`;
    const m1 = await send(sa, chatId, quoted);
    assert.equal(m1.type, 'ack_sent');
    const reply = await send(sb, chatId, 'indeed', {
      reply_to: m1.message_id,
      mentions: [a!.user_id, c!.user_id, a!.user_id],
      forwarded: true,
    });
    assert.equal(reply.type, 'ack_sent', JSON.stringify(reply));
    const got = await sc.waitFor((f) => f.type === 'new_message' && f.message_id === reply.message_id, 10_000, 'reply');
    const expected = {
      reply_to: { message_id: m1.message_id, sender_id: a!.user_id, preview: `${'q'.repeat(50)}${'😀'.repeat(50)}` },
      mentions: [a!.user_id, c!.user_id],
      forwarded: true,
    };
    assert.deepEqual({ reply_to: got.reply_to, mentions: got.mentions, forwarded: got.forwarded }, expected);
    const stored = (await history(c!, chatId, 1)).find((m) => m.message_id === reply.message_id)!;
    assert.deepEqual({ reply_to: stored.reply_to, mentions: stored.mentions, forwarded: stored.forwarded }, expected);
    assert.equal(
      'reply_to' in (await history(c!, chatId)).find((m) => m.message_id === m1.message_id)!,
      false,
      'fields only where they apply',
    );

    // Refused, each naming its send, and nothing stored.
    const dm = directChatId(a!.user_id, b!.user_id);
    const elsewhere = await send(sa, dm, 'in another chat');
    const before = (await chatEntry(b!, chatId)).last_seq;
    const cases: Record<string, unknown>[] = [
      { reply_to: elsewhere.message_id },
      { reply_to: 'no-such-message' },
      { reply_to: reply.message_id, mentions: [d!.user_id] },
    ];
    for (const extra of cases) {
      const id = randomUUID();
      refused(await act(sb, { type: 'send_message', chat_id: chatId, content: 'x', ...extra }, id), 'invalid_reference', id);
    }
    assert.equal((await chatEntry(b!, chatId)).last_seq, before, 'nothing stored');
  });

  test('edit: one’s own message from any of one’s devices, delivered to every other device, shown by history and search', async () => {
    const [a, b] = await users(2, 'ledit');
    const a2 = await login(node(0).baseUrl, a!.username, a!.password, 'second');
    const chatId = directChatId(a!.user_id, b!.user_id);
    const [sa1, sa2, sb] = [await open(a!, 0), await open(a2, 1), await open(b!, 1)];
    const word = `alpha${Date.now().toString(36)}`;
    const fresh = `omega${Date.now().toString(36)}`;
    const m = await send(sa1, chatId, `original ${word}`);
    // Found before the edit: the search index holds the original text, which the edit must replace.
    const before = await http(node(0).baseUrl, 'GET', `/v1/search?q=${word}`, { token: b!.token });
    assert.deepEqual(
      (before.body.messages as Message[]).map((x) => x.message_id),
      [m.message_id],
    );
    const editId = randomUUID();
    const ack = await act(sa2, { type: 'edit_message', chat_id: chatId, message_id: m.message_id, content: `better ${fresh}` }, editId);
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    assert.equal(ack.seq, m.seq + 1, 'a change takes the chat’s next seq');
    for (const s of [sb, sa1]) {
      const u = await update(s, m.message_id, 'edit');
      assert.deepEqual(
        { ...u },
        {
          type: 'message_update',
          message_id: ack.message_id,
          chat_id: chatId,
          seq: ack.seq,
          sender_id: a!.user_id,
          sender_device_id: a2.device_id,
          client_msg_id: editId,
          created_at: ack.created_at,
          target_message_id: m.message_id,
          action: 'edit',
          content: `better ${fresh}`,
        },
      );
    }
    await roundTrip(sa2);
    assert.equal(
      sa2.indexOf((f) => f.type === 'message_update'),
      -1,
      'not to the sending device',
    );
    // Idempotent: the same client_msg_id answers the same ack and stores nothing new.
    const again = await act(sa2, { type: 'edit_message', chat_id: chatId, message_id: m.message_id, content: 'third' }, editId);
    assert.deepEqual([again.message_id, again.seq], [ack.message_id, ack.seq]);
    // Another's message: forbidden, naming the change.
    const theirs = randomUUID();
    refused(
      await act(sb, { type: 'edit_message', chat_id: chatId, message_id: m.message_id, content: 'hijack' }, theirs),
      'forbidden',
      theirs,
    );
    const msgs = await history(b!, chatId, 1);
    assert.equal(msgs.length, 1, 'changes are not listed as messages');
    assert.equal(msgs[0]!.content, `better ${fresh}`);
    assert.equal(typeof msgs[0]!.edited_at, 'number');
    const found = await http(node(0).baseUrl, 'GET', `/v1/search?q=${fresh}`, { token: b!.token });
    assert.deepEqual(
      (found.body.messages as Message[]).map((x) => x.message_id),
      [m.message_id],
    );
    const old = await http(node(0).baseUrl, 'GET', `/v1/search?q=${word}`, { token: b!.token });
    assert.deepEqual(old.body.messages, [], 'the old text is no longer found');
  });

  test('reactions: one per user, a new one replaces it, "" takes it back; messages carry them aggregated', async () => {
    const [a, b, c] = await users(3, 'lreact');
    const chatId = await group(a!, [b!, c!]);
    const [sa, sb, sc] = [await open(a!, 0), await open(b!, 1), await open(c!, 0)];
    const m = await send(sa, chatId, 'react to me');
    const react = (s: TestSocket, emoji: string) => act(s, { type: 'react', chat_id: chatId, message_id: m.message_id, emoji });
    for (const [s, emoji] of [
      [sb, '👍'],
      [sc, '👍'],
      [sa, '❤️'],
      [sb, '😂'],
      [sc, ''],
    ] as const) {
      const ack = await react(s, emoji);
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    }
    const removal = await sa.waitFor(
      (f) => f.type === 'message_update' && f.action === 'react' && f.sender_id === c!.user_id && f.emoji === '',
    );
    assert.equal(removal.target_message_id, m.message_id);
    const [msg] = await history(c!, chatId, 1);
    assert.deepEqual(msg!.reactions, [
      { emoji: '❤️', count: 1, user_ids: [a!.user_id] },
      { emoji: '😂', count: 1, user_ids: [b!.user_id] },
    ]);
    const tooLong = randomUUID();
    refused(
      await act(sb, { type: 'react', chat_id: chatId, message_id: m.message_id, emoji: '😀'.repeat(9) }, tooLong),
      'invalid_frame',
      tooLong,
    );
  });

  test('delete for everyone erases text, attachments and their bytes, mentions, reactions, edits, previews quoting it and the search entry', async () => {
    const [a, b, c] = await users(3, 'ldel');
    const chatId = await group(a!, [b!, c!]);
    const [sa, sb, sc] = [await open(a!, 0), await open(b!, 1), await open(c!, 1)];
    const word = `zeppelin${Date.now().toString(36)}`;
    const bytes = randomBytes(2048);
    const mediaId = await upload(node(0).baseUrl, a!, bytes, 'application/octet-stream', 'plans.bin');
    const m = await send(sa, chatId, `classified ${word}`, { attachments: [{ media_id: mediaId }], mentions: [b!.user_id] });
    assert.equal(m.type, 'ack_sent', JSON.stringify(m));
    assert.equal(
      (await act(sa, { type: 'edit_message', chat_id: chatId, message_id: m.message_id, content: `classified ${word} v2` })).type,
      'ack_sent',
    );
    assert.equal((await act(sb, { type: 'react', chat_id: chatId, message_id: m.message_id, emoji: '👍' })).type, 'ack_sent');
    const reply = await send(sc, chatId, 'what plans?', { reply_to: m.message_id });
    assert.equal(reply.type, 'ack_sent');
    assert.equal((await download(node(1).baseUrl, b!, mediaId)).status, 200);
    assert.equal(await target().mediaBytes(mediaId), true);

    const del = await act(sa, { type: 'delete_message', chat_id: chatId, message_id: m.message_id });
    assert.equal(del.type, 'ack_sent', JSON.stringify(del));
    const u = await update(sb, m.message_id, 'delete');
    assert.equal('content' in u, false, 'a delete carries no content');
    assert.equal(u.seq, del.seq);

    const msgs = await history(b!, chatId, 1);
    const gone = msgs.find((x) => x.message_id === m.message_id)!;
    assert.deepEqual(
      { ...gone },
      {
        message_id: m.message_id,
        chat_id: chatId,
        seq: m.seq,
        sender_id: a!.user_id,
        sender_device_id: gone.sender_device_id,
        client_msg_id: m.client_msg_id,
        created_at: m.created_at,
        deleted: true,
        content: '',
      },
    );
    assert.deepEqual(msgs.find((x) => x.message_id === reply.message_id)!.reply_to, {
      message_id: m.message_id,
      sender_id: a!.user_id,
      preview: '',
    });
    const search = await http(node(0).baseUrl, 'GET', `/v1/search?q=${word}`, { token: b!.token });
    assert.deepEqual(search.body.messages, []);
    // Gone from the store itself, not hidden: no row of the chat holds any of it.
    const rows = await target().rawRows(chatId);
    assert.ok(rows.length >= 5);
    for (const r of rows) {
      const text = JSON.stringify([r.content, r.attachments, r.mentions, r.emoji, r.reply_preview]);
      assert.ok(
        !text.includes(word) && !text.includes('👍') && !text.includes(mediaId) && !text.includes(b!.user_id),
        `row ${r.kind}: ${text}`,
      );
    }
    assert.equal(await target().reactionRows(m.message_id), 0);
    assert.equal(await target().mediaBytes(mediaId), false, 'the media object is deleted from the media store');
    assert.equal((await download(node(1).baseUrl, b!, mediaId)).status, 404);
    assert.equal((await download(node(0).baseUrl, a!, mediaId)).status, 404);
    // A deleted message cannot be changed again.
    for (const frame of [{ type: 'edit_message', content: 'back' }, { type: 'delete_message' }, { type: 'react', emoji: '👍' }]) {
      const id = randomUUID();
      refused(await act(sa, { ...frame, chat_id: chatId, message_id: m.message_id }, id), 'forbidden', id);
    }
  });

  test('who may delete: the sender within DELETE_WINDOW_S, a group admin at any time; after EDIT_WINDOW_S no edit', async () => {
    const [a, b, c] = await users(3, 'lwin');
    const chatId = await group(a!, [b!, c!]);
    const [sa, sb, sc] = [await open(a!, 0), await open(b!, 1), await open(c!, 0)];
    const m1 = await send(sb, chatId, 'one');
    refused(await act(sc, { type: 'delete_message', chat_id: chatId, message_id: m1.message_id }), 'forbidden');
    assert.equal(
      (await act(sa, { type: 'delete_message', chat_id: chatId, message_id: m1.message_id })).type,
      'ack_sent',
      'an admin deletes anyone’s',
    );
    const m2 = await send(sb, chatId, 'two');
    const dm = directChatId(a!.user_id, b!.user_id);
    const m3 = await send(sa, dm, 'three');
    await sleep(WINDOW_S * 1000 + 300);
    refused(await act(sb, { type: 'edit_message', chat_id: chatId, message_id: m2.message_id, content: 'late' }), 'forbidden');
    refused(await act(sb, { type: 'delete_message', chat_id: chatId, message_id: m2.message_id }), 'forbidden');
    refused(await act(sa, { type: 'delete_message', chat_id: dm, message_id: m3.message_id }), 'forbidden', undefined);
    refused(await act(sb, { type: 'delete_message', chat_id: dm, message_id: m3.message_id }), 'forbidden');
    assert.equal(
      (await act(sa, { type: 'delete_message', chat_id: chatId, message_id: m2.message_id })).type,
      'ack_sent',
      'an admin, at any time',
    );
    assert.equal((await act(sb, { type: 'react', chat_id: chatId, message_id: m2.message_id, emoji: '👍' })).code, 'forbidden');
  });

  test('invalid_reference: a target in another chat, a change, a message from before the caller joined', async () => {
    const [a, b, c] = await users(3, 'lref');
    const chatId = await group(a!, [b!]);
    const [sa] = [await open(a!, 0)];
    const m0 = await send(sa, chatId, 'before c joined');
    const r = await act(sa, { type: 'react', chat_id: chatId, message_id: m0.message_id, emoji: '👍' });
    const added = await http(node(0).baseUrl, 'POST', `/v1/groups/${chatId.slice(2)}/members`, {
      token: a!.token,
      body: { user_ids: [c!.user_id] },
    });
    assert.equal(added.status, 200);
    const sc = await open(c!, 1);
    for (const frame of [
      { type: 'react', chat_id: chatId, message_id: m0.message_id, emoji: '👍' },
      { type: 'send_message', chat_id: chatId, content: 'quoting', reply_to: m0.message_id },
    ]) {
      const id = randomUUID();
      refused(await act(sc, frame, id), 'invalid_reference', id);
    }
    const dm = directChatId(a!.user_id, b!.user_id);
    const other = await send(sa, dm, 'elsewhere');
    refused(await act(sa, { type: 'edit_message', chat_id: chatId, message_id: other.message_id, content: 'x' }), 'invalid_reference');
    refused(await act(sa, { type: 'react', chat_id: chatId, message_id: r.message_id, emoji: '👍' }), 'invalid_reference');
  });

  test('a removed member can neither edit, delete nor react, on any node; nothing is stored', async () => {
    const [a, b] = await users(2, 'lrem');
    const chatId = await group(a!, [b!]);
    const [sa, sb] = [await open(a!, 0), await open(b!, 1)];
    const m = await send(sb, chatId, 'mine');
    const removed = await http(node(0).baseUrl, 'DELETE', `/v1/groups/${chatId.slice(2)}/members/${b!.user_id}`, { token: a!.token });
    assert.equal(removed.status, 204);
    const before = (await target().rawRows(chatId)).length;
    for (const frame of [{ type: 'edit_message', content: 'still here' }, { type: 'delete_message' }, { type: 'react', emoji: '👍' }]) {
      const id = randomUUID();
      refused(await act(sb, { ...frame, chat_id: chatId, message_id: m.message_id }, id), 'not_a_member', id);
    }
    assert.equal((await target().rawRows(chatId)).length, before);
    await roundTrip(sa);
    assert.equal(
      sa.indexOf((f) => f.type === 'message_update'),
      -1,
    );
  });

  test('an offline device gets messages (as they are now) and changes interleaved in seq order, then sync_complete', async () => {
    const [a, b] = await users(2, 'loff');
    const chatId = directChatId(a!.user_id, b!.user_id);
    const sa = await open(a!, 0);
    const m1 = await send(sa, chatId, 'first draft');
    await act(sa, { type: 'edit_message', chat_id: chatId, message_id: m1.message_id, content: 'first, final' });
    const m2 = await send(sa, chatId, 'second');
    await act(sa, { type: 'react', chat_id: chatId, message_id: m2.message_id, emoji: '🎉' });
    const m3 = await send(sa, chatId, 'third, regretted');
    await act(sa, { type: 'delete_message', chat_id: chatId, message_id: m3.message_id });
    const sb = await TestSocket.connect(node(1).wsUrl, b!.token);
    sockets.push(sb);
    await sb.waitFor((f) => f.type === 'sync_complete', 10_000, 'sync_complete');
    const replay = sb.frames.slice(
      0,
      sb.frames.findIndex((f) => f.type === 'sync_complete'),
    );
    assert.deepEqual(
      replay.map((f) => [f.type, f.seq, f.action ?? null]),
      [
        ['new_message', 1, null],
        ['message_update', 2, 'edit'],
        ['new_message', 3, null],
        ['message_update', 4, 'react'],
        ['new_message', 5, null],
        ['message_update', 6, 'delete'],
      ],
    );
    assert.equal(replay[0]!.content, 'first, final', 'a message replays as it is now');
    assert.deepEqual([replay[4]!.content, replay[4]!.deleted], ['', true]);
    sb.send({ type: 'ack_delivered', message_ids: replay.map((f) => f.message_id) });
    await roundTrip(sb);
    await sleep(300); // held acks are written within the ack window
    await sb.close();
    const again = await TestSocket.connect(node(0).wsUrl, b!.token);
    sockets.push(again);
    await again.waitFor((f) => f.type === 'sync_complete', 10_000, 'sync_complete');
    assert.deepEqual(
      again.frames.filter((f) => f.type === 'new_message' || f.type === 'message_update'),
      [],
      'acknowledged changes are not replayed',
    );
  });

  test('a device’s sends and changes, pipelined, take seqs and get acks in the order it sent them', async () => {
    const [a, b] = await users(2, 'lord');
    const chatId = await group(a!, [b!]);
    const sa = await open(a!, 1);
    const m0 = await send(sa, chatId, 'target');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      for (const frame of [
        { type: 'send_message', chat_id: chatId, content: `n${i}` },
        { type: 'react', chat_id: chatId, message_id: m0.message_id, emoji: i % 2 ? '👍' : '🎉' },
        { type: 'edit_message', chat_id: chatId, message_id: m0.message_id, content: `target ${i}` },
      ]) {
        const id = randomUUID();
        ids.push(id);
        sa.send({ ...frame, client_msg_id: id });
      }
    }
    await sa.waitFor((f) => f.type === 'ack_sent' && f.client_msg_id === ids[ids.length - 1], 15_000, 'last ack');
    const acks = sa.frames.filter((f) => f.type === 'ack_sent' && ids.includes(f.client_msg_id));
    assert.deepEqual(
      acks.map((f) => f.client_msg_id),
      ids,
      'acks in send order',
    );
    assert.deepEqual(
      acks.map((f) => f.seq),
      ids.map((_, i) => m0.seq + 1 + i),
      'seqs in send order, gap-free',
    );
  });

  test('unread counts and last_message count messages only; last_seq counts changes', async () => {
    const [a, b] = await users(2, 'lunr');
    const chatId = directChatId(a!.user_id, b!.user_id);
    const [sa, sb] = [await open(a!, 0), await open(b!, 1)];
    const m1 = await send(sa, chatId, 'one');
    const m2 = await send(sa, chatId, 'two');
    await act(sa, { type: 'edit_message', chat_id: chatId, message_id: m2.message_id, content: 'two, edited' });
    await act(sa, { type: 'react', chat_id: chatId, message_id: m1.message_id, emoji: '👀' });
    await act(sb, { type: 'react', chat_id: chatId, message_id: m2.message_id, emoji: '👍' });
    const forB = await chatEntry(b!, chatId);
    assert.deepEqual([forB.unread_count, forB.last_seq], [2, 5]);
    assert.equal(forB.last_message.message_id, m2.message_id);
    assert.equal(forB.last_message.content, 'two, edited');
    assert.deepEqual(forB.last_message.reactions, [{ emoji: '👍', count: 1, user_ids: [b!.user_id] }]);
    const forA = await chatEntry(a!, chatId);
    assert.equal(forA.unread_count, 0, 'b’s reaction is no message for a');
    assert.equal(forA.last_message.message_id, m2.message_id);
  });

  test('unread counts in a direct chat follow both members’ sends and reads, whichever of them created it', async () => {
    const [a, b] = await users(2, 'ldir');
    const chatId = directChatId(a!.user_id, b!.user_id);
    const [sa, sb] = [await open(a!, 0), await open(b!, 1)];
    const counts = async () => [(await chatEntry(a!, chatId)).unread_count, (await chatEntry(b!, chatId)).unread_count];
    const m1 = await send(sa, chatId, 'one'); // a creates the chat
    await send(sb, chatId, 'two');
    const m3 = await send(sa, chatId, 'three');
    assert.deepEqual(await counts(), [1, 2]);
    await read(sb, chatId, m1.message_id);
    assert.deepEqual(await counts(), [1, 1], 'b read a’s first: a’s third is left');
    await read(sa, chatId, m3.message_id);
    assert.deepEqual(await counts(), [0, 1], 'a read past b’s message and its own');
    const m4 = await send(sb, chatId, 'four');
    assert.deepEqual(await counts(), [1, 1]);
    await read(sb, chatId, m4.message_id);
    assert.deepEqual(await counts(), [1, 0], 'b read its own latest: a’s third is below it');
  });

  test('receipts: a read with no delivery ack before it gives the message its delivered time too; delivery never after reading', async () => {
    const [a, b] = await users(2, 'lrcp');
    const chatId = directChatId(a!.user_id, b!.user_id);
    const [sa, sb] = [await open(a!, 0), await open(b!, 1)];
    const receipt = async (messageId: string) => {
      const res = await http(node(0).baseUrl, 'GET', `/v1/messages/${encodeURIComponent(messageId)}/receipts`, { token: a!.token });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.receipts[0] as { user_id: string; delivered_at: number | null; read_at: number | null };
    };
    const m1 = await send(sa, chatId, 'read at once');
    await read(sb, chatId, m1.message_id);
    const r1 = await receipt(m1.message_id);
    assert.equal(r1.user_id, b!.user_id);
    assert.ok(typeof r1.read_at === 'number', JSON.stringify(r1));
    assert.equal(r1.delivered_at, r1.read_at, 'the read delivered it, at the same moment');
    const m2 = await send(sa, chatId, 'delivered, read later');
    sb.send({ type: 'ack_delivered', message_id: m2.message_id });
    await roundTrip(sb);
    await read(sb, chatId, m2.message_id);
    const r2 = await receipt(m2.message_id);
    assert.ok(typeof r2.delivered_at === 'number' && typeof r2.read_at === 'number', JSON.stringify(r2));
    assert.ok(r2.delivered_at <= r2.read_at, `delivered no later than read: ${JSON.stringify(r2)}`);
    assert.deepEqual(await receipt(m1.message_id), r1, 'the first message’s times stay');
  });

  test('unread counts follow sends, edits, reactions, deletes and reads: others’ messages above the read cursor', async () => {
    const [a, b, c] = await users(3, 'lcnt');
    const chatId = await group(a!, [b!, c!]);
    const [sa, sb, sc] = [await open(a!, 0), await open(b!, 1), await open(c!, 0)];
    const counts = async () => [
      (await chatEntry(a!, chatId)).unread_count,
      (await chatEntry(b!, chatId)).unread_count,
      (await chatEntry(c!, chatId)).unread_count,
    ];
    const [m1, m2, m3] = [await send(sa, chatId, 'one'), await send(sa, chatId, 'two'), await send(sa, chatId, 'three')];
    const m4 = await send(sb, chatId, 'four');
    assert.deepEqual(await counts(), [1, 3, 4]);
    await act(sa, { type: 'edit_message', chat_id: chatId, message_id: m1.message_id, content: 'one, edited' });
    await act(sb, { type: 'react', chat_id: chatId, message_id: m2.message_id, emoji: '👍' });
    assert.equal((await act(sa, { type: 'delete_message', chat_id: chatId, message_id: m3.message_id })).type, 'ack_sent');
    assert.deepEqual(await counts(), [1, 3, 4], 'changes are no messages; a deleted message still is one');
    await read(sc, chatId, m2.message_id);
    await read(sa, chatId, m2.message_id);
    assert.deepEqual(await counts(), [1, 3, 2], 'a read only its own messages: b’s is still unread');
    await read(sa, chatId, m4.message_id);
    const m5 = await send(sb, chatId, 'five');
    assert.deepEqual(await counts(), [1, 3, 3]);
    await read(sb, chatId, m5.message_id);
    await read(sc, chatId, m3.message_id);
    assert.deepEqual(await counts(), [1, 0, 2], 'reading one’s own last message reads all before it');
    await read(sa, chatId, m5.message_id);
    await read(sc, chatId, m5.message_id);
    assert.deepEqual(await counts(), [0, 0, 0]);
  });

  test('chat settings: per user, sent to the user’s other devices, listed with the chats, pinned first, at most 10 pinned', async () => {
    const [u, other] = await users(2, 'lset');
    const d2 = await login(node(0).baseUrl, u!.username, u!.password, 'tablet');
    const [s1, s2] = [await open(u!, 0), await open(d2, 1)];
    const chats: string[] = [];
    for (let i = 0; i < 11; i++) chats.push(await group(u!, []));
    const patch = (chatId: string, body: unknown, who: TestUser = u!) =>
      http(node(0).baseUrl, 'PATCH', `/v1/chats/${encodeURIComponent(chatId)}/settings`, { token: who.token, body });
    const until = Date.now() + 3_600_000;
    const first = await patch(chats[0]!, { muted_until: until, archived: true, pinned: true });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(first.body, { chat_id: chats[0], muted_until: until, archived: true, pinned: true });
    const frame = await s2.waitFor((f) => f.type === 'chat_settings' && f.chat_id === chats[0], 10_000, 'chat_settings');
    assert.deepEqual({ ...frame }, { type: 'chat_settings', chat_id: chats[0], muted_until: until, archived: true, pinned: true });
    await roundTrip(s1);
    assert.equal(
      s1.indexOf((f) => f.type === 'chat_settings'),
      -1,
      'not to the device that changed it',
    );
    const list = (await http(node(1).baseUrl, 'GET', '/v1/chats', { token: u!.token })).body.chats as Frame[];
    assert.equal(list[0]!.chat_id, chats[0], 'pinned chats come first');
    assert.deepEqual([list[0]!.muted_until, list[0]!.archived, list[0]!.pinned], [until, true, true]);
    assert.deepEqual([list[1]!.muted_until, list[1]!.archived, list[1]!.pinned], [null, false, false]);
    for (const chatId of chats.slice(1, 10)) assert.equal((await patch(chatId, { pinned: true })).status, 200);
    const eleventh = await patch(chats[10]!, { pinned: true });
    assert.deepEqual([eleventh.status, eleventh.body.error], [422, 'too_many_pinned']);
    assert.equal((await patch(chats[1]!, { pinned: false })).status, 200);
    assert.equal((await patch(chats[10]!, { pinned: true })).status, 200);
    const unmuted = await patch(chats[0]!, { muted_until: null });
    assert.deepEqual(unmuted.body, { chat_id: chats[0], muted_until: null, archived: true, pinned: true });
    assert.equal((await patch(chats[0]!, {}, other!)).status, 403, 'a non-member has no settings there');
    assert.equal((await patch(chats[0]!, { archived: 'yes' })).status, 400);
  });
}
