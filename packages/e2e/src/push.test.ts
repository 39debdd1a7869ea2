import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '@switchboard/server/testing';
import { SwitchboardClient, SwitchboardHttpError } from '@switchboard/client';

/*
 * The SDK's push calls against a real server (the deliveries themselves are tested in
 * the server's push tests, against stand-in push services).
 */
let srv: TestServer;
before(async () => (srv = await startTestServer()));
after(async () => srv.stop());

test('registerPush / unregisterPush / webPushKey', async () => {
  const username = `pushsdk_${process.pid}`;
  await SwitchboardClient.register(srv.baseUrl, { username, password: 'correct horse battery' });
  const session = await SwitchboardClient.login(srv.baseUrl, { username, password: 'correct horse battery' });
  const client = SwitchboardClient.fromSession(srv.baseUrl, session);

  const key = await SwitchboardClient.webPushKey(srv.baseUrl);
  assert.equal(Buffer.from(key, 'base64url').length, 65);

  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const subscription = {
    endpoint: 'https://fcm.googleapis.com/fcm/send/sdk-test',
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') },
  };
  await client.registerPush({ provider: 'webpush', subscription });
  await assert.rejects(
    client.registerPush({ provider: 'webpush', subscription: { ...subscription, endpoint: 'https://attacker.example/x' } }),
    (err: unknown) => err instanceof SwitchboardHttpError && err.status === 400 && err.code === 'invalid_request',
  );
  // APNs is not configured on this server: refused with a reason, not stored.
  await assert.rejects(
    client.registerPush({ provider: 'apns', token: 'ab'.repeat(32) }),
    (err: unknown) => err instanceof SwitchboardHttpError && err.status === 400 && /APNs is not configured/.test(err.message),
  );
  await client.unregisterPush();
  await client.close();
});
