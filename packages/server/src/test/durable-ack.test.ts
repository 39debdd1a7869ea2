import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { login, registerUser, startServerProcess, tempDir, TestSocket, type ServerProcess, type TestUser } from '../testing/harness.js';
import { fetchHistory, makeItems, waitForSyncComplete, waitUntil, type Frame } from './delivery-support.js';

/*
 * Guarantee 1, durable before acknowledged: the real `switchboard serve` process is
 * killed with SIGKILL while a client is pipelining sends; after a restart on the same
 * data dir, every message that got an ack_sent is in history with the same message_id
 * and seq, and seqs are gap-free.
 */

const SENDS = 300;

/** Sends `count` messages pipelined, SIGKILLs the server once `killAfter` acks arrived; returns every ack received. */
async function sendAndKill(
  proc: ServerProcess,
  sender: TestUser,
  chatId: string,
  count: number,
  killAfter: number,
  label: string,
): Promise<Map<string, Frame>> {
  const sock = await TestSocket.connect(proc.wsUrl, sender.token);
  await waitForSyncComplete(sock);
  const items = makeItems(count, label);
  const ids = new Set(items.map((it) => it.client_msg_id));
  for (const it of items) sock.send({ type: 'send_message', chat_id: chatId, client_msg_id: it.client_msg_id, content: it.content });
  const ackCount = () => sock.frames.filter((f: Frame) => f.type === 'ack_sent' && ids.has(f.client_msg_id)).length;
  await waitUntil(
    () => ackCount() >= killAfter,
    20_000,
    `${killAfter} acks`,
    () => `${ackCount()} acks; last: ${JSON.stringify(sock.frames.slice(-3))}`,
  );
  await proc.kill('SIGKILL');
  await sock.closed;
  const acks = new Map<string, Frame>();
  for (const f of sock.frames as Frame[]) {
    if (f.type === 'error') assert.fail(`send failed before the kill: ${JSON.stringify(f)}`);
    if (f.type === 'ack_sent' && ids.has(f.client_msg_id)) {
      const prev = acks.get(f.client_msg_id);
      if (prev) assert.deepEqual([f.message_id, f.seq], [prev.message_id, prev.seq], 'two acks for one send disagree');
      else acks.set(f.client_msg_id, f);
    }
  }
  return acks;
}

async function assertAcksDurable(proc: ServerProcess, reader: TestUser, chatId: string, acks: Map<string, Frame>): Promise<void> {
  const history = await fetchHistory(proc.baseUrl, reader.token, chatId);
  assert.ok(history.length >= acks.size, `history has ${history.length} messages but ${acks.size} were acknowledged`);
  history.forEach((m, i) => assert.equal(m.seq, i + 1, `history seq at position ${i} (seqs must be gap-free from 1)`));
  const byClientId = new Map<string, (typeof history)[number]>();
  for (const m of history) {
    assert.ok(!byClientId.has(m.client_msg_id), `client_msg_id ${m.client_msg_id} stored twice`);
    byClientId.set(m.client_msg_id, m);
  }
  for (const [cid, ack] of acks) {
    const m = byClientId.get(cid);
    assert.ok(m, `acknowledged message ${cid} (seq ${ack.seq}) is missing after the crash`);
    assert.equal(m.message_id, ack.message_id, `message_id of ${cid}`);
    assert.equal(m.seq, ack.seq, `seq of ${cid}`);
    assert.equal(m.chat_id, chatId);
  }
}

describe('durable acknowledgement (SIGKILL)', () => {
  const dataDir = tempDir('switchboard-durable-');
  let proc: ServerProcess | undefined;
  after(async () => {
    await proc?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('keeps every acknowledged message with its message_id and seq after the process is killed', async () => {
    proc = await startServerProcess({ dataDir });
    const a = await registerUser(proc.baseUrl, 'dura');
    const b = await registerUser(proc.baseUrl, 'durb');
    const chatId = directChatId(a.user_id, b.user_id);

    const firstAcks = await sendAndKill(proc, a, chatId, SENDS, 40, 'round one');
    assert.ok(firstAcks.size >= 40);

    proc = await startServerProcess({ dataDir });
    const reader = await login(proc.baseUrl, b.username, b.password, 'after-crash');
    await assertAcksDurable(proc, reader, chatId, firstAcks);

    // Sending continues after the restart: seqs go on without gaps, and a second crash loses nothing either.
    const a2 = await login(proc.baseUrl, a.username, a.password, 'second-run');
    const secondAcks = await sendAndKill(proc, a2, chatId, SENDS, 120, 'round two');
    proc = await startServerProcess({ dataDir });
    const reader2 = await login(proc.baseUrl, b.username, b.password, 'after-second-crash');
    await assertAcksDurable(proc, reader2, chatId, new Map([...firstAcks, ...secondAcks]));
  });

  // The writer thread commits whatever arrived while it was busy in one transaction: with
  // 2,000 sends pipelined, a kill after 500 acks lands while it is committing a batch.
  test('a kill while the writer thread is committing a batch loses nothing acknowledged', async () => {
    const dir = tempDir('switchboard-durable-batch-');
    let server: ServerProcess | undefined;
    try {
      server = await startServerProcess({ dataDir: dir, env: { RATE_LIMITS: 'off' } });
      const a = await registerUser(server.baseUrl, 'durc');
      const b = await registerUser(server.baseUrl, 'durd');
      const chatId = directChatId(a.user_id, b.user_id);
      const acks = await sendAndKill(server, a, chatId, 2000, 500, 'batch');
      server = await startServerProcess({ dataDir: dir });
      const reader = await login(server.baseUrl, b.username, b.password, 'after-batch-crash');
      await assertAcksDurable(server, reader, chatId, acks);
    } finally {
      await server?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('search index after SIGKILL', () => {
  const dataDir = tempDir('switchboard-durable-search-');
  let proc: ServerProcess | undefined;
  after(async () => {
    await proc?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  // Messages are indexed for search after their commit, not inside it: a kill between the
  // two must not leave an acknowledged message unsearchable.
  test('every message acknowledged before the kill is found by search after the restart', async () => {
    proc = await startServerProcess({ dataDir });
    const a = await registerUser(proc.baseUrl, 'srcha');
    const b = await registerUser(proc.baseUrl, 'srchb');
    const chatId = directChatId(a.user_id, b.user_id);
    const acks = await sendAndKill(proc, a, chatId, SENDS, 60, 'zebracrossing');
    proc = await startServerProcess({ dataDir });
    const reader = await login(proc.baseUrl, b.username, b.password, 'after-crash');
    const res = await fetch(`${proc.baseUrl}/v1/search?q=zebracrossing&limit=100&chat_id=${encodeURIComponent(chatId)}`, {
      headers: { authorization: `Bearer ${reader.token}` },
    });
    assert.equal(res.status, 200);
    const found = new Set(((await res.json()) as { messages: Frame[] }).messages.map((m) => m.message_id));
    const history = await fetchHistory(proc.baseUrl, reader.token, chatId);
    assert.ok(history.length >= acks.size);
    const expected = Math.min(100, history.length);
    assert.equal(found.size, expected, `search found ${found.size} of the ${history.length} stored messages (limit 100)`);
    for (const m of history.slice(-expected)) assert.ok(found.has(m.message_id), `message seq ${m.seq} is not found by search`);
  });
});
