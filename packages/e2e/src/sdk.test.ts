import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { WebSocket } from 'ws';
import { startTestServer, startServerProcess, freePort, tempDir, sleep, waitUntil } from '@switchboard/server/testing';
import { directChatId, type SessionView } from '@switchboard/protocol';
import { ACK_WINDOW_MS, SwitchboardClient, type NewMessageEvent, type AckSent } from '@switchboard/client';

/*
 * The SDK against a real server: reconnect and resend across restarts and crashes,
 * duplicate drop on real redelivery, typed events.
 */

let counter = 0;
async function account(baseUrl: string, prefix: string): Promise<SessionView & { username: string; password: string }> {
  const username = `${prefix}_${process.pid}_${++counter}`.slice(0, 32);
  const password = 'correct horse battery';
  await SwitchboardClient.register(baseUrl, { username, password, display_name: prefix });
  const session = await SwitchboardClient.login(baseUrl, { username, password, device_name: `${prefix}-test` });
  return { ...session, username, password };
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

function makeClient(baseUrl: string, session: SessionView, opts: Partial<ConstructorParameters<typeof SwitchboardClient>[0]> = {}) {
  return SwitchboardClient.fromSession(baseUrl, session, { WebSocket, backoff: { baseMs: 50, capMs: 400 }, ...opts });
}

async function connected(c: SwitchboardClient): Promise<void> {
  const synced = c.waitFor('sync_complete', { timeoutMs: 10_000 });
  await c.connect();
  await synced;
}

function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const it of items) m.set(key(it), (m.get(key(it)) ?? 0) + 1);
  return m;
}

test('sends made while the server restarts are acknowledged once each after reconnect and shown once to the recipient', async () => {
  const dataDir = tempDir();
  const port = await freePort();
  let server = await startTestServer({ dataDir, port });
  const a = await account(server.baseUrl, 'alice');
  const b = await account(server.baseUrl, 'bob');
  const chatId = directChatId(a.user_id, b.user_id);
  const alice = makeClient(server.baseUrl, a);
  const bob = makeClient(server.baseUrl, b);
  const acksSeen: AckSent[] = [];
  alice.on('frame', (f) => {
    if (f.type === 'ack_sent') acksSeen.push(f);
  });
  const bobGot: NewMessageEvent[] = [];
  bob.on('message', (m) => bobGot.push(m));
  try {
    await connected(alice);
    await connected(bob);
    const first = await alice.send(chatId, 'before restart');
    assert.equal(first.seq, 1);

    const aliceDown = alice.waitFor('disconnected', { timeoutMs: 10_000 });
    await server.stop();
    await aliceDown;
    const texts = ['while down 1', 'while down 2', 'while down 3', 'while down 4', 'while down 5'];
    const sends = texts.map((t) => alice.send(chatId, t));
    assert.equal(alice.pendingSends().length, texts.length);
    await sleep(300); // a few failed reconnect attempts while nothing listens
    server = await startTestServer({ dataDir, port });

    const acks = await Promise.all(sends);
    assert.deepEqual(
      acks.map((x) => x.seq),
      [2, 3, 4, 5, 6],
      'in original order, no gaps',
    );
    assert.equal(new Set(acks.map((x) => x.message_id)).size, texts.length);
    const perSend = countBy(
      acksSeen.filter((x) => x.seq > 1),
      (x) => x.client_msg_id,
    );
    assert.equal(perSend.size, texts.length);
    for (const n of perSend.values()) assert.equal(n, 1, 'each send acknowledged exactly once');
    assert.equal(alice.pendingSends().length, 0);

    await waitUntil(() => bobGot.length >= 6, 10_000, 'bob to receive 6 messages');
    await sleep(300); // room for any duplicate to show up
    assert.deepEqual(
      bobGot.map((m) => m.content),
      ['before restart', ...texts],
    );
    assert.deepEqual(
      bobGot.map((m) => m.seq),
      [1, 2, 3, 4, 5, 6],
    );

    const page = await bob.history(chatId);
    assert.equal(page.messages.length, 6, 'no duplicate stored');
  } finally {
    await alice.close();
    await bob.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('sends in flight when the server process is killed are stored and shown exactly once after restart', async () => {
  const dataDir = tempDir();
  const port = await freePort();
  let proc = await startServerProcess({ dataDir, port });
  const a = await account(proc.baseUrl, 'carol');
  const b = await account(proc.baseUrl, 'dave');
  const chatId = directChatId(a.user_id, b.user_id);
  const carol = makeClient(proc.baseUrl, a);
  const dave = makeClient(proc.baseUrl, b);
  const daveGot: NewMessageEvent[] = [];
  dave.on('message', (m) => daveGot.push(m));
  try {
    await connected(carol);
    await connected(dave);
    const texts = Array.from({ length: 40 }, (_, i) => `burst ${i}`);
    const sends = texts.map((t) => carol.send(chatId, t));
    await sleep(5); // some are committed, some are not
    await proc.kill('SIGKILL');
    proc = await startServerProcess({ dataDir, port });

    const acks = await Promise.all(sends);
    assert.deepEqual(
      acks.map((x) => x.seq),
      texts.map((_, i) => i + 1),
      'each send has one seq, in order',
    );
    await waitUntil(() => daveGot.length >= texts.length, 15_000, 'dave to receive every message');
    await sleep(300);
    assert.deepEqual(
      daveGot.map((m) => m.content),
      texts,
    );
    const page = await dave.history(chatId, { limit: 200 });
    assert.equal(page.messages.length, texts.length);
  } finally {
    await carol.close();
    await dave.close();
    await proc.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a redelivered message is dropped as a duplicate but acknowledged', async () => {
  const server = await startTestServer();
  const a = await account(server.baseUrl, 'erin');
  const b = await account(server.baseUrl, 'frank');
  const chatId = directChatId(a.user_id, b.user_id);
  const erin = makeClient(server.baseUrl, a);
  // Frank does not acknowledge, so the server redelivers after his connection breaks.
  const tracked = trackedWebSocket();
  const frank = makeClient(server.baseUrl, b, { WebSocket: tracked.WebSocket, autoAck: false });
  const shown: string[] = [];
  const raw: string[] = [];
  frank.on('message', (m) => shown.push(m.content));
  frank.on('frame', (f) => {
    if (f.type === 'new_message') raw.push(f.content);
  });
  try {
    await connected(erin);
    await connected(frank);
    await erin.send(chatId, 'one');
    await erin.send(chatId, 'two');
    await waitUntil(() => shown.length === 2, 5000, 'two messages');
    const resynced = frank.waitFor('sync_complete', { timeoutMs: 10_000 });
    tracked.sockets.at(-1)!.terminate();
    await resynced;
    await sleep(100);
    assert.deepEqual(raw, ['one', 'two', 'one', 'two'], 'the server redelivered the unacknowledged messages');
    assert.deepEqual(shown, ['one', 'two'], 'the client showed each once');
    assert.equal(frank.lastSeq(chatId), 2);
  } finally {
    await erin.close();
    await frank.close();
    await server.stop();
  }
});

test('a message read in the turn it arrives is acknowledged by the ack_read alone, and not delivered again after a reconnect', async () => {
  const server = await startTestServer();
  const a = await account(server.baseUrl, 'rita');
  const b = await account(server.baseUrl, 'sam');
  const chatId = directChatId(a.user_id, b.user_id);
  const rita = makeClient(server.baseUrl, a);
  // Every WebSocket message sam's client sends, as the frames it carries (?batch=1: an array is several).
  const sent: { type: string; message_ids?: string[]; last_read_message_id?: string }[] = [];
  const sockets: WebSocket[] = [];
  class Recording extends WebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
    override send(data: unknown, ...rest: unknown[]): void {
      const parsed = JSON.parse(String(data)) as (typeof sent)[number] | (typeof sent)[number][];
      sent.push(...(Array.isArray(parsed) ? parsed : [parsed]));
      (super.send as (data: unknown, ...rest: unknown[]) => void)(data, ...rest);
    }
  }
  const sam = makeClient(server.baseUrl, b, { WebSocket: Recording });
  const raw: string[] = [];
  sam.on('frame', (f) => {
    if (f.type === 'new_message') raw.push(f.message_id);
  });
  // The app shows and reads each message as it comes: markRead in the same turn.
  sam.on('message', (m) => sam.markRead(m.chat_id, m.message_id));
  try {
    await connected(rita);
    await connected(sam);
    const read = rita.waitFor('status', { timeoutMs: 5000, filter: (s) => s.status === 'read' });
    const ack = await rita.send(chatId, 'read at once');
    // The read is stored once its receipt reaches the sender.
    assert.equal((await read).message_id, ack.message_id);
    await sleep(ACK_WINDOW_MS + 200); // past the ack window: an ack_delivered would have gone by now
    assert.deepEqual(
      sent.filter((f) => f.type === 'ack_read').map((f) => f.last_read_message_id),
      [ack.message_id],
      'one ack_read',
    );
    assert.deepEqual(
      sent.filter((f) => f.type === 'ack_delivered'),
      [],
      'no ack_delivered: the read covered delivery',
    );
    // The server counted the read as delivery: a new connection gets nothing again.
    const resynced = sam.waitFor('sync_complete', { timeoutMs: 10_000 });
    sockets.at(-1)!.terminate();
    await resynced;
    await sleep(100);
    assert.deepEqual(raw, [ack.message_id], 'delivered once, not replayed after the reconnect');
    const chats = await sam.chats();
    assert.equal(chats[0]!.unread_count, 0);
  } finally {
    await rita.close();
    await sam.close();
    await server.stop();
  }
});

test('typed events: status ticks, read_sync, typing and presence', async () => {
  const server = await startTestServer();
  const a = await account(server.baseUrl, 'gina');
  const b = await account(server.baseUrl, 'hank');
  const b2 = await SwitchboardClient.login(server.baseUrl, { username: b.username, password: b.password, device_name: 'second' });
  const chatId = directChatId(a.user_id, b.user_id);
  const gina = makeClient(server.baseUrl, a);
  const hank = makeClient(server.baseUrl, b);
  const hank2 = makeClient(server.baseUrl, b2);
  try {
    await connected(gina);
    await connected(hank);
    await connected(hank2);

    const delivered = gina.waitFor('status', { timeoutMs: 5000, filter: (s) => s.status === 'delivered' });
    const received = hank.waitFor('message', { timeoutMs: 5000 });
    const ack = await gina.send(chatId, 'are you there?');
    const msg = await received;
    assert.equal(msg.message_id, ack.message_id);
    assert.equal(msg.sender_id, a.user_id);
    const d = await delivered;
    assert.equal(d.message_id, ack.message_id);
    assert.equal(d.user_id, b.user_id);

    const read = gina.waitFor('status', { timeoutMs: 5000, filter: (s) => s.status === 'read' });
    const sync = hank2.waitFor('read_sync', { timeoutMs: 5000 });
    hank.markRead(chatId, msg.message_id);
    assert.equal((await read).message_id, ack.message_id);
    assert.equal((await sync).read_seq, ack.seq);

    const typing = gina.waitFor('typing', { timeoutMs: 5000 });
    hank.typing(chatId, 'composing');
    const t = await typing;
    assert.deepEqual([t.chat_id, t.user_id, t.state], [chatId, b.user_id, 'composing']);

    const presence = gina.waitFor('presence', { timeoutMs: 5000, filter: (p) => p.user_id === b.user_id });
    gina.subscribePresence([b.user_id]);
    assert.equal((await presence).online, true);

    const chats = await hank.chats();
    assert.deepEqual(
      chats.map((c) => c.chat_id),
      [chatId],
    );
    assert.equal(chats[0]!.last_message?.content, 'are you there?');
    const found = await hank.findUser(a.username);
    assert.equal(found?.user_id, a.user_id);
    assert.equal(await hank.findUser('nobody_here_at_all'), null);
  } finally {
    await gina.close();
    await hank.close();
    await hank2.close();
    await server.stop();
  }
});

test('groups: create, rename and send raise group_update and message events', async () => {
  const server = await startTestServer();
  const a = await account(server.baseUrl, 'kate');
  const b = await account(server.baseUrl, 'liam');
  const kate = makeClient(server.baseUrl, a);
  const liam = makeClient(server.baseUrl, b);
  try {
    await connected(kate);
    await connected(liam);
    const update = liam.waitFor('group_update', { timeoutMs: 5000 });
    update.catch(() => {});
    const group = await kate.createGroup('weekend', [b.user_id]);
    assert.deepEqual(group.members.find((m) => m.user_id === a.user_id)?.role, 'admin');
    const g = await update;
    assert.equal(g.group_id, group.group_id);
    assert.equal(g.chat_id, group.chat_id);
    assert.equal(g.name, 'weekend');

    const renamed = liam.waitFor('group_update', { timeoutMs: 5000, filter: (u) => u.event === 'renamed' });
    renamed.catch(() => {});
    const after = await kate.renameGroup(group.group_id, 'long weekend');
    assert.equal(after.name, 'long weekend');
    assert.equal((await renamed).name, 'long weekend');

    const inGroup = liam.waitFor('message', { timeoutMs: 5000, filter: (m) => m.chat_id === group.chat_id });
    await kate.send(group.chat_id, 'hello group');
    assert.equal((await inGroup).content, 'hello group');
    assert.equal((await liam.getGroup(group.group_id)).name, 'long weekend');

    const removed = liam.waitFor('group_update', { timeoutMs: 5000, filter: (u) => u.event === 'member_removed' });
    removed.catch(() => {});
    await liam.removeMember(group.group_id, b.user_id);
    assert.deepEqual((await removed).user_ids, [b.user_id]);
    await assert.rejects(liam.getGroup(group.group_id), (err: Error & { status?: number }) => err.status === 404);
  } finally {
    await kate.close();
    await liam.close();
    await server.stop();
  }
});

test('send rejects with the error frame for its client_msg_id', async () => {
  const server = await startTestServer();
  const a = await account(server.baseUrl, 'ivy');
  const ivy = makeClient(server.baseUrl, a);
  try {
    await connected(ivy);
    await assert.rejects(
      ivy.send('g:does_not_exist', 'hi'),
      (err: Error & { code?: string }) => err.name === 'SendError' && (err.code === 'chat_not_found' || err.code === 'not_a_member'),
    );
    await assert.rejects(
      ivy.send(directChatId(a.user_id, a.user_id), 'x'.repeat(100_001)),
      (err: Error & { code?: string }) => err.code === 'content_too_long',
    );
    await assert.rejects(ivy.send(directChatId(a.user_id, a.user_id), ''), (err: Error & { code?: string }) => err.name === 'SendError');
    const ok = await ivy.send(directChatId(a.user_id, a.user_id), 'note to self');
    assert.equal(ok.seq, 1);
  } finally {
    await ivy.close();
    await server.stop();
  }
});

test('logout revokes the session: the client stops and does not reconnect', async () => {
  const server = await startTestServer();
  const a = await account(server.baseUrl, 'jack');
  const other = await SwitchboardClient.login(server.baseUrl, { username: a.username, password: a.password });
  const jack = makeClient(server.baseUrl, a);
  const admin = makeClient(server.baseUrl, other);
  try {
    await connected(jack);
    // The server may close with 4100 (stop at once) or another code (then the refused
    // handshake and a 401 from /v1/users/me stop the client).
    const gone = jack.waitFor('disconnected', { timeoutMs: 10_000, filter: (d) => !d.willReconnect });
    await admin.logout();
    assert.equal(admin.state, 'closed');
    // Revoke jack's session with a plain request (as another tab of the same browser would).
    const res = await fetch(`${server.baseUrl}/v1/sessions/current`, { method: 'DELETE', headers: { authorization: `Bearer ${a.token}` } });
    assert.equal(res.status, 204);
    const d = await gone;
    assert.equal(d.willReconnect, false);
    assert.equal(jack.state, 'closed');
  } finally {
    await jack.close();
    await server.stop();
  }
});

test('the socket URL carries a fresh single-use ticket, never the token; authHeader sends the token in a header instead', async () => {
  const server = await startTestServer();
  const [a, b] = [await account(server.baseUrl, 'tix'), await account(server.baseUrl, 'tiy')];
  const urls: string[] = [];
  const sockets: WebSocket[] = [];
  class Recording extends WebSocket {
    constructor(url: string) {
      super(url);
      urls.push(url);
      sockets.push(this);
    }
  }
  const viaTicket = makeClient(server.baseUrl, a, { WebSocket: Recording });
  const viaHeader = makeClient(server.baseUrl, b, { authHeader: true });
  try {
    await connected(viaTicket);
    await connected(viaHeader);
    assert.equal(urls.length, 1);
    assert.match(urls[0]!, /\/v1\/ws\?batch=1&ticket=[\w-]{32,}$/);
    assert.ok(!urls[0]!.includes(encodeURIComponent(a.token)) && !urls[0]!.includes(a.token), 'no token in the socket URL');
    // The ticket is spent: the same URL opens nothing now.
    const reused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(urls[0]!);
      ws.once('open', () => (ws.terminate(), resolve(101)));
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', () => resolve(-1));
    });
    assert.equal(reused, 401);

    const got = viaHeader.waitFor('message', { timeoutMs: 10_000 });
    await viaTicket.send(directChatId(a.user_id, b.user_id), 'hello over a ticket');
    assert.equal((await got).content, 'hello over a ticket');

    // A dropped socket comes back on a new ticket.
    const back = viaTicket.waitFor('connected', { timeoutMs: 10_000 });
    sockets[0]!.terminate();
    assert.equal((await back).reconnect, true);
    assert.equal(urls.length, 2);
    assert.match(urls[1]!, /[?&]ticket=/);
    assert.notEqual(urls[1], urls[0]);
  } finally {
    await viaTicket.close();
    await viaHeader.close();
    await server.stop();
  }
});
