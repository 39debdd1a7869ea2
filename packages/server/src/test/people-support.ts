import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import sharp from 'sharp';
import { directChatId } from '@switchboard/protocol';
import { http, login, sleep, TestSocket, type TestUser } from '../testing/harness.js';
import { download, upload } from './media-support.js';
import { assertNoFrameWithin, type Frame } from './delivery-support.js';

/*
 * PROTOCOL.md "People" (profiles, prefix search, contacts, blocking) as a suite run in
 * both modes: embedded (one server) and cluster (two nodes; `a` users talk to node 0, `b`
 * users to node 1, so every rule is also seen across nodes).
 */

export interface PeopleTarget {
  a: { baseUrl: string; wsUrl: string };
  b: { baseUrl: string; wsUrl: string };
}

let counter = 0;
/** A user with a chosen username (lower-case, unique per run). */
export async function named(baseUrl: string, username: string): Promise<TestUser> {
  const password = 'correct horse battery';
  const reg = await http(baseUrl, 'POST', '/v1/users', { body: { username, password } });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  return { ...(await login(baseUrl, username, password)), username, password };
}

const tag = () => `p${process.pid.toString(36)}${(++counter).toString(36)}${randomUUID().slice(0, 4)}`.replace(/-/g, '');

export function peopleSuite(target: () => PeopleTarget): void {
  const sockets: TestSocket[] = [];
  const open = async (wsUrl: string, u: TestUser) => {
    const s = await TestSocket.connectSynced(wsUrl, u.token);
    sockets.push(s);
    return s;
  };
  const pair = async () => {
    const t = tag();
    const { a, b } = target();
    return { t, x: await named(a.baseUrl, `${t}x`), y: await named(b.baseUrl, `${t}y`) };
  };

  test('profile: PATCH /v1/users/me sets display_name and about; users carry them everywhere; bounds', async () => {
    const { a, b } = target();
    const { x, y } = await pair();
    const res = await http(a.baseUrl, 'PATCH', '/v1/users/me', { token: x.token, body: { display_name: 'Xena', about: 'hi there' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { user_id: x.user_id, username: x.username, display_name: 'Xena', about: 'hi there' });
    for (const path of ['/v1/users/me', `/v1/users/${x.user_id}`]) {
      const seen = await http(b.baseUrl, 'GET', path, { token: path.endsWith('me') ? x.token : y.token });
      assert.equal(seen.body.about, 'hi there', path);
      assert.equal(seen.body.display_name, 'Xena', path);
    }
    const byName = await http(b.baseUrl, 'GET', `/v1/users?username=${x.username}`, { token: y.token });
    assert.equal(byName.body.users[0].about, 'hi there');
    // Only what is given changes.
    const again = await http(a.baseUrl, 'PATCH', '/v1/users/me', { token: x.token, body: { about: '' } });
    assert.equal(again.body.display_name, 'Xena');
    assert.equal(again.body.about, undefined, 'an empty about is not shown');
    for (const body of [
      { about: 'x'.repeat(501) },
      { display_name: '' },
      { display_name: 'x'.repeat(65) },
      { display_name: 'evil\u202Egnp.exe' },
      { avatar_media_id: 42 },
    ]) {
      const bad = await http(a.baseUrl, 'PATCH', '/v1/users/me', { token: x.token, body });
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.equal(bad.body.error, 'invalid_request');
    }
    // 500 characters (emoji count once) are fine.
    const full = await http(a.baseUrl, 'PATCH', '/v1/users/me', { token: x.token, body: { about: '\u{1F600}'.repeat(500) } });
    assert.equal(full.status, 200, JSON.stringify(full.body));
  });

  test('avatar: an image the caller uploaded, thumbnailed; any signed-in user fetches it and its thumbnail; null clears it', async () => {
    const { a, b } = target();
    const { x, y } = await pair();
    const png = await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: 200, g: 10, b: 10 } } })
      .png()
      .toBuffer();
    const media = await upload(a.baseUrl, x, png, 'image/png', 'me.png');
    const set = await http(a.baseUrl, 'PATCH', '/v1/users/me', { token: x.token, body: { avatar_media_id: media } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.avatar.media_id, media);
    const thumb = set.body.avatar.thumbnail;
    assert.ok(thumb?.media_id, 'the avatar has a thumbnail');
    assert.ok(thumb.width <= 320 && thumb.height <= 320);
    // y shares no chat with x, and sees the avatar anyway, on the other node.
    const seen = await http(b.baseUrl, 'GET', `/v1/users/${x.user_id}`, { token: y.token });
    assert.deepEqual(seen.body.avatar, set.body.avatar);
    const got = await download(b.baseUrl, y, media);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(png));
    assert.equal((await download(b.baseUrl, y, thumb.media_id)).status, 200);
    assert.equal((await download(b.baseUrl, null, media)).status, 401, 'signed-in users only');
    // Not an image, someone else's, unknown: refused.
    const text = await upload(a.baseUrl, x, Buffer.from('hello'), 'text/plain');
    const others = await upload(b.baseUrl, y, png, 'image/png');
    for (const id of [text, others, 'nope']) {
      const bad = await http(a.baseUrl, 'PATCH', '/v1/users/me', { token: x.token, body: { avatar_media_id: id } });
      assert.equal(bad.status, 400, id);
    }
    // Cleared: the media is x's own again, which y may not fetch.
    const cleared = await http(a.baseUrl, 'PATCH', '/v1/users/me', { token: x.token, body: { avatar_media_id: null } });
    assert.equal(cleared.body.avatar, undefined, 'a cleared avatar is not shown');
    assert.equal((await download(b.baseUrl, y, media)).status, 404);
    assert.equal((await download(b.baseUrl, y, thumb.media_id)).status, 404);
    assert.equal((await download(a.baseUrl, x, media)).status, 200);
  });

  test("deleting for everyone a message that carries someone's current avatar keeps the avatar's bytes (and thumbnail)", async () => {
    const { a, b } = target();
    const { x, y } = await pair();
    const png = await sharp({ create: { width: 500, height: 400, channels: 3, background: { r: 10, g: 200, b: 10 } } })
      .png()
      .toBuffer();
    const media = await upload(a.baseUrl, x, png, 'image/png', 'me.png');
    const set = await http(a.baseUrl, 'PATCH', '/v1/users/me', { token: x.token, body: { avatar_media_id: media } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const thumb = set.body.avatar.thumbnail.media_id as string;
    const chat = directChatId(x.user_id, y.user_id);
    const sx = await open(a.wsUrl, x);
    sx.send({ type: 'send_message', chat_id: chat, client_msg_id: 'av-send', content: 'my new look', attachments: [{ media_id: media }] });
    const ack = await sx.nextWhere((f) => f.client_msg_id === 'av-send', 10_000, 'send ack');
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    sx.send({ type: 'delete_message', chat_id: chat, client_msg_id: 'av-delete', message_id: ack.message_id });
    const del = await sx.nextWhere((f) => f.client_msg_id === 'av-delete', 10_000, 'delete ack');
    assert.equal(del.type, 'ack_sent', JSON.stringify(del));
    const hist = await http(b.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chat)}/messages`, { token: y.token });
    const erased = hist.body.messages.find((m: Frame) => m.message_id === ack.message_id);
    assert.equal(erased.deleted, true);
    assert.equal(erased.attachments, undefined, 'the message no longer carries the media');
    // Still the avatar: any signed-in user fetches the same bytes, and its thumbnail.
    const seen = await http(b.baseUrl, 'GET', `/v1/users/${x.user_id}`, { token: y.token });
    assert.equal(seen.body.avatar.media_id, media);
    const got = await download(b.baseUrl, y, media);
    assert.equal(got.status, 200, 'the avatar survives the delete');
    assert.ok(got.body.equals(png));
    assert.equal((await download(b.baseUrl, y, thumb)).status, 200, 'and its thumbnail');
    // Cleared, it is the uploader's alone again: the deleted message grants y nothing.
    await http(a.baseUrl, 'PATCH', '/v1/users/me', { token: x.token, body: { avatar_media_id: null } });
    assert.equal((await download(b.baseUrl, y, media)).status, 404);
    assert.equal((await download(a.baseUrl, x, media)).status, 200);
  });

  test('prefix search: usernames starting with the prefix, in order, at most limit; 3 characters at least; exact match still works', async () => {
    const { a, b } = target();
    const t = tag();
    const names = [`${t}_b`, `${t}a2`, `${t}a1`, `${t}c`, `${t}a3`];
    const made = [];
    for (const n of names) made.push(await named(a.baseUrl, n));
    const me = made[0]!;
    const search = (q: string) => http(b.baseUrl, 'GET', `/v1/users?${q}`, { token: me.token });
    const all = await search(`prefix=${t}`);
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.deepEqual(
      all.body.users.map((u: Frame) => u.username),
      [...names].sort(),
    );
    // Users who never edited their profile read as before: no about, no avatar.
    assert.deepEqual(Object.keys(all.body.users[0]).sort(), ['display_name', 'user_id', 'username']);
    assert.deepEqual(
      (await search(`prefix=${t}a&limit=2`)).body.users.map((u: Frame) => u.username),
      [`${t}a1`, `${t}a2`],
    );
    // '_' is a character like any other, not a wildcard; upper case finds lower-case names.
    assert.deepEqual(
      (await search(`prefix=${t}_`)).body.users.map((u: Frame) => u.username),
      [`${t}_b`],
    );
    assert.equal((await search(`prefix=${t.toUpperCase()}C`)).body.users[0]?.username, `${t}c`);
    assert.deepEqual((await search(`prefix=${t}zz`)).body.users, []);
    assert.deepEqual((await search(`prefix=${encodeURIComponent('%%%')}`)).body.users, []);
    for (const q of ['prefix=ab', 'prefix=', `prefix=${t}&limit=0`, `prefix=${t}&limit=21`, `prefix=${t}&limit=x`]) {
      const bad = await search(q);
      assert.equal(bad.status, 400, q);
      assert.equal(bad.body.error, 'invalid_request', q);
    }
    assert.equal((await search(`prefix=${t}&limit=20`)).body.users.length, 5);
    const exact = await search(`username=${t}c`);
    assert.deepEqual(
      exact.body.users.map((u: Frame) => u.username),
      [`${t}c`],
    );
  });

  test('prefix search is rate-limited per device: 429 rate_limited with retry_after_ms and Retry-After', async () => {
    const { a } = target();
    const { t, x } = await pair();
    let refused: Response | undefined;
    for (let i = 0; i < 40 && !refused; i++) {
      const res = await fetch(`${a.baseUrl}/v1/users?prefix=${t}`, { headers: { authorization: `Bearer ${x.token}` } });
      if (res.status === 429) refused = res;
      else assert.equal(res.status, 200);
      if (!refused) await res.arrayBuffer();
    }
    assert.ok(refused, 'refused within 40 searches');
    const body = (await refused.json()) as Frame;
    assert.equal(body.error, 'rate_limited');
    assert.ok(body.retry_after_ms > 0);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    // Another device of the same user has its own bucket.
    const other = await login(a.baseUrl, x.username, x.password);
    assert.equal((await http(a.baseUrl, 'GET', `/v1/users?prefix=${t}`, { token: other.token })).status, 200);
  });

  test('contacts: PUT adds (404 for an unknown user), DELETE removes, GET lists them on every device', async () => {
    const { a, b } = target();
    const { t, x, y } = await pair();
    const z = await named(b.baseUrl, `${t}z`);
    const put = (u: TestUser, id: string) => http(a.baseUrl, 'PUT', `/v1/users/me/contacts/${id}`, { token: u.token });
    assert.equal((await put(x, z.user_id)).status, 204);
    assert.equal((await put(x, y.user_id)).status, 204);
    assert.equal((await put(x, y.user_id)).status, 204, 'a repeat is fine');
    const unknown = await put(x, 'no-such-user');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error, 'not_found');
    const x2 = await login(b.baseUrl, x.username, x.password);
    const list = await http(b.baseUrl, 'GET', '/v1/users/me/contacts', { token: x2.token });
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.users.map((u: Frame) => u.user_id),
      [y.user_id, z.user_id],
    );
    assert.equal(list.body.users[0].username, y.username);
    assert.equal((await http(b.baseUrl, 'DELETE', `/v1/users/me/contacts/${y.user_id}`, { token: x2.token })).status, 204);
    assert.equal((await http(b.baseUrl, 'DELETE', `/v1/users/me/contacts/${y.user_id}`, { token: x2.token })).status, 204);
    const after = await http(a.baseUrl, 'GET', '/v1/users/me/contacts', { token: x.token });
    assert.deepEqual(
      after.body.users.map((u: Frame) => u.user_id),
      [z.user_id],
    );
    // Someone else's list is their own.
    assert.deepEqual((await http(a.baseUrl, 'GET', '/v1/users/me/contacts', { token: y.token })).body.users, []);
    assert.equal((await http(a.baseUrl, 'GET', '/v1/users/me/contacts', {})).status, 401);
  });

  test('blocking: the blocked user’s sends (and edits, reactions) in the direct chat answer blocked at once on every node; nothing is stored', async () => {
    const { a, b } = target();
    const { x: blocker, y: blocked } = await pair();
    const dm = directChatId(blocker.user_id, blocked.user_id);
    const [sBlocker, sBlocked] = await Promise.all([open(a.wsUrl, blocker), open(b.wsUrl, blocked)]);
    const first = await sBlocked.sendMessage(dm, 'before the block');
    assert.equal(first.type, 'ack_sent');
    await sBlocker.waitFor((f) => f.type === 'new_message' && f.message_id === first.message_id, 5000, 'first message');

    const put = await http(a.baseUrl, 'PUT', `/v1/users/me/blocked/${blocked.user_id}`, { token: blocker.token });
    assert.equal(put.status, 204, JSON.stringify(put.body));
    // Right after the PUT answered, on the other node.
    const refused = await sBlocked.sendMessage(dm, 'after the block', 'cm-blocked-1');
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'blocked');
    assert.equal(refused.client_msg_id, 'cm-blocked-1');
    for (const frame of [
      { type: 'edit_message', chat_id: dm, client_msg_id: 'cm-edit', message_id: first.message_id, content: 'changed' },
      { type: 'react', chat_id: dm, client_msg_id: 'cm-react', message_id: first.message_id, emoji: '\u{1F44D}' },
    ]) {
      sBlocked.send(frame);
      const err = await sBlocked.waitFor((f) => f.type === 'error' && f.client_msg_id === frame.client_msg_id, 5000, frame.type);
      assert.equal(err.code, 'blocked', frame.type);
    }
    const hist = await http(a.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(dm)}/messages`, { token: blocker.token });
    assert.deepEqual(
      hist.body.messages.map((m: Frame) => [m.content, m.edited_at, m.reactions]),
      [['before the block', undefined, undefined]],
    );
    const listed = await http(b.baseUrl, 'GET', '/v1/users/me/blocked', { token: blocker.token });
    assert.deepEqual(listed.body, { user_ids: [blocked.user_id] });
    assert.deepEqual((await http(b.baseUrl, 'GET', '/v1/users/me/blocked', { token: blocked.token })).body, { user_ids: [] });
    assert.equal((await http(a.baseUrl, 'PUT', '/v1/users/me/blocked/no-such-user', { token: blocker.token })).status, 404);
    assert.equal((await http(a.baseUrl, 'PUT', `/v1/users/me/blocked/${blocker.user_id}`, { token: blocker.token })).status, 400);
    // Unblocked: sends go through again, at once, on the other node.
    assert.equal((await http(a.baseUrl, 'DELETE', `/v1/users/me/blocked/${blocked.user_id}`, { token: blocker.token })).status, 204);
    const later = await sBlocked.sendMessage(dm, 'after the unblock');
    assert.equal(later.type, 'ack_sent', JSON.stringify(later));
    assert.deepEqual((await http(a.baseUrl, 'GET', '/v1/users/me/blocked', { token: blocker.token })).body, { user_ids: [] });
  });

  test('blocking: no presence, last seen or typing between the two, anywhere; group messages still flow both ways', async () => {
    const { a, b } = target();
    const { t, x: blocker, y: blocked } = await pair();
    const third = await named(a.baseUrl, `${t}w`);
    const dm = directChatId(blocker.user_id, blocked.user_id);
    const [sBlocker, sBlocked, sThird] = await Promise.all([open(a.wsUrl, blocker), open(b.wsUrl, blocked), open(a.wsUrl, third)]);
    assert.equal((await sBlocked.sendMessage(dm, 'hi')).type, 'ack_sent');
    const g = await http(a.baseUrl, 'POST', '/v1/groups', {
      token: blocker.token,
      body: { name: 'G', member_ids: [blocked.user_id, third.user_id] },
    });
    assert.equal(g.status, 201);
    const chatId = g.body.chat_id as string;
    // Before the block, the blocked user watches the blocker online.
    const from = sBlocked.frames.length;
    sBlocked.send({ type: 'presence_subscribe', user_ids: [blocker.user_id] });
    const online = await sBlocked.waitFor((f) => f.type === 'presence' && f.user_id === blocker.user_id, 5000, 'presence', from);
    assert.equal(online.online, true);

    const mark = sBlocked.frames.length;
    assert.equal((await http(a.baseUrl, 'PUT', `/v1/users/me/blocked/${blocked.user_id}`, { token: blocker.token })).status, 204);
    // The watch ends: the blocker now looks offline with no last seen.
    const gone = await sBlocked.waitFor((f) => f.type === 'presence' && f.user_id === blocker.user_id, 5000, 'presence after block', mark);
    assert.deepEqual(gone, { type: 'presence', user_id: blocker.user_id, online: false, last_seen: null });
    for (const [viewer, other, node] of [
      [blocked, blocker, b],
      [blocker, blocked, a],
    ] as const) {
      const p = await http(node.baseUrl, 'GET', `/v1/users/${other.user_id}/presence`, { token: viewer.token });
      assert.deepEqual(p.body, { user_id: other.user_id, online: false, last_seen: null });
    }
    const sub = sBlocker.frames.length;
    sBlocker.send({ type: 'presence_subscribe', user_ids: [blocked.user_id, third.user_id] });
    const p1 = await sBlocker.waitFor((f) => f.type === 'presence' && f.user_id === blocked.user_id, 5000, 'presence of blocked', sub);
    assert.deepEqual(p1, { type: 'presence', user_id: blocked.user_id, online: false, last_seen: null });
    const p2 = await sBlocker.waitFor((f) => f.type === 'presence' && f.user_id === third.user_id, 5000, 'presence of third', sub);
    assert.equal(p2.online, true, 'others are still seen');

    // Typing: the third member sees it, the other of the two does not, in the group and in the dm.
    const typingOf = (userId: string, chat: string) => (f: Frame) => f.type === 'typing' && f.user_id === userId && f.chat_id === chat;
    const before = { blocker: sBlocker.frames.length, blocked: sBlocked.frames.length };
    sBlocked.send({ type: 'typing', chat_id: chatId, state: 'composing' });
    sBlocker.send({ type: 'typing', chat_id: chatId, state: 'composing' });
    sBlocked.send({ type: 'typing', chat_id: dm, state: 'composing' });
    sBlocker.send({ type: 'typing', chat_id: dm, state: 'composing' });
    await sThird.waitFor(typingOf(blocked.user_id, chatId), 5000, 'typing of the blocked user at the third');
    await sThird.waitFor(typingOf(blocker.user_id, chatId), 5000, 'typing of the blocker at the third');
    await sleep(300);
    await assertNoFrameWithin(sBlocker, (f) => f.type === 'typing', 0, 'typing at the blocker', before.blocker);
    await assertNoFrameWithin(sBlocked, (f) => f.type === 'typing', 0, 'typing at the blocked user', before.blocked);

    // Group messages still flow both ways.
    const m1 = await sBlocked.sendMessage(chatId, 'to the group');
    assert.equal(m1.type, 'ack_sent');
    await sBlocker.waitFor((f) => f.type === 'new_message' && f.message_id === m1.message_id, 5000, 'group message at the blocker');
    const m2 = await sBlocker.sendMessage(chatId, 'back');
    assert.equal(m2.type, 'ack_sent');
    await sBlocked.waitFor((f) => f.type === 'new_message' && f.message_id === m2.message_id, 5000, 'group message at the blocked user');
    // The blocker may still write in the direct chat (only the blocked user is refused).
    assert.equal((await sBlocker.sendMessage(dm, 'you are blocked')).type, 'ack_sent');
  });

  test('blocking: the blocked user cannot add the blocker to a group (403 forbidden); others can', async () => {
    const { a, b } = target();
    const { t, x: blocker, y: blocked } = await pair();
    const third = await named(a.baseUrl, `${t}w`);
    assert.equal((await http(a.baseUrl, 'PUT', `/v1/users/me/blocked/${blocked.user_id}`, { token: blocker.token })).status, 204);
    const create = await http(b.baseUrl, 'POST', '/v1/groups', {
      token: blocked.token,
      body: { name: 'G', member_ids: [third.user_id, blocker.user_id] },
    });
    assert.equal(create.status, 403);
    assert.equal(create.body.error, 'forbidden');
    const g = await http(b.baseUrl, 'POST', '/v1/groups', { token: blocked.token, body: { name: 'G', member_ids: [third.user_id] } });
    assert.equal(g.status, 201);
    const add = await http(b.baseUrl, 'POST', `/v1/groups/${g.body.group_id}/members`, {
      token: blocked.token,
      body: { user_ids: [blocker.user_id] },
    });
    assert.equal(add.status, 403);
    assert.equal(add.body.error, 'forbidden');
    const view = await http(b.baseUrl, 'GET', `/v1/groups/${g.body.group_id}`, { token: blocked.token });
    assert.deepEqual(view.body.members.map((m: Frame) => m.user_id).sort(), [blocked.user_id, third.user_id].sort());
    // The blocker may add the blocked user (the block is one way).
    const g2 = await http(a.baseUrl, 'POST', '/v1/groups', { token: blocker.token, body: { name: 'H', member_ids: [blocked.user_id] } });
    assert.equal(g2.status, 201);
  });

  test('after all tests: close sockets', async () => {
    for (const s of sockets) s.terminate();
  });
}
