import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { freshPgSchema, postgresMissing } from '../../testing/services.js';
import { runStoreContract } from './store.contract.js';
import { PostgresStore, prefixQuery } from './postgres-store.js';
import type { AppendRequest } from './store.js';

/*
 * Runs against DATABASE_URL (default: a local PostgreSQL). Each run gets a fresh schema,
 * dropped afterwards. Without a reachable server the suite is skipped, unless
 * SWITCHBOARD_REQUIRE_SERVICES=1 (CI), where that is a failure.
 */
let n = 0;
const uid = (p: string) => `${p}${process.pid}x${++n}x${randomBytes(3).toString('hex')}`;

function req(chatId: string, senderId: string, over: Partial<AppendRequest> = {}): AppendRequest {
  return { messageId: uid('m'), chatId, senderId, senderDeviceId: 'dev', clientMsgId: uid('c'), content: 'hi', createdAt: Date.now(), ...over };
}

const reason = await postgresMissing();

if (reason) {
  test('postgres store', { skip: reason }, () => undefined);
} else {
  runStoreContract('postgres', async () => {
    const { url, drop } = await freshPgSchema();
    const store = await PostgresStore.open(url);
    return { store, cleanup: async () => (await store.close(), await drop()) };
  });

  describe('postgres store across nodes', () => {
    let nodeA: PostgresStore;
    let nodeB: PostgresStore;
    let drop: () => Promise<void>;

    before(async () => {
      const schema = await freshPgSchema();
      drop = schema.drop;
      // Two nodes starting at once migrate one schema: the advisory lock serializes them.
      [nodeA, nodeB] = await Promise.all([PostgresStore.open(schema.url), PostgresStore.open(schema.url)]);
    });
    after(async () => {
      await Promise.all([nodeA.close(), nodeB.close()]);
      await drop();
    });

    async function twoUsers() {
      const a = { id: uid('ua'), username: uid('a'), displayName: 'a', passwordHash: 'x', createdAt: 1 };
      const b = { id: uid('ub'), username: uid('b'), displayName: 'b', passwordHash: 'x', createdAt: 1 };
      await Promise.all([nodeA.createUser(a), nodeA.createUser(b)]);
      return { a, b };
    }

    test('concurrent appends to one chat from two nodes get seqs 1..400 with no gaps or duplicates', async () => {
      const { a, b } = await twoUsers();
      const chatId = `g:${uid('g')}`;
      await nodeA.createGroup({ chatId, name: 'g', createdBy: a.id, createdAt: 1, members: [{ userId: a.id, role: 'admin' }, { userId: b.id, role: 'member' }] });
      const pending: Promise<number>[] = [];
      // 20 rounds of 10 sends per node, a turn apart: many batches on each node, interleaved.
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 10; i++) {
          pending.push(nodeA.append([req(chatId, a.id)]).then(([r]) => r!.message.seq));
          pending.push(nodeB.append([req(chatId, b.id)]).then(([r]) => r!.message.seq));
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      const seqs = (await Promise.all(pending)).sort((x, y) => x - y);
      assert.deepEqual(seqs, Array.from({ length: 400 }, (_, i) => i + 1));
      const stored = await nodeB.range(chatId, 0, 1000, 1000);
      assert.deepEqual(stored.map((m) => m.seq), seqs);
      assert.equal(new Set(stored.map((m) => m.message_id)).size, 400);
      assert.equal((await nodeA.getChat(chatId))?.lastSeq, 400);
    });

    test('a direct chat first written from two nodes at once is created once', async () => {
      const { a, b } = await twoUsers();
      const chatId = `dm:${a.id}:${b.id}`;
      const both = [a.id, b.id];
      const [[ra], [rb]] = await Promise.all([
        nodeA.append([req(chatId, a.id, { createDirectWith: both })]),
        nodeB.append([req(chatId, b.id, { createDirectWith: both })]),
      ]);
      assert.deepEqual([ra!.message.seq, rb!.message.seq].sort(), [1, 2]);
      assert.equal((await nodeA.getMembers(chatId)).length, 2);
    });

    test('the same send arriving at two nodes at once is stored once', async () => {
      const { a, b } = await twoUsers();
      const chatId = `dm:${a.id}:${b.id}`;
      await nodeA.append([req(chatId, a.id, { createDirectWith: [a.id, b.id] })]);
      const send = req(chatId, a.id);
      const [[r1], [r2]] = await Promise.all([nodeA.append([send]), nodeB.append([{ ...send, messageId: uid('m') }])]);
      assert.deepEqual([r1!.duplicate, r2!.duplicate].sort(), [false, true]);
      assert.equal(r1!.message.message_id, r2!.message.message_id);
      assert.equal((await nodeA.getChat(chatId))?.lastSeq, 2);
    });

    test('a failing write fails alone in its batch', async () => {
      const { a, b } = await twoUsers();
      const chatId = `dm:${a.id}:${b.id}`;
      await nodeA.append([req(chatId, a.id, { createDirectWith: [a.id, b.id] })]);
      const commitsBefore = nodeA.commitStats.commits;
      const results = await Promise.allSettled([
        nodeA.append([req(chatId, a.id)]),
        nodeA.append([req('g:no-such-chat', a.id)]),
        nodeA.append([req(chatId, b.id)]),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.equal(nodeA.commitStats.commits, commitsBefore + 1, 'one transaction for the batch');
      assert.equal((await nodeA.getChat(chatId))?.lastSeq, 3);
    });
  });
}

test('search terms become quoted prefix terms', () => {
  assert.equal(prefixQuery(['zeb', "o'k\\"]), "'zeb':* & 'ok':*");
});
