import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CloseCode } from '@switchboard/protocol';
import { DEFAULT_LIMITS } from '../core/limit-settings.js';
import { http, login, registerUser, TestSocket, type ServerProcess } from '../testing/harness.js';
import { clusterServicesMissing } from '../testing/services.js';
import { clusterSuite } from '../testing/cluster.js';

/*
 * Two real server processes on one Redis and one PostgreSQL: a device revoked through
 * one node has its socket on the other closed with 4100; the login throttle and the
 * per-user socket cap count on both nodes together (they live in Redis).
 */
const missing = await clusterServicesMissing();

describe('cluster: sessions and limits across nodes', { skip: missing ?? false }, () => {
  const { nodes } = clusterSuite(2, { env: { LIMIT_SOCKETS_PER_USER: '2' } });

  test('a device revoked through node A has its socket on node B closed with 4100', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const laptop = await registerUser(a.baseUrl, 'crl');
    const phone = await login(b.baseUrl, laptop.username, laptop.password, 'phone');
    const sock = await TestSocket.connectSynced(b.wsUrl, phone.token);
    try {
      const listed = await http(a.baseUrl, 'GET', '/v1/devices', { token: laptop.token });
      assert.deepEqual(
        (listed.body.devices as { device_id: string }[]).map((d) => d.device_id).sort(),
        [laptop.device_id, phone.device_id].sort(),
      );
      const del = await http(a.baseUrl, 'DELETE', `/v1/devices/${encodeURIComponent(phone.device_id)}`, { token: laptop.token });
      assert.equal(del.status, 204, JSON.stringify(del.body));
      assert.equal(await sock.closed, CloseCode.sessionRevoked);
      assert.equal((await http(b.baseUrl, 'GET', '/v1/users/me', { token: phone.token })).status, 401, 'the token is dead on every node');
    } finally {
      sock.terminate();
    }
  });

  test('failed logins on node A count on node B', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const victim = await registerUser(a.baseUrl, 'clt');
    for (let i = 0; i < DEFAULT_LIMITS.loginFailuresUser.capacity; i++) {
      const r = await http(a.baseUrl, 'POST', '/v1/sessions', { body: { username: victim.username, password: `wrong ${i}` } });
      assert.equal(r.status, 401, `guess ${i} on node A`);
    }
    const onB = await fetch(`${b.baseUrl}/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: victim.username, password: 'wrong again' }),
    });
    const body = (await onB.json()) as { error: string; retry_after_ms: number };
    assert.equal(onB.status, 429, `the next guess, on node B: ${JSON.stringify(body)}`);
    assert.equal(body.error, 'rate_limited');
    assert.ok(Number(onB.headers.get('retry-after')) >= 1);
  });

  test('the per-user socket cap counts sockets on every node', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const u = await registerUser(a.baseUrl, 'csk');
    const second = await login(a.baseUrl, u.username, u.password, 'second');
    const third = await login(a.baseUrl, u.username, u.password, 'third');
    const opened = [await TestSocket.connect(a.wsUrl, u.token), await TestSocket.connect(b.wsUrl, second.token)];
    try {
      await assert.rejects(TestSocket.connect(a.wsUrl, third.token), /upgrade refused: 429/);
      await opened.pop()!.close();
      // Node B gives the place back once it sees the close.
      let last: unknown;
      for (let i = 0; i < 50; i++) {
        try {
          opened.push(await TestSocket.connect(a.wsUrl, third.token));
          last = undefined;
          break;
        } catch (err) {
          last = err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      assert.equal(last, undefined, `a socket in the freed place: ${String(last)}`);
    } finally {
      for (const s of opened) s.terminate();
    }
  });
});
