import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startTestServer, cliEntry } from '@switchboard/server/testing';

/* `switchboard admin webhooks` against a real server with ADMIN_TOKEN. */

const run = promisify(execFile);
const ADMIN_TOKEN = 'cli-webhook-admin-token-0123456789abcdef';

test('admin webhooks: add (prints the secret once), list, remove; a wrong token fails with the status', async () => {
  const server = await startTestServer({ adminToken: ADMIN_TOKEN });
  const env = { ...process.env, SWITCHBOARD_SERVER: server.baseUrl, SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN };
  const sb = async (...args: string[]) =>
    (await run(process.execPath, [cliEntry, 'admin', 'webhooks', ...args], { env, timeout: 20_000 })).stdout;
  try {
    const added = await sb('add', 'http://127.0.0.1:9/in', '--events', 'message.created,user.created');
    const id = /^(wh_[0-9a-f]+)\s+http:\/\/127\.0\.0\.1:9\/in\s+message\.created,user\.created$/m.exec(added)?.[1];
    assert.ok(id, added);
    assert.match(added, /secret \(shown once\): whsec_[0-9a-f]{64}/);
    const listed = await sb('list');
    assert.match(listed, new RegExp(`^${id}\\s+http://127\\.0\\.0\\.1:9/in\\s+message\\.created,user\\.created$`, 'm'));
    assert.doesNotMatch(listed, /whsec_/);
    assert.equal(await sb('remove', id), `removed ${id}\n`);
    assert.equal(await sb('list'), '');
    await assert.rejects(
      run(process.execPath, [cliEntry, 'admin', 'webhooks', 'list', '--admin-token', 'wrong'], { env, timeout: 20_000 }),
      (err: { stderr: string }) => /401 unauthorized/.test(err.stderr),
    );
  } finally {
    await server.stop();
  }
});
