import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloseCode, directChatId } from '@switchboard/protocol';
import sharp from 'sharp';
import { http, login, registerUser, sleep, TestSocket, type TestUser } from '../testing/harness.js';
import { hashPassword } from '../core/passwords.js';
import { download, upload } from './media-support.js';

/*
 * The operator's API (PROTOCOL.md "Operators") and reports ("People"), run against real
 * servers in each mode: admin.test.ts (embedded) and admin-cluster.test.ts (two nodes).
 */

export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789abcdef';
/** Nodes run with this idle expiry, so a bot token's exemption shows in a test. */
export const IDLE_MS = 3000;
/** And this report bucket: a burst of 4. */
export const REPORT_LIMIT = '4:0.001';

export interface AdminCtx {
  /** Node A and node B (the same node in embedded mode). */
  a(): { baseUrl: string; wsUrl: string };
  b(): { baseUrl: string; wsUrl: string };
  /** One query on the store ($1.. placeholders; booleans as 0/1 or true/false). */
  sql(text: string, values?: unknown[]): Promise<Record<string, any>[]>;
}

const admin = (baseUrl: string, method: string, path: string, body?: unknown, token = ADMIN_TOKEN) =>
  fetch(baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).then(async (r) => {
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  });

async function dm(from: TestUser, to: TestUser, wsUrl: string, texts: string[]): Promise<string[]> {
  const sock = await TestSocket.connectSynced(wsUrl, from.token);
  try {
    const ids: string[] = [];
    for (const t of texts) {
      const ack = await sock.sendMessage(directChatId(from.user_id, to.user_id), t);
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      ids.push(ack.message_id as string);
    }
    return ids;
  } finally {
    sock.terminate();
  }
}

export function adminTests(ctx: AdminCtx): void {
  test('admin calls refuse a missing or wrong token with 401', async () => {
    const { baseUrl } = ctx.a();
    for (const token of ['', 'x'.repeat(40), ADMIN_TOKEN.slice(0, -1)]) {
      for (const [m, p] of [
        ['GET', '/v1/admin/users'],
        ['GET', '/v1/admin/reports'],
        ['POST', '/v1/admin/bots'],
        ['POST', '/v1/admin/users/1/suspend'],
        ['DELETE', '/v1/admin/messages/1'],
      ] as const) {
        const r = await admin(baseUrl, m, p, undefined, token);
        assert.equal(r.status, 401, `${m} ${p} with ${JSON.stringify(token)}`);
      }
    }
    const u = await registerUser(baseUrl, 'adm');
    assert.equal((await admin(baseUrl, 'GET', '/v1/admin/users', undefined, u.token)).status, 401, "a user's token is no admin token");
  });

  test('GET /v1/admin/users lists by username, with a prefix and an opaque cursor', async () => {
    const { baseUrl } = ctx.a();
    const prefix = `lst${Math.floor(Math.random() * 1e6)}`;
    const users = [];
    for (let i = 0; i < 3; i++) users.push(await registerUser(baseUrl, prefix));
    const want = users.map((u) => u.username).sort();
    const p1 = await admin(baseUrl, 'GET', `/v1/admin/users?prefix=${prefix}&limit=2`);
    assert.equal(p1.status, 200);
    assert.deepEqual(
      p1.body.users.map((u: { username: string }) => u.username),
      want.slice(0, 2),
    );
    assert.equal(typeof p1.body.next_cursor, 'string');
    const first = p1.body.users[0];
    assert.deepEqual(Object.keys(first).sort(), ['created_at', 'display_name', 'suspended', 'user_id', 'username']);
    assert.equal(first.suspended, false);
    const p2 = await admin(
      ctx.b().baseUrl,
      'GET',
      `/v1/admin/users?prefix=${prefix}&limit=2&after=${encodeURIComponent(p1.body.next_cursor)}`,
    );
    assert.deepEqual(
      p2.body.users.map((u: { username: string }) => u.username),
      want.slice(2),
    );
    assert.equal(p2.body.next_cursor, null);
    assert.equal((await admin(baseUrl, 'GET', '/v1/admin/users?limit=0')).status, 400);
    assert.equal((await admin(baseUrl, 'GET', '/v1/admin/users?limit=201')).status, 400);
    assert.equal((await admin(baseUrl, 'GET', '/v1/admin/users?after=garbage')).status, 400);
    const all = await admin(baseUrl, 'GET', '/v1/admin/users');
    assert.ok(all.body.users.length <= 50);
  });

  test('suspend on node A: the socket on node B closes with 4100 within a second, tokens and logins are refused; unsuspend restores logins', async () => {
    const [a, b] = [ctx.a(), ctx.b()];
    const u = await registerUser(a.baseUrl, 'sus');
    const sock = await TestSocket.connectSynced(b.wsUrl, u.token);
    try {
      assert.equal((await admin(a.baseUrl, 'POST', `/v1/admin/users/${u.user_id}/suspend`)).status, 204);
      const closed = await Promise.race([sock.closed, sleep(1000).then(() => 'still open after 1 s')]);
      assert.equal(closed, CloseCode.sessionRevoked);
    } finally {
      sock.terminate();
    }
    for (const n of [a, b]) {
      assert.equal((await http(n.baseUrl, 'GET', '/v1/users/me', { token: u.token })).status, 401, `token on ${n.baseUrl}`);
      await assert.rejects(TestSocket.connect(n.wsUrl, u.token), /upgrade refused: 401/);
      const login = await http(n.baseUrl, 'POST', '/v1/sessions', { body: { username: u.username, password: u.password } });
      assert.equal(login.status, 403);
      assert.equal(login.body.error, 'suspended');
      const wrong = await http(n.baseUrl, 'POST', '/v1/sessions', { body: { username: u.username, password: 'not the password' } });
      assert.equal(wrong.status, 401, 'a wrong password learns nothing of the suspension');
    }
    const listed = await admin(a.baseUrl, 'GET', `/v1/admin/users?prefix=${u.username}`);
    assert.equal(listed.body.users[0].suspended, true);
    assert.equal((await admin(b.baseUrl, 'POST', `/v1/admin/users/${u.user_id}/unsuspend`)).status, 204);
    const again = await http(a.baseUrl, 'POST', '/v1/sessions', { body: { username: u.username, password: u.password } });
    assert.equal(again.status, 201);
    assert.equal((await http(b.baseUrl, 'GET', '/v1/users/me', { token: again.body.token })).status, 200);
    assert.equal(
      (await http(b.baseUrl, 'GET', '/v1/users/me', { token: u.token })).status,
      401,
      'suspension ended the old sessions for good',
    );
    assert.equal((await admin(a.baseUrl, 'POST', '/v1/admin/users/nobody/suspend')).status, 404);
    assert.equal((await admin(a.baseUrl, 'POST', '/v1/admin/users/nobody/unsuspend')).status, 404);
  });

  test('the store itself refuses the tokens of a suspended user (a session created while suspending)', async () => {
    const [a, b] = [ctx.a(), ctx.b()];
    const u = await registerUser(a.baseUrl, 'sst');
    assert.equal((await http(b.baseUrl, 'GET', '/v1/users/me', { token: u.token })).status, 200);
    // Suspended without its sessions ended, as if a login had slipped in past the suspension.
    await ctx.sql('UPDATE users SET suspended = (1 = 1) WHERE id = $1', [u.user_id]);
    for (const n of [a, b]) assert.equal((await http(n.baseUrl, 'GET', '/v1/users/me', { token: u.token })).status, 401);
    await assert.rejects(TestSocket.connect(b.wsUrl, u.token), /upgrade refused: 401/);
  });

  test('DELETE /v1/admin/messages erases the message as a delete for everyone, with a message_update', async () => {
    const [a, b] = [ctx.a(), ctx.b()];
    const alice = await registerUser(a.baseUrl, 'dma');
    const bob = await registerUser(a.baseUrl, 'dmb');
    const [id] = await dm(alice, bob, a.wsUrl, ['a secret to erase']);
    const sock = await TestSocket.connectSynced(b.wsUrl, bob.token);
    try {
      assert.equal((await admin(a.baseUrl, 'DELETE', `/v1/admin/messages/${id}`)).status, 204);
      const upd = await sock.nextWhere((f) => f.type === 'message_update' && f.target_message_id === id, 5000, 'message_update');
      assert.equal(upd.action, 'delete');
    } finally {
      sock.terminate();
    }
    const chat = directChatId(alice.user_id, bob.user_id);
    const hist = await http(b.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chat)}/messages`, { token: bob.token });
    const m = hist.body.messages.find((x: { message_id: string }) => x.message_id === id);
    assert.equal(m.deleted, true);
    assert.equal(m.content, '');
    const [row] = await ctx.sql('SELECT content, deleted FROM messages WHERE id = $1', [id]);
    assert.equal(row?.content, '');
    assert.ok(row?.deleted);
    assert.equal((await admin(b.baseUrl, 'DELETE', `/v1/admin/messages/${id}`)).status, 204, 'a repeat: already erased');
    assert.equal((await admin(a.baseUrl, 'DELETE', '/v1/admin/messages/123456')).status, 404);
  });

  test("DELETE /v1/admin/messages of a message carrying the sender's current avatar keeps the avatar's bytes", async () => {
    const [a, b] = [ctx.a(), ctx.b()];
    const alice = await registerUser(a.baseUrl, 'ava');
    const bob = await registerUser(a.baseUrl, 'avb');
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 1, g: 2, b: 3 } } })
      .png()
      .toBuffer();
    const media = await upload(a.baseUrl, alice, png, 'image/png');
    const set = await http(a.baseUrl, 'PATCH', '/v1/users/me', { token: alice.token, body: { avatar_media_id: media } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const sock = await TestSocket.connectSynced(a.wsUrl, alice.token);
    let id: string;
    try {
      const chat = directChatId(alice.user_id, bob.user_id);
      sock.send({ type: 'send_message', chat_id: chat, client_msg_id: 'ad-av', content: '', attachments: [{ media_id: media }] });
      const ack = await sock.nextWhere((f) => f.client_msg_id === 'ad-av', 10_000, 'ack');
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      id = ack.message_id as string;
    } finally {
      sock.terminate();
    }
    assert.equal((await admin(b.baseUrl, 'DELETE', `/v1/admin/messages/${id}`)).status, 204);
    const [row] = await ctx.sql('SELECT deleted FROM messages WHERE id = $1', [id]);
    assert.ok(row?.deleted);
    const got = await download(b.baseUrl, bob, media);
    assert.equal(got.status, 200, "the avatar's bytes are still there");
    assert.ok(got.body.equals(png));
  });

  test("a sender cannot keep its message from the operator's delete by taking the delete's client_msg_id first", async () => {
    const [a, b] = [ctx.a(), ctx.b()];
    const alice = await registerUser(a.baseUrl, 'dsa');
    const bob = await registerUser(a.baseUrl, 'dsb');
    const [id] = await dm(alice, bob, a.wsUrl, ['abuse to be erased']);
    const chat = directChatId(alice.user_id, bob.user_id);
    const sock = await TestSocket.connectSynced(a.wsUrl, alice.token);
    try {
      // The key an operator's delete used to take: a client may send any id of up to 128 characters.
      for (const key of [`operator-delete:${id}`, `operator-delete:${id}`.padEnd(128, '~')]) {
        sock.send({ type: 'send_message', chat_id: chat, client_msg_id: key, content: 'squatting' });
        const ack = await sock.nextWhere((f) => f.type === 'ack_sent' && f.client_msg_id === key, 5000, 'ack');
        assert.ok(ack.seq);
      }
    } finally {
      sock.terminate();
    }
    assert.equal((await admin(b.baseUrl, 'DELETE', `/v1/admin/messages/${id}`)).status, 204);
    const [row] = await ctx.sql('SELECT content, deleted FROM messages WHERE id = $1', [id]);
    assert.equal(row?.content, '', 'the message is erased');
    assert.ok(row?.deleted);
  });

  test('DELETE /v1/admin/users: sessions end, it leaves its groups, every message is erased, the username is free', async () => {
    const [a, b] = [ctx.a(), ctx.b()];
    const carol = await registerUser(a.baseUrl, 'dlc');
    const bob = await registerUser(a.baseUrl, 'dlb');
    const group = await http(a.baseUrl, 'POST', '/v1/groups', { token: bob.token, body: { name: 'g', member_ids: [carol.user_id] } });
    assert.equal(group.status, 201);
    const gchat = `g:${group.body.group_id}`;
    // More than one erasure batch (100).
    const ids = await dm(
      carol,
      bob,
      a.wsUrl,
      Array.from({ length: 130 }, (_, i) => `carol says ${i}`),
    );
    const cs = await TestSocket.connectSynced(a.wsUrl, carol.token);
    const gack = await cs.sendMessage(gchat, 'carol in the group');
    assert.equal(gack.type, 'ack_sent');
    ids.push(gack.message_id as string);
    // A fresh session: bob's first may have idled past SESSION_IDLE_MS while carol's messages were sent.
    const bobNow = await login(b.baseUrl, bob.username, bob.password);
    const bs = await TestSocket.connectSynced(b.wsUrl, bobNow.token);
    try {
      assert.equal((await admin(a.baseUrl, 'DELETE', `/v1/admin/users/${carol.user_id}`)).status, 204);
      assert.equal(await Promise.race([cs.closed, sleep(2000).then(() => 'open')]), CloseCode.sessionRevoked);
      const removed = await bs.nextWhere((f) => f.type === 'group_update' && f.event === 'member_removed', 5000, 'member_removed');
      assert.deepEqual(removed.user_ids, [carol.user_id]);
      await bs.nextWhere((f) => f.type === 'message_update' && f.target_message_id === gack.message_id, 5000, 'the group message erased');
    } finally {
      cs.terminate();
      bs.terminate();
    }
    const left = await ctx.sql(`SELECT id, content FROM messages WHERE sender_id = $1 AND kind = 'message'`, [carol.user_id]);
    assert.equal(left.length, ids.length);
    assert.deepEqual(
      left.filter((r) => r.content !== ''),
      [],
      'every message of the deleted user is erased in the store',
    );
    const live = await ctx.sql('SELECT id FROM devices WHERE user_id = $1 AND revoked_at IS NULL', [carol.user_id]);
    assert.deepEqual(live, []);
    assert.equal((await http(b.baseUrl, 'GET', '/v1/users/me', { token: carol.token })).status, 401);
    // Again fresh: the erasure may take longer than SESSION_IDLE_MS on a busy machine.
    const bob2 = await login(b.baseUrl, bob.username, bob.password);
    assert.equal((await http(b.baseUrl, 'GET', `/v1/users/${carol.user_id}`, { token: bob2.token })).status, 404);
    const g = await http(b.baseUrl, 'GET', `/v1/groups/${group.body.group_id}`, { token: bob2.token });
    assert.deepEqual(
      g.body.members.map((m: { user_id: string }) => m.user_id),
      [bob.user_id],
    );
    const listed = await admin(a.baseUrl, 'GET', `/v1/admin/users?prefix=${carol.username}`);
    assert.deepEqual(listed.body.users, []);
    const reuse = await http(b.baseUrl, 'POST', '/v1/users', { body: { username: carol.username, password: 'another password' } });
    assert.equal(reuse.status, 201, 'the username is free again');
    assert.notEqual(reuse.body.user_id, carol.user_id);
    assert.equal((await admin(a.baseUrl, 'DELETE', `/v1/admin/users/${carol.user_id}`)).status, 204, 'a repeat finishes (nothing left)');
    assert.equal((await admin(a.baseUrl, 'DELETE', '/v1/admin/users/nobody')).status, 404);
  });

  test("a deleted account's existing direct chat refuses the other side's sends, edits and reactions (chat_not_found); deletes still work", async () => {
    const [a, b] = [ctx.a(), ctx.b()];
    const dora = await registerUser(a.baseUrl, 'ddd');
    const bob = await registerUser(a.baseUrl, 'ddb');
    const chat = directChatId(dora.user_id, bob.user_id);
    await dm(dora, bob, a.wsUrl, ['hi bob']);
    const [mine] = await dm(bob, dora, a.wsUrl, ['hi dora']);
    assert.equal((await admin(a.baseUrl, 'DELETE', `/v1/admin/users/${dora.user_id}`)).status, 204);
    const [before] = await ctx.sql('SELECT last_seq FROM chats WHERE id = $1', [chat]);
    const sock = await TestSocket.connectSynced(b.wsUrl, bob.token);
    try {
      const refused = await sock.sendMessage(chat, 'anyone there?');
      assert.equal(refused.type, 'error', JSON.stringify(refused));
      assert.equal(refused.code, 'chat_not_found');
      for (const frame of [
        { type: 'edit_message', chat_id: chat, client_msg_id: 'dd-edit', message_id: mine, content: 'edited' },
        { type: 'react', chat_id: chat, client_msg_id: 'dd-react', message_id: mine, emoji: 'x' },
      ]) {
        sock.send(frame);
        const err = await sock.nextWhere((f) => f.client_msg_id === frame.client_msg_id, 5000, frame.type);
        assert.equal(err.type, 'error', JSON.stringify(err));
        assert.equal(err.code, 'chat_not_found', frame.type);
      }
      const [after] = await ctx.sql('SELECT last_seq FROM chats WHERE id = $1', [chat]);
      assert.equal(Number(after!.last_seq), Number(before!.last_seq), 'nothing was stored');
      // One may still take back what one said.
      sock.send({ type: 'delete_message', chat_id: chat, client_msg_id: 'dd-delete', message_id: mine });
      const del = await sock.nextWhere((f) => f.client_msg_id === 'dd-delete', 5000, 'delete ack');
      assert.equal(del.type, 'ack_sent', JSON.stringify(del));
    } finally {
      sock.terminate();
    }
    const bob2 = await login(a.baseUrl, bob.username, bob.password);
    const hist = await http(a.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chat)}/messages`, { token: bob2.token });
    assert.equal(hist.status, 200, 'the chat stays readable');
  });

  test('a login racing a suspension creates no session that works after the unsuspend', async () => {
    const [a, b] = [ctx.a(), ctx.b()];
    const u = await registerUser(a.baseUrl, 'lrs');
    // A costly hash for this user alone (64 MiB; verifying costs what the stored hash
    // says), and one hash at a time on the node (PASSWORD_HASH_CONCURRENCY=1): these
    // logins read the user at once, then wait their turn for the hash, and the suspension
    // lands while they wait.
    await ctx.sql('UPDATE users SET password_hash = $1 WHERE id = $2', [await hashPassword(u.password, 65_536), u.user_id]);
    const logins = Array.from({ length: 8 }, () =>
      http(a.baseUrl, 'POST', '/v1/sessions', { body: { username: u.username, password: u.password } }),
    );
    await Promise.race(logins);
    assert.equal((await admin(b.baseUrl, 'POST', `/v1/admin/users/${u.user_id}/suspend`)).status, 204);
    const answers = await Promise.all(logins);
    assert.ok(
      answers.every((r) => r.status === 201 || (r.status === 403 && r.body.error === 'suspended')),
      JSON.stringify(answers.map((r) => r.status)),
    );
    assert.equal((await admin(a.baseUrl, 'POST', `/v1/admin/users/${u.user_id}/unsuspend`)).status, 204);
    const live = await ctx.sql('SELECT id FROM devices WHERE user_id = $1 AND revoked_at IS NULL', [u.user_id]);
    assert.deepEqual(live, [], 'no live device outlived the suspension');
    for (const r of answers.filter((x) => x.status === 201)) {
      for (const n of [a, b]) {
        const me = await http(n.baseUrl, 'GET', '/v1/users/me', { token: r.body.token });
        assert.equal(me.status, 401, 'a session from before the unsuspend stays dead');
      }
    }
    assert.ok(
      answers.some((r) => r.status === 403),
      `some login must have waited past the suspension: ${JSON.stringify(answers.map((r) => r.status))}`,
    );
  });

  test('POST /v1/reports: only about someone one shares a chat with or a message one sees; the operator pages through them', async () => {
    const [a, b] = [ctx.a(), ctx.b()];
    const alice = await registerUser(a.baseUrl, 'rpa');
    const bob = await registerUser(a.baseUrl, 'rpb');
    const stranger = await registerUser(a.baseUrl, 'rps');
    const other = await registerUser(a.baseUrl, 'rpo');
    const [mine] = await dm(alice, bob, a.wsUrl, ['hello bob']);
    const [hidden] = await dm(stranger, other, a.wsUrl, ['not for bob']);
    const report = (u: TestUser, body: unknown, n = a) => http(n.baseUrl, 'POST', '/v1/reports', { token: u.token, body });
    const r1 = await report(bob, { user_id: alice.user_id, reason: 'spam' });
    assert.equal(r1.status, 201, JSON.stringify(r1.body));
    assert.equal(typeof r1.body.report_id, 'string');
    const r2 = await report(bob, { user_id: alice.user_id, message_id: mine, reason: 'abuse', note: 'rude' }, b);
    assert.equal(r2.status, 201);
    assert.equal((await report(bob, { user_id: stranger.user_id, reason: 'spam' })).status, 404, 'no shared chat');
    assert.equal(
      (await report(bob, { user_id: stranger.user_id, message_id: hidden, reason: 'spam' })).status,
      404,
      'a message bob cannot see',
    );
    assert.equal((await report(bob, { user_id: alice.user_id, reason: 'bad' })).status, 400);
    assert.equal((await report(bob, { user_id: alice.user_id, reason: 'other', note: 'x'.repeat(1001) })).status, 400);
    assert.equal((await report(bob, { user_id: bob.user_id, reason: 'other' })).status, 400);
    assert.equal((await http(a.baseUrl, 'POST', '/v1/reports', { body: { user_id: alice.user_id, reason: 'spam' } })).status, 401);
    // The bucket (LIMIT_REPORTS=4:0.001) has room for no more than 4 in a row.
    const r3 = await report(alice, { user_id: bob.user_id, reason: 'other', note: 'three' });
    assert.equal(r3.status, 201);
    let limited = 0;
    for (let i = 0; i < 6; i++) if ((await report(alice, { user_id: bob.user_id, reason: 'other' })).status === 429) limited++;
    assert.ok(limited >= 2, 'reports are rate-limited per user');
    // Page through every report, two at a time, and find ours in order.
    const seen: Record<string, any>[] = [];
    let after: string | null = null;
    do {
      const q: string = after ? `&after=${encodeURIComponent(after)}` : '';
      const page = await admin(b.baseUrl, 'GET', `/v1/admin/reports?limit=2${q}`);
      assert.equal(page.status, 200);
      assert.ok(page.body.reports.length <= 2);
      seen.push(...page.body.reports);
      after = page.body.next_cursor;
    } while (after);
    assert.equal(new Set(seen.map((r) => r.report_id)).size, seen.length, 'no report twice');
    const ours = seen.filter((r) => [r1.body.report_id, r2.body.report_id, r3.body.report_id].includes(r.report_id));
    assert.deepEqual(
      ours.map((r) => r.report_id),
      [r1.body.report_id, r2.body.report_id, r3.body.report_id],
    );
    assert.deepEqual(ours[1]!, {
      report_id: r2.body.report_id,
      reporter_id: bob.user_id,
      user_id: alice.user_id,
      message_id: mine,
      reason: 'abuse',
      note: 'rude',
      created_at: ours[1]!.created_at,
    });
    assert.equal(ours[0]!.message_id, null);
  });

  test('POST /v1/admin/bots: a bot uses the API and socket, cannot log in, and its token outlives the idle expiry', async () => {
    const [a, b] = [ctx.a(), ctx.b()];
    const human = await registerUser(a.baseUrl, 'bth');
    const username = `bot_${Math.floor(Math.random() * 1e9)}`;
    const made = await admin(a.baseUrl, 'POST', '/v1/admin/bots', { username, display_name: 'Helper' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const { user_id, token } = made.body;
    const me = await http(b.baseUrl, 'GET', '/v1/users/me', { token });
    assert.deepEqual(me.body, { user_id, username, display_name: 'Helper' });
    assert.equal((await admin(a.baseUrl, 'POST', '/v1/admin/bots', { username })).status, 409);
    assert.equal((await admin(a.baseUrl, 'POST', '/v1/admin/bots', { username: 'NO' })).status, 400);
    for (const password of ['', 'bot', 'anything at all']) {
      const r = await http(a.baseUrl, 'POST', '/v1/sessions', { body: { username, password } });
      assert.equal(r.status, 401, `login with ${JSON.stringify(password)}`);
    }
    const bot = { user_id, token, username, password: '', device_id: '' };
    await dm(bot, human, b.wsUrl, ['beep']);
    // Both idle past SESSION_IDLE_MS: the human's session is over, the bot's is not.
    await sleep(IDLE_MS + 700);
    assert.equal((await http(a.baseUrl, 'GET', '/v1/users/me', { token: human.token })).status, 401, 'an idle human session expires');
    assert.equal((await http(a.baseUrl, 'GET', '/v1/users/me', { token })).status, 200, 'the bot token does not');
    const sock = await TestSocket.connectSynced(b.wsUrl, token);
    sock.terminate();
  });

  test('a suspended bot comes back with a new token from POST /v1/admin/bots/{id}/token; the old token stays dead', async () => {
    const [a, b] = [ctx.a(), ctx.b()];
    const human = await registerUser(a.baseUrl, 'bsh');
    const username = `bot_${Math.floor(Math.random() * 1e9)}`;
    const made = await admin(a.baseUrl, 'POST', '/v1/admin/bots', { username });
    assert.equal(made.status, 201);
    const { user_id, token } = made.body;
    const first = await TestSocket.connectSynced(b.wsUrl, token);
    try {
      assert.equal((await admin(a.baseUrl, 'POST', `/v1/admin/users/${user_id}/suspend`)).status, 204);
      assert.equal(await Promise.race([first.closed, sleep(2000).then(() => 'open')]), CloseCode.sessionRevoked);
    } finally {
      first.terminate();
    }
    const whileSuspended = await admin(b.baseUrl, 'POST', `/v1/admin/bots/${user_id}/token`);
    assert.equal(whileSuspended.status, 403, 'no new token while suspended');
    assert.equal(whileSuspended.body.error, 'suspended');
    assert.equal((await admin(a.baseUrl, 'POST', `/v1/admin/users/${user_id}/unsuspend`)).status, 204);
    assert.equal((await http(a.baseUrl, 'GET', '/v1/users/me', { token })).status, 401, 'the token the suspension ended stays dead');
    const renewed = await admin(b.baseUrl, 'POST', `/v1/admin/bots/${user_id}/token`);
    assert.equal(renewed.status, 201, JSON.stringify(renewed.body));
    assert.equal(renewed.body.user_id, user_id);
    assert.notEqual(renewed.body.token, token);
    const me = await http(a.baseUrl, 'GET', '/v1/users/me', { token: renewed.body.token });
    assert.equal(me.status, 200);
    assert.equal(me.body.username, username);
    const bot = { user_id, token: renewed.body.token as string, username, password: '', device_id: '' };
    await dm(bot, human, a.wsUrl, ['back again']);
    // Another new token ends this one at once, its socket included (a leaked token replaced).
    const sock = await TestSocket.connectSynced(a.wsUrl, bot.token);
    try {
      const again = await admin(b.baseUrl, 'POST', `/v1/admin/bots/${user_id}/token`);
      assert.equal(again.status, 201);
      assert.equal(await Promise.race([sock.closed, sleep(2000).then(() => 'open')]), CloseCode.sessionRevoked);
      assert.equal((await http(b.baseUrl, 'GET', '/v1/users/me', { token: bot.token })).status, 401);
      assert.equal((await http(b.baseUrl, 'GET', '/v1/users/me', { token: again.body.token })).status, 200);
    } finally {
      sock.terminate();
    }
    assert.equal((await admin(a.baseUrl, 'POST', `/v1/admin/bots/${human.user_id}/token`)).status, 404, 'a human is no bot');
    assert.equal((await admin(a.baseUrl, 'POST', '/v1/admin/bots/nobody/token')).status, 404);
    assert.equal((await admin(a.baseUrl, 'POST', `/v1/admin/bots/${user_id}/token`, undefined, 'x'.repeat(40))).status, 401);
  });
}
