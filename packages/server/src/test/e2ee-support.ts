import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { DEFAULT_LIMITS } from '../core/limit-settings.js';
import { http, login, registerUser, TestSocket, type TestUser } from '../testing/harness.js';

/*
 * docs/e2ee.md, the MLS Delivery Service, as a suite run in both modes: embedded (one
 * server) and cluster (two nodes: `a` calls go to node 0, `b` calls to node 1, so every
 * rule, the one-commit-per-epoch race included, is also seen across nodes). The server never
 * parses MLS bytes, so random base64 stands in for them here; the SDK's tests use real ones.
 */

export interface E2eeTarget {
  a: { baseUrl: string; wsUrl: string };
  b: { baseUrl: string; wsUrl: string };
}

const blob = (n = 48) => randomBytes(n).toString('base64');

/** A raw POST, for the status, the body and Retry-After (which `http` does not answer). */
export async function post(baseUrl: string, path: string, token: string, body: unknown) {
  const res = await fetch(baseUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any, retryAfter: res.headers.get('retry-after') };
}

export function e2eeSuite(target: () => E2eeTarget): void {
  const sockets: TestSocket[] = [];
  after(() => sockets.forEach((s) => s.terminate()));
  const open = async (wsUrl: string, u: TestUser) => {
    const s = await TestSocket.connectSynced(wsUrl, u.token);
    sockets.push(s);
    return s;
  };
  const encryptedGroup = async (admin: TestUser, members: TestUser[], encrypted = true) => {
    const res = await http(target().a.baseUrl, 'POST', '/v1/groups', {
      token: admin.token,
      body: { name: 'secret', member_ids: members.map((m) => m.user_id), encrypted },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { chat_id: string; group_id: string; encrypted?: true };
  };
  const commit = (base: string, u: TestUser, chatId: string, body: Record<string, unknown>) =>
    http(base, 'POST', `/v1/chats/${encodeURIComponent(chatId)}/mls/commits`, {
      token: u.token,
      body: { client_msg_id: randomUUID(), commit: blob(), group_info: blob(), ...body },
    });

  test('key packages: a batch in, one per device out (one-use ones consumed), the last-resort one reused, counts to top up', async () => {
    const { a, b } = target();
    const alice = await registerUser(a.baseUrl, 'kpa');
    const bob = await registerUser(a.baseUrl, 'kpb');
    const bob2 = await login(b.baseUrl, bob.username, bob.password, 'laptop');
    const bob3 = await login(b.baseUrl, bob.username, bob.password, 'tablet');
    const kps = [blob(), blob()];
    const up = await http(a.baseUrl, 'POST', '/v1/mls/key-packages', {
      token: bob.token,
      body: { key_packages: kps, last_resort: blob() },
    });
    assert.equal(up.status, 201, JSON.stringify(up.body));
    assert.deepEqual(up.body, { available: 2, last_resort: true });
    const lr2 = blob();
    assert.equal((await http(b.baseUrl, 'POST', '/v1/mls/key-packages', { token: bob2.token, body: { last_resort: lr2 } })).status, 201);
    assert.deepEqual((await http(b.baseUrl, 'GET', '/v1/mls/key-packages', { token: bob2.token })).body, {
      available: 0,
      last_resort: true,
    });

    const claim = async (base: string) =>
      (await http(base, 'POST', '/v1/mls/key-packages/claim', { token: alice.token, body: { user_ids: [bob.user_id] } })).body;
    const first = await claim(b.baseUrl);
    const byDevice = (r: any, id: string) => r.key_packages.find((k: any) => k.device_id === id);
    assert.deepEqual(byDevice(first, bob.device_id), {
      user_id: bob.user_id,
      device_id: bob.device_id,
      key_package: kps[0],
      last_resort: false,
    });
    assert.deepEqual(byDevice(first, bob2.device_id), {
      user_id: bob.user_id,
      device_id: bob2.device_id,
      key_package: lr2,
      last_resort: true,
    });
    assert.deepEqual(first.missing, [{ user_id: bob.user_id, device_id: bob3.device_id }]);
    assert.equal(byDevice(await claim(a.baseUrl), bob.device_id).key_package, kps[1]);
    const third = byDevice(await claim(b.baseUrl), bob.device_id);
    assert.equal(third.last_resort, true, 'one-use ones gone: the last-resort one');
    assert.equal(byDevice(await claim(a.baseUrl), bob.device_id).key_package, third.key_package, 'and it is kept');
    assert.deepEqual((await http(a.baseUrl, 'GET', '/v1/mls/key-packages', { token: bob.token })).body, {
      available: 0,
      last_resort: true,
    });

    // The caller's own device is never handed its own package; its other devices are.
    const own = (await http(a.baseUrl, 'POST', '/v1/mls/key-packages/claim', { token: bob.token, body: { user_ids: [bob.user_id] } })).body;
    assert.deepEqual(own.key_packages.map((k: any) => k.device_id).sort(), [bob2.device_id]);
    // A revoked device is no longer handed out.
    assert.equal((await http(b.baseUrl, 'DELETE', '/v1/sessions/current', { token: bob2.token })).status, 204);
    const later = await claim(a.baseUrl);
    assert.equal(byDevice(later, bob2.device_id), undefined);

    const bad = await http(a.baseUrl, 'POST', '/v1/mls/key-packages', { token: alice.token, body: { key_packages: ['not base64!'] } });
    assert.equal(bad.status, 400);
    const empty = await http(a.baseUrl, 'POST', '/v1/mls/key-packages', { token: alice.token, body: {} });
    assert.equal(empty.status, 400);
  });

  test('at most 500 unused key packages per device: more is refused whole with 422 too_many_key_packages', async () => {
    const { a } = target();
    const u = await registerUser(a.baseUrl, 'kpmax');
    for (let i = 0; i < 5; i++) {
      const r = await http(a.baseUrl, 'POST', '/v1/mls/key-packages', {
        token: u.token,
        body: { key_packages: Array.from({ length: 100 }, () => blob(8)) },
      });
      assert.equal(r.status, 201);
    }
    const over = await http(a.baseUrl, 'POST', '/v1/mls/key-packages', { token: u.token, body: { key_packages: [blob(8)] } });
    assert.equal(over.status, 422);
    assert.equal(over.body.error, 'too_many_key_packages');
    assert.equal((await http(a.baseUrl, 'GET', '/v1/mls/key-packages', { token: u.token })).body.available, 500);
  });

  test('a claim loop naming one user is refused (429, Retry-After) after the per-target burst, on any node; the victim keeps the rest', async () => {
    const { a, b } = target();
    const [mallory, victim, bystander, carol] = await Promise.all(['cla', 'clv', 'clb', 'clc'].map((p) => registerUser(a.baseUrl, p)));
    const stock = 30;
    for (const u of [victim!, carol!]) {
      const up = await http(a.baseUrl, 'POST', '/v1/mls/key-packages', {
        token: u.token,
        body: { key_packages: Array.from({ length: stock }, () => blob(16)), last_resort: blob(16) },
      });
      assert.equal(up.status, 201, JSON.stringify(up.body));
    }
    const claim = (base: string, u: TestUser, ids: string[]) => post(base, '/v1/mls/key-packages/claim', u.token, { user_ids: ids });
    const burst = DEFAULT_LIMITS.mlsClaimsPerTarget.capacity;
    let refused: Awaited<ReturnType<typeof claim>> | undefined;
    let claimed = 0;
    // Alternating nodes: in a cluster the bucket is shared (Redis), so the count is the same.
    for (let i = 0; i < burst + 20 && !refused; i++) {
      const r = await claim(i % 2 ? b.baseUrl : a.baseUrl, mallory!, [victim!.user_id]);
      if (r.status === 429) refused = r;
      else {
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.key_packages[0].last_resort, false);
        claimed++;
      }
    }
    assert.equal(claimed, burst, 'the claims that passed');
    assert.ok(refused, 'the loop was never refused');
    assert.equal(refused.body.error, 'rate_limited');
    assert.ok(refused.body.retry_after_ms > 0, JSON.stringify(refused.body));
    assert.equal(refused.retryAfter, String(Math.ceil(refused.body.retry_after_ms / 1000)));
    // Refused whole: a claim naming the victim and someone else takes nothing from either.
    assert.equal((await claim(b.baseUrl, mallory!, [carol!.user_id, victim!.user_id])).status, 429);
    const left = async (u: TestUser) => (await http(b.baseUrl, 'GET', '/v1/mls/key-packages', { token: u.token })).body.available;
    assert.equal(await left(victim!), stock - burst, 'the victim keeps the rest of its one-use packages');
    assert.equal(await left(carol!), stock);
    // Others are not affected: another claimer gets a one-use package of the victim, and the
    // flooder may still claim someone else.
    const other = await claim(b.baseUrl, bystander!, [victim!.user_id]);
    assert.equal(other.status, 200, JSON.stringify(other.body));
    assert.equal(other.body.key_packages[0].last_resort, false);
    assert.equal((await claim(a.baseUrl, mallory!, [carol!.user_id])).status, 200);
  });

  test('exactly one commit per epoch, however many race on two nodes; the losers get 409 stale_epoch with the current epoch', async () => {
    const { a, b } = target();
    const alice = await registerUser(a.baseUrl, 'ra');
    const bob = await registerUser(a.baseUrl, 'rb');
    const g = await encryptedGroup(alice, [bob]);
    assert.equal(g.encrypted, true);
    const state0 = (await http(b.baseUrl, 'GET', `/v1/chats/${g.chat_id}/mls`, { token: bob.token })).body;
    assert.equal(state0.encrypted, true);
    assert.equal(state0.epoch, 0);
    assert.equal(state0.group_info, null);
    assert.deepEqual(state0.devices.map((d: any) => d.device_id).sort(), [alice.device_id, bob.device_id].sort());

    const racers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => commit(i % 2 ? b.baseUrl : a.baseUrl, i % 2 ? bob : alice, g.chat_id, { epoch: 0 })),
    );
    const won = racers.filter((r) => r.status === 201);
    assert.equal(won.length, 1, JSON.stringify(racers.map((r) => r.status)));
    assert.equal(won[0]!.body.epoch, 1);
    for (const r of racers.filter((x) => x.status !== 201)) {
      assert.equal(r.status, 409);
      assert.equal(r.body.error, 'stale_epoch');
      assert.equal(r.body.epoch, 1);
    }
    // The next epoch takes one commit too, and a late one for epoch 0 is refused.
    const gi = blob();
    const next = await commit(b.baseUrl, bob, g.chat_id, { epoch: 1, group_info: gi });
    assert.equal(next.status, 201);
    assert.equal(next.body.seq, won[0]!.body.seq + 1);
    const late = await commit(a.baseUrl, alice, g.chat_id, { epoch: 0 });
    assert.equal(late.status, 409);
    assert.equal(late.body.epoch, 2);
    const state = (await http(a.baseUrl, 'GET', `/v1/chats/${g.chat_id}/mls`, { token: alice.token })).body;
    assert.equal(state.epoch, 2);
    assert.equal(state.group_info, gi);
  });

  test('a commit reaches the other devices as mls_commit in seq order; its welcome only the devices it names, until acknowledged', async () => {
    const { a, b } = target();
    const alice = await registerUser(a.baseUrl, 'wa');
    const bob = await registerUser(a.baseUrl, 'wb');
    const bobLaptop = await login(b.baseUrl, bob.username, bob.password, 'laptop');
    const g = await encryptedGroup(alice, [bob]);
    const bobSock = await open(b.wsUrl, bob);
    const aliceSock = await open(a.wsUrl, alice);
    const welcome = blob(200);
    const c = await commit(a.baseUrl, alice, g.chat_id, { epoch: 0, welcomes: [{ device_ids: [bob.device_id], welcome }] });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const frame = await bobSock.next('mls_commit');
    assert.equal(frame.chat_id, g.chat_id);
    assert.equal(frame.seq, c.body.seq);
    assert.equal(frame.epoch, 0);
    assert.equal(frame.sender_device_id, alice.device_id);
    assert.equal(aliceSock.all('mls_commit').length, 0, 'not to the committing device');

    const mine = await http(b.baseUrl, 'GET', '/v1/mls/welcomes', { token: bob.token });
    assert.equal(mine.body.welcomes.length, 1);
    assert.equal(mine.body.welcomes[0].welcome, welcome);
    assert.equal(mine.body.welcomes[0].epoch, 1);
    assert.equal(mine.body.welcomes[0].chat_id, g.chat_id);
    assert.deepEqual((await http(b.baseUrl, 'GET', '/v1/mls/welcomes', { token: bobLaptop.token })).body.welcomes, [], 'not named');
    const id = mine.body.welcomes[0].welcome_id;
    assert.equal((await http(a.baseUrl, 'DELETE', `/v1/mls/welcomes/${id}`, { token: bobLaptop.token })).status, 404);
    assert.equal((await http(a.baseUrl, 'GET', '/v1/mls/welcomes', { token: bob.token })).body.welcomes.length, 1, 'kept');
    assert.equal((await http(a.baseUrl, 'DELETE', `/v1/mls/welcomes/${id}`, { token: bob.token })).status, 204);
    assert.deepEqual((await http(b.baseUrl, 'GET', '/v1/mls/welcomes', { token: bob.token })).body.welcomes, []);

    // Commits are not messages: history and the chat list leave them out; replay does not.
    const hist = await http(a.baseUrl, 'GET', `/v1/chats/${g.chat_id}/messages`, { token: bob.token });
    assert.deepEqual(hist.body.messages, []);
    const laptopSock = await open(b.wsUrl, bobLaptop);
    assert.equal(laptopSock.all('mls_commit').length, 1, 'replayed to the offline device');

    // A welcome naming a device that is not a member's is refused whole.
    const stranger = await registerUser(a.baseUrl, 'ws');
    const bad = await commit(a.baseUrl, alice, g.chat_id, { epoch: 1, welcomes: [{ device_ids: [stranger.device_id], welcome }] });
    assert.equal(bad.status, 400);
    assert.equal((await http(a.baseUrl, 'GET', `/v1/chats/${g.chat_id}/mls`, { token: alice.token })).body.epoch, 1);
  });

  test('an encrypted chat takes ciphertext only; a plaintext chat takes none; edits and reactions are refused, a delete erases', async () => {
    const { a, b } = target();
    const alice = await registerUser(a.baseUrl, 'ca');
    const bob = await registerUser(a.baseUrl, 'cb');
    const g = await encryptedGroup(alice, [bob]);
    const plain = await encryptedGroup(alice, [bob], false);
    assert.equal(plain.encrypted, undefined);
    const as = await open(a.wsUrl, alice);
    const bs = await open(b.wsUrl, bob);
    as.send({ type: 'send_message', chat_id: g.chat_id, client_msg_id: 'p1', content: 'hello in clear' });
    const refused = await as.next('error');
    assert.equal(refused.code, 'encryption_required');
    assert.equal(refused.client_msg_id, 'p1');
    const ct = blob(64);
    as.send({ type: 'send_message', chat_id: g.chat_id, client_msg_id: 'c1', content: '', ciphertext: ct });
    const ack = await as.next('ack_sent');
    const got = await bs.next('new_message');
    assert.equal(got.ciphertext, ct);
    assert.equal(got.content, '');
    as.send({ type: 'send_message', chat_id: g.chat_id, client_msg_id: 'c2', content: 'x', ciphertext: ct });
    assert.equal((await as.next('error')).code, 'encryption_required');
    as.send({ type: 'send_message', chat_id: plain.chat_id, client_msg_id: 'c3', content: '', ciphertext: ct });
    assert.equal((await as.next('error')).code, 'not_encrypted');
    as.send({ type: 'edit_message', chat_id: g.chat_id, client_msg_id: 'e1', message_id: ack.message_id, content: 'changed' });
    assert.equal((await as.next('error')).code, 'encryption_required');
    as.send({ type: 'react', chat_id: g.chat_id, client_msg_id: 'r1', message_id: ack.message_id, emoji: '👍' });
    assert.equal((await as.next('error')).code, 'encryption_required');
    const c = await commit(b.baseUrl, bob, plain.chat_id, { epoch: 0 });
    assert.equal(c.status, 422);
    assert.equal(c.body.error, 'not_encrypted');

    const hist = await http(b.baseUrl, 'GET', `/v1/chats/${g.chat_id}/messages`, { token: bob.token });
    assert.equal(hist.body.messages.length, 1);
    assert.equal(hist.body.messages[0].ciphertext, ct);
    as.send({ type: 'delete_message', chat_id: g.chat_id, client_msg_id: 'd1', message_id: ack.message_id });
    await as.next('ack_sent');
    const after = await http(b.baseUrl, 'GET', `/v1/chats/${g.chat_id}/messages`, { token: bob.token });
    assert.equal(after.body.messages[0].deleted, true);
    assert.equal(after.body.messages[0].ciphertext, undefined);
  });

  test('a direct chat becomes encrypted with its first commit (which creates it); non-members are refused', async () => {
    const { a, b } = target();
    const alice = await registerUser(a.baseUrl, 'da');
    const bob = await registerUser(a.baseUrl, 'db');
    const eve = await registerUser(a.baseUrl, 'de');
    const chatId = directChatId(alice.user_id, bob.user_id);
    const before = (await http(b.baseUrl, 'GET', `/v1/chats/${chatId}/mls`, { token: bob.token })).body;
    assert.deepEqual(
      { ...before, devices: before.devices.length },
      { chat_id: chatId, encrypted: false, epoch: 0, group_info: null, devices: 2 },
    );
    assert.equal((await http(a.baseUrl, 'GET', `/v1/chats/${chatId}/mls`, { token: eve.token })).status, 403);
    assert.equal((await commit(a.baseUrl, eve, chatId, { epoch: 0 })).status, 403);
    // Both sides start at once: one wins.
    const [x, y] = await Promise.all([
      commit(a.baseUrl, alice, chatId, { epoch: 0, welcomes: [{ device_ids: [bob.device_id], welcome: blob() }] }),
      commit(b.baseUrl, bob, chatId, { epoch: 0, welcomes: [{ device_ids: [alice.device_id], welcome: blob() }] }),
    ]);
    assert.deepEqual([x.status, y.status].sort(), [201, 409]);
    const loser = x.status === 201 ? bob : alice;
    assert.equal((await http(a.baseUrl, 'GET', '/v1/mls/welcomes', { token: loser.token })).body.welcomes.length, 1);
    assert.equal((await http(b.baseUrl, 'GET', `/v1/chats/${chatId}/mls`, { token: bob.token })).body.encrypted, true);
    const s = await open(b.wsUrl, bob);
    s.send({ type: 'send_message', chat_id: chatId, client_msg_id: 'plain', content: 'hi' });
    assert.equal((await s.next('error')).code, 'encryption_required');
    // Idempotent: the winner's repeat answers the same.
    const winner = x.status === 201 ? alice : bob;
    const cm = randomUUID();
    const first = await commit(a.baseUrl, winner, chatId, { epoch: 1, client_msg_id: cm });
    const again = await commit(b.baseUrl, winner, chatId, { epoch: 1, client_msg_id: cm });
    assert.equal(first.status, 201);
    assert.deepEqual(again.body, first.body);
  });
}
