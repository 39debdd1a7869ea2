import assert from 'node:assert/strict';
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import webpush from 'web-push';
import { http, startTestServer, tempDir } from '../testing/harness.js';

/* The VAPID key: generated once and kept in DATA_DIR (private), or taken from the configuration. */

test('a generated VAPID key is kept in DATA_DIR (mode 0600) and survives a restart', async () => {
  const dataDir = tempDir();
  try {
    const first = await startTestServer({ dataDir });
    const key = (await http(first.baseUrl, 'GET', '/v1/push/webpush')).body.vapid_public_key;
    await first.stop();
    assert.equal(statSync(path.join(dataDir, 'vapid.json')).mode & 0o777, 0o600);
    const second = await startTestServer({ dataDir });
    assert.equal((await http(second.baseUrl, 'GET', '/v1/push/webpush')).body.vapid_public_key, key);
    await second.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('VAPID_PUBLIC_KEY / VAPID_PRIVATE_KEY are used when set; one without the other stops the start', async () => {
  const keys = webpush.generateVAPIDKeys();
  const srv = await startTestServer({ vapidPublicKey: keys.publicKey, vapidPrivateKey: keys.privateKey });
  try {
    const res = await http(srv.baseUrl, 'GET', '/v1/push/webpush');
    assert.deepEqual([res.status, res.body], [200, { vapid_public_key: keys.publicKey }]);
  } finally {
    await srv.stop();
  }
  await assert.rejects(startTestServer({ vapidPublicKey: keys.publicKey }), /VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY/);
});
