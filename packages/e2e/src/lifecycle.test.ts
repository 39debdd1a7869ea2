import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startTestServer, waitUntil } from '@switchboard/server/testing';
import { clusterServicesMissing, clusterSuite } from '@switchboard/server/testing/cluster';
import { directChatId, type Message, type SessionView } from '@switchboard/protocol';
import { SwitchboardClient, SendError, type MessageUpdateEvent, type NewMessageEvent } from '@switchboard/client';

/*
 * The SDK's message lifecycle against real servers (PROTOCOL.md "Message lifecycle"): replies,
 * mentions, edits, deletes for everyone, reactions, chat settings; the client's view of each
 * message after the updates equals the server's history. Embedded, and a two-node cluster with
 * the two users on different nodes (the updates cross the bus).
 */

let counter = 0;
async function account(baseUrl: string, prefix: string): Promise<SessionView & { username: string }> {
  const username = `${prefix}_${process.pid}_${++counter}`.slice(0, 32);
  const password = 'correct horse battery';
  await SwitchboardClient.register(baseUrl, { username, password, display_name: prefix });
  return { ...(await SwitchboardClient.login(baseUrl, { username, password })), username };
}

async function device(baseUrl: string, username: string, wsUrl?: string): Promise<SessionView> {
  const s = await SwitchboardClient.login(baseUrl, { username, password: 'correct horse battery' });
  return wsUrl ? { ...s, ws_url: wsUrl } : s;
}

/** The `ws` constructor, remembering every socket so a test can cut one. */
function trackedWebSocket() {
  const sockets: WebSocket[] = [];
  class Tracked extends WebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return { WebSocket: Tracked, sockets };
}

async function client(baseUrl: string, session: SessionView, WS: unknown = WebSocket): Promise<SwitchboardClient> {
  const c = SwitchboardClient.fromSession(baseUrl, session, { WebSocket: WS as never, backoff: { baseMs: 50, capMs: 400 } });
  const synced = c.waitFor('sync_complete', { timeoutMs: 10_000 });
  await c.connect();
  await synced;
  return c;
}

/** Collects a client's events, to wait for the one a step expects. */
function recorder(c: SwitchboardClient) {
  const messages: NewMessageEvent[] = [];
  const updates: MessageUpdateEvent[] = [];
  c.on('message', (m) => messages.push(m));
  c.on('message_update', (u) => updates.push(u));
  return {
    messages,
    updates,
    async message(content: string): Promise<NewMessageEvent> {
      await waitUntil(() => messages.some((m) => m.content === content), 10_000, `message "${content}"`);
      return messages.find((m) => m.content === content)!;
    },
    async update(pred: (u: MessageUpdateEvent) => boolean, what: string): Promise<MessageUpdateEvent> {
      await waitUntil(() => updates.some(pred), 10_000, what);
      return updates.find(pred)!;
    },
  };
}

/** What a client shows of a message, to compare with the server's history. */
const view = (m: Message | null | undefined) =>
  m && {
    message_id: m.message_id,
    content: m.content,
    edited_at: m.edited_at,
    deleted: m.deleted,
    reactions: m.reactions,
    reply_to: m.reply_to,
    mentions: m.mentions,
  };

async function scenario(baseUrl: string, wsUrls: [string | undefined, string | undefined]): Promise<void> {
  const a = await account(baseUrl, 'lc_alice');
  const b = await account(baseUrl, 'lc_bob');
  const chatId = directChatId(a.user_id, b.user_id);
  const cut = trackedWebSocket();
  const alice = await client(baseUrl, wsUrls[0] ? { ...a, ws_url: wsUrls[0] } : a, cut.WebSocket);
  const bob = await client(baseUrl, wsUrls[1] ? { ...b, ws_url: wsUrls[1] } : b);
  const bob2Session = await device(baseUrl, b.username, wsUrls[0]);
  let bob2 = await client(baseUrl, bob2Session);
  const ra = recorder(alice);
  const rb = recorder(bob);
  let rb2 = recorder(bob2);
  try {
    // A reply with a mention: the recipient sees the quote and the mention.
    const lunch = await alice.send(chatId, 'lunch at noon?');
    await rb.message('lunch at noon?');
    const reply = await bob.reply(chatId, lunch.message_id, 'yes, where?', { mentions: [a.user_id] });
    const got = await ra.message('yes, where?');
    assert.deepEqual(got.reply_to, { message_id: lunch.message_id, sender_id: a.user_id, preview: 'lunch at noon?' });
    assert.deepEqual(got.mentions, [a.user_id]);

    // An edit reaches the other user and the sender's other device with the message as it now is.
    const edit = await alice.edit(chatId, lunch.message_id, 'lunch at 1pm?');
    assert.ok(edit.seq > reply.seq, 'an edit takes the next seq of the chat');
    for (const r of [rb, rb2]) {
      const u = await r.update((x) => x.update.action === 'edit', 'the edit');
      assert.equal(u.message?.content, 'lunch at 1pm?');
      assert.equal(u.message?.edited_at, u.update.created_at);
      assert.equal(u.own, false);
    }

    // Reactions: one per user, replaced by a new one; the sender's own change comes back as an own event.
    await bob.react(chatId, lunch.message_id, '👍');
    await alice.react(chatId, lunch.message_id, '🎉');
    await bob.react(chatId, lunch.message_id, '❤️');
    const ownReact = rb.updates.filter((u) => u.own && u.update.action === 'react');
    assert.equal(ownReact.length, 2);
    await ra.update((u) => u.update.emoji === '❤️', "bob's second reaction");
    await rb2.update((u) => u.update.emoji === '❤️', "bob's second reaction on his other device");
    const expected = [
      { emoji: '🎉', count: 1, user_ids: [a.user_id] },
      { emoji: '❤️', count: 1, user_ids: [b.user_id] },
    ];
    const sorted = (m: Message | undefined) => [...(m?.reactions ?? [])].sort((x, y) => x.emoji.localeCompare(y.emoji));
    for (const c of [alice, bob, bob2])
      assert.deepEqual(sorted(c.cachedMessage(chatId, lunch.message_id)), sorted({ reactions: expected } as Message));

    // Refused changes reject with the server's code, and nothing is stored.
    await assert.rejects(bob.edit(chatId, lunch.message_id, 'hijacked'), (e) => e instanceof SendError && e.code === 'forbidden');
    await assert.rejects(bob.react(chatId, 'no-such-message', '👍'), (e) => e instanceof SendError && e.code === 'invalid_reference');

    // A change whose socket is cut before the ack is resent with its client_msg_id after the reconnect: stored once.
    const thanks = alice.react(chatId, reply.message_id, '🙏');
    cut.sockets.at(-1)!.terminate();
    await thanks;
    await rb.update((u) => u.update.emoji === '🙏', 'the resent reaction');

    // bob's second device is offline while alice deletes: the delete is replayed to it.
    await bob2.close();
    await alice.deleteForEveryone(chatId, lunch.message_id);
    const del = await rb.update((u) => u.update.action === 'delete', 'the delete');
    assert.equal(del.message?.deleted, true);
    assert.equal(del.message?.content, '');
    assert.equal(del.message?.reactions, undefined);
    assert.equal(del.update.content, undefined, 'a delete carries no content');
    // Back online (the same device): what the app loads first, then the replayed delete applied to it.
    bob2 = SwitchboardClient.fromSession(baseUrl, bob2Session, { WebSocket: WebSocket as never });
    rb2 = recorder(bob2);
    await bob2.history(chatId);
    await bob2.connect();
    const replayed = await rb2.update((u) => u.update.action === 'delete', 'the replayed delete');
    assert.equal(replayed.update.message_id, del.update.message_id);
    assert.equal(replayed.message?.deleted, true);

    assert.equal(rb.updates.filter((u) => u.update.emoji === '🙏').length, 1, 'the resent reaction was stored once');

    // Every client's view equals the server's history.
    const history = (await bob.history(chatId)).messages;
    assert.deepEqual(
      history.map((m) => m.message_id),
      [lunch.message_id, reply.message_id],
      'changes are not listed as messages',
    );
    for (const m of history) {
      assert.deepEqual(view(alice.cachedMessage(chatId, m.message_id)), view(m), `alice's view of ${m.content || 'the deleted message'}`);
      assert.deepEqual(view(bob.cachedMessage(chatId, m.message_id)), view(m), `bob's view of ${m.content || 'the deleted message'}`);
    }
    assert.equal(history[1]!.reply_to?.preview, '', "the reply's quote of the deleted message is gone");

    // Chat settings: per user, on every device.
    const settings = bob2.waitFor('chat_settings', { timeoutMs: 10_000 });
    assert.deepEqual(await bob.setChatSettings(chatId, { pinned: true, muted_until: 4_102_444_800_000 }), {
      chat_id: chatId,
      muted_until: 4_102_444_800_000,
      archived: false,
      pinned: true,
    });
    assert.deepEqual(await settings, {
      type: 'chat_settings',
      chat_id: chatId,
      muted_until: 4_102_444_800_000,
      archived: false,
      pinned: true,
    });
    const [mine] = await bob.chats();
    assert.equal(mine?.pinned, true);
    assert.equal((await alice.chats())[0]?.pinned, false, "alice's settings are her own");
  } finally {
    await Promise.all([alice.close(), bob.close(), bob2.close()]);
  }
}

test('embedded: reply, mention, edit, react, delete for everyone and chat settings through the SDK', async () => {
  const server = await startTestServer();
  try {
    await scenario(server.baseUrl, [undefined, undefined]);
  } finally {
    await server.stop();
  }
});

const missing = await clusterServicesMissing();
describe('cluster (two nodes, the users on different nodes)', { skip: missing ?? false }, () => {
  const cluster = clusterSuite(2);
  test('reply, mention, edit, react, delete for everyone and chat settings through the SDK', async () => {
    const [n0, n1] = cluster.nodes;
    await scenario(n0!.baseUrl, [n0!.wsUrl, n1!.wsUrl]);
  });
});
