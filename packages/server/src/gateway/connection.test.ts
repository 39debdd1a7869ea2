import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { createMetrics } from '../util/metrics.js';
import { Connection } from './connection.js';

/** A socket that records what is written to it. */
function fakeSocket() {
  const sent: string[] = [];
  const ws = { readyState: WebSocket.OPEN, bufferedAmount: 0, send: (text: string) => sent.push(text), close: () => {} };
  return { ws: ws as unknown as WebSocket, sent };
}

/** A connection on a fake socket whose store reads (gap fills) are counted in `store.reads`. */
function connectionCountingReads() {
  const { ws, sent } = fakeSocket();
  const store = { reads: 0 };
  const conn = new Connection(ws, 'a', 'dev-a', {
    maxBufferBytes: 1 << 20,
    stalledTimeoutMs: 30_000,
    metrics: createMetrics(),
    fetchRange: async () => (store.reads++, []),
    onError: () => {},
  });
  return { sent, conn, store };
}

const message = (seq: number) => ({
  kind: 'message' as const,
  frame: JSON.stringify({ type: 'new_message', chat_id: 'dm:a:b', seq }),
  chatId: 'dm:a:b',
  seq,
  messageId: `m${seq}`,
  senderId: 'b',
});

test('a live message right above this device own send in flight waits for its ack instead of reading the store', () => {
  const { sent, conn, store } = connectionCountingReads();
  conn.release(); // the connect-time replay is done
  conn.deliver(message(1));
  assert.equal(sent.length, 1);

  // a sends (seq 2 once committed); b's seq 3 overtakes a's ack.
  conn.sendStarted('dm:a:b');
  conn.deliver(message(3));
  assert.equal(sent.length, 1, 'held until the own send is acknowledged');
  conn.noteOwnMessage('dm:a:b', 2);
  conn.sendSettled('dm:a:b');
  assert.deepEqual(
    sent.map((s) => (JSON.parse(s) as { seq: number }).seq),
    [1, 3],
  );
  assert.equal(store.reads, 0, 'no store read');

  // With nothing of its own in flight, a gap is filled from the store.
  conn.deliver(message(5));
  assert.equal(store.reads, 1);
});

test('parked messages are bounded per socket like held ones (4 MB), not only per chat', async () => {
  const { conn, store } = connectionCountingReads();
  conn.release();
  // A client keeps a send in flight in each of many chats, each with a gap below the
  // partner's (large) messages: every one of them would be parked, 256 per chat.
  const big = 'x'.repeat(64 * 1024);
  const chats = Array.from({ length: 8 }, (_, i) => `dm:a:p${i}`);
  for (const chat of chats) {
    conn.deliver({ kind: 'message', frame: '{}', chatId: chat, seq: 1, messageId: `${chat}-1`, senderId: 'p' });
    conn.sendStarted(chat);
  }
  for (let seq = 3; seq < 3 + 40; seq++)
    for (const chat of chats) conn.deliver({ kind: 'message', frame: big, chatId: chat, seq, messageId: `${chat}-${seq}`, senderId: 'p' });
  // 8 chats x 40 x 64 KiB = 20 MiB live messages: past 4 MiB they are read from the store instead.
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(store.reads >= 1, `store reads: ${store.reads}`);
});

test('?batch=1: a status frame waits for the next frame to the socket and goes first in its message, or alone when its time is up', async () => {
  const { sent, conn } = connectionCountingReads();
  conn.batch = true;
  conn.release();
  const tick = () => new Promise<void>((r) => setImmediate(r));
  const status = (seq: number) => ({
    kind: 'frame' as const,
    frame: JSON.stringify({ type: 'status_update', chat_id: 'dm:a:b', seq, status: 'read' }),
    rideMs: 60_000,
  });

  conn.deliver(status(1));
  await tick();
  assert.equal(sent.length, 0, 'held: nothing else was written');
  conn.sendFrame({ type: 'pong' });
  await tick();
  assert.deepEqual(
    sent.map((s) => JSON.parse(s)),
    [[{ type: 'status_update', chat_id: 'dm:a:b', seq: 1, status: 'read' }, { type: 'pong' }]],
    'one message: the status first, then the frame it rode with',
  );

  // Written in a tick that writes anyway: it joins that tick's message at once.
  conn.sendFrame({ type: 'pong' });
  conn.deliver(status(2));
  await tick();
  assert.equal(sent.length, 2);
  assert.deepEqual(
    (JSON.parse(sent[1]!) as { type: string }[]).map((f) => f.type),
    ['pong', 'status_update'],
  );

  // Alone: it goes when its time is up.
  conn.deliver({ ...status(3), rideMs: 30 });
  await tick();
  assert.equal(sent.length, 2);
  await new Promise((r) => setTimeout(r, 60));
  await tick();
  assert.equal(sent.length, 3);
  assert.equal((JSON.parse(sent[2]!) as { seq: number }).seq, 3);

  // Without rideMs (or without ?batch=1) nothing waits.
  conn.deliver({ kind: 'frame', frame: JSON.stringify({ type: 'typing', chat_id: 'dm:a:b' }) });
  await tick();
  assert.equal(sent.length, 4);
});
