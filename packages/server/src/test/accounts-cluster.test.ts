import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { http, registerUser, type ServerProcess } from '../testing/harness.js';
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
  const { nodes } = clusterSuite(2, { env: { TRUST_PROXY: '1', LIMIT_LOGIN_SLOWDOWN_USER: '9:0.01' } });

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
});
