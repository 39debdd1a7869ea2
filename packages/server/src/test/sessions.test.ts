import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CloseCode } from '@switchboard/protocol';
import { http, login, registerUser, suiteServer } from '../testing/harness.js';

/*
 * PROTOCOL.md "Accounts and sessions": GET /v1/devices lists the caller's live sessions;
 * DELETE /v1/devices/{id} ends one at once (its token and its sockets, closed with 4100);
 * another user's device is 404.
 */

describe('sessions', () => {
  const { srv, connect } = suiteServer();

  test('lists the live devices with the calling one marked current', async () => {
    const before = Date.now();
    const phone = await registerUser(srv.baseUrl, 'sph');
    const laptop = await login(srv.baseUrl, phone.username, phone.password, 'laptop');
    const res = await http(srv.baseUrl, 'GET', '/v1/devices', { token: laptop.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const devices = res.body.devices as Record<string, unknown>[];
    assert.deepEqual(devices.map((d) => d.device_id).sort(), [phone.device_id, laptop.device_id].sort());
    for (const d of devices) {
      assert.equal(d.current, d.device_id === laptop.device_id, JSON.stringify(d));
      assert.equal(typeof d.name, 'string');
      assert.ok(typeof d.created_at === 'number' && d.created_at >= before - 1000, JSON.stringify(d));
      assert.ok(typeof d.last_active_at === 'number' && d.last_active_at >= (d.created_at as number), JSON.stringify(d));
    }
    assert.equal(devices.find((d) => d.device_id === laptop.device_id)?.name, 'laptop');
    // The other device sees the same list, itself current.
    const fromPhone = await http(srv.baseUrl, 'GET', '/v1/devices', { token: phone.token });
    assert.deepEqual(
      (fromPhone.body.devices as Record<string, unknown>[]).filter((d) => d.current).map((d) => d.device_id),
      [phone.device_id],
    );
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/devices')).status, 401, 'needs a token');
  });

  test('revoking a device ends its token and closes its sockets with 4100; the caller stays', async () => {
    const a = await registerUser(srv.baseUrl, 'srv');
    const b = await login(srv.baseUrl, a.username, a.password, 'lost phone');
    const sb = await connect(b);
    const sa = await connect(a);
    await sb.next('sync_complete', 10_000);

    const del = await http(srv.baseUrl, 'DELETE', `/v1/devices/${encodeURIComponent(b.device_id)}`, { token: a.token });
    assert.equal(del.status, 204, JSON.stringify(del.body));
    assert.equal(await sb.closed, CloseCode.sessionRevoked);
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/users/me', { token: b.token })).status, 401, 'the revoked token stops working');
    const list = await http(srv.baseUrl, 'GET', '/v1/devices', { token: a.token });
    assert.deepEqual(
      (list.body.devices as { device_id: string }[]).map((d) => d.device_id),
      [a.device_id],
      'the revoked device is no longer listed',
    );
    assert.equal(sa.closeCode, null, "the caller's own socket stays open");
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/users/me', { token: a.token })).status, 200);
    assert.equal(
      (await http(srv.baseUrl, 'DELETE', `/v1/devices/${encodeURIComponent(b.device_id)}`, { token: a.token })).status,
      404,
      'a device already revoked is gone',
    );
  });

  test("another user's device is 404 and stays signed in; a device may revoke itself", async () => {
    const a = await registerUser(srv.baseUrl, 'sxa');
    const c = await registerUser(srv.baseUrl, 'sxc');
    const sc = await connect(c);
    await sc.next('sync_complete', 10_000);
    for (const id of [c.device_id, 'no-such-device']) {
      const res = await http(srv.baseUrl, 'DELETE', `/v1/devices/${encodeURIComponent(id)}`, { token: a.token });
      assert.equal(res.status, 404, `${id}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, 'not_found');
    }
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/users/me', { token: c.token })).status, 200);
    assert.equal(sc.closeCode, null);

    const self = await http(srv.baseUrl, 'DELETE', `/v1/devices/${encodeURIComponent(c.device_id)}`, { token: c.token });
    assert.equal(self.status, 204);
    assert.equal(await sc.closed, CloseCode.sessionRevoked);
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/devices', { token: c.token })).status, 401);
  });
});
