import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { directChatId, MAX_BATCH_FRAMES } from '@switchboard/protocol';
import { http, registerUser, suiteServer, TestSocket, type TestUser } from '../testing/harness.js';

/*
 * PROTOCOL.md "Batching": a socket opened with ?batch=1 may send a JSON array of client
 * frames (at most 100), handled in order as if each came alone; a longer one is refused whole
 * with invalid_frame. Without ?batch=1 an array is refused. The server, for its part, may
 * put the frames of one tick to such a socket in one array.
 */

const { srv, ready, open, track } = suiteServer();
let alice: TestUser;
let bob: TestUser;

before(async () => {
  await ready();
  alice = await registerUser(srv.baseUrl, 'batch_a');
  bob = await registerUser(srv.baseUrl, 'batch_b');
});

async function openBatch(u: TestUser): Promise<TestSocket> {
  const sock = track(await TestSocket.connect(`${srv.wsUrl}?batch=1`, u.token));
  await sock.next('sync_complete', 10_000);
  return sock;
}

async function history(u: TestUser, chatId: string): Promise<Array<Record<string, any>>> {
  const res = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chatId)}/messages?limit=200`, { token: u.token });
  assert.equal(res.status, 200);
  return res.body.messages;
}

describe('batching', () => {
  it('handles an array of frames in order, each answered as if sent alone', async () => {
    const dm = directChatId(alice.user_id, bob.user_id);
    const sa = await openBatch(alice);
    const sb = await open(bob);
    const frames = Array.from({ length: 5 }, (_, i) => ({
      type: 'send_message',
      chat_id: dm,
      client_msg_id: `b-in-order-${i}`,
      content: `m${i}`,
    }));
    sa.send([...frames, { type: 'ping' }]);
    const acks = [];
    for (let i = 0; i < 5; i++) acks.push(await sa.next('ack_sent', 5000));
    assert.deepEqual(
      acks.map((a) => a.client_msg_id),
      frames.map((f) => f.client_msg_id),
    );
    for (let i = 1; i < acks.length; i++) assert.ok(acks[i]!.seq > acks[i - 1]!.seq, 'seqs follow the batch order');
    // The ping was handled too (its pong may come before the acks: a ping waits for no send).
    assert.ok(
      sa.frames.some((f) => f.type === 'pong'),
      'the ping in the batch was answered',
    );
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await sb.next('new_message', 5000));
    assert.deepEqual(
      got.map((m) => m.content),
      ['m0', 'm1', 'm2', 'm3', 'm4'],
    );
  });

  it('answers a bad frame inside a batch on its own and handles the others', async () => {
    const dm = directChatId(alice.user_id, bob.user_id);
    const sa = await openBatch(alice);
    sa.send([
      { type: 'send_message', chat_id: dm, client_msg_id: 'b-mixed-1', content: 'first' },
      { type: 'send_message', chat_id: dm, client_msg_id: 'b-mixed-bad' },
      { type: 'send_message', chat_id: dm, client_msg_id: 'b-mixed-2', content: 'second' },
    ]);
    const err = await sa.next('error', 5000);
    assert.equal(err.code, 'invalid_frame');
    assert.equal(err.client_msg_id, 'b-mixed-bad');
    const a1 = await sa.next('ack_sent', 5000);
    const a2 = await sa.next('ack_sent', 5000);
    assert.deepEqual([a1.client_msg_id, a2.client_msg_id], ['b-mixed-1', 'b-mixed-2']);
  });

  it(`refuses an array of more than ${MAX_BATCH_FRAMES} frames whole, storing none of it`, async () => {
    const dm = directChatId(alice.user_id, bob.user_id);
    const sa = await openBatch(alice);
    const frames = Array.from({ length: MAX_BATCH_FRAMES + 1 }, (_, i) => ({
      type: 'send_message',
      chat_id: dm,
      client_msg_id: `b-long-${i}`,
      content: `long ${i}`,
    }));
    sa.send(frames);
    const err = await sa.next('error', 5000);
    assert.equal(err.code, 'invalid_frame');
    sa.send({ type: 'ping' });
    await sa.next('pong', 5000);
    assert.equal(sa.frames.filter((f) => f.type === 'ack_sent' && String(f.client_msg_id).startsWith('b-long-')).length, 0);
    const stored = (await history(alice, dm)).filter((m) => String(m.client_msg_id).startsWith('b-long-'));
    assert.deepEqual(stored, [], 'nothing of the refused batch was stored');
    // Exactly the maximum is fine.
    sa.send(frames.slice(0, MAX_BATCH_FRAMES));
    for (let i = 0; i < MAX_BATCH_FRAMES; i++) assert.equal((await sa.next('ack_sent', 10_000)).client_msg_id, `b-long-${i}`);
  });

  it('refuses an array on a socket opened without ?batch=1', async () => {
    const sa = await open(alice);
    sa.send([{ type: 'ping' }]);
    const err = await sa.next('error', 5000);
    assert.equal(err.code, 'invalid_frame');
    assert.match(err.message, /batch=1/);
    sa.send({ type: 'ping' });
    await sa.next('pong', 5000);
    assert.equal(sa.frames.filter((f) => f.type === 'pong').length, 1, 'the array held a ping that was not answered');
  });

  it('sends the frames of one tick to a ?batch=1 socket as one array, in order, and one frame per message to others', async () => {
    const dm = directChatId(alice.user_id, bob.user_id);
    const sa = await openBatch(alice);
    const plain = await open(bob);
    const frames = Array.from({ length: 8 }, (_, i) => ({
      type: 'send_message',
      chat_id: dm,
      client_msg_id: `b-out-${i}`,
      content: `o${i}`,
    }));
    // Sent together, committed together: their ack_sents leave in one tick.
    sa.send(frames);
    const acks = [];
    for (let i = 0; i < 8; i++) acks.push(await sa.next('ack_sent', 5000));
    assert.deepEqual(
      acks.map((a) => a.client_msg_id),
      frames.map((f) => f.client_msg_id),
      'acks in order, each once',
    );
    assert.ok(
      sa.arrays.some((n) => n > 1),
      `some frames came as one array (array lengths ${JSON.stringify(sa.arrays)})`,
    );
    // The recipient, without ?batch=1, gets them one per message.
    for (let i = 0; i < 8; i++) await plain.waitFor((f) => f.type === 'new_message' && f.client_msg_id === `b-out-${i}`, 5000, `copy ${i}`);
    assert.deepEqual(plain.arrays, [], 'no arrays without ?batch=1');
  });

  it('a status frame rides with the next frame to a ?batch=1 sender, and still comes within a second of the read (guarantee 6)', async () => {
    const dm = directChatId(alice.user_id, bob.user_id);
    const sa = await openBatch(alice);
    const sb = await open(bob);
    // Each WebSocket message alice gets, as the list of frame types it carried.
    const messages: string[][] = [];
    sa.ws.on('message', (data) => {
      const parsed = JSON.parse(data.toString()) as { type: string } | { type: string }[];
      messages.push((Array.isArray(parsed) ? parsed : [parsed]).map((f) => f.type));
    });
    for (const [i, pinging] of [false, true].entries()) {
      sa.send({ type: 'send_message', chat_id: dm, client_msg_id: `ride-${i}`, content: `ride ${i}` });
      const ack = await sa.next('ack_sent', 5000);
      await sb.waitFor((f) => f.type === 'new_message' && f.message_id === ack.message_id, 5000, 'the copy');
      const from = sa.frames.length;
      const first = messages.length;
      const sent = Date.now();
      sb.send({ type: 'ack_read', chat_id: dm, last_read_message_id: ack.message_id });
      // With pinging, alice hears from the server every 50 ms (pongs) meanwhile.
      const pings = pinging ? setInterval(() => sa.send({ type: 'ping' }), 50) : undefined;
      try {
        await sa.waitFor((f) => f.type === 'status_update' && f.status === 'read' && f.seq === ack.seq, 5000, 'read status', from);
      } finally {
        clearInterval(pings);
      }
      const took = Date.now() - sent;
      assert.ok(took <= 1000, `the read status came ${took} ms after the ack_read: guarantee 6 allows a second`);
      const carrying = messages.slice(first).find((m) => m.includes('status_update'))!;
      if (pinging) assert.deepEqual(carrying, ['status_update', 'pong'], "it went first in a pong's message");
      else assert.deepEqual(carrying, ['status_update'], 'with nothing else to ride with, it went alone');
    }
  });
});
