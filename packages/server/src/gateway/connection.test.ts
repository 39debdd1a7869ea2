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

const message = (seq: number) => ({
  kind: 'message' as const,
  frame: JSON.stringify({ type: 'new_message', chat_id: 'dm:a:b', seq }),
  chatId: 'dm:a:b',
  seq,
  messageId: `m${seq}`,
  senderId: 'b',
});

test('a live message right above this device own send in flight waits for its ack instead of reading the store', () => {
  const { ws, sent } = fakeSocket();
  let reads = 0;
  const conn = new Connection(ws, 'a', 'dev-a', {
    maxBufferBytes: 1 << 20,
    stalledTimeoutMs: 30_000,
    metrics: createMetrics(),
    fetchRange: async () => (reads++, []),
    onError: () => {},
  });
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
  assert.equal(reads, 0, 'no store read');

  // With nothing of its own in flight, a gap is filled from the store.
  conn.deliver(message(5));
  assert.equal(reads, 1);
});
