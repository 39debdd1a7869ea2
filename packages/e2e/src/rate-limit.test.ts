import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { WebSocket } from 'ws';
import { startServerProcess, tempDir } from '@switchboard/server/testing';
import { directChatId } from '@switchboard/protocol';
import { SwitchboardClient } from '@switchboard/client';

/*
 * The SDK meets a send limit (a real server started with a small one): each refused send
 * waits retry_after_ms and goes again, so every send resolves once and is stored once.
 */

test('sends refused with rate_limited are resent after retry_after_ms and each is stored once', async () => {
  const dataDir = tempDir();
  // A burst of 5, then 10 a second: 30 sends at once meet it.
  const proc = await startServerProcess({ dataDir, env: { LIMIT_SENDS: '5:10', METRICS_TOKEN: 'test-metrics-token-0123456789' } });
  const password = 'correct horse battery';
  const names = [`rl_a_${process.pid}`, `rl_b_${process.pid}`];
  for (const username of names) await SwitchboardClient.register(proc.baseUrl, { username, password });
  const [a, b] = await Promise.all(names.map((username) => SwitchboardClient.login(proc.baseUrl, { username, password })));
  const sender = SwitchboardClient.fromSession(proc.baseUrl, a!, { WebSocket });
  const reader = SwitchboardClient.fromSession(proc.baseUrl, b!, { WebSocket });
  try {
    const synced = sender.waitFor('sync_complete', { timeoutMs: 10_000 });
    await sender.connect();
    await synced;
    const chatId = directChatId(a!.user_id, b!.user_id);
    const texts = Array.from({ length: 30 }, (_, i) => `paced ${i}`);
    const acks = await Promise.all(texts.map((t) => sender.send(chatId, t)));
    assert.equal(new Set(acks.map((x) => x.message_id)).size, texts.length, 'one message per send');

    const metrics = await (
      await fetch(`${proc.baseUrl}/metrics`, { headers: { authorization: 'Bearer test-metrics-token-0123456789' } })
    ).text();
    const refused = Number(/switchboard_frame_errors_total\{code="rate_limited"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(refused > 0, 'the server refused some sends on the way');

    const page = await reader.history(chatId, { limit: 200 });
    assert.deepEqual(page.messages.map((m) => m.content).sort(), [...texts].sort(), 'every send stored exactly once');
  } finally {
    await sender.close();
    await reader.close();
    await proc.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
});
