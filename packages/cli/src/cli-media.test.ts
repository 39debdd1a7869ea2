import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, cliEntry, tempDir } from '@switchboard/server/testing';

/* `switchboard send --file` and `switchboard download` through the built binary against a real server. */

const run = promisify(execFile);

test('send --file uploads and attaches; history names the file; download saves it byte for byte', async () => {
  const server = await startTestServer();
  const homes = [tempDir('sb-cli-m1-'), tempDir('sb-cli-m2-')];
  const env = homes.map((home) => ({
    ...process.env,
    SWITCHBOARD_HOME: home,
    SWITCHBOARD_SERVER: server.baseUrl,
    SWITCHBOARD_PASSWORD: '',
  }));
  const sb = async (i: number, ...args: string[]) =>
    (await run(process.execPath, [cliEntry, ...args], { env: env[i], timeout: 20_000, cwd: homes[i] })).stdout;
  const suffix = String(process.pid).slice(-5);
  const names = [`fa_${suffix}`, `fb_${suffix}`];
  try {
    for (const i of [0, 1]) {
      await sb(i, 'register', names[i]!, '--password', 'media password');
      await sb(i, 'login', names[i]!, '--password', 'media password');
    }
    const bytes = randomBytes(200_000);
    const file = path.join(homes[0]!, 'report.pdf');
    writeFileSync(file, bytes);
    assert.match(await sb(0, 'send', names[1]!, '--file', file, 'the', 'report'), /sent \[dm:/);
    const history = await sb(1, 'history', names[0]!);
    assert.match(history, /the report/);
    const id = new RegExp(`\\[file report\\.pdf application/pdf ${bytes.length} B\\] (\\S+)`).exec(history)?.[1];
    assert.ok(id, history);
    assert.match(await sb(1, 'download', id), /report\.pdf \(application\/pdf\)/);
    assert.ok(readFileSync(path.join(homes[1]!, 'report.pdf')).equals(bytes));
    await assert.rejects(sb(1, 'download', 'no-such-media'), /404 not_found/);
  } finally {
    await server.stop();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }
});
