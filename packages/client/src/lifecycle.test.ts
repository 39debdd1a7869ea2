import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '@switchboard/protocol';
import { SwitchboardClient, SendError } from './client.js';
import { applyMessageUpdate, MessageCache, withReaction } from './message-cache.js';
import type { MessageUpdateEvent } from './connection.js';
import { fakeNetwork, fakeFetch, tick, type FakeSocket, flushed } from './fake-socket.test-support.js';

/* Message lifecycle in the SDK (PROTOCOL.md "Message lifecycle"): the test plays the server. */

const CHAT = 'dm:u1:u2';

function message(seq: number, extra: Partial<Message> = {}): Message {
  return {
    message_id: `m${seq}`,
    chat_id: CHAT,
    seq,
    sender_id: 'u2',
    sender_device_id: 'd2',
    client_msg_id: `c${seq}`,
    content: `hello ${seq}`,
    created_at: 1000 + seq,
    ...extra,
  };
}

function update(seq: number, target: string, action: 'edit' | 'delete' | 'react', extra: Record<string, unknown> = {}) {
  return {
    type: 'message_update' as const,
    message_id: `u${seq}`,
    chat_id: CHAT,
    seq,
    sender_id: 'u2',
    sender_device_id: 'd2',
    client_msg_id: `cu${seq}`,
    created_at: 5000 + seq,
    target_message_id: target,
    action,
    ...extra,
  };
}

async function connected(extra: Partial<ConstructorParameters<typeof SwitchboardClient>[0]> = {}): Promise<{
  c: SwitchboardClient;
  s: FakeSocket;
  net: ReturnType<typeof fakeNetwork>;
}> {
  const net = fakeNetwork();
  const c = new SwitchboardClient({
    baseUrl: 'http://example.test',
    token: 't',
    userId: 'u1',
    deviceId: 'd1',
    WebSocket: net.WebSocket,
    fetch: fakeFetch(200, {}),
    random: () => 0,
    ...extra,
  });
  const p = c.connect();
  const s = await net.next();
  s.open();
  await p;
  return { c, s, net };
}

test('reactions: one per user, a new one replaces the old, "" takes it back, counts follow', () => {
  let r = withReaction([], 'a', '👍');
  r = withReaction(r, 'b', '👍');
  r = withReaction(r, 'c', '🎉');
  assert.deepEqual(r, [
    { emoji: '👍', count: 2, user_ids: ['a', 'b'] },
    { emoji: '🎉', count: 1, user_ids: ['c'] },
  ]);
  r = withReaction(r, 'a', '🎉');
  assert.deepEqual(r, [
    { emoji: '👍', count: 1, user_ids: ['b'] },
    { emoji: '🎉', count: 2, user_ids: ['c', 'a'] },
  ]);
  r = withReaction(withReaction(r, 'b', ''), 'nobody', '');
  assert.deepEqual(r, [{ emoji: '🎉', count: 2, user_ids: ['c', 'a'] }]);
});

test('applyMessageUpdate: edit sets text and edited_at; delete keeps only what history keeps; a deleted message stays deleted', () => {
  const m = message(1, {
    mentions: ['u1'],
    forwarded: true,
    reply_to: { message_id: 'm0', sender_id: 'u1', preview: 'earlier' },
    attachments: [{ media_id: 'x', content_type: 'image/png', size: 3, filename: 'a.png' } as never],
    reactions: [{ emoji: '👍', count: 1, user_ids: ['u1'] }],
  });
  const edited = applyMessageUpdate(m, { action: 'edit', content: 'fixed', sender_id: 'u2', created_at: 7 });
  assert.equal(edited.content, 'fixed');
  assert.equal(edited.edited_at, 7);
  assert.deepEqual(edited.reactions, m.reactions);
  assert.equal(m.content, 'hello 1', 'the original is not changed');
  const deleted = applyMessageUpdate(edited, { action: 'delete', sender_id: 'u2', created_at: 8 });
  assert.deepEqual(deleted, {
    message_id: 'm1',
    chat_id: CHAT,
    seq: 1,
    sender_id: 'u2',
    sender_device_id: 'd2',
    client_msg_id: 'c1',
    created_at: 1001,
    content: '',
    deleted: true,
  });
  assert.equal(applyMessageUpdate(deleted, { action: 'edit', content: 'again', sender_id: 'u2', created_at: 9 }), deleted);
  const unreacted = applyMessageUpdate(m, { action: 'react', emoji: '', sender_id: 'u1', created_at: 9 });
  assert.equal('reactions' in unreacted, false, 'no reactions left: the field goes, as on the server');
});

test('the cache is bounded per chat and in chats; an update of an unknown message is still reported', () => {
  const cache = new MessageCache(2, 2);
  for (let i = 1; i <= 3; i++) cache.put(message(i));
  assert.equal(cache.get(CHAT, 'm1'), undefined);
  assert.equal(cache.get(CHAT, 'm3')?.content, 'hello 3');
  cache.put(message(1, { chat_id: 'g:x' }));
  cache.put(message(1, { chat_id: 'g:y' }));
  assert.equal(cache.get(CHAT, 'm3'), undefined, 'the chat used longest ago went');
  assert.equal(cache.apply({ ...update(9, 'm3', 'edit', { content: 'x' }) }), undefined);
});

test('message_update events hand out the message as it now is; duplicates are dropped and every update acknowledged', async () => {
  const { c, s } = await connected();
  const got: MessageUpdateEvent[] = [];
  c.on('message_update', (e) => got.push(e));
  s.receive({ type: 'new_message', ...message(1) });
  s.receive({ type: 'new_message', ...message(2, { reply_to: { message_id: 'm1', sender_id: 'u2', preview: 'hello 1' } }) });
  s.receive(update(3, 'm1', 'edit', { content: 'hello, edited' }));
  s.receive(update(4, 'm1', 'react', { sender_id: 'u2', emoji: '👍' }));
  s.receive(update(5, 'm1', 'react', { sender_id: 'u3', emoji: '👍' }));
  s.receive(update(6, 'm1', 'react', { sender_id: 'u2', emoji: '❤️' }));
  s.receive(update(6, 'm1', 'react', { sender_id: 'u2', emoji: '❤️' })); // a redelivery
  s.receive(update(7, 'm404', 'edit', { content: 'never seen' }));
  assert.deepEqual(
    got.map((e) => e.update.seq),
    [3, 4, 5, 6, 7],
  );
  assert.equal(got[0]!.message!.content, 'hello, edited');
  assert.equal(got[0]!.message!.edited_at, 5003);
  assert.equal(got[0]!.own, false);
  assert.deepEqual(got[3]!.message!.reactions, [
    { emoji: '👍', count: 1, user_ids: ['u3'] },
    { emoji: '❤️', count: 1, user_ids: ['u2'] },
  ]);
  assert.equal(got[4]!.message, null, 'a target this client never saw');
  assert.equal(got[4]!.update.content, 'never seen');

  s.receive(update(8, 'm1', 'delete'));
  const del = got[5]!;
  assert.equal(del.message!.deleted, true);
  assert.equal(del.message!.content, '');
  assert.equal(del.message!.reactions, undefined);
  assert.equal(c.cachedMessage(CHAT, 'm2')!.reply_to!.preview, '', 'a reply quoting a deleted message loses its preview');
  await tick(5);
  const acked = (await flushed(s)).sentOf('ack_delivered').flatMap((f) => f.message_ids as string[]);
  for (const id of ['u3', 'u4', 'u5', 'u6', 'u7', 'u8']) assert.ok(acked.includes(id), `${id} acknowledged`);
  await c.close();
});

test('send carries reply_to, mentions and forwarded; reply() is a send with replyTo', async () => {
  const { c, s } = await connected();
  const pending = [c.send(CHAT, 'hi @bob', { mentions: ['u2', 'u2'], forwarded: true }), c.reply(CHAT, 'm1', 'yes')];
  for (const p of pending) p.catch(() => {}); // closed below, unanswered
  const [a, b] = (await flushed(s)).sentOf('send_message');
  assert.deepEqual(
    { ...a, client_msg_id: 'x' },
    {
      type: 'send_message',
      chat_id: CHAT,
      client_msg_id: 'x',
      content: 'hi @bob',
      mentions: ['u2'],
      forwarded: true,
    },
  );
  assert.equal(b!.reply_to, 'm1');
  assert.equal('mentions' in b!, false);
  await c.close();
});

test('edit, delete and react are queued like sends: resent with the same client_msg_id, settled by ack or error', async () => {
  const { c, s, net } = await connected({ backoff: { baseMs: 1, capMs: 1 } });
  const own: MessageUpdateEvent[] = [];
  c.on('message_update', (e) => own.push(e));
  // The message to change: this device's own send, known to the cache from its ack.
  const sent = c.send(CHAT, 'typo', { mentions: ['u2'] });
  const sf = (await flushed(s)).sentOf('send_message')[0]!;
  s.receive({ type: 'ack_sent', client_msg_id: sf.client_msg_id, message_id: 'm1', chat_id: CHAT, seq: 1, created_at: 10 });
  await sent;
  assert.deepEqual(c.cachedMessage(CHAT, 'm1')?.mentions, ['u2']);

  const edit = c.edit(CHAT, 'm1', 'fixed');
  const react = c.react(CHAT, 'm1', '🎉');
  await flushed(s); // they went out (together) before the socket dropped
  s.serverClose(1006);
  const del = c.deleteForEveryone(CHAT, 'm1'); // while offline
  const s2 = await net.next();
  s2.open();
  const frames = (await flushed(s2)).sent.filter((f) => f.type !== 'presence_subscribe');
  assert.deepEqual(
    frames.map((f) => f.type),
    ['edit_message', 'react', 'delete_message'],
  );
  const [fe, fr, fd] = frames as { client_msg_id: string }[];
  assert.deepEqual((await flushed(s)).sentOf('edit_message')[0], frames[0], 'the same frame, same client_msg_id');
  assert.deepEqual(frames[0], {
    type: 'edit_message',
    chat_id: CHAT,
    client_msg_id: fe!.client_msg_id,
    message_id: 'm1',
    content: 'fixed',
  });
  assert.deepEqual(frames[1], { type: 'react', chat_id: CHAT, client_msg_id: fr!.client_msg_id, message_id: 'm1', emoji: '🎉' });
  assert.deepEqual(frames[2], { type: 'delete_message', chat_id: CHAT, client_msg_id: fd!.client_msg_id, message_id: 'm1' });

  s2.receive({ type: 'ack_sent', client_msg_id: fe!.client_msg_id, message_id: 'e1', chat_id: CHAT, seq: 2, created_at: 20 });
  s2.receive({ type: 'ack_sent', client_msg_id: fr!.client_msg_id, message_id: 'r1', chat_id: CHAT, seq: 3, created_at: 21 });
  s2.receive({ type: 'error', code: 'forbidden', message: 'window passed', client_msg_id: fd!.client_msg_id });
  assert.equal((await edit).seq, 2);
  assert.equal((await react).message_id, 'r1');
  await assert.rejects(del, (err) => err instanceof SendError && err.code === 'forbidden');
  // The device's own changes, once acknowledged, update the cache and reach the app as events.
  assert.deepEqual(
    own.map((e) => [e.own, e.update.action, e.update.sender_id, e.update.target_message_id]),
    [
      [true, 'edit', 'u1', 'm1'],
      [true, 'react', 'u1', 'm1'],
    ],
  );
  assert.equal(own[0]!.message!.content, 'fixed');
  assert.deepEqual(c.cachedMessage(CHAT, 'm1')!.reactions, [{ emoji: '🎉', count: 1, user_ids: ['u1'] }]);
  assert.equal(c.cachedMessage(CHAT, 'm1')!.edited_at, 20);
  assert.deepEqual(c.pendingSends(), [], 'changes are not listed as sends');
  // An edit too long to be worth sending is refused here, like a send.
  await assert.rejects(c.edit(CHAT, 'm1', 'x'.repeat(100_001)), (err) => err instanceof SendError && err.code === 'content_too_long');
  await c.close();
});

test('a rate-limited change is sent again after retry_after_ms with the same frame', async () => {
  const { c, s } = await connected();
  const p = c.react(CHAT, 'm1', '👍');
  const f = (await flushed(s)).sentOf('react')[0]!;
  s.receive({ type: 'error', code: 'rate_limited', message: 'slow down', retry_after_ms: 50, client_msg_id: f.client_msg_id });
  await tick(120);
  assert.deepEqual((await flushed(s)).sentOf('react'), [f, f]);
  s.receive({ type: 'ack_sent', client_msg_id: f.client_msg_id, message_id: 'r', chat_id: CHAT, seq: 4, created_at: 1 });
  assert.equal((await p).seq, 4);
  await c.close();
});

test('a send answered internal with retry_after_ms (the store is unreachable) is sent again; internal without it fails the send', async () => {
  const { c, s } = await connected();
  const p = c.send(CHAT, 'while the database restarts');
  const f = (await flushed(s)).sentOf('send_message')[0]!;
  s.receive({
    type: 'error',
    code: 'internal',
    message: 'the message store is unavailable: try again',
    retry_after_ms: 50,
    client_msg_id: f.client_msg_id,
  });
  await tick(120);
  assert.deepEqual((await flushed(s)).sentOf('send_message'), [f, f]);
  s.receive({ type: 'ack_sent', client_msg_id: f.client_msg_id, message_id: 'm9', chat_id: CHAT, seq: 9, created_at: 1 });
  assert.equal((await p).seq, 9);
  const q = c.send(CHAT, 'a real failure');
  const g = (await flushed(s)).sentOf('send_message')[2]!;
  s.receive({ type: 'error', code: 'internal', message: 'internal error', client_msg_id: g.client_msg_id });
  await assert.rejects(q, (err) => err instanceof SendError && err.code === 'internal');
  await c.close();
});

test('chat_settings frames become events; setChatSettings PATCHes the chat settings', async () => {
  const calls: { url: string; method?: string; body?: unknown }[] = [];
  const { c, s } = await connected({
    fetch: async (url, init) => {
      calls.push({ url: String(url), method: init?.method, body: init?.body });
      return {
        status: 200,
        ok: true,
        text: async () => JSON.stringify({ chat_id: 'g:1', muted_until: null, archived: true, pinned: false }),
      };
    },
  });
  const seen = c.waitFor('chat_settings', { timeoutMs: 1000 });
  s.receive({ type: 'chat_settings', chat_id: 'g:1', muted_until: 99, archived: false, pinned: true });
  assert.deepEqual(await seen, { type: 'chat_settings', chat_id: 'g:1', muted_until: 99, archived: false, pinned: true });
  const view = await c.setChatSettings('g:1', { archived: true, muted_until: null });
  assert.equal(view.archived, true);
  assert.equal(calls.at(-1)!.url, 'http://example.test/v1/chats/g%3A1/settings');
  assert.equal(calls.at(-1)!.method, 'PATCH');
  assert.deepEqual(JSON.parse(String(calls.at(-1)!.body)), { archived: true, muted_until: null });
  await c.close();
});
