import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CloseCode, directChatId } from '@switchboard/protocol';
import { DEFAULT_LIMITS } from '../core/limit-settings.js';
import { http, login, registerUser, seedUsers, sleep, suiteServer, TestSocket } from '../testing/harness.js';
import { clientMsgId, waitUntil } from './delivery-support.js';

/*
 * Sessions that end (issue 19, embedded mode; accounts-cluster.test.ts runs the cluster
 * side): a device cap that ends the least recently active session, idle sessions that
 * expire, a per-user send bucket beside the per-device one, password hashes upgraded at
 * login, and X-Forwarded-Proto believed only behind TRUST_PROXY.
 */

describe('sessions: a cap on devices per user', () => {
  const { srv, connect } = suiteServer({ maxDevicesPerUser: 3 });

  test('a login past the cap ends the least recently active session: its token is 401, its socket closes with 4100', async () => {
    const first = await registerUser(srv.baseUrl, 'scp');
    const second = await login(srv.baseUrl, first.username, first.password, 'second');
    const third = await login(srv.baseUrl, first.username, first.password, 'third');
    const sock = await connect(second);
    await sock.next('sync_complete', 10_000);
    // The first and third devices are used after the second opened its socket: the second is now the least recently active.
    await sleep(20);
    for (const u of [first, third]) assert.equal((await http(srv.baseUrl, 'GET', '/v1/users/me', { token: u.token })).status, 200);
    await sleep(20);
    const fourth = await login(srv.baseUrl, first.username, first.password, 'fourth');
    const closed = await Promise.race([sock.closed, sleep(5000).then(() => 'still open')]);
    assert.equal(closed, CloseCode.sessionRevoked, "the ended session's socket");
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/users/me', { token: second.token })).status, 401, 'its token stops working');
    const list = await http(srv.baseUrl, 'GET', '/v1/devices', { token: fourth.token });
    assert.deepEqual(
      (list.body.devices as { device_id: string }[]).map((d) => d.device_id).sort(),
      [first.device_id, third.device_id, fourth.device_id].sort(),
    );
    for (const u of [first, third, fourth]) assert.equal((await http(srv.baseUrl, 'GET', '/v1/users/me', { token: u.token })).status, 200);
  });
});

describe('sessions: idle sessions expire', () => {
  // SESSION_IDLE_MS (for tests; SESSION_IDLE_DAYS otherwise): 1.5 s here; silent sockets are pinged every 300 ms.
  const { srv, connect } = suiteServer({ sessionIdleMs: 1500, pingIntervalMs: 300 });

  test('a token unused for longer than the idle time answers 401 (HTTP and socket); one in use stays alive', async () => {
    const idle = await registerUser(srv.baseUrl, 'sid');
    const busy = await login(srv.baseUrl, idle.username, idle.password, 'busy');
    for (let i = 0; i < 6; i++) {
      await sleep(400);
      assert.equal((await http(srv.baseUrl, 'GET', '/v1/users/me', { token: busy.token })).status, 200, `busy call ${i}`);
    }
    // 2.4 s without a call: over.
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/users/me', { token: idle.token })).status, 401, 'the idle token');
    await assert.rejects(TestSocket.connect(srv.wsUrl, idle.token), /401/);
    const list = await http(srv.baseUrl, 'GET', '/v1/devices', { token: busy.token });
    assert.deepEqual(
      (list.body.devices as { device_id: string }[]).map((d) => d.device_id),
      [busy.device_id],
      'the expired session is not listed',
    );
  });

  test('a socket that only listens (answers the server’s pings) keeps its session alive', async () => {
    const u = await registerUser(srv.baseUrl, 'sil');
    const sock = await connect(u);
    await sock.next('sync_complete', 10_000);
    await sleep(2500);
    assert.equal(sock.closeCode, null);
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/users/me', { token: u.token })).status, 200, 'the listening session');
  });
});

describe('sessions: a user send bucket beside the device one', () => {
  const { srv, open } = suiteServer({ limits: { ...DEFAULT_LIMITS, userSends: { capacity: 10, perSecond: 0.01 } } });

  test("a user's devices share one send bucket: two devices sending 8 each meet the user's 10", async () => {
    const [a, b] = await seedUsers(srv, 2, 'sus');
    const a2 = await login(srv.baseUrl, a!.username, a!.password, 'second');
    const chat = directChatId(a!.user_id, b!.user_id);
    const [s1, s2] = await Promise.all([open(a!), open(a2)]);
    const ids: string[] = [];
    for (const s of [s1, s2]) {
      for (let i = 0; i < 8; i++) {
        const id = clientMsgId();
        ids.push(id);
        s.send({ type: 'send_message', chat_id: chat, client_msg_id: id, content: `m ${i}` });
      }
    }
    const wanted = new Set(ids);
    const answers = () =>
      [...s1.frames, ...s2.frames].filter((f) => (f.type === 'ack_sent' || f.type === 'error') && wanted.has(String(f.client_msg_id)));
    await waitUntil(() => answers().length === ids.length, 10_000, 'an answer to every send');
    const acked = answers().filter((f) => f.type === 'ack_sent');
    const refused = answers().filter((f) => f.type === 'error');
    assert.equal(acked.length, 10, `acked ${acked.length}`);
    assert.equal(refused.length, 6);
    for (const e of refused) {
      assert.equal(e.code, 'rate_limited', JSON.stringify(e));
      assert.ok(Number.isInteger(e.retry_after_ms) && Number(e.retry_after_ms) > 0, JSON.stringify(e));
    }
  });
});

describe('passwords: old hashes are upgraded at login', () => {
  const { srv } = suiteServer({ passwordHashKib: 2048 });

  test('a hash made at a lower cost is rehashed at the current cost by the next login; the password still works', async () => {
    // seedUsers stores argon2id m=1024 hashes straight into the store: an account from before the cost went up.
    const [u] = await seedUsers(srv, 1, 'srh');
    const store = srv.server.engines.store;
    assert.match((await store.getUserByUsername(u!.username))!.passwordHash, /^\$argon2id\$v=19\$m=1024,t=2,p=1\$/);
    await login(srv.baseUrl, u!.username, u!.password);
    assert.match((await store.getUserByUsername(u!.username))!.passwordHash, /^\$argon2id\$v=19\$m=2048,t=2,p=1\$/, 'rehashed at m=2048');
    await login(srv.baseUrl, u!.username, u!.password);
    const wrong = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username: u!.username, password: 'not it' } });
    assert.equal(wrong.status, 401);
  });
});

async function postWithProto(baseUrl: string, path: string, body: unknown, token?: string) {
  const res = await fetch(baseUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

for (const trustProxy of [false, true]) {
  describe(`X-Forwarded-Proto ${trustProxy ? 'with' : 'without'} TRUST_PROXY`, () => {
    // A wildcard HOST: ws_url then comes from the request, not from the node's advertised address.
    const { srv } = suiteServer({ host: '0.0.0.0', trustProxy });

    test(`ws_url and media URLs ${trustProxy ? 'follow' : 'ignore'} X-Forwarded-Proto: https`, async () => {
      const u = await registerUser(srv.baseUrl, 'sxp');
      const session = await postWithProto(srv.baseUrl, '/v1/sessions', { username: u.username, password: u.password });
      assert.equal(session.status, 201, JSON.stringify(session.body));
      assert.match(session.body.ws_url, trustProxy ? /^wss:\/\// : /^ws:\/\//, session.body.ws_url);
      const upload = await postWithProto(
        srv.baseUrl,
        '/v1/media',
        { content_type: 'application/pdf', size: 1, filename: 'x.pdf' },
        u.token,
      );
      assert.equal(upload.status, 201, JSON.stringify(upload.body));
      assert.match(upload.body.upload_url, trustProxy ? /^https:\/\// : /^http:\/\//, upload.body.upload_url);
    });
  });
}
