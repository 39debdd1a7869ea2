import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, cliEntry, tempDir } from '@switchboard/server/testing';
import { zeroPng } from '@switchboard/server/testing/zero-png';

/* `switchboard profile`, `search`, `contacts`, `block` / `unblock` through the built binary against a real server. */

const run = promisify(execFile);

test('profile, search, contacts, block and unblock through the built binary', async () => {
  const server = await startTestServer();
  const homes = [tempDir('sb-cli-p1-'), tempDir('sb-cli-p2-')];
  const env = homes.map((home) => ({
    ...process.env,
    SWITCHBOARD_HOME: home,
    SWITCHBOARD_SERVER: server.baseUrl,
    SWITCHBOARD_PASSWORD: '',
  }));
  const sb = async (i: number, ...args: string[]) =>
    (await run(process.execPath, [cliEntry, ...args], { env: env[i], timeout: 20_000 })).stdout;
  const suffix = String(process.pid).slice(-5);
  const names = [`pa_${suffix}`, `pb_${suffix}`];
  try {
    for (const i of [0, 1]) {
      await sb(i, 'register', names[i]!, '--password', 'people password');
      await sb(i, 'login', names[i]!, '--password', 'people password');
    }
    // Profile: shown, changed, with an avatar from a file.
    assert.match(await sb(0, 'profile'), new RegExp(`^${names[0]} \\(\\S+\\) "${names[0]}"\\n$`));
    const png = path.join(homes[0]!, 'me.png');
    writeFileSync(png, zeroPng(64, 64, { bits: 8, colorType: 2, interlaced: false }));
    const changed = await sb(0, 'profile', '--display-name', 'Pat A', '--about', 'likes tea', '--avatar', png);
    assert.match(changed, new RegExp(`^${names[0]} \\(\\S+\\) "Pat A"  likes tea  \\[avatar \\S+\\]\\n$`));
    assert.doesNotMatch(await sb(0, 'profile', '--no-avatar'), /avatar/);
    await assert.rejects(sb(0, 'profile', '--about', 'x'.repeat(501)), /400 invalid_request/);

    // Search by prefix: both users, in username order; too short a prefix is refused.
    const found = await sb(1, 'search', `p`.concat('a_', suffix).slice(0, 3));
    assert.match(found, new RegExp(`${names[0]} .*"Pat A"  likes tea`));
    assert.match(await sb(1, 'search', `pb_${suffix}`), new RegExp(`^${names[1]} `));
    await assert.rejects(sb(1, 'search', 'pa'), /400 invalid_request/);

    // Contacts.
    assert.equal(await sb(1, 'contacts'), '');
    assert.match(await sb(1, 'contacts', 'add', names[0]!), new RegExp(`added ${names[0]}`));
    assert.match(await sb(1, 'contacts'), new RegExp(`^${names[0]} .*"Pat A"`));
    assert.match(await sb(1, 'contacts', 'remove', `@${names[0]}`), new RegExp(`removed ${names[0]}`));
    assert.equal(await sb(1, 'contacts'), '');
    await assert.rejects(sb(1, 'contacts', 'add', 'nobody_here'), /no user named/);

    // Block: the blocked user's send is refused; unblock lets it through.
    assert.match(await sb(0, 'block', names[1]!), new RegExp(`blocked ${names[1]}`));
    assert.match(await sb(0, 'block'), new RegExp(`^${names[1]} `));
    await assert.rejects(sb(1, 'send', names[0]!, 'hello'), /blocked/);
    assert.match(await sb(0, 'unblock', names[1]!), new RegExp(`unblocked ${names[1]}`));
    assert.equal(await sb(0, 'block'), '');
    assert.match(await sb(1, 'send', names[0]!, 'hello'), /sent \[dm:/);
  } finally {
    await server.stop();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }
});
