import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { directChatId } from '@switchboard/protocol';
import { DEFAULT_LIMITS } from '../core/limit-settings.js';
import { http, login, registerUser, seedUsers, suiteServer, TestSocket, type TestUser } from '../testing/harness.js';
import { clientMsgId, fetchHistory, roundTrip, waitForSyncComplete, waitUntil, type Frame } from './delivery-support.js';

/*
 * PROTOCOL.md "Limits", over real sockets and HTTP: a flood is refused with rate_limited
 * (and what is refused is not stored) while other clients carry on; failed logins,
 * registrations, group changes and sockets are capped. The first suite runs the
 * defaults (a script meets them, a person does not); the others shrink one limit each
 * so the test need not send thousands of requests.
 */

/** Registers with a raw POST so a test can set headers; answers status, body and Retry-After. */
async function post(baseUrl: string, path: string, body: unknown, headers: Record<string, string> = {}, token?: string) {
  const res = await fetch(baseUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, retryAfter: res.headers.get('retry-after') };
}

function assertRateLimitedHttp(r: { status: number; body: any; retryAfter: string | null }, what: string): void {
  assert.equal(r.status, 429, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error, 'rate_limited');
  assert.ok(Number.isInteger(r.body.retry_after_ms) && r.body.retry_after_ms > 0, `retry_after_ms ${r.body.retry_after_ms}`);
  assert.equal(r.retryAfter, String(Math.ceil(r.body.retry_after_ms / 1000)), 'Retry-After is retry_after_ms in seconds, rounded up');
}

/** Opens a socket and answers its upgrade's status (101 when it opened) and Retry-After; the open socket is returned too. */
function upgrade(wsUrl: string, token: string): Promise<{ status: number; retryAfter?: string; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined });
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

describe('limits (defaults)', () => {
  const { srv, open } = suiteServer({}, { synced: waitForSyncComplete });

  test('a send flood from one device is refused with rate_limited, refused sends are not stored, another user sends on', async () => {
    const [flooder, target, other, friend] = (await Promise.all(['lfa', 'lfb', 'lfc', 'lfd'].map((p) => registerUser(srv.baseUrl, p)))) as [
      TestUser,
      TestUser,
      TestUser,
      TestUser,
    ];
    const floodChat = directChatId(flooder.user_id, target.user_id);
    const calmChat = directChatId(other.user_id, friend.user_id);
    const [sf, so] = await Promise.all([open(flooder), open(other)]);

    // Thousands at once from one device: far past the burst.
    const ids = Array.from({ length: 2000 }, () => clientMsgId());
    for (const [i, id] of ids.entries()) sf.send({ type: 'send_message', chat_id: floodChat, client_msg_id: id, content: `flood ${i}` });
    // Meanwhile a person in another chat.
    const calm = [];
    for (let i = 0; i < 5; i++) calm.push(await so.sendMessage(calmChat, `hello ${i}`));

    const wanted = new Set(ids);
    const answered = () =>
      (sf.frames as Frame[]).filter((f) => (f.type === 'ack_sent' || f.type === 'error') && wanted.has(f.client_msg_id));
    await waitUntil(() => answered().length === ids.length, 60_000, 'an answer to every flooded send');
    const acked = answered().filter((f) => f.type === 'ack_sent');
    const refused = answered().filter((f) => f.type === 'error');
    assert.ok(refused.length > 0, 'some sends were refused');
    assert.ok(acked.length >= DEFAULT_LIMITS.sends.capacity, `the burst passes (${acked.length} acked)`);
    for (const e of refused) {
      assert.equal(e.code, 'rate_limited', JSON.stringify(e));
      assert.equal(typeof e.message, 'string');
      assert.ok(Number.isInteger(e.retry_after_ms) && e.retry_after_ms > 0, JSON.stringify(e));
    }
    assert.equal(new Set(answered().map((f) => f.client_msg_id)).size, ids.length, 'one answer per send: a refused send is not acked');

    const stored = await fetchHistory(srv.baseUrl, flooder.token, floodChat);
    assert.deepEqual(
      stored.map((m) => m.client_msg_id).sort(),
      acked.map((f) => f.client_msg_id).sort(),
      'exactly the acknowledged sends are stored',
    );
    for (const a of calm) assert.equal(a.type, 'ack_sent', `the other user's send: ${JSON.stringify(a)}`);

    // After the wait the device may send again, the same client_msg_id included.
    // (The last refusal's wait: after it the flood may have taken the tokens that came back meanwhile.)
    const retry = refused.at(-1)!;
    await new Promise((r) => setTimeout(r, retry.retry_after_ms + 100));
    const from = sf.frames.length;
    sf.send({ type: 'send_message', chat_id: floodChat, client_msg_id: retry.client_msg_id, content: 'flood again' });
    const again = await sf.waitFor((f) => f.client_msg_id === retry.client_msg_id, 5000, 'the answer to the resend', from);
    assert.equal(again.type, 'ack_sent', JSON.stringify(again));
  });

  test('password guessing is throttled (429 with Retry-After) while another account logs in fine', async () => {
    const [victim, bystander] = await Promise.all([registerUser(srv.baseUrl, 'lpv'), registerUser(srv.baseUrl, 'lpb')]);
    let limited: Awaited<ReturnType<typeof post>> | undefined;
    let failures = 0;
    for (let i = 0; i < 100 && !limited; i++) {
      const r = await post(srv.baseUrl, '/v1/sessions', { username: victim.username, password: `wrong guess ${i}` });
      if (r.status === 429) limited = r;
      else {
        assert.equal(r.status, 401, JSON.stringify(r.body));
        failures++;
      }
    }
    assert.ok(limited, 'guessing was never throttled');
    assertRateLimitedHttp(limited, 'a guess past the limit');
    assert.equal(failures, DEFAULT_LIMITS.loginFailuresUser.capacity, 'throttled once the failures reach the limit');
    // While throttled even the right password waits: the guesser must not learn it works.
    assertRateLimitedHttp(
      await post(srv.baseUrl, '/v1/sessions', { username: victim.username, password: victim.password }),
      'the right password',
    );
    // Another account, from the same address, is not affected.
    const other = await post(srv.baseUrl, '/v1/sessions', { username: bystander.username, password: bystander.password });
    assert.equal(other.status, 201, JSON.stringify(other.body));
    // An unknown username is throttled the same way (no probing which names exist).
    let unknownLimited = false;
    for (let i = 0; i < 20 && !unknownLimited; i++) {
      unknownLimited =
        (await post(srv.baseUrl, '/v1/sessions', { username: `nobody_${process.pid}`, password: 'wrong guess' })).status === 429;
    }
    assert.ok(unknownLimited, 'guessing an unknown username is throttled too');
  });

  test('guesses sent all at once are throttled too', async () => {
    const victim = await registerUser(srv.baseUrl, 'lpp');
    const guesses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        post(srv.baseUrl, '/v1/sessions', { username: victim.username, password: `parallel guess ${i}` }),
      ),
    );
    const statuses = guesses.map((r) => r.status);
    assert.ok(
      statuses.every((s) => s === 401 || s === 429),
      statuses.join(','),
    );
    assert.ok(statuses.filter((s) => s === 401).length <= DEFAULT_LIMITS.loginFailuresUser.capacity, `checked: ${statuses.join(',')}`);
    for (const r of guesses.filter((g) => g.status === 429)) assertRateLimitedHttp(r, 'a parallel guess');
  });

  test('a device may hold a bounded number of sockets; a closed socket frees its place', async () => {
    const u = await registerUser(srv.baseUrl, 'lsk');
    const sockets: WebSocket[] = [];
    try {
      for (let i = 0; i < DEFAULT_LIMITS.socketsPerDevice; i++) {
        const r = await upgrade(srv.wsUrl, u.token);
        assert.equal(r.status, 101, `socket ${i + 1}`);
        sockets.push(r.ws!);
      }
      const over = await upgrade(srv.wsUrl, u.token);
      assert.equal(over.status, 429, 'one socket past the cap');
      assert.ok(Number(over.retryAfter) >= 1, `Retry-After ${over.retryAfter}`);
      // Another device of the same user is counted on its own.
      const second = await login(srv.baseUrl, u.username, u.password, 'second');
      const elsewhere = await upgrade(srv.wsUrl, second.token);
      assert.equal(elsewhere.status, 101);
      elsewhere.ws!.close();

      const closing = sockets.pop()!;
      await new Promise<void>((resolve) => {
        closing.once('close', () => resolve());
        closing.close();
      });
      // The server sees the close a moment after the client does.
      let again: Awaited<ReturnType<typeof upgrade>> | undefined;
      for (let i = 0; i < 50 && again?.status !== 101; i++) {
        again = await upgrade(srv.wsUrl, u.token);
        if (again.status !== 101) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(again?.status, 101, 'the freed place is available again');
      sockets.push(again!.ws!);
    } finally {
      for (const ws of sockets) ws.terminate();
    }
  });
});

describe('limits (defaults): acks', () => {
  const { srv, open } = suiteServer({}, { synced: waitForSyncComplete });

  test('a client that acks a backlog of 5,000 one message at a time is not refused; one frame naming 10,000 ids costs 100 tokens', async () => {
    const [u] = await seedUsers(srv, 1, 'lak');
    const s = await open(u!);
    // Ids of no message: the acks do nothing, but each is a frame counted like any ack.
    for (let i = 0; i < 5000; i++) s.send({ type: 'ack_delivered', message_id: `9${String(i).padStart(17, '0')}` });
    // Generous: on a loaded 2-core machine 5,000 frames (and 150 of 10,000 ids) take a while.
    await roundTrip(s, 60_000);
    assert.equal(s.all('error').length, 0, `refused: ${JSON.stringify(s.all('error')[0])}`);
    const ids = Array.from({ length: 10_000 }, (_, i) => `8${String(i).padStart(17, '0')}`);
    // Bursts of 150 frames (15,000 tokens, more than the bucket holds even full) until one is
    // refused: a machine slow enough to refill its way through one burst meets the next. Then
    // the accounting: what passed cost 100 tokens a frame, at most the bucket plus its refill.
    const started = Date.now();
    let sent = 0;
    for (let burst = 0; burst < 5 && s.all('error').length === 0; burst++) {
      for (let i = 0; i < 150; i++) s.send({ type: 'ack_delivered', message_ids: ids });
      sent += 150;
      await roundTrip(s, 60_000);
    }
    const elapsedS = (Date.now() - started) / 1000;
    const refused = s.all('error');
    assert.ok(
      refused.length > 0 && refused.every((e) => e.code === 'rate_limited'),
      `${sent} frames of 10,000 ids (the bucket holds 10,000 tokens and refills 500/s): ${refused.length} refused`,
    );
    const passed = sent - refused.length;
    assert.ok(
      passed * 100 <= 10_000 + 500 * elapsedS + 100,
      `${passed} frames of 10,000 ids passed in ${elapsedS} s: more than 100 tokens each would allow`,
    );
  });
});

describe('limits (small, one at a time)', () => {
  const small = { capacity: 3, perSecond: 0.01 };
  const { srv, open } = suiteServer(
    {
      limits: {
        ...DEFAULT_LIMITS,
        registrations: small,
        frames: { capacity: 20, perSecond: 0.5 },
        requests: { capacity: 30, perSecond: 0.01 },
        mediaUploads: small,
        groupCreations: small,
        membershipChanges: small,
        socketsPerUser: 3,
      },
    },
    { synced: waitForSyncComplete },
  );
  // Users made through the store: this suite's registrations are capped at 3 for the whole address.
  const seeded = async (prefix: string): Promise<TestUser> => (await seedUsers(srv, 1, prefix))[0]!;

  test('registrations per address; X-Forwarded-For is ignored without TRUST_PROXY', async () => {
    const name = (i: number) => `lreg_${process.pid}_${i}`;
    for (let i = 0; i < small.capacity; i++) {
      const r = await post(
        srv.baseUrl,
        '/v1/users',
        { username: name(i), password: 'correct horse battery' },
        { 'x-forwarded-for': `10.1.0.${i}` },
      );
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const over = await post(
      srv.baseUrl,
      '/v1/users',
      { username: name(99), password: 'correct horse battery' },
      { 'x-forwarded-for': '10.9.9.9' },
    );
    assertRateLimitedHttp(over, 'a registration past the limit');
    const taken = await http(srv.baseUrl, 'GET', `/v1/users?username=${name(99)}`, {
      token: (await login(srv.baseUrl, name(0), 'correct horse battery')).token,
    });
    assert.deepEqual(taken.body.users, [], 'the refused registration created nothing');
  });

  test('authenticated HTTP requests are limited per device; another device reads on', async () => {
    const [a, b] = [await seeded('lhr'), await seeded('lhs')];
    for (let i = 0; i < 30; i++) {
      const r = await http(srv.baseUrl, 'GET', '/v1/chats', { token: a.token });
      assert.equal(r.status, 200, `request ${i}: ${r.status}`);
    }
    const res = await fetch(`${srv.baseUrl}/v1/chats`, { headers: { authorization: `Bearer ${a.token}` } });
    const body = await res.json();
    assertRateLimitedHttp({ status: res.status, body, retryAfter: res.headers.get('retry-after') }, 'a request past the limit');
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/chats', { token: b.token })).status, 200, 'another device is not affected');
  });

  test('uploads started per user are limited, whatever their size', async () => {
    const [a, b] = [await seeded('lup'), await seeded('luq')];
    const body = { content_type: 'application/pdf', size: 1, filename: 'x.pdf' };
    for (let i = 0; i < small.capacity; i++) {
      const r = await post(srv.baseUrl, '/v1/media', body, {}, a.token);
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    assertRateLimitedHttp(await post(srv.baseUrl, '/v1/media', body, {}, a.token), 'an upload past the limit');
    assert.equal((await post(srv.baseUrl, '/v1/media', body, {}, b.token)).status, 201, 'another user uploads');
  });

  test('socket frames other than sends are limited per device', async () => {
    const u = await seeded('lfr');
    const s = await open(u);
    for (let i = 0; i < 40; i++) s.send({ type: 'ping' });
    await waitUntil(() => s.all('pong').length + s.all('error').length >= 40, 10_000, 'an answer to every ping');
    const errors = s.all('error');
    assert.ok(s.all('pong').length >= 15 && s.all('pong').length <= 21, `pongs: ${s.all('pong').length}`);
    assert.ok(errors.length >= 19, `refused: ${errors.length}`);
    for (const e of errors) {
      assert.equal(e.code, 'rate_limited');
      assert.ok(e.retry_after_ms > 0);
    }
    assert.equal(s.closeCode, null, 'the socket stays open');
  });

  test('group creation and membership changes per user', async () => {
    const [a, b] = [await seeded('lga'), await seeded('lgb')];
    const groups = [];
    for (let i = 0; i < small.capacity; i++) {
      const g = await post(srv.baseUrl, '/v1/groups', { name: `g${i}`, member_ids: [] }, {}, a.token);
      assert.equal(g.status, 201, JSON.stringify(g.body));
      groups.push(g.body.group_id as string);
    }
    assertRateLimitedHttp(
      await post(srv.baseUrl, '/v1/groups', { name: 'one more', member_ids: [] }, {}, a.token),
      'a group past the limit',
    );
    for (let i = 0; i < small.capacity; i++) {
      const r = await post(srv.baseUrl, `/v1/groups/${groups[0]}/members`, { user_ids: [b.user_id] }, {}, a.token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    assertRateLimitedHttp(
      await post(srv.baseUrl, `/v1/groups/${groups[0]}/members`, { user_ids: [b.user_id] }, {}, a.token),
      'a change past the limit',
    );
    // Another user is not affected.
    const g = await post(srv.baseUrl, '/v1/groups', { name: 'theirs', member_ids: [a.user_id] }, {}, b.token);
    assert.equal(g.status, 201, JSON.stringify(g.body));
  });

  test('sockets per user, across the user’s devices', async () => {
    const u = await seeded('lsu');
    const devices = [u, await loginRaw(srv.baseUrl, u), await loginRaw(srv.baseUrl, u), await loginRaw(srv.baseUrl, u)];
    const opened: TestSocket[] = [];
    try {
      for (const d of devices.slice(0, 3)) opened.push(await TestSocket.connect(srv.wsUrl, d.token));
      const over = await upgrade(srv.wsUrl, devices[3]!.token);
      assert.equal(over.status, 429, 'a fourth socket of the user');
    } finally {
      for (const s of opened) s.terminate();
    }
  });
});

describe('limits: TRUST_PROXY', () => {
  const { srv } = suiteServer({ trustProxy: true, limits: { ...DEFAULT_LIMITS, registrations: { capacity: 2, perSecond: 0.01 } } });

  test('with TRUST_PROXY the last X-Forwarded-For entry is the client address', async () => {
    const reg = (i: number, xff: string) =>
      post(
        srv.baseUrl,
        '/v1/users',
        { username: `ltp_${process.pid}_${i}`, password: 'correct horse battery' },
        { 'x-forwarded-for': xff },
      );
    assert.equal((await reg(1, '203.0.113.7')).status, 201);
    assert.equal((await reg(2, '1.1.1.1, 203.0.113.7')).status, 201);
    assertRateLimitedHttp(await reg(3, '9.9.9.9, 203.0.113.7'), 'a third from the same client');
    assert.equal((await reg(4, '203.0.113.8')).status, 201, 'another client is counted apart');
  });
});

describe('limits: failed logins cannot lock the owner out', () => {
  // Username-wide failures past 9 only slow the username's logins down (never refuse them).
  const { srv } = suiteServer({ trustProxy: true, limits: { ...DEFAULT_LIMITS, loginSlowdownUser: { capacity: 9, perSecond: 0.01 } } });

  test('guesses from address A get A 429 for that username; the right password from address B logs in (201)', async () => {
    const bob = await registerUser(srv.baseUrl, 'llo');
    const fromA = { 'x-forwarded-for': '198.51.100.1' };
    let limited: Awaited<ReturnType<typeof post>> | undefined;
    for (let i = 0; i < 100 && !limited; i++) {
      const r = await post(srv.baseUrl, '/v1/sessions', { username: bob.username, password: `wrong ${i}` }, fromA);
      if (r.status === 429) limited = r;
      else assert.equal(r.status, 401, JSON.stringify(r.body));
    }
    assert.ok(limited, 'address A was never throttled');
    assertRateLimitedHttp(limited, 'a guess from A past the limit');
    assertRateLimitedHttp(
      await post(srv.baseUrl, '/v1/sessions', { username: bob.username, password: bob.password }, fromA),
      'the right password from A (the guesser must not learn it works)',
    );
    const fromB = await post(
      srv.baseUrl,
      '/v1/sessions',
      { username: bob.username, password: bob.password },
      { 'x-forwarded-for': '198.51.100.2' },
    );
    assert.equal(fromB.status, 201, `the owner from address B: ${JSON.stringify(fromB.body)}`);
    // A's block is per username: A may still log another account in.
    const other = await registerUser(srv.baseUrl, 'llp');
    const otherFromA = await post(srv.baseUrl, '/v1/sessions', { username: other.username, password: other.password }, fromA);
    assert.equal(otherFromA.status, 201, JSON.stringify(otherFromA.body));
  });
});

async function loginRaw(baseUrl: string, u: TestUser): Promise<TestUser> {
  return login(baseUrl, u.username, u.password, 'another');
}

describe('limits: bounded password hashing', () => {
  // A real hashing cost (16 MiB argon2id), one hash at a time, two waiting: a burst of logins overflows the line.
  const { srv } = suiteServer({ passwordHashKib: 16_384, limits: { ...DEFAULT_LIMITS, passwordHashConcurrency: 1, passwordHashQueue: 2 } });

  test('logins past the hashing queue get 429 at once instead of piling up; the next login works', async () => {
    const u = await registerUser(srv.baseUrl, 'lhq');
    const burst = await Promise.all(
      Array.from({ length: 20 }, () => post(srv.baseUrl, '/v1/sessions', { username: u.username, password: u.password })),
    );
    const statuses = burst.map((r) => r.status);
    assert.ok(
      statuses.every((s) => s === 201 || s === 429),
      `statuses: ${statuses.join(',')}`,
    );
    assert.ok(statuses.includes(201), 'the ones in line are served');
    const refused = burst.filter((r) => r.status === 429);
    assert.ok(refused.length > 0, 'the overflow is refused');
    for (const r of refused) assertRateLimitedHttp(r, 'a login past the queue');
    const after = await post(srv.baseUrl, '/v1/sessions', { username: u.username, password: u.password });
    assert.equal(after.status, 201, JSON.stringify(after.body));
  });
});

describe('limits: registrations do not starve logins', () => {
  // Short lines (20 logins, 8 sign-ups), so a flood that shared the logins' line would overflow it at once.
  const { srv } = suiteServer({
    trustProxy: true,
    passwordHashKib: 4096,
    limits: { ...DEFAULT_LIMITS, passwordHashQueue: 20, passwordHashQueueRegistrations: 8 },
  });

  test('during a flood of sign-ups from many addresses, logins succeed (201); the flood past its own line gets 429', async () => {
    const u = await registerUser(srv.baseUrl, 'lrs');
    // 6 addresses x 10 sign-ups, each address within its registration burst: only the hashing holds them back.
    const flood = Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        post(
          srv.baseUrl,
          '/v1/users',
          { username: `lrf_${process.pid}_${i}`, password: 'correct horse battery' },
          { 'x-forwarded-for': `192.0.2.${i % 6}` },
        ),
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 5; i++) {
      const r = await post(
        srv.baseUrl,
        '/v1/sessions',
        { username: u.username, password: u.password },
        { 'x-forwarded-for': '198.51.100.9' },
      );
      assert.equal(r.status, 201, `login ${i} during the flood: ${r.status} ${JSON.stringify(r.body)}`);
    }
    const statuses = (await flood).map((r) => r.status);
    assert.ok(
      statuses.every((s) => s === 201 || s === 429),
      statuses.join(','),
    );
    assert.ok(statuses.includes(201), 'sign-ups in their line are served');
    for (const r of (await flood).filter((f) => f.status === 429)) assertRateLimitedHttp(r, 'a sign-up past its line');
  });
});
