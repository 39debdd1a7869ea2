import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TypedEmitter } from './emitter.js';
import { backoffDelay } from './backoff.js';
import { SeqDeduper } from './dedup.js';
import { SwitchboardClient, SendError, ClientClosedError } from './client.js';
import { fakeNetwork, fakeFetch, tick, ticketFetch, flushed } from './fake-socket.test-support.js';
import { SwitchboardHttpError, retryRateLimited, type FetchLike } from './http.js';
import { SwitchboardApi } from './rest.js';
import { ACK_WINDOW_MS } from './ack-batcher.js';

function newMessage(chatId: string, seq: number, id = `m${chatId}-${seq}`) {
  return {
    type: 'new_message',
    message_id: id,
    chat_id: chatId,
    seq,
    sender_id: 'u2',
    sender_device_id: 'd2',
    client_msg_id: `c${seq}`,
    content: `hello ${seq}`,
    created_at: Date.now(),
  };
}

function client(net: ReturnType<typeof fakeNetwork>, extra: Partial<ConstructorParameters<typeof SwitchboardClient>[0]> = {}) {
  return new SwitchboardClient({
    baseUrl: 'http://example.test/',
    token: 'tok en',
    WebSocket: net.WebSocket,
    fetch: ticketFetch(),
    random: () => 0,
    ...extra,
  });
}

test('typed emitter delivers payloads, supports off, once and waitFor', async () => {
  class E extends TypedEmitter<{ a: number; b: string }> {
    fire<K extends 'a' | 'b'>(k: K, v: { a: number; b: string }[K]) {
      this.emit(k, v);
    }
  }
  const e = new E();
  const got: number[] = [];
  const off = e.on('a', (n) => got.push(n));
  let onceCount = 0;
  e.once('a', () => onceCount++);
  e.fire('a', 1);
  e.fire('a', 2);
  off();
  e.fire('a', 3);
  assert.deepEqual(got, [1, 2]);
  assert.equal(onceCount, 1);
  const w = e.waitFor('b', { filter: (s) => s === 'yes', timeoutMs: 1000 });
  e.fire('b', 'no');
  e.fire('b', 'yes');
  assert.equal(await w, 'yes');
  await assert.rejects(e.waitFor('b', { timeoutMs: 10 }), /timed out/);
});

test('backoff uses full jitter under an exponential ceiling capped at 10 s', () => {
  assert.equal(
    backoffDelay(0, {}, () => 0.999999),
    249,
  );
  assert.equal(
    backoffDelay(3, {}, () => 0.5),
    1000,
  );
  assert.equal(
    backoffDelay(40, {}, () => 0.999999),
    9999,
  );
  assert.equal(
    backoffDelay(5, {}, () => 0),
    0,
  );
  assert.equal(
    backoffDelay(1, { baseMs: 100, capMs: 150 }, () => 0.999999),
    149,
  );
});

test('seq deduper drops at or below the per-chat mark and allows gaps', () => {
  const d = new SeqDeduper();
  assert.equal(d.accept('c1', 1), true);
  assert.equal(d.accept('c1', 3), true);
  assert.equal(d.accept('c1', 3), false);
  assert.equal(d.accept('c1', 2), false);
  assert.equal(d.accept('c2', 1), true);
  assert.equal(d.lastSeq('c1'), 3);
});

test('connects with a fresh single-use ticket in the query, never the token, and emits typed events', async () => {
  const net = fakeNetwork();
  const fetch = ticketFetch();
  const c = client(net, { fetch, backoff: { baseMs: 1, capMs: 1 } });
  const p = c.connect();
  const s = await net.next();
  assert.equal(s.url, 'ws://example.test/v1/ws?batch=1&ticket=ticket-1');
  assert.ok(!s.url.includes('tok'), 'no token in the socket URL');
  s.open();
  await p;
  const events: string[] = [];
  c.on('connected', () => events.push('connected'));
  c.on('status', (f) => events.push(`status:${f.status}`));
  c.on('read_sync', (f) => events.push(`read_sync:${f.read_seq}`));
  c.on('typing', (f) => events.push(`typing:${f.state}`));
  c.on('presence', (f) => events.push(`presence:${f.online}`));
  c.on('group_update', (f) => events.push(`group:${f.event}`));
  c.on('sync_complete', () => events.push('sync'));
  c.on('error', (f) => events.push(`error:${f.code}`));
  s.receive({ type: 'status_update', message_id: 'm', chat_id: 'c', seq: 1, status: 'read', user_id: 'u', at: 1 });
  s.receive({ type: 'read_sync', chat_id: 'c', read_seq: 4 });
  s.receive({ type: 'typing', chat_id: 'c', user_id: 'u', state: 'composing' });
  s.receive({ type: 'presence', user_id: 'u', online: true, last_seen: 1 });
  s.receive({ type: 'group_update', group_id: 'g', chat_id: 'g:g', event: 'renamed', user_ids: [], name: 'x' });
  s.receive({ type: 'sync_complete' });
  s.receive({ type: 'error', code: 'invalid_frame', message: 'bad' });
  assert.deepEqual(events, [
    'status:read',
    'read_sync:4',
    'typing:composing',
    'presence:true',
    'group:renamed',
    'sync',
    'error:invalid_frame',
  ]);
  await c.close();
});

test('drops duplicate messages and acknowledges every received one in one batched frame', async () => {
  const { c, s } = await connected();
  const seen: string[] = [];
  c.on('message', (m) => seen.push(m.message_id));
  s.receive(newMessage('c1', 1));
  s.receive(newMessage('c1', 2));
  s.receive(newMessage('c1', 1)); // duplicate
  s.receive(newMessage('c2', 1));
  s.receive(newMessage('c1', 2)); // duplicate
  assert.deepEqual(seen, ['mc1-1', 'mc1-2', 'mc2-1']);
  assert.equal((await flushed(s)).sentOf('ack_delivered').length, 0, 'acks are batched, not sent one by one');
  await tick(5);
  const acks = (await flushed(s)).sentOf('ack_delivered');
  assert.equal(acks.length, 1);
  assert.deepEqual(acks[0]!.message_ids, ['mc1-1', 'mc1-2', 'mc1-1', 'mc2-1', 'mc1-2']);
  await c.close();
});

test('a message read in the turn it arrived costs one ack_read and no ack_delivered; other chats and later seqs still get theirs', async () => {
  const { c, s } = await connected();
  const before = (await flushed(s)).messages;
  // The app shows and reads each message of chat c1 as it comes (the read covers delivery: guarantee 6).
  c.on('message', (m) => {
    if (m.chat_id === 'c1' && m.seq <= 2) c.markRead(m.chat_id, m.message_id);
  });
  s.receive(newMessage('c2', 7)); // another chat, queued first
  s.receive(newMessage('c1', 1));
  s.receive(newMessage('c1', 2));
  s.receive(newMessage('c1', 3)); // later than the read: not covered
  await flushed(s);
  assert.deepEqual(s.sentOf('ack_read'), [
    { type: 'ack_read', chat_id: 'c1', last_read_message_id: 'mc1-1' },
    { type: 'ack_read', chat_id: 'c1', last_read_message_id: 'mc1-2' },
  ]);
  assert.equal(s.messages - before, 1, "the turn's two reads in one WebSocket message");
  await tick(5);
  const acks = (await flushed(s)).sentOf('ack_delivered');
  assert.equal(acks.length, 1);
  assert.deepEqual(acks[0]!.message_ids, ['mc2-7', 'mc1-3'], 'c1 up to seq 2 went with the reads');
  // A read of a message this client never saw (no seq known) drops nothing.
  s.receive(newMessage('c1', 4));
  c.markRead('c1', 'somewhere-later');
  await tick(ACK_WINDOW_MS + 20); // the next flush waits for the window
  assert.deepEqual((await flushed(s)).sentOf('ack_delivered').at(-1)!.message_ids, ['mc1-4']);
  // A read of an earlier message covers the duplicates at or below it, not the later one.
  s.receive(newMessage('c1', 2)); // replayed
  s.receive(newMessage('c1', 5));
  c.markRead('c1', 'mc1-3');
  await tick(ACK_WINDOW_MS + 20);
  assert.deepEqual((await flushed(s)).sentOf('ack_delivered').at(-1)!.message_ids, ['mc1-5']);
  await c.close();
});

test('the socket is opened with ?batch=1: frames of one turn leave as one array, frames from the server may come as one', async () => {
  const { c, s } = await connected();
  const before = (await flushed(s)).messages;
  const sends = [c.send('dm:a:b', 'one'), c.send('dm:a:b', 'two'), c.send('dm:a:b', 'three')];
  const frames = (await flushed(s)).sentOf('send_message') as { client_msg_id: string; content: string }[];
  assert.deepEqual(
    frames.map((f) => f.content),
    ['one', 'two', 'three'],
  );
  assert.equal(s.messages - before, 1, 'three frames, one WebSocket message');
  // The server's answers in one array: each handled in order.
  s.onmessage?.({
    data: JSON.stringify(
      frames.map((f, i) => ({
        type: 'ack_sent',
        client_msg_id: f.client_msg_id,
        message_id: `m${i}`,
        chat_id: 'dm:a:b',
        seq: i + 1,
        created_at: 1,
      })),
    ),
  });
  assert.deepEqual(
    (await Promise.all(sends)).map((a) => a.seq),
    [1, 2, 3],
  );
  await c.close();
});

test('send resolves with its ack, rejects with the error for its client_msg_id', async () => {
  const { c, s } = await connected();
  const a = c.send('dm:a:b', 'one');
  const b = c.send('dm:a:b', 'two');
  const [f1, f2] = (await flushed(s)).sentOf('send_message') as { client_msg_id: string; content: string }[];
  assert.match(f1!.client_msg_id, /^[0-9a-f-]{36}$/);
  assert.equal(f2!.content, 'two');
  s.receive({ type: 'error', code: 'content_too_long', message: 'too long', client_msg_id: f2!.client_msg_id });
  s.receive({ type: 'ack_sent', client_msg_id: f1!.client_msg_id, message_id: 'm1', chat_id: 'dm:a:b', seq: 7, created_at: 1 });
  s.receive({ type: 'ack_sent', client_msg_id: f1!.client_msg_id, message_id: 'm1', chat_id: 'dm:a:b', seq: 7, created_at: 1 });
  assert.equal((await a).seq, 7);
  await assert.rejects(b, (err) => err instanceof SendError && err.code === 'content_too_long');
  // Too long to be worth sending (it could exceed the frame limit): refused locally.
  await assert.rejects(c.send('dm:a:b', 'x'.repeat(100_001)), (err) => err instanceof SendError && err.code === 'content_too_long');
  assert.equal((await flushed(s)).sentOf('send_message').length, 2);
  await c.close();
});

test('reconnects with backoff and resends unacknowledged sends in order with the same client_msg_id', async () => {
  const net = fakeNetwork();
  const c = client(net, { random: () => 0.5, backoff: { baseMs: 20, capMs: 40 } });
  const disconnects: { willReconnect: boolean; retryInMs?: number }[] = [];
  c.on('disconnected', (d) => disconnects.push(d));
  const p = c.connect();
  const s1 = await net.next();
  s1.open();
  await p;
  const sends = [c.send('c', 'a'), c.send('c', 'b')];
  const first = (await flushed(s1)).sentOf('send_message').map((f) => f.client_msg_id);
  s1.receive({ type: 'ack_sent', client_msg_id: first[0], message_id: 'm1', chat_id: 'c', seq: 1, created_at: 1 });
  s1.serverClose(4000, 'shutting down');
  sends.push(c.send('c', 'c')); // while disconnected
  assert.equal(disconnects[0]?.willReconnect, true);
  assert.equal(disconnects[0]?.retryInMs, 10);
  const s2 = await net.next();
  // Handshake fails once (server still down): next delay grows.
  s2.serverClose(1006);
  await tick(5);
  assert.equal(disconnects[1]?.retryInMs, 20);
  const s3 = await net.next();
  s3.open();
  const resent = (await flushed(s3)).sentOf('send_message') as { client_msg_id: string; content: string }[];
  assert.deepEqual(
    resent.map((f) => f.content),
    ['b', 'c'],
  );
  assert.equal(resent[0]!.client_msg_id, first[1]);
  for (const [i, f] of resent.entries())
    s3.receive({ type: 'ack_sent', client_msg_id: f.client_msg_id, message_id: `m${i + 2}`, chat_id: 'c', seq: i + 2, created_at: 1 });
  const acks = await Promise.all(sends);
  assert.deepEqual(
    acks.map((a) => a.seq),
    [1, 2, 3],
  );
  await c.close();
});

test('re-subscribes presence and flushes an offline read cursor after reconnect', async () => {
  const net = fakeNetwork();
  const c = client(net, { backoff: { baseMs: 1, capMs: 1 } });
  const p = c.connect();
  const s1 = await net.next();
  s1.open();
  await p;
  c.subscribePresence(['u1', 'u2']);
  assert.deepEqual((await flushed(s1)).sentOf('presence_subscribe')[0]!.user_ids, ['u1', 'u2']);
  s1.serverClose(1006);
  c.markRead('c', 'm1');
  c.markRead('c', 'm2');
  c.typing('c', 'composing'); // dropped while offline
  const s2 = await net.next();
  s2.open();
  assert.deepEqual((await flushed(s2)).sentOf('presence_subscribe')[0]!.user_ids, ['u1', 'u2']);
  assert.deepEqual((await flushed(s2)).sentOf('ack_read'), [{ type: 'ack_read', chat_id: 'c', last_read_message_id: 'm2' }]);
  assert.equal((await flushed(s2)).sentOf('typing').length, 0);
  await c.close();
});

test('a read made while the socket closes, or queued as it goes, is sent after the reconnect', async () => {
  const { net, c, s: s1 } = await connected({ backoff: { baseMs: 1, capMs: 1 } });
  // Queued in this turn, and the socket is gone before the turn's frames leave.
  c.markRead('a', 'm1');
  s1.readyState = 3;
  await Promise.resolve();
  assert.equal(s1.sentOf('ack_read').length, 0);
  // Closing, before its close event: the client still counts itself open.
  c.markRead('b', 'm2');
  assert.equal((await flushed(s1)).sentOf('ack_read').length, 0);
  s1.serverClose(1006);
  const s2 = await net.next();
  s2.open();
  const reads = (await flushed(s2)).sentOf('ack_read');
  assert.deepEqual(reads.map((f) => [f.chat_id, f.last_read_message_id]).sort(), [
    ['a', 'm1'],
    ['b', 'm2'],
  ]);
  await c.close();
});

test('does not reconnect after 4100 and rejects pending sends', async () => {
  const net = fakeNetwork();
  const c = client(net, { backoff: { baseMs: 1, capMs: 1 } });
  const p = c.connect();
  const s = await net.next();
  s.open();
  await p;
  const pending = c.send('c', 'x');
  const gone = c.waitFor('disconnected');
  s.serverClose(4100, 'revoked');
  assert.equal((await gone).willReconnect, false);
  await assert.rejects(pending, ClientClosedError);
  await tick(20);
  assert.equal(net.sockets.length, 1);
  assert.equal(c.state, 'closed');
});

test('stops when a refused handshake turns out to be a rejected token', async () => {
  const net = fakeNetwork();
  const c = client(net, { fetch: ticketFetch({ 'GET /v1/users/me': [401, { error: 'unauthorized' }] }) });
  const p = c.connect();
  const s = await net.next();
  s.serverClose(1006);
  await assert.rejects(p, ClientClosedError);
  assert.equal(c.state, 'closed');
  assert.equal(net.sockets.length, 1);
});

test('stops without opening a socket when the ticket request says the token is rejected', async () => {
  const net = fakeNetwork();
  const c = client(net, { fetch: fakeFetch(401, { error: 'unauthorized' }) });
  await assert.rejects(c.connect(), ClientClosedError);
  assert.equal(c.state, 'closed');
  assert.equal(net.sockets.length, 0);
});

test('each reconnect asks for a new ticket; a failed ticket request is retried; a server without tickets gets access_token', async () => {
  const net = fakeNetwork();
  const fetch = ticketFetch();
  const c = client(net, { fetch, backoff: { baseMs: 1, capMs: 1 } });
  const p = c.connect();
  const s1 = await net.next();
  s1.open();
  await p;
  s1.serverClose(1006);
  const s2 = await net.next();
  assert.equal(s2.url, 'ws://example.test/v1/ws?batch=1&ticket=ticket-2');
  await c.close();

  let failures = 1;
  const flaky = ticketFetch();
  const flakyFetch: typeof flaky = Object.assign(async (input: string, init?: { method?: string }) => {
    if (init?.method === 'POST' && failures-- > 0) throw new TypeError('fetch failed');
    return flaky(input, init);
  }, flaky);
  const c2 = client(net, { fetch: flakyFetch, backoff: { baseMs: 1, capMs: 1 } });
  const p2 = c2.connect();
  const s3 = await net.next();
  assert.equal(s3.url, 'ws://example.test/v1/ws?batch=1&ticket=ticket-1', 'the retry fetched a ticket');
  s3.open();
  await p2;
  await c2.close();

  const old = client(net, { fetch: ticketFetch({ 'POST /v1/ws-tickets': [404, { error: 'not_found' }] }) });
  const p3 = old.connect();
  const s4 = await net.next();
  assert.equal(s4.url, 'ws://example.test/v1/ws?batch=1&access_token=tok%20en');
  s4.open();
  await p3;
  await old.close();
});

test('authHeader: the token goes in an Authorization header (the ws package), not in the URL', async () => {
  const seen: { url: string; options: unknown }[] = [];
  const net = fakeNetwork();
  class WithOptions extends (net.WebSocket as unknown as new (url: string) => import('./fake-socket.test-support.js').FakeSocket) {
    constructor(url: string, options?: unknown) {
      super(url);
      seen.push({ url, options });
    }
  }
  const fetch = ticketFetch();
  const c = client(net, { WebSocket: WithOptions, authHeader: true, fetch });
  const p = c.connect();
  const s = await net.next();
  assert.equal(s.url, 'ws://example.test/v1/ws?batch=1');
  assert.deepEqual(seen[0]!.options, { headers: { authorization: 'Bearer tok en' } });
  assert.deepEqual(fetch.tickets, [], 'no ticket fetched');
  s.open();
  await p;
  await c.close();
});

test('pings while connected and replaces a silent socket', async () => {
  const net = fakeNetwork();
  const c = client(net, { pingIntervalMs: 10, staleAfterMs: 35, backoff: { baseMs: 1, capMs: 1 } });
  const p = c.connect();
  const s1 = await net.next();
  s1.open();
  await p;
  await tick(25);
  assert.ok((await flushed(s1)).sentOf('ping').length >= 1);
  const hold = setInterval(() => {}, 1000); // a real socket would keep the process alive
  const s2 = await net.next();
  clearInterval(hold);
  assert.notEqual(s1, s2);
  await c.close();
});

test('close() during a reconnect (while it asks for the current ws_url) opens no socket afterwards', async () => {
  const net = fakeNetwork();
  let release: () => void = () => {};
  let held = 0;
  const fetch: FetchLike = async (input) => {
    if (String(input).endsWith('/v1/sessions/current')) {
      held++;
      await new Promise<void>((resolve) => (release = resolve));
    }
    return { status: 200, ok: true, text: async () => '{}' };
  };
  const c = new SwitchboardClient({
    baseUrl: 'http://example.test',
    token: 't',
    userId: 'u1',
    deviceId: 'd1',
    WebSocket: net.WebSocket,
    fetch,
    authHeader: true,
    random: () => 0,
  });
  const p = c.connect();
  (await net.next()).open();
  await p;
  net.sockets[0]!.serverClose(1006);
  for (let i = 0; i < 50 && held === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(held, 1, 'the reconnect is asking for the current ws_url');
  await c.close();
  release();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(net.sockets.length, 1, 'no socket opened after close()');
  assert.equal(c.state, 'closed');
});

/** A client connected to a fake server socket (the test plays the server). */
async function connected(extra: Parameters<typeof client>[1] = {}) {
  const net = fakeNetwork();
  const c = client(net, extra);
  const p = c.connect();
  const s = await net.next();
  s.open();
  await p;
  return { net, c, s };
}

/** A fetch answering each call with the next of `answers` (the last one again when they run out), noting when each came. */
function scriptedFetch(answers: [number, unknown][]): FetchLike & { at: number[] } {
  const at: number[] = [];
  const fn: FetchLike = async () => {
    const [status, body] = answers[Math.min(at.length, answers.length - 1)]!;
    at.push(Date.now());
    return { status, ok: status >= 200 && status < 300, text: async () => JSON.stringify(body) };
  };
  return Object.assign(fn, { at });
}

const limited = (ms: number): [number, unknown] => [429, { error: 'rate_limited', message: 'slow down', retry_after_ms: ms }];
const isRateLimited = (e: unknown) => e instanceof SwitchboardHttpError && e.status === 429 && e.code === 'rate_limited';

test('a call refused with 429 rate_limited is made again after retry_after_ms and resolves with the later answer', async () => {
  const f = scriptedFetch([limited(80), limited(40), [200, { key_packages: [], missing: [] }]]);
  const api = new SwitchboardApi('http://example.test', 'tok', f);
  const out = await retryRateLimited(() => api.request('POST', '/v1/mls/key-packages/claim', { user_ids: ['u1'] }));
  assert.deepEqual(out, { key_packages: [], missing: [] });
  assert.equal(f.at.length, 3);
  assert.ok(f.at[1]! - f.at[0]! >= 75, `waited ${f.at[1]! - f.at[0]!} ms for 80`);
  assert.ok(f.at[2]! - f.at[1]! >= 35, `waited ${f.at[2]! - f.at[1]!} ms for 40`);
});

test('a 429 past the attempts, or asking for a longer wait than the cap, surfaces; other errors are not retried', async () => {
  const always = scriptedFetch([limited(10)]);
  const api = new SwitchboardApi('http://example.test', 'tok', always);
  await assert.rejects(
    retryRateLimited(() => api.request('POST', '/v1/chats/c/mls/commits', {}), { attempts: 3 }),
    isRateLimited,
  );
  assert.equal(always.at.length, 3);

  const long = scriptedFetch([limited(600_000), [200, {}]]);
  const started = Date.now();
  await assert.rejects(
    retryRateLimited(() => new SwitchboardApi('http://example.test', 'tok', long).request('POST', '/v1/mls/key-packages/claim', {})),
    isRateLimited,
  );
  assert.equal(long.at.length, 1, 'a 10-minute wait is not waited (30 s cap): it would only meet the limit again');
  assert.ok(Date.now() - started < 1000);

  for (const answer of [
    [409, { error: 'stale_epoch', epoch: 3 }],
    [429, { error: 'too_many_connections' }],
    [500, { error: 'internal' }],
  ] as [number, unknown][]) {
    const once = scriptedFetch([answer, [200, {}]]);
    await assert.rejects(retryRateLimited(() => new SwitchboardApi('http://example.test', 'tok', once).request('GET', '/x')));
    assert.equal(once.at.length, 1, JSON.stringify(answer));
  }
});

test('aborting the signal ends a rate-limit wait with the 429', async () => {
  const f = scriptedFetch([limited(20_000), [200, {}]]);
  const ctl = new AbortController();
  const call = retryRateLimited(() => new SwitchboardApi('http://example.test', 'tok', f).request('GET', '/v1/mls/welcomes'), {
    signal: ctl.signal,
  });
  await tick(20);
  const started = Date.now();
  ctl.abort();
  await assert.rejects(call, isRateLimited);
  assert.ok(Date.now() - started < 1000);
  assert.equal(f.at.length, 1);
});
