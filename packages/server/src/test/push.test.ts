import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import {
  http,
  login,
  registerUser,
  startServerProcess,
  tempDir,
  TestSocket,
  type ServerProcess,
  type TestUser,
} from '../testing/harness.js';
import { pollUntil } from '../testing/poll.js';
import { FakePushServices, makeTestCa, opensslMissing, type Received, type TestCa } from '../testing/push-services.js';

/*
 * Push notifications end to end: a real server process talks TLS to stand-in push
 * services (testing/push-services.ts) that check what the real ones check, trusting
 * them only through NODE_EXTRA_CA_CERTS, as it would trust Apple's and Google's.
 */
const missing = opensslMissing();

/** /metrics needs its token on the public listener. */
const METRICS_TOKEN = 'test-metrics-token-0123456789';

async function pushServer(ca: TestCa, fake: FakePushServices, env: Record<string, string> = {}) {
  const dataDir = tempDir();
  const srv = await startServerProcess({ dataDir, env: { ...fake.env(), NODE_EXTRA_CA_CERTS: ca.caFile, METRICS_TOKEN, ...env } });
  const key = await http(srv.baseUrl, 'GET', '/v1/push/webpush');
  assert.equal(key.status, 200);
  fake.vapidPublicKey = key.body.vapid_public_key;
  return { srv, dataDir };
}

async function put(base: string, u: TestUser, body: unknown) {
  return http(base, 'PUT', '/v1/devices/current/push', { token: u.token, body });
}

/** Waits for `id`'s push of message `messageId` that was answered with a 2xx. */
function delivered(fake: FakePushServices, id: string, messageId: string): Promise<Received> {
  return fake.waitFor(
    (r) => r.id === id && r.payload.message_id === messageId && r.status < 300,
    15_000,
    `a push of ${messageId} to ${id}`,
  );
}

describe('push notifications', { skip: missing ?? false }, () => {
  let ca: TestCa;
  let fake: FakePushServices;
  let srv: ServerProcess;
  let dataDir: string;
  let base: string;

  before(async () => {
    ca = makeTestCa();
    fake = await FakePushServices.start(ca);
    ({ srv, dataDir } = await pushServer(ca, fake));
    base = srv.baseUrl;
  });

  after(async () => {
    await srv?.kill('SIGTERM');
    await fake?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(ca.dir, { recursive: true, force: true });
  });

  /** alice (connected) and bob, who share a direct chat. */
  async function pair() {
    const [alice, bob] = await Promise.all([registerUser(base, 'alice'), registerUser(base, 'bob')]);
    const sa = await TestSocket.connectSynced(srv.wsUrl, alice.token);
    return { alice, bob, sa, chat: directChatId(alice.user_id, bob.user_id) };
  }

  test('GET /v1/push/webpush needs no token and answers a P-256 public key, base64url', async () => {
    const res = await http(base, 'GET', '/v1/push/webpush');
    assert.equal(res.status, 200);
    const raw = Buffer.from(res.body.vapid_public_key, 'base64url');
    assert.equal(raw.length, 65);
    assert.equal(raw[0], 4);
    assert.match(res.body.vapid_public_key, /^[A-Za-z0-9_-]+$/);
  });

  test('malformed targets, unknown providers, endpoints outside the allow-list and oversized tokens are refused; nothing is stored', async () => {
    const { bob, sa, chat } = await pair();
    const good = fake.newSubscription();
    assert.equal((await put(base, bob, { provider: 'webpush', subscription: good })).status, 204);
    const other = fake.newSubscription();
    const bad: unknown[] = [
      { provider: 'carrier-pigeon', token: 'x' },
      { provider: 'webpush' },
      { provider: 'webpush', subscription: { ...other, endpoint: 'https://evil.example/wp/x' } },
      { provider: 'webpush', subscription: { ...other, endpoint: other.endpoint.replace('https:', 'http:') } },
      { provider: 'webpush', subscription: { ...other, endpoint: `https://127.0.0.1:${fake.port}@evil.example/wp/x` } },
      { provider: 'webpush', subscription: { ...other, endpoint: `https://127.0.0.1.evil.example:${fake.port}/wp/x` } },
      { provider: 'webpush', subscription: { ...other, keys: { ...other.keys, p256dh: other.keys.p256dh.slice(0, 40) } } },
      { provider: 'webpush', subscription: { ...other, keys: { ...other.keys, p256dh: Buffer.alloc(65, 4).toString('base64url') } } },
      { provider: 'webpush', subscription: { ...other, keys: { ...other.keys, auth: 'c2hvcnQ' } } },
      { provider: 'apns', token: 'not hex at all, not hex at all, not hex' },
      { provider: 'apns', token: 'ab'.repeat(500) },
      { provider: 'apns', token: 'ab'.repeat(32), environment: 'staging' },
      { provider: 'fcm', token: 'x'.repeat(5000) },
      { provider: 'fcm', token: '' },
      'not an object',
    ];
    for (const body of bad) {
      const res = await put(base, bob, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error, 'invalid_request');
      assert.equal(typeof res.body.message, 'string');
    }
    const raw = await http(base, 'PUT', '/v1/devices/current/push', { token: bob.token, rawBody: '{"provider":' });
    assert.equal(raw.status, 400);
    assert.equal((await http(base, 'PUT', '/v1/devices/current/push', { body: { provider: 'fcm', token: 'x' } })).status, 401);

    // The first registration is still the device's target: nothing above replaced it.
    const ack = await sa.sendMessage(chat, 'still there?');
    const push = await delivered(fake, good.id, ack.message_id);
    assert.deepEqual(push.problems, []);
    assert.equal(fake.pushesTo(other.id).length, 0);
  });

  test('Web Push: an offline device gets an encrypted, VAPID-signed push carrying no content', async () => {
    const { bob, sa, chat } = await pair();
    const sub = fake.newSubscription();
    assert.equal((await put(base, bob, { provider: 'webpush', subscription: sub })).status, 204);
    const ack = await sa.sendMessage(chat, 'a secret the push service must not see');
    const push = await delivered(fake, sub.id, ack.message_id);
    assert.deepEqual(push.problems, []);
    assert.deepEqual(push.payload, { v: 1, type: 'new_message', chat_id: chat, message_id: ack.message_id, seq: ack.seq });
    assert.equal(push.headers.urgency, 'high');
    assert.ok(Number(push.headers.ttl) > 0);
    assert.ok(String(push.headers.topic).length <= 32);
  });

  test('each offline device of a user gets its own push (Web Push, APNs, FCM); the device with an open socket gets none', async () => {
    const { bob, sa, chat } = await pair();
    const online = fake.newSubscription();
    const offline = fake.newSubscription();
    const apnsToken = 'a1'.repeat(32);
    const fcmToken = `fcm:${Math.random().toString(36).slice(2)}`;
    const [d2, d3, d4] = await Promise.all([1, 2, 3].map((i) => login(base, bob.username, bob.password, `device ${i}`)));
    assert.equal((await put(base, bob, { provider: 'webpush', subscription: online })).status, 204);
    assert.equal((await put(base, d2!, { provider: 'webpush', subscription: offline })).status, 204);
    assert.equal((await put(base, d3!, { provider: 'apns', token: apnsToken, environment: 'sandbox' })).status, 204);
    assert.equal((await put(base, d4!, { provider: 'fcm', token: fcmToken })).status, 204);
    const sb = await TestSocket.connectSynced(srv.wsUrl, bob.token);

    const tokensBefore = fake.tokenRequests;
    for (const [i, text] of ['one', 'two'].entries()) {
      const ack = await sa.sendMessage(chat, text);
      const [web, apple, google] = await Promise.all([
        delivered(fake, offline.id, ack.message_id),
        delivered(fake, apnsToken, ack.message_id),
        delivered(fake, fcmToken, ack.message_id),
      ]);
      for (const p of [web, apple, google]) assert.deepEqual(p.problems, [], p.provider);
      assert.equal(web.payload.seq, ack.seq);
      assert.deepEqual(apple.payload.aps.badge, i + 1, 'badge: the unread count');
      assert.equal(apple.payload.chat_id, chat);
      assert.equal(apple.headers['apns-collapse-id'], web.headers.topic, 'one collapse key per chat');
      assert.deepEqual(
        { ...google.payload, collapse_key: undefined },
        { v: '1', type: 'new_message', chat_id: chat, message_id: ack.message_id, seq: String(ack.seq), collapse_key: undefined },
      );
      await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
    }
    assert.equal(fake.pushesTo(online.id).length, 0, 'the connected device got no push');
    assert.ok(fake.tokenRequests - tokensBefore <= 1, 'the FCM access token is reused');

    // Once its socket is gone, that device is pushed too.
    await sb.close();
    await pollUntil(
      'bob offline',
      async () => (await http(base, 'GET', `/v1/users/${bob.user_id}/presence`, { token: bob.token })).body.online,
      (v) => v === false,
    );
    const ack = await sa.sendMessage(chat, 'three');
    assert.deepEqual((await delivered(fake, online.id, ack.message_id)).problems, []);
  });

  test('a dead target is removed: Web Push 404/410, APNs 410/BadDeviceToken/Unregistered, FCM 404/UNREGISTERED', async () => {
    const { bob, sa, chat } = await pair();
    const healthy = fake.newSubscription();
    const [gone410, gone404] = [fake.newSubscription(), fake.newSubscription()];
    const apns = ['b1'.repeat(32), 'b2'.repeat(32), 'b3'.repeat(32)];
    const fcm = [`fcm-dead-1-${Date.now()}`, `fcm-dead-2-${Date.now()}`];
    fake.script.set(gone410.id, [{ status: 410 }]);
    fake.script.set(gone404.id, [{ status: 404 }]);
    fake.script.set(apns[0]!, [{ status: 410, body: { reason: 'Unregistered', timestamp: Date.now() } }]);
    fake.script.set(apns[1]!, [{ status: 400, body: { reason: 'BadDeviceToken' } }]);
    fake.script.set(apns[2]!, [{ status: 400, body: { reason: 'Unregistered' } }]);
    fake.script.set(fcm[0]!, [
      { status: 404, body: { error: { code: 404, status: 'NOT_FOUND', message: 'Requested entity was not found.' } } },
    ]);
    fake.script.set(fcm[1]!, [
      {
        status: 400,
        body: {
          error: {
            code: 400,
            status: 'INVALID_ARGUMENT',
            details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }],
          },
        },
      },
    ]);
    const targets: [unknown, string][] = [
      [{ provider: 'webpush', subscription: healthy }, healthy.id],
      [{ provider: 'webpush', subscription: gone410 }, gone410.id],
      [{ provider: 'webpush', subscription: gone404 }, gone404.id],
      ...apns.map((token): [unknown, string] => [{ provider: 'apns', token }, token]),
      ...fcm.map((token): [unknown, string] => [{ provider: 'fcm', token }, token]),
    ];
    const devices = await Promise.all(targets.map(async (_, i) => (i === 0 ? bob : login(base, bob.username, bob.password, `d${i}`))));
    for (const [i, [body]] of targets.entries()) assert.equal((await put(base, devices[i]!, body)).status, 204);

    const first = await sa.sendMessage(chat, 'first');
    const answered = await Promise.all(
      targets.map(([, id]) => fake.waitFor((r) => r.id === id && r.payload.message_id === first.message_id)),
    );
    assert.deepEqual(
      answered.map((r) => r.status),
      [201, 410, 404, 410, 400, 400, 404, 400],
    );
    const metrics = () => fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).then((r) => r.text());
    const invalid = (text: string) =>
      [...text.matchAll(/^switchboard_push_sends_total\{provider="\w+",outcome="invalid"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    await pollUntil('dead targets removed', metrics, (text) => invalid(text) >= 7);

    const second = await sa.sendMessage(chat, 'second');
    await delivered(fake, healthy.id, second.message_id);
    for (const [, id] of targets.slice(1)) assert.equal(fake.pushesTo(id).length, 1, `${id} was pushed once, then removed`);
  });

  test('transient failures (429, 5xx) are retried with backoff, honouring Retry-After; then delivered', async () => {
    const { bob, sa, chat } = await pair();
    const sub = fake.newSubscription();
    const apnsToken = 'c1'.repeat(32);
    const fcmToken = `fcm-flaky-${Date.now()}`;
    fake.script.set(sub.id, [{ status: 429, headers: { 'retry-after': '1' } }, { status: 503 }]);
    fake.script.set(apnsToken, [{ status: 503, body: { reason: 'ServiceUnavailable' } }]);
    fake.script.set(fcmToken, [
      { status: 500, body: { error: { status: 'INTERNAL' } } },
      { status: 429, body: { error: { status: 'UNAVAILABLE' } } },
    ]);
    const [d2, d3] = await Promise.all([1, 2].map((i) => login(base, bob.username, bob.password, `d${i}`)));
    assert.equal((await put(base, bob, { provider: 'webpush', subscription: sub })).status, 204);
    assert.equal((await put(base, d2!, { provider: 'apns', token: apnsToken })).status, 204);
    assert.equal((await put(base, d3!, { provider: 'fcm', token: fcmToken })).status, 204);

    const ack = await sa.sendMessage(chat, 'eventually');
    await Promise.all([
      delivered(fake, sub.id, ack.message_id),
      delivered(fake, apnsToken, ack.message_id),
      delivered(fake, fcmToken, ack.message_id),
    ]);
    const web = fake.pushesTo(sub.id);
    assert.deepEqual(
      web.map((r) => r.status),
      [429, 503, 201],
    );
    assert.ok(web[1]!.at - web[0]!.at >= 950, `Retry-After: 1 was honoured (waited ${web[1]!.at - web[0]!.at} ms)`);
    assert.deepEqual(
      fake.pushesTo(apnsToken).map((r) => r.status),
      [503, 200],
    );
    assert.deepEqual(
      fake.pushesTo(fcmToken).map((r) => r.status),
      [500, 429, 200],
    );
    for (const r of [...web, ...fake.pushesTo(apnsToken), ...fake.pushesTo(fcmToken)]) assert.deepEqual(r.problems, []);
  });

  test('a provider that hangs holds up no acknowledgement', async () => {
    const { bob, sa, chat } = await pair();
    const sub = fake.newSubscription();
    let release!: () => void;
    fake.script.set(sub.id, [{ status: 201, hold: new Promise<void>((r) => (release = r)) }]);
    assert.equal((await put(base, bob, { provider: 'webpush', subscription: sub })).status, 204);
    const first = await sa.sendMessage(chat, 'push hangs');
    await pollUntil(
      'the push is hanging',
      async () => fake.pending,
      (n) => n > 0,
    );
    const more = [];
    for (let i = 0; i < 5; i++) more.push(await sa.sendMessage(chat, `more ${i}`));
    assert.equal(fake.pending, 1, 'acknowledged while the push was still unanswered');
    assert.ok(more.every((a) => a.type === 'ack_sent'));
    release();
    await delivered(fake, sub.id, first.message_id);
    await delivered(fake, sub.id, more[4]!.message_id);
  });

  test('DELETE /v1/devices/current/push and logout stop pushes; a new PUT replaces the target', async () => {
    const { bob, sa, chat } = await pair();
    const [removed, loggedOut, replaced, replacement] = [
      fake.newSubscription(),
      fake.newSubscription(),
      fake.newSubscription(),
      fake.newSubscription(),
    ];
    const [d2, d3] = await Promise.all([1, 2].map((i) => login(base, bob.username, bob.password, `d${i}`)));
    assert.equal((await put(base, bob, { provider: 'webpush', subscription: removed })).status, 204);
    assert.equal((await put(base, d2!, { provider: 'webpush', subscription: loggedOut })).status, 204);
    assert.equal((await put(base, d3!, { provider: 'webpush', subscription: replaced })).status, 204);
    assert.equal((await http(base, 'DELETE', '/v1/devices/current/push', { token: bob.token })).status, 204);
    assert.equal((await http(base, 'DELETE', '/v1/devices/current/push', { token: bob.token })).status, 204, 'idempotent');
    assert.equal((await http(base, 'DELETE', '/v1/sessions/current', { token: d2!.token })).status, 204);
    assert.equal((await put(base, d3!, { provider: 'webpush', subscription: replacement })).status, 204);

    const ack = await sa.sendMessage(chat, 'who gets this?');
    await delivered(fake, replacement.id, ack.message_id);
    const ack2 = await sa.sendMessage(chat, 'and this?');
    await delivered(fake, replacement.id, ack2.message_id);
    for (const s of [removed, loggedOut, replaced]) assert.equal(fake.pushesTo(s.id).length, 0);
  });
});

describe('push notifications with PUSH_PREVIEW=on', { skip: missing ?? false }, () => {
  let ca: TestCa;
  let fake: FakePushServices;
  let srv: ServerProcess;
  let dataDir: string;

  before(async () => {
    ca = makeTestCa();
    fake = await FakePushServices.start(ca);
    ({ srv, dataDir } = await pushServer(ca, fake, { PUSH_PREVIEW: 'on' }));
  });
  after(async () => {
    await srv?.kill('SIGTERM');
    await fake?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(ca.dir, { recursive: true, force: true });
  });

  test("pushes carry the sender's name and the first 100 characters", async () => {
    const base = srv.baseUrl;
    const [alice, bob] = await Promise.all([registerUser(base, 'alice'), registerUser(base, 'bob')]);
    const sub = fake.newSubscription();
    const apnsToken = 'd1'.repeat(32);
    const d2 = await login(base, bob.username, bob.password, 'phone');
    assert.equal((await put(base, bob, { provider: 'webpush', subscription: sub })).status, 204);
    assert.equal((await put(base, d2, { provider: 'apns', token: apnsToken })).status, 204);
    const sa = await TestSocket.connectSynced(srv.wsUrl, alice.token);
    const text = 'x'.repeat(90) + '0123456789abcdefghij';
    const ack = await sa.sendMessage(directChatId(alice.user_id, bob.user_id), text);
    const [web, apple] = await Promise.all([delivered(fake, sub.id, ack.message_id), delivered(fake, apnsToken, ack.message_id)]);
    assert.deepEqual([web.problems, apple.problems], [[], []]);
    assert.equal(web.payload.sender_name, alice.username);
    assert.equal(web.payload.preview, text.slice(0, 100));
    assert.equal(apple.payload.preview, text.slice(0, 100));
    assert.deepEqual(apple.payload.aps.alert, { title: alice.username, body: text.slice(0, 100) });
    sa.terminate();
  });
});
