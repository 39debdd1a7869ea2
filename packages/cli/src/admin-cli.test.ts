import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SwitchboardAdmin, SwitchboardApi, SwitchboardHttpError, directChatId } from '@switchboard/client';
import { cliEntry, registerUser, startTestServer, TestSocket } from '@switchboard/server/testing';

/* `switchboard admin ...` (the built binary) and the SDK's SwitchboardAdmin and report() against a real server. */

const run = promisify(execFile);
const ADMIN_TOKEN = 'cli-admin-token-0123456789abcdefghijkl';

async function sb(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cliEntry, ...args], { env, timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('switchboard admin: users, suspend, unsuspend, delete-message, reports, bots, delete-user', async () => {
  const server = await startTestServer({ adminToken: ADMIN_TOKEN });
  const env = { ...process.env, SWITCHBOARD_SERVER: server.baseUrl, ADMIN_TOKEN };
  try {
    const alice = await registerUser(server.baseUrl, 'clia');
    const bob = await registerUser(server.baseUrl, 'clib');
    const sock = await TestSocket.connectSynced(server.wsUrl, alice.token);
    const ack = await sock.sendMessage(directChatId(alice.user_id, bob.user_id), 'hello');
    sock.terminate();
    // The SDK: bob reports alice's message, and the operator's client sees it.
    const bobApi = new SwitchboardApi(server.baseUrl, bob.token);
    const { report_id } = await bobApi.report({ user_id: alice.user_id, message_id: ack.message_id, reason: 'spam', note: 'ads' });
    const adminApi = new SwitchboardAdmin(server.baseUrl, ADMIN_TOKEN);
    const reports = await adminApi.reports({ limit: 10 });
    assert.equal(reports.reports.find((r) => r.report_id === report_id)?.note, 'ads');
    assert.equal((await adminApi.users({ prefix: alice.username })).users[0]?.user_id, alice.user_id);
    await assert.rejects(
      new SwitchboardAdmin(server.baseUrl, 'x'.repeat(40)).users(),
      (e) => e instanceof SwitchboardHttpError && e.status === 401,
    );

    const users = await sb(env, 'admin', 'users', '--prefix', alice.username);
    assert.equal(users.code, 0, users.stderr);
    assert.match(users.stdout, new RegExp(`^  ${alice.user_id}  ${alice.username} `, 'm'));
    assert.match(
      (await sb(env, 'admin', 'reports')).stdout,
      new RegExp(`${report_id} .* spam  by ${bob.user_id} about ${alice.user_id} message ${ack.message_id}  "ads"`),
    );
    assert.equal((await sb(env, 'admin', 'suspend', alice.user_id)).code, 0);
    assert.match((await sb(env, 'admin', 'users', '--prefix', alice.username)).stdout, /^S /m);
    assert.equal(await new SwitchboardApi(server.baseUrl, alice.token).me().catch((e: SwitchboardHttpError) => e.status), 401);
    assert.equal((await sb(env, 'admin', 'unsuspend', alice.user_id)).code, 0);
    assert.equal((await sb(env, 'admin', 'delete-message', ack.message_id as string)).code, 0);
    const missing = await sb(env, 'admin', 'delete-message', '12345');
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /404 not_found/);
    const bot = await sb(env, 'admin', 'bots', 'create', 'cli_bot_1', '--display-name', 'Cli Bot');
    assert.equal(bot.code, 0, bot.stderr);
    const token = /^token: (\S+)$/m.exec(bot.stdout)?.[1];
    assert.ok(token, bot.stdout);
    assert.equal((await new SwitchboardApi(server.baseUrl, token).me()).username, 'cli_bot_1');
    assert.equal((await sb(env, 'admin', 'delete-user', bob.user_id)).code, 0);
    assert.doesNotMatch((await sb(env, 'admin', 'users', '--prefix', bob.username)).stdout, /clib/);

    const wrong = await sb({ ...env, ADMIN_TOKEN: 'y'.repeat(40) }, 'admin', 'users');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /refused ADMIN_TOKEN/);
    const unset = await sb({ ...env, ADMIN_TOKEN: '' }, 'admin', 'users');
    assert.match(unset.stderr, /ADMIN_TOKEN is not set/);
    assert.match((await sb(env, 'admin')).stderr, /admin bots create/);
  } finally {
    await server.stop();
  }
});
