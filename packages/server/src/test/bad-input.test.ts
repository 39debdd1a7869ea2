import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { directChatId } from '@switchboard/protocol';
import { http, registerUser, sleep, suiteServer, TestSocket, type TestUser } from '../testing/harness.js';

/*
 * Acceptance tests for bad input on the socket (PROTOCOL.md, "The socket" and error
 * codes): every bad frame gets an `error` frame and the socket stays open; sends that
 * break a rule fail with the documented code and the frame's client_msg_id; a frame over
 * 1 MiB closes the socket with 1009; none of it disturbs anyone else.
 *
 * Choices where the protocol leaves room (what a client would expect):
 * - a dm id naming the sender and a user that does not exist, or a chat id that is not
 *   well formed ("hello", "dm:x", a dm id not in canonical min:max order), is
 *   `chat_not_found`;
 * - a well-formed dm between two other users is `not_a_member`.
 */

const { srv, ready, open } = suiteServer();
let alice: TestUser;
let bob: TestUser;
let xavier: TestUser;
let yvonne: TestUser;
let sa: TestSocket;

/** Sends a frame, expects an error frame with `code`, then checks the socket still answers ping. */
async function expectError(sock: TestSocket, frame: unknown, code: string, label: string): Promise<Record<string, any>> {
  sock.send(frame);
  const err = await sock.next('error', 5000).catch((e: Error) => assert.fail(`${label}: no error frame (${e.message})`));
  assert.equal(err.code, code, `${label}: ${JSON.stringify(err)}`);
  assert.equal(typeof err.message, 'string', `${label}: error has a message`);
  await stillOpen(sock, label);
  return err;
}

async function stillOpen(sock: TestSocket, label: string): Promise<void> {
  assert.equal(sock.closeCode, null, `${label}: socket was closed`);
  sock.send({ type: 'ping' });
  await sock.next('pong', 5000).catch((e: Error) => assert.fail(`${label}: no pong after the bad frame (${e.message})`));
}

before(async () => {
  await ready();
  alice = await registerUser(srv.baseUrl, 'bad_a');
  bob = await registerUser(srv.baseUrl, 'bad_b');
  xavier = await registerUser(srv.baseUrl, 'bad_x');
  yvonne = await registerUser(srv.baseUrl, 'bad_y');
  sa = await open(alice);
});

describe('malformed frames', () => {
  const dm = () => directChatId(alice.user_id, bob.user_id);

  it('answers invalid_frame to text that is not JSON', async () => {
    await expectError(sa, 'hello there', 'invalid_frame', 'plain text');
    await expectError(sa, '{"type":"ping"', 'invalid_frame', 'truncated JSON');
    await expectError(sa, '', 'invalid_frame', 'empty frame');
  });

  it('answers invalid_frame to JSON that is not an object', async () => {
    await expectError(sa, '[]', 'invalid_frame', 'empty array');
    await expectError(sa, '[{"type":"ping"}]', 'invalid_frame', 'array holding a ping');
    await expectError(sa, '"ping"', 'invalid_frame', 'string');
    await expectError(sa, '42', 'invalid_frame', 'number');
    await expectError(sa, 'null', 'invalid_frame', 'null');
    await expectError(sa, 'true', 'invalid_frame', 'boolean');
  });

  it('answers invalid_frame to a missing or unknown type', async () => {
    await expectError(sa, {}, 'invalid_frame', 'empty object');
    await expectError(sa, { chat_id: dm(), content: 'hi' }, 'invalid_frame', 'no type');
    await expectError(sa, { type: 'launch_missiles' }, 'invalid_frame', 'unknown type');
    await expectError(sa, { type: 42 }, 'invalid_frame', 'numeric type');
    await expectError(sa, { type: null }, 'invalid_frame', 'null type');
    await expectError(sa, { type: 'PING' }, 'invalid_frame', 'type in the wrong case');
    await expectError(sa, { type: '__proto__' }, 'invalid_frame', '__proto__ type');
    await expectError(sa, { type: 'constructor' }, 'invalid_frame', 'constructor type');
    await expectError(sa, { type: 'new_message', chat_id: dm() }, 'invalid_frame', 'a server-to-client type');
  });

  it('answers invalid_frame to frames missing a field, and carries client_msg_id when the send had one', async () => {
    await expectError(sa, { type: 'send_message' }, 'invalid_frame', 'send_message with nothing');
    const e1 = await expectError(
      sa,
      { type: 'send_message', chat_id: dm(), client_msg_id: 'missing-content' },
      'invalid_frame',
      'no content',
    );
    assert.equal(e1.client_msg_id, 'missing-content');
    const e2 = await expectError(sa, { type: 'send_message', client_msg_id: 'missing-chat', content: 'hi' }, 'invalid_frame', 'no chat_id');
    assert.equal(e2.client_msg_id, 'missing-chat');
    const e3 = await expectError(sa, { type: 'send_message', chat_id: dm(), content: 'hi' }, 'invalid_frame', 'no client_msg_id');
    assert.ok(e3.client_msg_id === undefined || e3.client_msg_id === null, 'no client_msg_id to carry');
    await expectError(sa, { type: 'ack_delivered' }, 'invalid_frame', 'ack_delivered with no ids');
    await expectError(sa, { type: 'ack_read', chat_id: dm() }, 'invalid_frame', 'ack_read with no message id');
    await expectError(sa, { type: 'ack_read', last_read_message_id: 'm1' }, 'invalid_frame', 'ack_read with no chat');
    await expectError(sa, { type: 'typing', chat_id: dm() }, 'invalid_frame', 'typing with no state');
    await expectError(sa, { type: 'presence_subscribe' }, 'invalid_frame', 'presence_subscribe with no user_ids');
    await expectError(sa, { type: 'presence_unsubscribe' }, 'invalid_frame', 'presence_unsubscribe with no user_ids');
  });

  it('answers invalid_frame to fields of the wrong type', async () => {
    const e1 = await expectError(
      sa,
      { type: 'send_message', chat_id: 12345, client_msg_id: 'wrong-chat-type', content: 'hi' },
      'invalid_frame',
      'numeric chat_id',
    );
    assert.equal(e1.client_msg_id, 'wrong-chat-type');
    const e2 = await expectError(
      sa,
      { type: 'send_message', chat_id: dm(), client_msg_id: 'wrong-content-type', content: 42 },
      'invalid_frame',
      'numeric content',
    );
    assert.equal(e2.client_msg_id, 'wrong-content-type');
    const e3 = await expectError(
      sa,
      { type: 'send_message', chat_id: dm(), client_msg_id: 'object-content', content: { text: 'hi' } },
      'invalid_frame',
      'object content',
    );
    assert.equal(e3.client_msg_id, 'object-content');
    await expectError(
      sa,
      { type: 'send_message', chat_id: dm(), client_msg_id: 7, content: 'hi' },
      'invalid_frame',
      'numeric client_msg_id',
    );
    await expectError(
      sa,
      { type: 'send_message', chat_id: [dm()], client_msg_id: 'array-chat', content: 'hi' },
      'invalid_frame',
      'array chat_id',
    );
    await expectError(sa, { type: 'ack_delivered', message_ids: 'not-an-array' }, 'invalid_frame', 'message_ids not an array');
    await expectError(sa, { type: 'ack_delivered', message_ids: [1, 2, 3] }, 'invalid_frame', 'numeric message ids');
    await expectError(sa, { type: 'ack_delivered', message_id: 99 }, 'invalid_frame', 'numeric message_id');
    await expectError(
      sa,
      { type: 'ack_read', chat_id: dm(), last_read_message_id: { id: 'x' } },
      'invalid_frame',
      'object last_read_message_id',
    );
    await expectError(sa, { type: 'typing', chat_id: dm(), state: 'dancing' }, 'invalid_frame', 'typing state not in the enum');
    await expectError(sa, { type: 'presence_subscribe', user_ids: bob.user_id }, 'invalid_frame', 'user_ids a string');
    await expectError(sa, { type: 'presence_subscribe', user_ids: [1, 2] }, 'invalid_frame', 'numeric user_ids');
  });

  it('answers invalid_frame with the client_msg_id to empty content', async () => {
    const err = await expectError(
      sa,
      { type: 'send_message', chat_id: dm(), client_msg_id: 'empty-content', content: '' },
      'invalid_frame',
      'empty content',
    );
    assert.equal(err.client_msg_id, 'empty-content');
  });

  it('ignores unknown fields in a valid frame', async () => {
    sa.send({ type: 'ping', extra: { nested: [1, 2, 3] }, also: 'ignored' });
    await sa.next('pong');
    const ack = await sa.sendMessage(dm(), 'with extras', `extras-${Date.now()}`);
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
  });

  it('stored no message for any of the bad frames', async () => {
    const res = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(dm())}/messages?limit=200`, { token: alice.token });
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.messages.map((m: any) => m.content),
      ['with extras'],
      'only the valid send was stored',
    );
  });
});

describe('content limits', () => {
  const dm = () => directChatId(alice.user_id, bob.user_id);

  it('accepts exactly 100,000 characters, including non-ASCII ones', async () => {
    const ack = await sa.sendMessage(dm(), 'x'.repeat(100_000));
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack).slice(0, 300));
    // Characters, not bytes: 100,000 two-byte characters are still within the limit.
    const ack2 = await sa.sendMessage(dm(), 'é'.repeat(100_000));
    assert.equal(ack2.type, 'ack_sent', JSON.stringify(ack2).slice(0, 300));
  });

  it('counts characters, not UTF-16 code units: 100,000 emoji fit, 100,001 are content_too_long', async () => {
    // Fresh users: their own send-bytes bucket (the emoji frames are ~400 KB each).
    const [u, v] = [await registerUser(srv.baseUrl, 'bad_e'), await registerUser(srv.baseUrl, 'bad_f')];
    const s = await open(u);
    const chat = directChatId(u.user_id, v.user_id);
    const emoji = '\u{1F600}'; // one character, two UTF-16 code units
    const ack = await s.sendMessage(chat, emoji.repeat(100_000));
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack).slice(0, 300));
    const err = await expectError(
      s,
      { type: 'send_message', chat_id: chat, client_msg_id: 'emoji-too-long', content: emoji.repeat(100_001) },
      'content_too_long',
      '100,001 emoji',
    );
    assert.equal(err.client_msg_id, 'emoji-too-long');
    const res = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chat)}/messages`, { token: v.token });
    assert.equal(res.body.messages.length, 1);
    assert.equal(res.body.messages[0].content, emoji.repeat(100_000), 'stored unchanged');
  });

  it('takes attachments: null as no attachments (an empty content is still refused)', async () => {
    const [u, v] = [await registerUser(srv.baseUrl, 'bad_n'), await registerUser(srv.baseUrl, 'bad_m')];
    const s = await open(u);
    const chat = directChatId(u.user_id, v.user_id);
    s.send({ type: 'send_message', chat_id: chat, client_msg_id: 'null-att', content: 'plain', attachments: null });
    const ack = await s.nextWhere((f) => f.client_msg_id === 'null-att', 5000, 'answer to attachments: null');
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    const err = await expectError(
      s,
      { type: 'send_message', chat_id: chat, client_msg_id: 'null-att-empty', content: '', attachments: null },
      'invalid_frame',
      'empty content, attachments: null',
    );
    assert.equal(err.client_msg_id, 'null-att-empty');
    const res = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chat)}/messages`, { token: v.token });
    assert.deepEqual(
      res.body.messages.map((m: any) => [m.content, 'attachments' in m]),
      [['plain', false]],
    );
  });

  it('answers content_too_long carrying client_msg_id to 100,001 characters, and stays open', async () => {
    const err = await expectError(
      sa,
      { type: 'send_message', chat_id: dm(), client_msg_id: 'too-long-1', content: 'x'.repeat(100_001) },
      'content_too_long',
      '100,001 chars',
    );
    assert.equal(err.client_msg_id, 'too-long-1');
    // Well over the content limit but under the 1 MiB frame limit: still only an error.
    const err2 = await expectError(
      sa,
      { type: 'send_message', chat_id: dm(), client_msg_id: 'too-long-2', content: 'y'.repeat(900_000) },
      'content_too_long',
      '900,000 chars',
    );
    assert.equal(err2.client_msg_id, 'too-long-2');
    const res = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(dm())}/messages?limit=200`, { token: alice.token });
    assert.ok(!res.body.messages.some((m: any) => m.client_msg_id === 'too-long-1' || m.client_msg_id === 'too-long-2'), 'nothing stored');
  });

  it("closes the socket with 1009 on a frame over 1 MiB, without disturbing the user's other sockets", async () => {
    const big = await open(alice);
    big.send({ type: 'send_message', chat_id: dm(), client_msg_id: 'huge', content: 'z'.repeat(1024 * 1024 + 10) });
    const code = await Promise.race([big.closed, sleep(5000).then(() => -1)]);
    assert.equal(code, 1009);
    await stillOpen(sa, "alice's other socket");
    // A raw frame that is over 1 MiB but not even JSON is closed the same way.
    const big2 = await open(alice);
    big2.send('q'.repeat(1024 * 1024 + 1));
    assert.equal(await Promise.race([big2.closed, sleep(5000).then(() => -1)]), 1009);
  });
});

describe('membership and chat ids', () => {
  it('answers not_a_member (with client_msg_id) to a send to a dm between two other users, and they get nothing', async () => {
    const sx = await open(xavier);
    const sy = await open(yvonne);
    const xy = directChatId(xavier.user_id, yvonne.user_id);
    const err = await expectError(
      sa,
      { type: 'send_message', chat_id: xy, client_msg_id: 'intrude', content: 'let me in' },
      'not_a_member',
      'send to dm:X:Y',
    );
    assert.equal(err.client_msg_id, 'intrude');
    await sleep(200);
    assert.equal(sx.all('new_message').length, 0, 'X got nothing');
    assert.equal(sy.all('new_message').length, 0, 'Y got nothing');
    // Nothing was stored (http-chats asserts separately that an unused dm reads as empty).
    const hist = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(xy)}/messages`, { token: xavier.token });
    assert.deepEqual(hist.body?.messages ?? [], []);
    const chats = await http(srv.baseUrl, 'GET', '/v1/chats', { token: xavier.token });
    assert.deepEqual(chats.body.chats, [], 'no chat was created for X');
  });

  it('answers chat_not_found (with client_msg_id) to a dm with a user that does not exist', async () => {
    const ghost = directChatId(alice.user_id, 'no_such_user_0000');
    const err = await expectError(
      sa,
      { type: 'send_message', chat_id: ghost, client_msg_id: 'ghost', content: 'anyone?' },
      'chat_not_found',
      'dm with ghost',
    );
    assert.equal(err.client_msg_id, 'ghost');
  });

  it('answers chat_not_found (with client_msg_id) to a malformed chat id', async () => {
    const [lo, hi] = alice.user_id < bob.user_id ? [alice.user_id, bob.user_id] : [bob.user_id, alice.user_id];
    const malformed = ['hello', 'dm:', 'dm::', `dm:${alice.user_id}`, `dm:${hi}:${lo}`, `dm:${lo}:${hi}:extra`, 'x:y:z'];
    for (const [i, chatId] of malformed.entries()) {
      const err = await expectError(
        sa,
        { type: 'send_message', chat_id: chatId, client_msg_id: `malformed-${i}`, content: 'hi' },
        'chat_not_found',
        `chat id ${chatId}`,
      );
      assert.equal(err.client_msg_id, `malformed-${i}`);
    }
  });

  it('answers chat_not_found or not_a_member to a group that does not exist', async () => {
    sa.send({ type: 'send_message', chat_id: 'g:no_such_group', client_msg_id: 'nogroup', content: 'hi' });
    const err = await sa.nextWhere((f) => f.type === 'error' && f.client_msg_id === 'nogroup', 5000, 'error for nogroup');
    assert.ok(['chat_not_found', 'not_a_member'].includes(err.code), JSON.stringify(err));
    await stillOpen(sa, 'after group send');
  });

  it('answers not_a_member to ack_read for a chat the user is not in, and changes nothing', async () => {
    const sx = await open(xavier);
    const sy = await open(yvonne);
    const xy = directChatId(xavier.user_id, yvonne.user_id);
    const ack = await sx.sendMessage(xy, 'private to yvonne');
    assert.equal(ack.type, 'ack_sent');
    await sy.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
    await expectError(sa, { type: 'ack_read', chat_id: xy, last_read_message_id: ack.message_id }, 'not_a_member', 'ack_read on dm:X:Y');
    // ack_read naming a message of another chat, but a chat alice is in: must not mark X:Y read either.
    const ab = directChatId(alice.user_id, bob.user_id);
    sa.send({ type: 'ack_read', chat_id: ab, last_read_message_id: ack.message_id });
    await stillOpen(sa, 'after cross-chat ack_read');
    await sleep(200);
    assert.equal(sx.all('status_update').filter((f) => f.status === 'read').length, 0, 'X was not told its message was read');
    const ylist = await http(srv.baseUrl, 'GET', '/v1/chats', { token: yvonne.token });
    const chat = ylist.body.chats.find((c: any) => c.chat_id === xy);
    assert.equal(chat?.unread_count, 1, 'Y still has it unread');
  });
});

describe('the server survives garbage', () => {
  it('a burst of 1,000 garbage frames does not kill the server or disturb others', async () => {
    const garbageUser = await registerUser(srv.baseUrl, 'garbage');
    const g = await open(garbageUser);
    const kinds = [
      'not json at all',
      '[1,2,3]',
      '{"type":"nope"}',
      '{"type":"send_message"}',
      '{"type":"send_message","chat_id":"dm:a:b","client_msg_id":"c","content":7}',
      '{"type":"ack_read","chat_id":"hello","last_read_message_id":"x"}',
      '{"type":"ack_delivered","message_ids":["nope"]}',
      '\u0000\u0001\u0002',
      '{"type":"typing","chat_id":"dm:a:b","state":"x"}',
      '{"__proto__":{"type":"ping"}}',
    ];
    for (let i = 0; i < 1000; i++) g.send(kinds[i % kinds.length]!);

    // Everyone else carries on.
    const sb = await open(bob);
    const ab = directChatId(alice.user_id, bob.user_id);
    const ack = await sa.sendMessage(ab, 'still alive?');
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id, 5000, 'delivery after garbage');
    const health = await fetch(`${srv.baseUrl}/healthz`);
    assert.equal(health.status, 200);

    // The garbage socket either got its error frames and is still open, or (if the server
    // rate-limits abusers) was closed; it never got anything but error frames for the garbage.
    if (g.closeCode === null) {
      g.send({ type: 'ping' });
      await g.next('pong', 10_000);
      assert.ok(g.all('error').length > 0, 'garbage got error frames');
      assert.ok(
        g.all('error').every((f) => ['invalid_frame', 'rate_limited', 'chat_not_found', 'not_a_member'].includes(f.code)),
        'only error codes from the protocol',
      );
    }
    assert.equal(g.all('new_message').length, 0);
  });

  it('after everything, other users still send and receive normally', async () => {
    const sx = await open(xavier);
    const sy = await open(yvonne);
    const xy = directChatId(xavier.user_id, yvonne.user_id);
    const a1 = await sx.sendMessage(xy, 'ping from x');
    assert.equal(a1.type, 'ack_sent');
    await sy.nextWhere((f) => f.type === 'new_message' && f.message_id === a1.message_id, 5000, 'y receives');
    const a2 = await sy.sendMessage(xy, 'pong from y');
    assert.equal(a2.type, 'ack_sent');
    await sx.nextWhere((f) => f.type === 'new_message' && f.message_id === a2.message_id, 5000, 'x receives');
    assert.equal(a2.seq, a1.seq + 1);
  });
});
