import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, login, registerUser, startServerProcess, tempDir, TestSocket, type ServerProcess } from '../testing/harness.js';
import { pollUntil } from '../testing/poll.js';
import { FakePushServices, makeTestCa, opensslMissing } from '../testing/push-services.js';

/*
 * WEBPUSH_ALLOWED_ENDPOINTS holds at send time too, not only at registration: after the
 * operator narrows the list (a restart with a new setting, same data), a stored target
 * outside it is never contacted; it is logged and deleted (counted as outcome "invalid").
 */
const missing = opensslMissing();
const METRICS_TOKEN = 'test-metrics-token-0123456789';

test(
  'a stored Web Push target that the narrowed allow-list no longer covers is not contacted, and is removed',
  { skip: missing ?? false },
  async () => {
    const ca = makeTestCa();
    const fake = await FakePushServices.start(ca);
    const dataDir = tempDir();
    const env = { ...fake.env(), NODE_EXTRA_CA_CERTS: ca.caFile, METRICS_TOKEN };
    let srv: ServerProcess | undefined;
    after(async () => {
      await srv?.kill('SIGTERM');
      await fake.close();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(ca.dir, { recursive: true, force: true });
    });

    srv = await startServerProcess({ dataDir, env });
    const [alice, bob] = await Promise.all([registerUser(srv.baseUrl, 'alice'), registerUser(srv.baseUrl, 'bob')]);
    const bob2 = await login(srv.baseUrl, bob.username, bob.password, 'second');
    const kept = fake.newSubscription();
    const dropped = fake.newSubscription();
    const first = srv;
    for (const [u, sub] of [
      [bob, kept],
      [bob2, dropped],
    ] as const) {
      const res = await http(first.baseUrl, 'PUT', '/v1/devices/current/push', {
        token: u.token,
        body: { provider: 'webpush', subscription: sub },
      });
      assert.equal(res.status, 204, JSON.stringify(res.body));
    }
    await first.kill('SIGTERM');

    // The operator narrows the list to one subscription's path: the other was registered under the wider one.
    srv = await startServerProcess({ dataDir, env: { ...env, WEBPUSH_ALLOWED_ENDPOINTS: `${fake.origin}/wp/${kept.id}` } });
    const base = srv.baseUrl;
    fake.vapidPublicKey = (await http(base, 'GET', '/v1/push/webpush')).body.vapid_public_key;
    const metrics = () => fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).then((r) => r.text());
    const invalid = (text: string) =>
      Number(/^switchboard_push_sends_total\{provider="webpush",outcome="invalid"\} (\d+)/m.exec(text)?.[1] ?? 0);

    const sa = await TestSocket.connectSynced(srv.wsUrl, alice.token);
    try {
      const chat = directChatId(alice.user_id, bob.user_id);
      const one = await sa.sendMessage(chat, 'first');
      const push = await fake.waitFor((r) => r.id === kept.id && r.payload.message_id === one.message_id, 15_000, 'the allowed push');
      assert.deepEqual(push.problems, []);
      await pollUntil('the disallowed target counted as invalid', metrics, (text) => invalid(text) === 1, 15_000);
      assert.equal(fake.pushesTo(dropped.id).length, 0, 'the target outside the narrowed list was contacted');

      // Removed: the next message does not even look at it (the count stays at 1).
      const second = await sa.sendMessage(chat, 'second');
      await fake.waitFor((r) => r.id === kept.id && r.payload.message_id === second.message_id, 15_000, 'the second allowed push');
      assert.equal(invalid(await metrics()), 1, 'the disallowed target was kept and tried again');
      assert.equal(fake.pushesTo(dropped.id).length, 0);
    } finally {
      sa.terminate();
    }
  },
);
