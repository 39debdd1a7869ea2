import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { DEFAULT_LIMITS } from '../core/limit-settings.js';
import { http, login, sleep, suiteServer, type TestUser } from '../testing/harness.js';
import { TestStream, type StreamMode } from '../testing/event-stream.js';

/*
 * PROTOCOL.md "Without WebSockets": GET /v1/events as Server-Sent Events and as long
 * polling, POST /v1/events/{stream_id} for client frames. A stream is a socket in every
 * respect; each rule is checked over real HTTP in both modes of the stream, against a
 * WebSocket on the other end.
 */

type Frame = Record<string, any> & { type: string };

const POLL_WAIT_MS = 800;
const IDLE_MS = 2000;

for (const mode of ['sse', 'poll'] as StreamMode[]) {
  describe(`GET /v1/events (${mode === 'sse' ? 'Server-Sent Events' : 'long polling'})`, () => {
    const { srv, open, users } = suiteServer({ eventsPollWaitMs: POLL_WAIT_MS, eventsIdleMs: IDLE_MS, eventsCommentMs: 300 });
    const streams: TestStream[] = [];
    const stream = async (u: TestUser) => {
      const s = await TestStream.open(srv.baseUrl, u.token, mode);
      streams.push(s);
      return s;
    };
    const synced = (s: TestStream) => s.waitFor((f) => f.type === 'sync_complete', 10_000, 'sync_complete');

    test('live delivery both ways, acks and receipts, with a WebSocket on the other end', async () => {
      const [a, b] = await users(2, `ev${mode}`);
      const chat = directChatId(a!.user_id, b!.user_id);
      const sa = await stream(a!);
      assert.equal(sa.frames[0]!.type, 'stream');
      assert.match(sa.streamId, /\S{16,}/);
      await synced(sa);
      const sb = await open(b!);

      // Socket to stream.
      const ackB = await sb.sendMessage(chat, 'to the stream');
      assert.equal(ackB.type, 'ack_sent');
      const got = await sa.waitFor((f) => f.type === 'new_message' && f.message_id === ackB.message_id, 5000, 'new_message on the stream');
      assert.equal(got.content, 'to the stream');
      assert.equal(got.seq, ackB.seq);

      // Stream to socket: the POST answers 202, the ack comes on the stream.
      const clientMsgId = `ev-${mode}-1`;
      const status = await sa.post({ type: 'send_message', chat_id: chat, client_msg_id: clientMsgId, content: 'from the stream' });
      assert.equal(status, 202);
      const ackA = await sa.waitFor((f) => f.type === 'ack_sent' && f.client_msg_id === clientMsgId, 5000, 'ack_sent on the stream');
      const atB = await sb.waitFor((f) => f.type === 'new_message' && f.message_id === ackA.message_id, 5000, 'new_message at the socket');
      assert.equal(atB.content, 'from the stream');

      // A repeated send is idempotent (guarantee 2): the same ack.
      await sa.post({ type: 'send_message', chat_id: chat, client_msg_id: clientMsgId, content: 'from the stream' });
      await sa.waitFor((f) => f.type === 'ack_sent' && f.client_msg_id === clientMsgId, 5000, 'second ack', sa.frames.indexOf(ackA) + 1);
      const acks = sa.all('ack_sent').filter((f) => f.client_msg_id === clientMsgId);
      assert.equal(acks.length, 2);
      assert.equal(acks[1]!.message_id, ackA.message_id);

      // ack_delivered and ack_read from the stream reach the sender as status_updates.
      await sa.post({ type: 'ack_delivered', message_id: ackB.message_id });
      await sb.waitFor(
        (f) => f.type === 'status_update' && f.message_id === ackB.message_id && f.status === 'delivered',
        5000,
        'delivered',
      );
      await sa.post({ type: 'ack_read', chat_id: chat, last_read_message_id: ackB.message_id });
      await sb.waitFor((f) => f.type === 'status_update' && f.message_id === ackB.message_id && f.status === 'read', 5000, 'read');

      // Typing, both ways.
      await sa.post({ type: 'typing', chat_id: chat, state: 'composing' });
      await sb.waitFor((f) => f.type === 'typing' && f.user_id === a!.user_id, 5000, 'typing at the socket');
      sb.send({ type: 'typing', chat_id: chat, state: 'composing' });
      await sa.waitFor((f) => f.type === 'typing' && f.user_id === b!.user_id, 5000, 'typing on the stream');

      // ping / pong.
      await sa.post({ type: 'ping' });
      await sa.waitFor((f) => f.type === 'pong', 5000, 'pong');
    });

    test('a POST may carry an array of frames, answered in order; a bad frame is answered on the stream, which stays open', async () => {
      const [a, b] = await users(2, `eb${mode}`);
      const chat = directChatId(a!.user_id, b!.user_id);
      const sa = await stream(a!);
      await synced(sa);
      const ids = [1, 2, 3].map((i) => `eb-${mode}-${i}`);
      const status = await sa.post(ids.map((id) => ({ type: 'send_message', chat_id: chat, client_msg_id: id, content: id })));
      assert.equal(status, 202);
      for (const id of ids) await sa.waitFor((f) => f.type === 'ack_sent' && f.client_msg_id === id, 5000, id);
      const seqs = ids.map((id) => sa.all('ack_sent').find((f) => f.client_msg_id === id)!.seq as number);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        'seqs in the order sent',
      );

      assert.equal(await sa.post('not json'), 202);
      const err = await sa.waitFor((f) => f.type === 'error', 5000, 'error frame');
      assert.equal(err.code, 'invalid_frame');
      assert.equal(await sa.post({ type: 'nonsense' }), 202);
      await sa.waitFor((f) => f.type === 'error' && f.code === 'invalid_frame', 5000, 'second error', sa.frames.indexOf(err) + 1);
      await sa.post({ type: 'ping' });
      await sa.waitFor((f) => f.type === 'pong', 5000, 'still open');
    });

    test('an offline backlog comes in order, then sync_complete; unacknowledged messages come again on the next stream', async () => {
      const [a, b] = await users(2, `eo${mode}`);
      const chat = directChatId(a!.user_id, b!.user_id);
      const sb = await open(b!);
      const sent: Frame[] = [];
      for (let i = 0; i < 300; i++) {
        sb.send({ type: 'send_message', chat_id: chat, client_msg_id: `eo-${mode}-${i}`, content: `backlog ${i}` });
      }
      for (let i = 0; i < 300; i++)
        sent.push(await sb.waitFor((f) => f.type === 'ack_sent' && f.client_msg_id === `eo-${mode}-${i}`, 20_000));

      const sa = await stream(a!);
      const sync = await synced(sa);
      const before = sa.frames.slice(0, sa.frames.indexOf(sync)).filter((f) => f.type === 'new_message');
      assert.deepEqual(
        before.map((f) => f.seq),
        sent.map((f) => f.seq),
        'every message owed, in seq order, before sync_complete',
      );
      // Not acknowledged: a new stream gets them again (at least once).
      sa.stop();
      await sleep(100);
      const again = await stream(a!);
      const sync2 = await synced(again);
      const replayed = again.frames.slice(0, again.frames.indexOf(sync2)).filter((f) => f.type === 'new_message');
      assert.equal(replayed.length, 300, 'redelivered until acknowledged');
      // Acknowledged: the next stream owes nothing.
      await again.post({ type: 'ack_delivered', message_ids: replayed.map((f) => f.message_id) });
      await sb.waitFor((f) => f.type === 'status_update' && f.message_id === sent[299]!.message_id, 5000, 'delivered');
      again.stop();
      await sleep(100);
      const third = await stream(a!);
      const sync3 = await synced(third);
      assert.equal(third.frames.slice(0, third.frames.indexOf(sync3)).filter((f) => f.type === 'new_message').length, 0);
    });

    test('presence: a stream makes its user online; once it ends the user is offline', async () => {
      const [a, b] = await users(2, `ep${mode}`);
      const sb = await open(b!);
      await sb.sendMessage(directChatId(a!.user_id, b!.user_id), 'hi'); // they share a chat: b may watch a
      sb.send({ type: 'presence_subscribe', user_ids: [a!.user_id] });
      await sb.waitFor((f) => f.type === 'presence' && f.user_id === a!.user_id && f.online === false, 5000, 'offline at first');
      const sa = await stream(a!);
      await sb.waitFor((f) => f.type === 'presence' && f.user_id === a!.user_id && f.online === true, 5000, 'online');
      // The stream's own presence subscriptions work as on a socket.
      await sa.post({ type: 'presence_subscribe', user_ids: [b!.user_id] });
      const seen = await sa.waitFor((f) => f.type === 'presence' && f.user_id === b!.user_id, 5000, 'presence on the stream');
      assert.equal(seen.online, true);
      // An SSE client that goes away, or a long-poll client that stops polling (after the idle time here): offline.
      const from = sb.frames.length;
      sa.stop();
      await sb.waitFor(
        (f) => f.type === 'presence' && f.user_id === a!.user_id && f.online === false,
        IDLE_MS + 5000,
        'offline after the stream ended',
        from,
      );
    });

    test('a stream counts against the sockets per device limit: 429 with Retry-After past it', async () => {
      const [u] = await users(1, `el${mode}`);
      const open: TestStream[] = [];
      for (let i = 0; i < DEFAULT_LIMITS.socketsPerDevice; i++) open.push(await stream(u!));
      const accept = mode === 'sse' ? 'text/event-stream' : 'application/json';
      const over = await fetch(`${srv.baseUrl}/v1/events`, { headers: { authorization: `Bearer ${u!.token}`, accept } });
      assert.equal(over.status, 429);
      assert.ok(Number(over.headers.get('retry-after')) >= 1);
      const body = (await over.json()) as { error: string; retry_after_ms: number };
      assert.equal(body.error, 'rate_limited');
      assert.ok(body.retry_after_ms > 0);
      // A closed stream gives its place back.
      open[0]!.stop();
      await pollStatus(srv.baseUrl, u!.token, accept, 200, IDLE_MS + 5000);
    });

    test('logout and a revoked device close the stream (4100); its POSTs and polls answer 401 after', async () => {
      const [a] = await users(1, `er${mode}`);
      const sa = await stream(a!);
      await synced(sa);
      assert.equal((await http(srv.baseUrl, 'DELETE', '/v1/sessions/current', { token: a!.token })).status, 204);
      const closed = await Promise.race([sa.closed, sleep(5000).then(() => null)]);
      assert.deepEqual(closed && closed.code, 4100, JSON.stringify(closed));
      const post = await fetch(`${srv.baseUrl}/v1/events/${sa.streamId}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a!.token}` },
        body: '{"type":"ping"}',
      });
      assert.equal(post.status, 401);

      // DELETE /v1/devices/{id} from another device of the user.
      const [u] = await users(1, `ed${mode}`);
      const other = await login(srv.baseUrl, u!.username, u!.password, 'other');
      const su = await stream(u!);
      await synced(su);
      assert.equal((await http(srv.baseUrl, 'DELETE', `/v1/devices/${u!.device_id}`, { token: other.token })).status, 204);
      const closed2 = await Promise.race([su.closed, sleep(5000).then(() => null)]);
      assert.equal(closed2 && closed2.code, 4100);
    });

    test('bad requests: no token 401, a stream of another device 404, an unknown stream 404, an Accept it cannot serve 406', async () => {
      const [a, b] = await users(2, `ex${mode}`);
      const sa = await stream(a!);
      const accept = mode === 'sse' ? 'text/event-stream' : 'application/json';
      assert.equal((await fetch(`${srv.baseUrl}/v1/events`, { headers: { accept } })).status, 401);
      const foreign = await fetch(`${srv.baseUrl}/v1/events/${sa.streamId}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${b!.token}` },
        body: '{"type":"ping"}',
      });
      assert.equal(foreign.status, 404);
      const unknown = await fetch(`${srv.baseUrl}/v1/events/nope.nope`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a!.token}` },
        body: '{"type":"ping"}',
      });
      assert.equal(unknown.status, 404);
      const poll = await fetch(`${srv.baseUrl}/v1/events?stream_id=nope`, {
        headers: { authorization: `Bearer ${a!.token}`, accept: 'application/json' },
      });
      assert.equal(poll.status, 404);
      const html = await fetch(`${srv.baseUrl}/v1/events`, { headers: { authorization: `Bearer ${a!.token}`, accept: 'text/html' } });
      assert.equal(html.status, 406);
    });

    test('a browser opens a stream with a single-use ticket', async () => {
      const [a] = await users(1, `et${mode}`);
      const t = await http(srv.baseUrl, 'POST', '/v1/ws-tickets', { token: a!.token });
      assert.equal(t.status, 201);
      const accept = mode === 'sse' ? 'text/event-stream' : 'application/json';
      const ctl = new AbortController();
      const res = await fetch(`${srv.baseUrl}/v1/events?ticket=${t.body.ticket}`, { headers: { accept }, signal: ctl.signal });
      assert.equal(res.status, 200);
      ctl.abort();
      const again = await fetch(`${srv.baseUrl}/v1/events?ticket=${t.body.ticket}`, { headers: { accept } });
      assert.equal(again.status, 401, 'a ticket is used once');
    });

    if (mode === 'sse') {
      test('SSE: a comment line keeps a quiet stream alive', async () => {
        const [a] = await users(1, 'ec');
        const res = await fetch(`${srv.baseUrl}/v1/events`, {
          headers: { authorization: `Bearer ${a!.token}`, accept: 'text/event-stream' },
        });
        assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
        const reader = res.body!.getReader();
        let text = '';
        const deadline = Date.now() + 5000;
        while (!text.includes('\n: ') && !text.startsWith(': ') && Date.now() < deadline) {
          const { value, done } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
        await reader.cancel();
        assert.match(text, /^data: \{"type":"stream","stream_id":"[^"]+"\}\n\n/);
        assert.match(text, /\n: keep-alive\n\n/);
      });
    } else {
      test('long polling: a poll with nothing to say answers {frames:[]} after the wait; one not polled is closed', async () => {
        const [a] = await users(1, 'ew');
        const sa = await stream(a!);
        await synced(sa);
        sa.stop();
        const headers = { authorization: `Bearer ${a!.token}`, accept: 'application/json' };
        const started = Date.now();
        const res = await fetch(`${srv.baseUrl}/v1/events?stream_id=${sa.streamId}`, { headers });
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { frames: [] });
        assert.ok(Date.now() - started >= POLL_WAIT_MS - 50, `answered after ${Date.now() - started} ms`);
        // Not polled for the idle time: closed (told once, then gone).
        await sleep(IDLE_MS + 1500);
        const after = await fetch(`${srv.baseUrl}/v1/events?stream_id=${sa.streamId}`, { headers });
        if (after.status === 200) {
          const body = (await after.json()) as { closed?: { code: number } };
          assert.equal(body.closed?.code, 4002, JSON.stringify(body));
          const gone = await fetch(`${srv.baseUrl}/v1/events?stream_id=${sa.streamId}`, { headers });
          assert.equal(gone.status, 404);
        } else assert.equal(after.status, 404);
      });
    }

    after(() => {
      for (const s of streams) s.stop();
    });
  });
}

async function pollStatus(baseUrl: string, token: string, accept: string, want: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    const ctl = new AbortController();
    const res = await fetch(`${baseUrl}/v1/events`, { headers: { authorization: `Bearer ${token}`, accept }, signal: ctl.signal });
    last = res.status;
    ctl.abort();
    if (last === want) return;
    await sleep(100);
  }
  assert.fail(`GET /v1/events answered ${last}, not ${want}, for ${timeoutMs} ms`);
}
