import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, login, seedUsers, sleep, suiteServer, TestSocket, type TestUser } from '../testing/harness.js';
import { assertNoFrameWithin, fetchHistory, roundTrip, waitForMessages, type Frame } from './delivery-support.js';

/*
 * Group chats: creation, membership and roles (PROTOCOL.md "Chats"), group_update frames,
 * and the membership rule for delivery: a removed member receives nothing sent after its
 * removal, an added member only what is sent after it joined.
 */

type GroupView = { group_id: string; chat_id: string; name: string; members: { user_id: string; role: string }[]; created_at: number };

describe('group membership', () => {
  const { srv, open, users } = suiteServer();

  async function createGroup(creator: TestUser, name: string, memberIds: string[]): Promise<GroupView> {
    const res = await http(srv.baseUrl, 'POST', '/v1/groups', { token: creator.token, body: { name, member_ids: memberIds } });
    assert.equal(res.status, 201, `create group: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as GroupView;
  }
  async function getGroup(u: TestUser, groupId: string) {
    return http<GroupView>(srv.baseUrl, 'GET', `/v1/groups/${encodeURIComponent(groupId)}`, { token: u.token });
  }
  async function addMembers(actor: TestUser, groupId: string, userIds: string[]) {
    return http(srv.baseUrl, 'POST', `/v1/groups/${encodeURIComponent(groupId)}/members`, {
      token: actor.token,
      body: { user_ids: userIds },
    });
  }
  async function removeMember(actor: TestUser, groupId: string, userId: string) {
    return http(srv.baseUrl, 'DELETE', `/v1/groups/${encodeURIComponent(groupId)}/members/${encodeURIComponent(userId)}`, {
      token: actor.token,
    });
  }
  async function rename(actor: TestUser, groupId: string, name: string) {
    return http(srv.baseUrl, 'PATCH', `/v1/groups/${encodeURIComponent(groupId)}`, { token: actor.token, body: { name } });
  }
  function roles(view: GroupView): Record<string, string> {
    return Object.fromEntries(view.members.map((m) => [m.user_id, m.role]));
  }
  async function send(sock: TestSocket, chatId: string, content: string): Promise<Frame> {
    const ack = await sock.sendMessage(chatId, content);
    assert.equal(ack.type, 'ack_sent', `send "${content}": ${JSON.stringify(ack)}`);
    return ack;
  }
  const groupUpdate = (groupId: string, event: string) => (f: Frame) =>
    f.type === 'group_update' && f.group_id === groupId && f.event === event;
  const sorted = (ids: string[]) => [...ids].sort();

  test('create: 201 with the creator as admin, duplicates folded, GET for members only, created frames', async () => {
    const [a, b, c, outsider] = await users(4, 'gcr');
    const [sa, sb, sc, so] = await Promise.all([open(a!), open(b!), open(c!), open(outsider!)]);
    const t0 = Date.now();
    // Duplicates (and the creator listed among the members) are folded into one membership each.
    const g = await createGroup(a!, 'Hikers', [b!.user_id, c!.user_id, b!.user_id, a!.user_id, c!.user_id]);
    assert.equal(typeof g.group_id, 'string');
    assert.ok(g.group_id.length > 0);
    assert.equal(g.chat_id, `g:${g.group_id}`);
    assert.equal(g.name, 'Hikers');
    assert.equal(typeof g.created_at, 'number');
    assert.ok(g.created_at >= t0 - 1000 && g.created_at <= Date.now() + 1000, `created_at ${g.created_at} is about now`);
    assert.equal(g.members.length, 3, `three members, duplicates folded: ${JSON.stringify(g.members)}`);
    assert.deepEqual(roles(g), { [a!.user_id]: 'admin', [b!.user_id]: 'member', [c!.user_id]: 'member' });

    // Every member's online device hears of the new group.
    for (const [s, who] of [
      [sa, 'creator'],
      [sb, 'b'],
      [sc, 'c'],
    ] as const) {
      const f = await s!.waitFor(groupUpdate(g.group_id, 'created'), 5000, `created frame at ${who}`);
      assert.equal(f.chat_id, g.chat_id);
      assert.equal(f.name, 'Hikers');
      assert.deepEqual(sorted(f.user_ids), sorted([a!.user_id, b!.user_id, c!.user_id]), `created frame user_ids at ${who}`);
    }

    for (const u of [a!, b!, c!]) {
      const res = await getGroup(u, g.group_id);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.group_id, g.group_id);
      assert.equal(res.body.chat_id, g.chat_id);
      assert.equal(res.body.name, 'Hikers');
      assert.equal(res.body.created_at, g.created_at);
      assert.deepEqual(roles(res.body), roles(g));
    }
    // Non-members (and ids of groups that do not exist) get 404, and no frame.
    assert.equal((await getGroup(outsider!, g.group_id)).status, 404);
    assert.equal((await getGroup(a!, '999999999999')).status, 404);
    assert.equal((await http(srv.baseUrl, 'GET', `/v1/groups/${g.group_id}`)).status, 401);
    assert.equal(so!.all('group_update').length, 0, `an outsider got ${JSON.stringify(so!.all('group_update'))}`);

    // A group of just the creator is fine too.
    const solo = await createGroup(a!, 'Solo', []);
    assert.deepEqual(roles(solo), { [a!.user_id]: 'admin' });
  });

  test('unknown member ids: 404 naming exactly the missing ids, nothing created', async () => {
    const [a, b] = await users(2, 'gnf');
    const missing = ['999999999999999001', '999999999999999002'];
    const res = await http(srv.baseUrl, 'POST', '/v1/groups', {
      token: a!.token,
      body: { name: 'Ghosts', member_ids: [b!.user_id, missing[0], missing[1], missing[0]] },
    });
    assert.equal(res.status, 404, JSON.stringify(res.body));
    assert.equal(res.body.error, 'not_found');
    assert.ok(Array.isArray(res.body.user_ids), `user_ids listed: ${JSON.stringify(res.body)}`);
    assert.deepEqual(sorted([...new Set(res.body.user_ids as string[])]), sorted(missing));
    const chats = await http(srv.baseUrl, 'GET', '/v1/chats', { token: b!.token });
    assert.deepEqual(chats.body.chats, [], 'no group was created');

    const g = await createGroup(a!, 'Real', [b!.user_id]);
    const add = await addMembers(a!, g.group_id, ['999999999999999003']);
    assert.equal(add.status, 404, JSON.stringify(add.body));
    assert.equal(add.body.error, 'not_found');
    assert.deepEqual(add.body.user_ids, ['999999999999999003']);
    assert.equal((await getGroup(a!, g.group_id)).body.members.length, 2);
  });

  test('add, remove, leave and rename: admins only, 403 for members, group_update frames to the members', async () => {
    const [a, b, c, d, e] = await users(5, 'gad');
    const [sa, sb, sc, sd] = await Promise.all([open(a!), open(b!), open(c!), open(d!)]);
    const g = await createGroup(a!, 'Team', [b!.user_id, c!.user_id]);

    // A plain member may not add, rename or remove others.
    const memberAdd = await addMembers(b!, g.group_id, [d!.user_id]);
    assert.equal(memberAdd.status, 403, JSON.stringify(memberAdd.body));
    assert.equal(memberAdd.body.error, 'forbidden');
    const memberRename = await rename(b!, g.group_id, 'Hijacked');
    assert.equal(memberRename.status, 403, JSON.stringify(memberRename.body));
    assert.equal(memberRename.body.error, 'forbidden');
    const memberRemove = await removeMember(b!, g.group_id, c!.user_id);
    assert.equal(memberRemove.status, 403, JSON.stringify(memberRemove.body));
    assert.equal(memberRemove.body.error, 'forbidden');
    // Nor may a non-member touch the group at all.
    assert.notEqual((await addMembers(d!, g.group_id, [d!.user_id])).status, 200);
    assert.notEqual((await removeMember(d!, g.group_id, b!.user_id)).status, 204);
    assert.notEqual((await rename(d!, g.group_id, 'Mine')).status, 200);
    {
      const view = (await getGroup(a!, g.group_id)).body;
      assert.equal(view.name, 'Team');
      assert.deepEqual(sorted(view.members.map((m) => m.user_id)), sorted([a!.user_id, b!.user_id, c!.user_id]));
    }

    // The admin adds d and e (e twice, and b who is already in: no-ops).
    const fromA = sa!.frames.length;
    const fromB = sb!.frames.length;
    const fromC = sc!.frames.length;
    const added = await addMembers(a!, g.group_id, [d!.user_id, e!.user_id, e!.user_id, b!.user_id]);
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.equal(added.body.group_id, g.group_id);
    assert.deepEqual(roles(added.body), {
      [a!.user_id]: 'admin',
      [b!.user_id]: 'member',
      [c!.user_id]: 'member',
      [d!.user_id]: 'member',
      [e!.user_id]: 'member',
    });
    for (const [s, from, who] of [
      [sa, fromA, 'a'],
      [sb, fromB, 'b'],
      [sc, fromC, 'c'],
      [sd, 0, 'd (the added member)'],
    ] as const) {
      const f = await s!.waitFor(groupUpdate(g.group_id, 'member_added'), 5000, `member_added at ${who}`, from);
      assert.deepEqual(sorted(f.user_ids), sorted([d!.user_id, e!.user_id]), `member_added user_ids at ${who}`);
      assert.equal(f.chat_id, g.chat_id);
      assert.equal(f.name, 'Team');
    }
    assert.equal((await getGroup(d!, g.group_id)).status, 200, 'the added member can see the group');

    // Rename: admin only; every member hears it.
    const renamed = await rename(a!, g.group_id, 'Dream Team');
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.equal(renamed.body.name, 'Dream Team');
    assert.equal(renamed.body.members.length, 5);
    for (const [s, who] of [
      [sa, 'a'],
      [sb, 'b'],
      [sc, 'c'],
      [sd, 'd'],
    ] as const) {
      const f = await s!.waitFor(groupUpdate(g.group_id, 'renamed'), 5000, `renamed at ${who}`);
      assert.equal(f.name, 'Dream Team');
      assert.equal(f.chat_id, g.chat_id);
    }
    assert.equal((await getGroup(c!, g.group_id)).body.name, 'Dream Team');

    // The admin removes c: 204; the others and c itself get member_removed.
    const beforeRemoveB = sb!.frames.length;
    const beforeRemoveC = sc!.frames.length;
    const removed = await removeMember(a!, g.group_id, c!.user_id);
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    for (const [s, from, who] of [
      [sb, beforeRemoveB, 'b'],
      [sc, beforeRemoveC, 'c (the removed member)'],
      [sd, 0, 'd'],
    ] as const) {
      const f = await s!.waitFor(groupUpdate(g.group_id, 'member_removed'), 5000, `member_removed at ${who}`, from);
      assert.deepEqual(f.user_ids, [c!.user_id]);
    }
    assert.equal((await getGroup(c!, g.group_id)).status, 404, 'a removed member no longer sees the group');

    // A member leaves by removing itself.
    const beforeLeaveA = sa!.frames.length;
    const left = await removeMember(d!, g.group_id, d!.user_id);
    assert.equal(left.status, 204, JSON.stringify(left.body));
    const f = await sa!.waitFor(groupUpdate(g.group_id, 'member_removed'), 5000, 'member_removed (leave) at a', beforeLeaveA);
    assert.deepEqual(f.user_ids, [d!.user_id]);
    await sd!.waitFor(
      (x) => groupUpdate(g.group_id, 'member_removed')(x) && x.user_ids.includes(d!.user_id),
      5000,
      'member_removed at the leaver',
    );
    const view = (await getGroup(a!, g.group_id)).body;
    assert.deepEqual(sorted(view.members.map((m) => m.user_id)), sorted([a!.user_id, b!.user_id, e!.user_id]));

    // c, removed, is a non-member again: it cannot re-add itself.
    assert.notEqual((await addMembers(c!, g.group_id, [c!.user_id])).status, 200);
    // Once c is gone, later events are not sent to it.
    await rename(a!, g.group_id, 'After c');
    await sb!.waitFor((x) => groupUpdate(g.group_id, 'renamed')(x) && x.name === 'After c', 5000, 'second rename at b');
    await assertNoFrameWithin(
      sc!,
      (x) => x.type === 'group_update' && x.group_id === g.group_id && x.event !== 'member_removed' && x.name === 'After c',
      200,
      'group_update for a removed member',
    );
  });

  test('the last admin leaving promotes the oldest remaining member', async () => {
    const [a, b, c, d] = await users(4, 'gla');
    const g = await createGroup(a!, 'Relay', [b!.user_id]);
    await sleep(20);
    assert.equal((await addMembers(a!, g.group_id, [c!.user_id])).status, 200);
    await sleep(20);
    assert.equal((await addMembers(a!, g.group_id, [d!.user_id])).status, 200);

    assert.equal((await removeMember(a!, g.group_id, a!.user_id)).status, 204);
    let view = (await getGroup(b!, g.group_id)).body;
    assert.deepEqual(
      roles(view),
      { [b!.user_id]: 'admin', [c!.user_id]: 'member', [d!.user_id]: 'member' },
      'b, the oldest member, is promoted',
    );
    // The new admin has admin powers.
    const renamed = await rename(b!, g.group_id, 'Relay 2');
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));

    assert.equal((await removeMember(b!, g.group_id, b!.user_id)).status, 204);
    view = (await getGroup(c!, g.group_id)).body;
    assert.deepEqual(roles(view), { [c!.user_id]: 'admin', [d!.user_id]: 'member' }, 'c joined before d, so c is promoted');
    assert.equal((await removeMember(c!, g.group_id, d!.user_id)).status, 204, 'the promoted admin can remove others');
  });

  test('a removed member receives nothing sent after its removal and can neither read nor send', async () => {
    const [a, b, c] = await users(3, 'grm');
    const [sa, sb, sc] = await Promise.all([open(a!), open(b!), open(c!)]);
    const g = await createGroup(a!, 'Leaky?', [b!.user_id, c!.user_id]);
    const m1 = await send(sa!, g.chat_id, 'before removal');
    await waitForMessages(sb!, g.chat_id, [m1.message_id]);
    await waitForMessages(sc!, g.chat_id, [m1.message_id]);

    const fromC = sc!.frames.length;
    assert.equal((await removeMember(a!, g.group_id, c!.user_id)).status, 204);
    await sc!.waitFor(groupUpdate(g.group_id, 'member_removed'), 5000, 'member_removed at c', fromC);

    const m2 = await send(sa!, g.chat_id, 'after removal secret');
    const m3 = await send(sb!, g.chat_id, 'after removal second');
    await waitForMessages(sb!, g.chat_id, [m2.message_id]);
    await waitForMessages(sa!, g.chat_id, [m3.message_id]);
    await assertNoFrameWithin(
      sc!,
      (f) => f.type === 'new_message' && f.chat_id === g.chat_id && f.seq > m1.seq,
      400,
      'new_message after removal',
      fromC,
    );

    // History and sending are refused.
    const hist = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(g.chat_id)}/messages`, { token: c!.token });
    assert.equal(hist.status, 403, JSON.stringify(hist.body));
    assert.equal(hist.body.error, 'not_a_member');
    const refused = await sc!.sendMessage(g.chat_id, 'let me back in');
    assert.equal(refused.type, 'error', JSON.stringify(refused));
    assert.equal(refused.code, 'not_a_member');
    assert.ok(
      !(await fetchHistory(srv.baseUrl, a!.token, g.chat_id)).some((m) => m.content === 'let me back in'),
      'the refused send was not stored',
    );

    // Nor does a fresh connection (another device of c) replay anything sent after the removal.
    const c2 = await login(srv.baseUrl, c!.username, c!.password, 'c2');
    const sc2 = await open(c2);
    const sc3 = await open(c!);
    await roundTrip(sc3);
    for (const s of [sc2, sc3]) {
      const leaked = s.all('new_message').filter((f) => f.chat_id === g.chat_id && f.seq > m1.seq);
      assert.deepEqual(leaked, [], 'replay after removal');
    }
    // The removed member's chat list does not show the group's later messages.
    const chats = await http(srv.baseUrl, 'GET', '/v1/chats', { token: c!.token });
    assert.equal(chats.status, 200);
    const row = (chats.body.chats as Frame[]).find((x) => x.chat_id === g.chat_id);
    assert.ok(
      !row || (row.last_message?.content !== 'after removal second' && row.last_message?.content !== 'after removal secret'),
      `chat list leaks: ${JSON.stringify(row)}`,
    );
  });

  test('a member who leaves receives nothing sent afterwards', async () => {
    const [a, b] = await users(2, 'glv');
    const [sa, sb] = await Promise.all([open(a!), open(b!)]);
    const g = await createGroup(a!, 'Leaving', [b!.user_id]);
    const fromB = sb!.frames.length;
    assert.equal((await removeMember(b!, g.group_id, b!.user_id)).status, 204);
    const m = await send(sa!, g.chat_id, 'after b left');
    assert.ok(m.seq >= 1);
    await assertNoFrameWithin(sb!, (f) => f.type === 'new_message' && f.chat_id === g.chat_id, 400, 'new_message after leaving', fromB);
    const refused = await sb!.sendMessage(g.chat_id, 'hello?');
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'not_a_member');
  });

  test('an added member receives only messages sent after it joined, live, by replay and in history', async () => {
    const [a, b, d] = await users(3, 'gaj');
    const [sa, sb, sd] = await Promise.all([open(a!), open(b!), open(d!)]);
    const g = await createGroup(a!, 'Late joiner', [b!.user_id]);
    const early = [await send(sa!, g.chat_id, 'early one zebra'), await send(sb!, g.chat_id, 'early two zebra')];
    await waitForMessages(sb!, g.chat_id, [early[0]!.message_id]);

    assert.equal((await addMembers(a!, g.group_id, [d!.user_id])).status, 200);
    await sd!.waitFor(groupUpdate(g.group_id, 'member_added'), 5000, 'member_added at d');
    {
      const hist = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(g.chat_id)}/messages`, { token: d!.token });
      assert.equal(hist.status, 200, JSON.stringify(hist.body));
      assert.deepEqual(hist.body.messages, [], 'no history from before joining');
      const list = await http(srv.baseUrl, 'GET', '/v1/chats', { token: d!.token });
      const row = (list.body.chats as Frame[]).find((x) => x.chat_id === g.chat_id);
      assert.ok(row, `the group is in d's chat list: ${JSON.stringify(list.body)}`);
      assert.equal(row.last_message, null, 'no last_message from before joining');
      assert.equal(row.unread_count, 0);
    }

    const late = await send(sa!, g.chat_id, 'late zebra');
    await waitForMessages(sd!, g.chat_id, [late.message_id]);
    await sleep(100);
    const got = sd!.all('new_message').filter((f) => f.chat_id === g.chat_id);
    assert.deepEqual(
      got.map((f) => f.content),
      ['late zebra'],
      'live: only the message sent after joining',
    );
    const hist = await fetchHistory(srv.baseUrl, d!.token, g.chat_id);
    assert.deepEqual(
      hist.map((m) => m.content),
      ['late zebra'],
    );
    // A new device of d replays only what d may see.
    const d2 = await login(srv.baseUrl, d!.username, d!.password, 'd2');
    const sd2 = await open(d2);
    await roundTrip(sd2);
    const d3 = await open(d!);
    assert.deepEqual(
      d3
        .all('new_message')
        .filter((f) => f.chat_id === g.chat_id)
        .map((f) => f.content),
      ['late zebra'],
      'replay on reconnect: only the message sent after joining',
    );
    assert.deepEqual(
      sd2.all('new_message').filter((f) => f.chat_id === g.chat_id && f.seq <= early[1]!.seq),
      [],
    );
    // Search does not reach back either.
    const search = await http(srv.baseUrl, 'GET', `/v1/search?q=zebra`, { token: d!.token });
    assert.equal(search.status, 200);
    assert.deepEqual(
      (search.body.messages as Frame[]).map((m) => m.content),
      ['late zebra'],
    );
  });

  test('removed and added back on the same socket: nothing sent while it was out', async () => {
    const [a, c] = await users(2, 'grb');
    const [sa, sc] = await Promise.all([open(a!), open(c!)]);
    const g = await createGroup(a!, 'Revolving door', [c!.user_id]);
    const m1 = await send(sa!, g.chat_id, 'm1 while c is in');
    await waitForMessages(sc!, g.chat_id, [m1.message_id]);
    assert.equal((await removeMember(a!, g.group_id, c!.user_id)).status, 204);
    const m2 = await send(sa!, g.chat_id, 'm2 while c is out');
    const m3 = await send(sa!, g.chat_id, 'm3 while c is out');
    assert.equal((await addMembers(a!, g.group_id, [c!.user_id])).status, 200);
    const m4 = await send(sa!, g.chat_id, 'm4 after c is back');
    await waitForMessages(sc!, g.chat_id, [m4.message_id]);
    await sleep(100);
    const got = sc!.all('new_message').filter((f) => f.chat_id === g.chat_id);
    const leaked = got.filter((f) => f.message_id === m2.message_id || f.message_id === m3.message_id);
    assert.deepEqual(
      leaked.map((f) => f.content),
      [],
      `messages sent while c was not a member reached c's socket (got seqs ${JSON.stringify(got.map((f) => f.seq))})`,
    );
    const hist = await fetchHistory(srv.baseUrl, c!.token, g.chat_id);
    assert.deepEqual(
      hist.map((m) => m.content),
      ['m4 after c is back'],
    );
  });

  test('GET /v1/chats lists groups: kind group, title = name, last message, unread counts, most recent first', async () => {
    const [a, b] = await users(2, 'gcl');
    const [sa, sb] = await Promise.all([open(a!), open(b!)]);
    const g = await createGroup(a!, 'Book club', [b!.user_id]);
    const listFor = async (u: TestUser) => {
      const res = await http(srv.baseUrl, 'GET', '/v1/chats', { token: u.token });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.chats as Frame[];
    };
    {
      const row = (await listFor(b!)).find((x) => x.chat_id === g.chat_id);
      assert.ok(row, 'a new group is listed before any message');
      assert.equal(row.kind, 'group');
      assert.equal(row.title, 'Book club');
      assert.equal(row.last_seq, 0);
      assert.equal(row.last_message, null);
      assert.equal(row.unread_count, 0);
    }
    await send(sa!, g.chat_id, 'first chapter');
    const m2 = await send(sa!, g.chat_id, 'second chapter');
    await waitForMessages(sb!, g.chat_id, [m2.message_id]);
    await rename(a!, g.group_id, 'Book club (fiction)');
    {
      const row = (await listFor(b!)).find((x) => x.chat_id === g.chat_id)!;
      assert.equal(row.title, 'Book club (fiction)', 'the title follows a rename');
      assert.equal(row.kind, 'group');
      assert.equal(row.last_seq, m2.seq);
      assert.equal(row.last_message?.message_id, m2.message_id);
      assert.equal(row.last_message?.content, 'second chapter');
      assert.equal(row.unread_count, 2);
      const own = (await listFor(a!)).find((x) => x.chat_id === g.chat_id)!;
      assert.equal(own.unread_count, 0, "the sender's own messages are not unread");
    }
    sb!.send({ type: 'ack_read', chat_id: g.chat_id, last_read_message_id: m2.message_id });
    await roundTrip(sb!);
    {
      const row = (await listFor(b!)).find((x) => x.chat_id === g.chat_id)!;
      assert.equal(row.unread_count, 0);
      assert.equal(row.read_seq, m2.seq);
    }
    // A direct chat with activity after the group's comes first.
    const dm = directChatId(a!.user_id, b!.user_id);
    await send(sa!, dm, 'psst');
    const list = await listFor(b!);
    assert.deepEqual(
      list.map((x) => x.chat_id),
      [dm, g.chat_id],
    );
    assert.equal(list[0]!.kind, 'direct');
    // And the group comes back on top with its next message.
    await send(sb!, g.chat_id, 'third chapter');
    assert.deepEqual(
      (await listFor(a!)).map((x) => x.chat_id),
      [g.chat_id, dm],
    );
  });

  test('1,024 members at most: 422 group_too_large past it, on create and on add', async () => {
    const [creator] = await users(1, 'gbig');
    const seeded = await seedUsers(srv, 1024, 'gm');
    const ids = seeded.map((u) => u.user_id);

    const tooBig = await http(srv.baseUrl, 'POST', '/v1/groups', { token: creator!.token, body: { name: 'Too big', member_ids: ids } });
    assert.equal(tooBig.status, 422, `1,025 members: ${tooBig.status} ${JSON.stringify(tooBig.body).slice(0, 200)}`);
    assert.equal(tooBig.body.error, 'group_too_large');
    // However long the list: still 422, not a 400 for the list's length.
    const many = [...ids, ...Array.from({ length: 5000 }, (_, i) => `${9_000_000_000 + i}`)];
    const wayTooBig = await http(srv.baseUrl, 'POST', '/v1/groups', {
      token: creator!.token,
      body: { name: 'Way too big', member_ids: many },
    });
    assert.deepEqual([wayTooBig.status, wayTooBig.body.error], [422, 'group_too_large']);

    // Exactly 1,024 (1,023 + the creator) is allowed, duplicates do not count twice.
    const full = ids.slice(0, 1023);
    const ok = await http(srv.baseUrl, 'POST', '/v1/groups', {
      token: creator!.token,
      body: { name: 'Full', member_ids: [...full, ...full.slice(0, 500), creator!.user_id] },
    });
    assert.equal(ok.status, 201, `1,024 members: ${ok.status} ${JSON.stringify(ok.body).slice(0, 200)}`);
    assert.equal(ok.body.members.length, 1024);
    assert.equal(ok.body.members.filter((m: { role: string }) => m.role === 'admin').length, 1);

    const more = await addMembers(creator!, ok.body.group_id, [ids[1023]!]);
    assert.equal(more.status, 422, JSON.stringify(more.body).slice(0, 200));
    assert.equal(more.body.error, 'group_too_large');
    const manyMore = await addMembers(creator!, ok.body.group_id, many);
    assert.deepEqual([manyMore.status, manyMore.body.error], [422, 'group_too_large']);
    // Re-adding existing members to a full group is not growth.
    const same = await addMembers(creator!, ok.body.group_id, [ids[0]!]);
    assert.equal(same.status, 200, JSON.stringify(same.body).slice(0, 200));
    assert.equal(same.body.members.length, 1024);
    // After one leaves there is room for one more.
    assert.equal((await removeMember(seeded[5]!, ok.body.group_id, seeded[5]!.user_id)).status, 204);
    const room = await addMembers(creator!, ok.body.group_id, [ids[1023]!]);
    assert.equal(room.status, 200, JSON.stringify(room.body).slice(0, 200));
    assert.equal(room.body.members.length, 1024);
  });
});
