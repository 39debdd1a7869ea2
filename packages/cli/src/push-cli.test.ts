import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createECDH, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { startTestServer, cliEntry, tempDir } from '@switchboard/server/testing';

/* `switchboard push …` through the built binary against a real server. */

const run = promisify(execFile);

test('switchboard push registers, refuses with the server’s reason, and turns push off', async () => {
  const server = await startTestServer();
  const home = tempDir('sb-cli-push-');
  const env = { ...process.env, SWITCHBOARD_HOME: home, SWITCHBOARD_SERVER: server.baseUrl, SWITCHBOARD_PASSWORD: '' };
  const sb = async (...args: string[]) => (await run(process.execPath, [cliEntry, ...args], { env, timeout: 20_000 })).stdout;
  try {
    const name = `pusher_${String(process.pid).slice(-5)}`;
    await sb('register', name, '--password', 'pusher password');
    await sb('login', name, '--password', 'pusher password');
    assert.match(await sb('push', 'key'), /^[A-Za-z0-9_-]{87}\n$/);
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const keys = [ecdh.getPublicKey().toString('base64url'), randomBytes(16).toString('base64url')];
    assert.match(await sb('push', 'webpush', 'https://fcm.googleapis.com/fcm/send/cli', ...keys), /push target registered \(webpush\)/);
    await assert.rejects(sb('push', 'webpush', 'https://attacker.example/x', ...keys), /400 invalid_request: .*WEBPUSH_ALLOWED_ENDPOINTS/);
    await assert.rejects(sb('push', 'fcm', 'some-token'), /400 invalid_request: fcm: FCM is not configured/);
    assert.match(await sb('push', 'off'), /push off/);
  } finally {
    await server.stop();
    rmSync(home, { recursive: true, force: true });
  }
});
