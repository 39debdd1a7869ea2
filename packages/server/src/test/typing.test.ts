import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, login, sleep, suiteServer, type TestUser } from '../testing/harness.js';
import { assertNoFrameWithin, roundTrip, type Frame } from './delivery-support.js';

/*
 * Typing indicators: relayed to the other members' online devices, never to the sender,
 * never stored, rate-limited per socket (typingPerSecond, default 5), members only.
 */

describe('typing', () => {
  const { srv, open, users } = suiteServer();
  async function group(creator: TestUser, members: TestUser[]): Promise<{ group_id: string; chat_id: string }> {
    const res = await http(srv.baseUrl, 'POST', '/v1/groups', {
      token: creator.token,
      body: { name: 'Typing', member_ids: members.map((m) => m.user_id) },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  }
  const typingFrom = (chatId: string, userId: string, state?: string) => (f: Frame) =>
    f.type === 'typing' && f.chat_id === chatId && f.user_id === userId && (state === undefined || f.state === state);

  test('relayed to the other members’ online devices, not to the sender, and not stored', async () => {
    const [a, b, c] = await users(3, 'tya');
    const a2user = await login(srv.baseUrl, a!.username, a!.password, 'a2');
    const b2user = await login(srv.baseUrl, b!.username, b!.password, 'b2');
    const g = await group(a!, [b!, c!]);
    const [a1, a2, b1, b2] = await Promise.all([open(a!), open(a2user), open(b!), open(b2user)]);

    a1.send({ type: 'typing', chat_id: g.chat_id, state: 'composing' });
    for (const [s, who] of [
      [b1, 'b1'],
      [b2, 'b2'],
    ] as const) {
      const f = await s.waitFor(typingFrom(g.chat_id, a!.user_id, 'composing'), 2000, `typing at ${who}`);
      assert.deepEqual(f, { type: 'typing', chat_id: g.chat_id, user_id: a!.user_id, state: 'composing' });
    }
    a1.send({ type: 'typing', chat_id: g.chat_id, state: 'paused' });
    await b1.waitFor(typingFrom(g.chat_id, a!.user_id, 'paused'), 2000, 'paused at b1');
    await b2.waitFor(typingFrom(g.chat_id, a!.user_id, 'paused'), 2000, 'paused at b2');
    // Nothing back to the sender, nor to its other device; no error either.
    await assertNoFrameWithin(a1, (f) => f.type === 'typing' || f.type === 'error', 200, 'typing echo or error at the sender');
    assert.equal(a2.all('typing').length, 0, 'the sender’s other device gets no typing frame of its own user');

    // b typing reaches both of a's devices.
    b2.send({ type: 'typing', chat_id: g.chat_id, state: 'composing' });
    await a1.waitFor(typingFrom(g.chat_id, b!.user_id, 'composing'), 2000, 'typing of b at a1');
    await a2.waitFor(typingFrom(g.chat_id, b!.user_id, 'composing'), 2000, 'typing of b at a2');
    await assertNoFrameWithin(b2, typingFrom(g.chat_id, b!.user_id), 150, 'typing echo at b2');
    assert.equal(b1.all('typing').filter(typingFrom(g.chat_id, b!.user_id)).length, 0, 'no typing of b at b’s other device');

    // Not stored: no message, no replay to a device that connects later.
    const hist = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(g.chat_id)}/messages`, { token: c!.token });
    assert.equal(hist.status, 200);
    assert.deepEqual(hist.body.messages, []);
    const chats = await http(srv.baseUrl, 'GET', '/v1/chats', { token: c!.token });
    const row = (chats.body.chats as Frame[]).find((x) => x.chat_id === g.chat_id);
    assert.equal(row?.last_seq, 0);
    assert.equal(row?.unread_count, 0);
    const c1 = await open(c!);
    await roundTrip(c1);
    assert.equal(c1.all('typing').length, 0, 'typing is not replayed');
    // ...but a device online now gets the next one.
    a1.send({ type: 'typing', chat_id: g.chat_id, state: 'composing' });
    await c1.waitFor(typingFrom(g.chat_id, a!.user_id, 'composing'), 2000, 'typing at c once online');
  });

  test('direct chats: relayed to the other user, not echoed', async () => {
    const [a, b] = await users(2, 'tyd');
    const [sa, sb] = await Promise.all([open(a!), open(b!)]);
    const dm = directChatId(a!.user_id, b!.user_id);
    const ack = await sa.sendMessage(dm, 'hello');
    assert.equal(ack.type, 'ack_sent');
    sa.send({ type: 'typing', chat_id: dm, state: 'composing' });
    const f = await sb.waitFor(typingFrom(dm, a!.user_id, 'composing'), 2000, 'typing in a direct chat');
    assert.deepEqual(f, { type: 'typing', chat_id: dm, user_id: a!.user_id, state: 'composing' });
    await assertNoFrameWithin(sa, (x) => x.type === 'typing' || x.type === 'error', 150, 'typing echo or error in a direct chat');
  });

  test('direct chats: typing before the first message (the chat exists implicitly) reaches the other user', async () => {
    const [a, b] = await users(2, 'tyf');
    const [sa, sb] = await Promise.all([open(a!), open(b!)]);
    const dm = directChatId(a!.user_id, b!.user_id);
    // A client shows "typing…" while the very first message to a contact is being written.
    sa.send({ type: 'typing', chat_id: dm, state: 'composing' });
    await roundTrip(sa);
    assert.deepEqual(sa.all('error'), [], 'typing before the first message of a direct chat is answered with an error');
    await sb.waitFor(typingFrom(dm, a!.user_id, 'composing'), 2000, 'typing in a direct chat before its first message');
    // Typing stores nothing: the chat still has no message.
    const chats = await http(srv.baseUrl, 'GET', '/v1/chats', { token: b!.token });
    assert.ok(!(chats.body.chats as Frame[]).some((c) => c.chat_id === dm && c.last_seq > 0));
  });

  test('non-members get not_a_member and nobody hears them; bad frames get invalid_frame', async () => {
    const [a, b, outsider] = await users(3, 'tyn');
    const g = await group(a!, [b!]);
    const [sb, so] = await Promise.all([open(b!), open(outsider!)]);
    so.send({ type: 'typing', chat_id: g.chat_id, state: 'composing' });
    const err = await so.waitFor((f) => f.type === 'error', 2000, 'error for a non-member');
    assert.equal(err.code, 'not_a_member', JSON.stringify(err));
    // Someone else's direct chat.
    so.send({ type: 'typing', chat_id: directChatId(a!.user_id, b!.user_id), state: 'composing' });
    const err2 = await so.waitFor((f) => f.type === 'error', 2000, 'error for another pair’s direct chat');
    assert.equal(err2.code, 'not_a_member', JSON.stringify(err2));
    await assertNoFrameWithin(sb, (f) => f.type === 'typing', 200, 'typing from a non-member');

    // A removed member is a non-member.
    const res = await http(srv.baseUrl, 'DELETE', `/v1/groups/${g.group_id}/members/${b!.user_id}`, { token: a!.token });
    assert.equal(res.status, 204);
    const sa = await open(a!);
    const mark = sb.frames.length;
    sa.send({ type: 'typing', chat_id: g.chat_id, state: 'composing' });
    await roundTrip(sa);
    await assertNoFrameWithin(sb, (f) => f.type === 'typing', 200, 'typing to a removed member', mark);
    sb.send({ type: 'typing', chat_id: g.chat_id, state: 'composing' });
    const err3 = await sb.waitFor((f) => f.type === 'error', 2000, 'error for a removed member', mark);
    assert.equal(err3.code, 'not_a_member');

    // Bad state, missing chat_id.
    sa.send({ type: 'typing', chat_id: g.chat_id, state: 'shouting' });
    const bad = await sa.waitFor((f) => f.type === 'error', 2000, 'error for a bad state');
    assert.equal(bad.code, 'invalid_frame');
    const m2 = sa.frames.length;
    sa.send({ type: 'typing', state: 'composing' });
    const bad2 = await sa.waitFor((f) => f.type === 'error', 2000, 'error for a missing chat_id', m2);
    assert.equal(bad2.code, 'invalid_frame');
    assert.equal(sa.closeCode, null);
  });

  test('rate-limited per socket: past 5 a second, rate_limited with retry_after_ms', async () => {
    const [a, b] = await users(2, 'tyr');
    const a2user = await login(srv.baseUrl, a!.username, a!.password, 'a2');
    const g = await group(a!, [b!]);
    const [sa, sa2, sb] = await Promise.all([open(a!), open(a2user), open(b!)]);
    for (let i = 0; i < 12; i++) sa.send({ type: 'typing', chat_id: g.chat_id, state: i % 2 ? 'paused' : 'composing' });
    await roundTrip(sa);
    await sleep(150);
    const errors = sa.all('error');
    const relayed = sb.all('typing').filter((f) => f.chat_id === g.chat_id);
    console.log(`# 12 typing frames at once: ${relayed.length} relayed, ${errors.length} rate_limited`);
    assert.ok(errors.length >= 6 && errors.length <= 7, `most of 12 back-to-back typing frames are refused: ${errors.length} errors`);
    assert.equal(relayed.length + errors.length, 12, 'each frame is either relayed or refused');
    for (const e of errors) {
      assert.equal(e.code, 'rate_limited', JSON.stringify(e));
      assert.equal(typeof e.retry_after_ms, 'number', JSON.stringify(e));
      assert.ok(e.retry_after_ms > 0 && e.retry_after_ms <= 1000, `retry_after_ms ${e.retry_after_ms}`);
    }

    // Another socket of the same user has its own allowance.
    sa2.send({ type: 'typing', chat_id: g.chat_id, state: 'composing' });
    await roundTrip(sa2);
    assert.equal(sa2.all('error').length, 0, 'the other device is not limited');

    // After retry_after_ms the socket may type again.
    await sleep(Math.max(...errors.map((e) => e.retry_after_ms as number)) + 50);
    const mark = sb.frames.length;
    const errMark = sa.frames.length;
    sa.send({ type: 'typing', chat_id: g.chat_id, state: 'composing' });
    await sb.waitFor(typingFrom(g.chat_id, a!.user_id, 'composing'), 2000, 'typing after waiting', mark);
    await roundTrip(sa);
    assert.equal(sa.frames.slice(errMark).filter((f) => f.type === 'error').length, 0);

    // A steady 4 a second is never limited.
    await sleep(1100);
    const steadyMark = sa.frames.length;
    for (let i = 0; i < 8; i++) {
      sa.send({ type: 'typing', chat_id: g.chat_id, state: 'composing' });
      await sleep(250);
    }
    await roundTrip(sa);
    assert.equal(sa.frames.slice(steadyMark).filter((f) => f.type === 'error').length, 0, '4 a second stays under the limit');
    assert.equal(sa.closeCode, null);
  });
});
