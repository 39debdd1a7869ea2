import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, cliEntry, tempDir } from '@switchboard/server/testing';

/* `switchboard login --assertion JWT` (PROTOCOL.md "Signing in from your own app") against a real server. */

const run = promisify(execFile);
const SECRET = 'a host app secret of at least 32 bytes!';

/** An HS256 JWT, signed by hand as a host app would (the CLI package does not depend on a JWT library). */
function hs256(claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

test('login --assertion (and SWITCHBOARD_ASSERTION) signs in the app user and saves the session', async () => {
  const server = await startTestServer({ authJwtSecret: SECRET, authJwtIssuer: 'https://app.test', authJwtAudience: 'sb' });
  const home = tempDir('sb-cli-assert-');
  const env = { ...process.env, SWITCHBOARD_HOME: home, SWITCHBOARD_SERVER: server.baseUrl, SWITCHBOARD_PASSWORD: '' };
  const name = `cliapp_${process.pid}`.slice(0, 32);
  const jwt = hs256({
    iss: 'https://app.test',
    aud: 'sb',
    sub: `u-${process.pid}`,
    preferred_username: name,
    exp: Math.floor(Date.now() / 1000) + 300,
  });
  try {
    const { stdout } = await run(process.execPath, [cliEntry, 'login', '--assertion', jwt], { env, timeout: 20_000 });
    assert.match(stdout, new RegExp(`logged in as ${name} `));
    const session = JSON.parse(readFileSync(path.join(home, 'session.json'), 'utf8')) as Record<string, string>;
    assert.equal(session.username, name);
    const again = await run(process.execPath, [cliEntry, 'login'], { env: { ...env, SWITCHBOARD_ASSERTION: jwt }, timeout: 20_000 });
    assert.match(again.stdout, new RegExp(`logged in as ${name} \\(${session.user_id}\\)`));
    // A bad token: a clear error and a non-zero exit.
    await assert.rejects(run(process.execPath, [cliEntry, 'login', '--assertion', `${jwt}x`], { env, timeout: 20_000 }), /invalid/);
  } finally {
    await server.stop();
  }
});
