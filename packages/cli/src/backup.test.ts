import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { directChatId } from '@switchboard/protocol';
import {
  cliEntry,
  http,
  registerUser,
  startServerProcess,
  startTestServer,
  tempDir,
  TestSocket,
  type TestUser,
} from '@switchboard/server/testing';

/*
 * `switchboard backup` and `restore` as an operator runs them: the built binary, beside a
 * server process that keeps serving a client that sends all the while.
 */

const run = promisify(execFile);

function sb(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  // Embedded, whatever the environment says.
  return run(process.execPath, [cliEntry, ...args], { env: { ...process.env, REDIS_URL: '', DATABASE_URL: '' }, timeout: 60_000 });
}

async function history(
  baseUrl: string,
  u: TestUser,
  chatId: string,
): Promise<{ message_id: string; seq: number; attachments?: { media_id: string }[] }[]> {
  const all = [];
  let after = 0;
  for (;;) {
    const res = await http(baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chatId)}/messages?after=${after}&limit=200`, { token: u.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    if (res.body.messages.length === 0) return all;
    all.push(...res.body.messages);
    after = all[all.length - 1]!.seq;
  }
}

test('backup under load, restore into a new folder: a server on it has every message acknowledged before the backup began, and the media', async () => {
  const dir = tempDir();
  const restored = tempDir();
  rmSync(restored, { recursive: true }); // restore makes the folder
  const archive = path.join(tempDir(), 'switchboard.tgz');
  const srv = await startServerProcess({ dataDir: dir, env: { RATE_LIMITS: 'off' } });
  let restoredSrv: Awaited<ReturnType<typeof startTestServer>> | undefined;
  const sock: TestSocket[] = [];
  try {
    const a = await registerUser(srv.baseUrl, 'bka');
    const b = await registerUser(srv.baseUrl, 'bkb');
    const chatId = directChatId(a.user_id, b.user_id);
    const sa = await TestSocket.connectSynced(srv.wsUrl, a.token);
    sock.push(sa);

    // A message with media, then a client sending one message after another, acknowledged or not.
    const bytes = randomBytes(4096);
    const created = await http(srv.baseUrl, 'POST', '/v1/media', {
      token: a.token,
      body: { content_type: 'application/octet-stream', size: bytes.length, filename: 'x.bin' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const up = await fetch(created.body.upload_url, {
      method: created.body.upload_method,
      headers: created.body.upload_headers,
      body: bytes,
    });
    assert.ok(up.ok);
    const mediaId = created.body.media_id as string;
    const acked: string[] = [];
    const sendOne = async (extra: Record<string, unknown> = {}) => {
      const id = randomUUID();
      const from = sa.frames.length;
      sa.send({ type: 'send_message', chat_id: chatId, client_msg_id: id, content: `m${acked.length}`, ...extra });
      const ack = await sa.waitFor((f) => (f.type === 'ack_sent' || f.type === 'error') && f.client_msg_id === id, 10_000, 'ack', from);
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      acked.push(ack.message_id as string);
    };
    await sendOne({ attachments: [{ media_id: mediaId }] });
    let sending = true;
    const load = (async () => {
      while (sending) await sendOne();
    })();
    while (acked.length < 200) await new Promise((resolve) => setTimeout(resolve, 10));

    const before = [...acked];
    const out = await sb('backup', archive, '--data-dir', dir);
    const during = acked.length - before.length;
    assert.match(out.stdout, /backed up .* 1 media objects/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    sending = false;
    await load;
    assert.ok(during > 0, 'the client kept sending (and being acknowledged) while the backup ran');

    // The running server's folder is not empty: refused without --force.
    await assert.rejects(sb('restore', archive, '--data-dir', dir), (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr ?? '', /is not empty/);
      return true;
    });

    await sb('restore', archive, '--data-dir', restored);
    // The search index is not in the backup: the restored server rebuilds it from the messages.
    assert.ok(!existsSync(path.join(restored, 'search.db')), 'no search file restored');
    restoredSrv = await startTestServer({ dataDir: restored });
    const got = await history(restoredSrv.baseUrl, a, chatId);
    const ids = new Set(got.map((m) => m.message_id));
    const missing = before.filter((id) => !ids.has(id));
    assert.deepEqual(missing, [], 'every message acknowledged before the backup began is restored');
    // A consistent snapshot: the chat's log without a hole, whatever was committed while it was taken.
    assert.deepEqual(
      got.map((m) => m.seq),
      got.map((_, i) => i + 1),
    );
    const first = got.find((m) => m.message_id === before[0])!;
    assert.equal(first.attachments?.[0]?.media_id, mediaId);
    const media = await fetch(`${restoredSrv.baseUrl}/v1/media/${mediaId}`, { headers: { authorization: `Bearer ${b.token}` } });
    assert.equal(media.status, 200);
    assert.ok(Buffer.from(await media.arrayBuffer()).equals(bytes), 'the media bytes came back too');
    const found = await http(restoredSrv.baseUrl, 'GET', '/v1/search?q=m150', { token: b.token });
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.ok(
      (found.body.messages as { message_id: string }[]).some((m) => m.message_id === before[150]),
      'search finds a restored message (its index rebuilt)',
    );
  } finally {
    for (const s of sock) s.terminate();
    await srv.kill('SIGTERM');
    await restoredSrv?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(restored, { recursive: true, force: true });
    rmSync(path.dirname(archive), { recursive: true, force: true });
  }
});
