import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { CloseCode } from '@switchboard/protocol';
import { legacyScryptHash } from '../core/passwords.js';
import { http, login, registerUser, sleep, TestSocket, type ServerProcess } from '../testing/harness.js';
import { clusterServicesMissing } from '../testing/services.js';
import { clusterSuite } from '../testing/cluster.js';

/*
 * Accounts and sessions hardening (issue 19) in cluster mode: two real server processes
 * on one Redis (the rate-limit store) and one PostgreSQL (the store).
 */
const missing = await clusterServicesMissing();

/** A raw POST with extra headers (X-Forwarded-For: the nodes trust a proxy). */
async function post(baseUrl: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(baseUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe('cluster: accounts and sessions hardening', { skip: missing ?? false }, () => {
  const { nodes, databaseUrl } = clusterSuite(2, {
    env: { TRUST_PROXY: '1', LIMIT_LOGIN_SLOWDOWN_USER: '9:0.01', MAX_DEVICES_PER_USER: '3', PASSWORD_HASH_KIB: '2048' },
  });
  /** One query on the nodes' PostgreSQL schema. */
  const sql = async (text: string, values: unknown[] = []) => {
    const db = new pg.Client({ connectionString: databaseUrl() });
    await db.connect();
    try {
      return (await db.query(text, values)).rows;
    } finally {
      await db.end();
    }
  };

  test('guesses from address A (through node A) get A 429; the owner from address B (through node B) logs in', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const bob = await registerUser(a.baseUrl, 'cla');
    const fromA = { 'x-forwarded-for': '198.51.100.11' };
    let limited: Awaited<ReturnType<typeof post>> | undefined;
    for (let i = 0; i < 100 && !limited; i++) {
      const r = await post(a.baseUrl, '/v1/sessions', { username: bob.username, password: `wrong ${i}` }, fromA);
      if (r.status === 429) limited = r;
      else assert.equal(r.status, 401, JSON.stringify(r.body));
    }
    assert.ok(limited, 'address A was never throttled');
    assert.equal(limited.body.error, 'rate_limited');
    const aOnB = await post(b.baseUrl, '/v1/sessions', { username: bob.username, password: bob.password }, fromA);
    assert.equal(aOnB.status, 429, `address A through node B: ${JSON.stringify(aOnB.body)}`);
    const fromB = await post(
      b.baseUrl,
      '/v1/sessions',
      { username: bob.username, password: bob.password },
      { 'x-forwarded-for': '198.51.100.12' },
    );
    assert.equal(fromB.status, 201, `the owner from address B: ${JSON.stringify(fromB.body)}`);
    assert.equal((await http(b.baseUrl, 'GET', '/v1/users/me', { token: fromB.body.token })).status, 200);
  });

  test('a login on node A past the cap ends the least recently active session: its socket on node B closes with 4100', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const first = await registerUser(a.baseUrl, 'ccp');
    const second = await login(b.baseUrl, first.username, first.password, 'second');
    const third = await login(a.baseUrl, first.username, first.password, 'third');
    const sock = await TestSocket.connectSynced(b.wsUrl, second.token);
    try {
      await sleep(20);
      for (const u of [first, third]) assert.equal((await http(a.baseUrl, 'GET', '/v1/users/me', { token: u.token })).status, 200);
      await sleep(20);
      const fourth = await login(a.baseUrl, first.username, first.password, 'fourth');
      const closed = await Promise.race([sock.closed, sleep(5000).then(() => 'still open')]);
      assert.equal(closed, CloseCode.sessionRevoked, "the ended session's socket on node B");
      assert.equal((await http(b.baseUrl, 'GET', '/v1/users/me', { token: second.token })).status, 401, 'its token, on node B');
      const list = await http(b.baseUrl, 'GET', '/v1/devices', { token: fourth.token });
      assert.deepEqual(
        (list.body.devices as { device_id: string }[]).map((d) => d.device_id).sort(),
        [first.device_id, third.device_id, fourth.device_id].sort(),
      );
    } finally {
      sock.terminate();
    }
  });

  test('a session last active longer ago than SESSION_IDLE_DAYS answers 401 on every node', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const u = await registerUser(a.baseUrl, 'cid');
    const fresh = await login(a.baseUrl, u.username, u.password, 'fresh');
    const old = Date.now() - 91 * 86_400_000;
    await sql('UPDATE devices SET created_at = $1, last_active_at = $1 WHERE id = $2', [old, u.device_id]);
    assert.equal((await http(b.baseUrl, 'GET', '/v1/users/me', { token: u.token })).status, 401, 'on node B');
    assert.equal((await http(a.baseUrl, 'GET', '/v1/users/me', { token: u.token })).status, 401, 'on node A');
    assert.equal((await http(a.baseUrl, 'GET', '/v1/users/me', { token: fresh.token })).status, 200, 'a session in use stays');
    const [row] = await sql('SELECT revoked_at FROM devices WHERE id = $1', [u.device_id]);
    assert.notEqual(row?.revoked_at, null, 'the expired session is marked revoked');
  });

  test('a scrypt hash from before argon2id is rehashed as argon2id at the current cost by the next login', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const u = await registerUser(a.baseUrl, 'crh');
    await sql('UPDATE users SET password_hash = $1 WHERE id = $2', [await legacyScryptHash(u.password, 1024), u.user_id]);
    await login(b.baseUrl, u.username, u.password);
    const [row] = await sql('SELECT password_hash FROM users WHERE id = $1', [u.user_id]);
    assert.match(String(row?.password_hash), /^\$argon2id\$v=19\$m=2048,t=2,p=1\$/, 'rehashed as argon2id at m=2048');
    await login(a.baseUrl, u.username, u.password);
  });
});
