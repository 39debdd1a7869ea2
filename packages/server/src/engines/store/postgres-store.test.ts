import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { freshPgSchema, postgresMissing } from '../../testing/services.js';
import { runStoreContract } from './store.contract.js';
import { migratePostgres, postgresMigrations } from './postgres-migrations.js';

/** Index of the unread counters' migration (later ones, such as e2ee's, run after it as usual). */
const UNREAD_COUNTERS_PG = postgresMigrations.findIndex((m) => m.includes('ADD COLUMN msg_count'));
import { checkBackfilledCounts, seedBeforeCounters, type Exec } from './unread-backfill.contract.js';
import { PostgresStore, prefixQuery } from './postgres-store.js';
import type { AppendRequest, Role, StoredMessage } from './store.js';

/*
 * Runs against DATABASE_URL (default: a local PostgreSQL). Each run gets a fresh schema,
 * dropped afterwards. Without a reachable server the suite is skipped, unless
 * SWITCHBOARD_REQUIRE_SERVICES=1 (CI), where that is a failure.
 */
let n = 0;
const uid = (p: string) => `${p}${process.pid}x${++n}x${randomBytes(3).toString('hex')}`;

function req(chatId: string, senderId: string, over: Partial<AppendRequest> = {}): AppendRequest {
  return {
    messageId: uid('m'),
    chatId,
    senderId,
    senderDeviceId: 'dev',
    clientMsgId: uid('c'),
    content: 'hi',
    createdAt: Date.now(),
    ...over,
  };
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

  test('postgres: the unread counters’ migration counts the messages already stored', async () => {
    const { url, drop } = await freshPgSchema();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    let store: PostgresStore | undefined;
    try {
      await migratePostgres(client as unknown as pg.PoolClient, postgresMigrations.slice(0, UNREAD_COUNTERS_PG));
      const exec: Exec = async (sql, params) => void (await client.query(sql, params));
      const { chatId, users } = await seedBeforeCounters(exec, uid('bf'));
      store = await PostgresStore.open(url);
      await checkBackfilledCounts(store, chatId, users);
    } finally {
      await client.end();
      await store?.close();
      await drop();
    }
  });

  test('postgres: a direct chat stored before its creator’s count (migration 18) gets it, and its unread counts move on', async () => {
    const { url, drop } = await freshPgSchema();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    let store: PostgresStore | undefined;
    try {
      const creatorCount = postgresMigrations.findIndex((m) => m.includes('ADD COLUMN creator_count'));
      await migratePostgres(client as unknown as pg.PoolClient, postgresMigrations.slice(0, creatorCount));
      const [a, b] = [uid('ua'), uid('ub')];
      const chatId = `dm:${a}:${b}`;
      for (const u of [a, b]) {
        await client.query('INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES ($1, $1, $1, $2, 1)', [
          u,
          'x',
        ]);
      }
      // b created it. As the old writes left it: b 1, a 2, b 3, a's reaction 4, b 5, a 6; a read up
      // to 3, b up to its own 3 (so b's 5 is its own above its position).
      await client.query(
        `INSERT INTO chats (id, kind, created_by, created_at, last_seq, last_at, msg_count) VALUES ($1, 'direct', $2, 1, 6, 1, 5)`,
        [chatId, b],
      );
      const log: [seq: number, sender: string, kind: string, ord: number][] = [
        [1, b, 'message', 1],
        [2, a, 'message', 2],
        [3, b, 'message', 3],
        [4, a, 'react', 3],
        [5, b, 'message', 4],
        [6, a, 'message', 5],
      ];
      for (const [seq, sender, kind, ord] of log) {
        await client.query(
          `INSERT INTO messages (chat_id, seq, id, sender_id, sender_device_id, client_msg_id, content, created_at, kind, target_id, msg_ord)
           VALUES ($1, $2, $3, $4, 'd', $3, 'x', 1, $5, $6, $7)`,
          [chatId, seq, `${chatId}m${seq}`, sender, kind, kind === 'message' ? null : `${chatId}m1`, ord],
        );
      }
      for (const [u, read, own, lastOwn] of [
        [a, 3, 1, 6],
        [b, 3, 1, 5],
      ] as const) {
        await client.query(
          `INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq, read_msg_count, own_after_read, last_own_seq)
           VALUES ($1, $2, 'member', 0, 1, $3, $3, 3, $4, $5)`,
          [chatId, u, read, own, lastOwn],
        );
      }
      store = await PostgresStore.open(url);
      const unread = async (u: string) => (await store!.listChats(u)).find((r) => r.chat.id === chatId)!.unreadCount;
      const counts = async () => [await unread(a), await unread(b)];
      assert.deepEqual(await counts(), [1, 1], 'a has b’s 5; b has a’s 6');
      await store.append([req(chatId, a), req(chatId, b)]); // 7, 8
      assert.deepEqual(await counts(), [2, 2]);
      await store.advanceRead('db', b, chatId, 7, 10);
      assert.deepEqual(await counts(), [2, 0]);
      await store.advanceRead('da', a, chatId, 8, 11);
      assert.deepEqual(await counts(), [0, 0]);
    } finally {
      await client.end();
      await store?.close();
      await drop();
    }
  });

  test('postgres: receipt times from single marks of before, lists moved to receipt_marks and the member row’s list', async () => {
    await withDirectChat(async ({ store, client, a, b, chatId }) => {
      const sends = Array.from({ length: 17 }, (_, i) => req(chatId, a, i === 0 ? { createDirectWith: [a, b] } : {}));
      for (const s of sends) await store.append([s]);
      // As left by a node before migration 16: seq 1 delivered at 50, one row per mark.
      await client.query('UPDATE chat_members SET delivered_seq = 1 WHERE chat_id = $1 AND user_id = $2', [chatId, b]);
      await client.query('INSERT INTO receipt_marks (chat_id, user_id, kind, seq, at) VALUES ($1, $2, 0, 1, 50)', [chatId, b]);
      // Then delivered to every seq up to 16 (at 100 + seq), read every third, one move at a time
      // (a read notes no delivered mark: its read mark says both).
      for (let seq = 2; seq <= 16; seq++) {
        if (seq % 3 === 0) await store.advanceRead('dev', b, chatId, seq, 100 + seq);
        else await store.advanceDelivered('dev', b, chatId, seq, 100 + seq);
      }
      const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM receipt_marks WHERE marks IS NOT NULL');
      assert.ok(Number(rows[0]!.n) >= 2, 'full lists moved to receipt_marks');
      const kinds = await client.query<{ kind: number; n: string }>(
        `SELECT kind, count(*) AS n FROM receipt_marks WHERE marks IS NOT NULL GROUP BY kind ORDER BY kind`,
      );
      assert.deepEqual(
        kinds.rows.map((r) => [r.kind, Number(r.n)]),
        [
          [0, 2],
          [1, 1],
        ],
        'ten delivered marks (two full lists moved), five read marks (one)',
      );
      const messages = await store.range(chatId, 0, 17, 20);
      const got = await Promise.all(messages.map(async (m) => [m.seq, (await store.receipts(m as StoredMessage))[0]] as const));
      for (const [seq, r] of got) {
        const delivered = seq === 1 ? 50 : seq <= 16 ? 100 + seq : null;
        const read = seq <= 15 ? 100 + 3 * Math.ceil(seq / 3) : null;
        assert.deepEqual(r, { userId: b, deliveredAt: delivered, readAt: read }, `seq ${seq}`);
      }
    });
  });

  test('postgres: a sender’s undeleted messages are found chat by chat, and a chat left with none is forgotten', async () => {
    await withDirectChat(async ({ store, client, a, b, chatId }) => {
      const sent = await store.append([req(chatId, a, { createDirectWith: [a, b] }), req(chatId, a), req(chatId, b)]);
      const pairs = async () =>
        (
          await client.query<{ sender_id: string }>('SELECT sender_id FROM chat_senders WHERE chat_id = $1 ORDER BY sender_id', [chatId])
        ).rows.map((r) => r.sender_id);
      assert.deepEqual(await pairs(), [a, b].sort(), 'each sender once, however many messages');
      const [m1, m2] = sent.map((r) => r.message!.message_id);
      assert.deepEqual((await store.admin.undeletedMessages(a, 10)).map((m) => m.messageId).sort(), [m1, m2].sort());
      await client.query('UPDATE messages SET deleted = true WHERE id = $1', [m1]);
      assert.deepEqual(
        (await store.admin.undeletedMessages(a, 10)).map((m) => m.messageId),
        [m2],
      );
      assert.deepEqual(await pairs(), [a, b].sort());
      await client.query('UPDATE messages SET deleted = true WHERE id = $1', [m2]);
      assert.deepEqual(await store.admin.undeletedMessages(a, 10), []);
      assert.deepEqual(await pairs(), [b], 'a chat with none of its messages left is forgotten');
      await store.append([req(chatId, a)]);
      assert.deepEqual(await pairs(), [a, b].sort(), 'and noted again at its next send');
    });
  });

  test('postgres: search finds what the tsquery matches, also where the parser splits a term (the LIKE filter before it skips nothing)', async () => {
    await withDirectChat(async ({ store, a, b, chatId }) => {
      const sent = await store.append([
        req(chatId, a, { createDirectWith: [a, b], content: 'Snake case, 50% OFF_today' }),
        req(chatId, a, { content: 'snakes and ladders' }),
      ]);
      const ids = async (terms: string[]) => (await store.search(b, terms, { limit: 10 })).map((m) => m.message_id).sort();
      const [first, second] = sent.map((r) => r.message!.message_id);
      assert.deepEqual(await ids(['snake_case']), [first], 'one term, two lexemes in a row');
      assert.deepEqual(await ids(['snak']), [first, second].sort(), 'a prefix, in any case');
      assert.deepEqual(await ids(['off', 'today']), [first]);
      assert.deepEqual(await ids(['50']), [first]);
      assert.deepEqual(await ids(['case', 'ladders']), [], 'every term must match');
      assert.deepEqual(await ids(['%']), [], 'no lexeme: the tsquery decides, and matches nothing');
    });
  });

  test('postgres: one device’s cursor rides on the member row, the others’ stay in device_cursors', async () => {
    await withDirectChat(async ({ store, client, a, b, chatId }) => {
      for (let i = 0; i < 6; i++) await store.append([req(chatId, a, i === 0 ? { createDirectWith: [a, b] } : {})]);
      const [phone, laptop] = [uid('d'), uid('d')];
      for (const id of [phone, laptop]) await store.createDevice({ id, userId: b, name: id, createdAt: 2, tokenHash: uid('t') });
      // Both new devices start at the chat's end (6); the phone moves the member row first.
      for (let i = 0; i < 3; i++) await store.append([req(chatId, a)]);
      await store.advanceDelivered(phone, b, chatId, 7, 10);
      await store.advanceDelivered(laptop, b, chatId, 8, 11);
      await store.advanceRead(phone, b, chatId, 8, 12); // moves the member's read cursor: the phone's rides along
      await store.advanceDelivered(laptop, b, chatId, 8, 13); // moves nothing on the member row
      const { rows } = await client.query<{ cursor_device: string; cursor_device_seq: string }>(
        'SELECT cursor_device, cursor_device_seq FROM chat_members WHERE chat_id = $1 AND user_id = $2',
        [chatId, b],
      );
      assert.deepEqual([rows[0]!.cursor_device, Number(rows[0]!.cursor_device_seq)], [phone, 8]);
      const { rows: dc } = await client.query<{ device_id: string; delivered_seq: string }>(
        'SELECT device_id, delivered_seq FROM device_cursors WHERE chat_id = $1 ORDER BY device_id',
        [chatId],
      );
      const expected = new Map([
        [phone, 6],
        [laptop, 8],
      ]);
      assert.deepEqual(new Map(dc.map((r) => [r.device_id, Number(r.delivered_seq)])), expected, 'the phone’s row left at 6');
      assert.equal(Number(await store.deviceCursor(phone, chatId)), 8);
      assert.equal(Number(await store.deviceCursor(laptop, chatId)), 8);
      assert.deepEqual(await store.pendingChats(phone, b), [{ chatId, afterSeq: 8, lastSeq: 9 }]);
      await store.advanceDelivered(laptop, b, chatId, 9, 14); // the member row moves: the laptop's rides elsewhere
      assert.deepEqual(await store.pendingChats(laptop, b), []);
      assert.deepEqual(await store.pendingChats(phone, b), [{ chatId, afterSeq: 8, lastSeq: 9 }]);
      assert.equal(Number(await store.deviceCursor(uid('d'), chatId)), 0);
    });
  });

  test('postgres: in one batch, the first of a member’s devices rides on the member row and the others go to device_cursors', async () => {
    await withDirectChat(async ({ store, client, a, b, chatId }) => {
      for (let i = 0; i < 6; i++) await store.append([req(chatId, a, i === 0 ? { createDirectWith: [a, b] } : {})]);
      // Named so that the phone is the first in any collation.
      const [phone, laptop] = [`da${uid('d')}`, `db${uid('d')}`];
      for (const id of [phone, laptop]) await store.createDevice({ id, userId: b, name: id, createdAt: 2, tokenHash: uid('t') });
      for (let i = 0; i < 3; i++) await store.append([req(chatId, a)]);
      const state = async () => {
        const { rows } = await client.query<{ delivered_seq: string; cursor_device: string; cursor_device_seq: string }>(
          'SELECT delivered_seq, cursor_device, cursor_device_seq FROM chat_members WHERE chat_id = $1 AND user_id = $2',
          [chatId, b],
        );
        const { rows: dc } = await client.query<{ device_id: string; delivered_seq: string }>(
          'SELECT device_id, delivered_seq FROM device_cursors WHERE chat_id = $1',
          [chatId],
        );
        const r = rows[0]!;
        return {
          member: [Number(r.delivered_seq), r.cursor_device, Number(r.cursor_device_seq)],
          devices: new Map(dc.map((x) => [x.device_id, Number(x.delivered_seq)])),
        };
      };
      // One batch: the laptop's move is queued first, yet the phone (first by id) takes the row.
      const first = await Promise.all([store.advanceDelivered(laptop, b, chatId, 8, 10), store.advanceDelivered(phone, b, chatId, 7, 11)]);
      assert.deepEqual(
        first.map((s) => [s.from, s.to]),
        [
          [0, 8],
          [8, 8],
        ],
      );
      assert.deepEqual(await state(), {
        member: [8, phone, 7],
        devices: new Map([
          [phone, 6],
          [laptop, 8],
        ]),
      });
      // Both again, past the row: the row's device keeps its place.
      await Promise.all([store.advanceDelivered(laptop, b, chatId, 9, 12), store.advanceDelivered(phone, b, chatId, 9, 13)]);
      assert.deepEqual(await state(), {
        member: [9, phone, 9],
        devices: new Map([
          [phone, 6],
          [laptop, 9],
        ]),
      });
      // Moves that move nothing write nothing (the row holds the phone's, device_cursors the laptop's).
      const versions = async () =>
        (
          await client.query<{ x: string }>(
            `SELECT xmin::text AS x FROM chat_members WHERE chat_id = $1 AND user_id = $2
             UNION ALL SELECT xmin::text FROM (SELECT xmin, device_id FROM device_cursors WHERE chat_id = $1 ORDER BY device_id) d`,
            [chatId, b],
          )
        ).rows.map((r) => r.x);
      const before = await versions();
      const none = await Promise.all([store.advanceDelivered(phone, b, chatId, 9, 14), store.advanceDelivered(laptop, b, chatId, 8, 15)]);
      assert.deepEqual(
        none.map((s) => [s.from, s.to]),
        [
          [9, 9],
          [9, 9],
        ],
      );
      assert.deepEqual(await versions(), before);
      assert.equal(Number(await store.deviceCursor(phone, chatId)), 9);
      assert.equal(Number(await store.deviceCursor(laptop, chatId)), 9);
    });
  });

  describe('postgres store across nodes', () => {
    let nodeA: PostgresStore;
    let nodeB: PostgresStore;
    let drop: () => Promise<void>;
    let schemaUrl: string;

    before(async () => {
      const schema = await freshPgSchema();
      drop = schema.drop;
      schemaUrl = schema.url;
      // Two nodes starting at once migrate one schema: the advisory lock serializes them.
      [nodeA, nodeB] = await Promise.all([PostgresStore.open(schema.url), PostgresStore.open(schema.url)]);
    });
    after(async () => {
      await Promise.all([nodeA.close(), nodeB.close()]);
      await drop();
    });

    /** A group created through node A; the first member is its creator. */
    async function group(...members: [string, Role][]): Promise<string> {
      const chatId = `g:${uid('g')}`;
      const roles = members.map(([userId, role]) => ({ userId, role }));
      await nodeA.createGroup({ chatId, name: 'g', createdBy: members[0]![0], createdAt: 1, members: roles });
      return chatId;
    }

    async function twoUsers() {
      const a = { id: uid('ua'), username: uid('a'), displayName: 'a', passwordHash: 'x', createdAt: 1 };
      const b = { id: uid('ub'), username: uid('b'), displayName: 'b', passwordHash: 'x', createdAt: 1 };
      await Promise.all([nodeA.createUser(a), nodeA.createUser(b)]);
      return { a, b };
    }

    /**
     * Runs `fn` while another connection holds the chat's row lock (as another node's batch
     * or a membership change would); `release` commits that transaction.
     */
    async function whileHeld(chatId: string, fn: (release: () => Promise<void>) => Promise<void>): Promise<void> {
      const holder = new pg.Client({ connectionString: schemaUrl });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [chatId]);
        await fn(async () => void (await holder.query('COMMIT')));
      } finally {
        await holder.end();
      }
    }

    test('concurrent appends to one chat from two nodes get seqs 1..400 with no gaps or duplicates', async () => {
      const { a, b } = await twoUsers();
      const chatId = await group([a.id, 'admin'], [b.id, 'member']);
      const pending: Promise<number>[] = [];
      // 20 rounds of 10 sends per node, a turn apart: many batches on each node, interleaved.
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 10; i++) {
          pending.push(nodeA.append([req(chatId, a.id)]).then(([r]) => r!.message!.seq));
          pending.push(nodeB.append([req(chatId, b.id)]).then(([r]) => r!.message!.seq));
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      const seqs = (await Promise.all(pending)).sort((x, y) => x - y);
      assert.deepEqual(
        seqs,
        Array.from({ length: 400 }, (_, i) => i + 1),
      );
      const stored = await nodeB.range(chatId, 0, 1000, 1000);
      assert.deepEqual(
        stored.map((m) => m.seq),
        seqs,
      );
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
      assert.deepEqual([ra!.message!.seq, rb!.message!.seq].sort(), [1, 2]);
      assert.equal((await nodeA.getMembers(chatId)).length, 2);
    });

    test('the same send arriving at two nodes at once is stored once', async () => {
      const { a, b } = await twoUsers();
      const chatId = `dm:${a.id}:${b.id}`;
      await nodeA.append([req(chatId, a.id, { createDirectWith: [a.id, b.id] })]);
      const send = req(chatId, a.id);
      const [[r1], [r2]] = await Promise.all([nodeA.append([send]), nodeB.append([{ ...send, messageId: uid('m') }])]);
      assert.deepEqual([r1!.duplicate, r2!.duplicate].sort(), [false, true]);
      assert.equal(r1!.message!.message_id, r2!.message!.message_id);
      assert.equal((await nodeA.getChat(chatId))?.lastSeq, 2);
    });

    test('a repeated send in a batch of fresh ones: answered as the duplicate it is, the others stored gap-free', async () => {
      const { a, b } = await twoUsers();
      const chatId = `dm:${a.id}:${b.id}`;
      const [first] = await nodeA.append([req(chatId, a.id, { createDirectWith: [a.id, b.id] })]);
      const again = { ...req(chatId, a.id), clientMsgId: first!.message!.client_msg_id };
      // The batch's first statement leaves out the duplicate probe: the repeat fails it and the batch runs again with the probe.
      const skippedBefore = nodeA.commitStats.skippedLocks;
      const results = await nodeA.append([req(chatId, b.id), again, req(chatId, a.id)]);
      assert.equal(nodeA.commitStats.skippedLocks, skippedBefore, 'a duplicate is not a send whose chat was held');
      assert.deepEqual(
        results.map((r) => [r.duplicate, r.message!.seq]),
        [
          [false, 2],
          [true, 1],
          [false, 3],
        ],
      );
      assert.equal(results[1]!.message!.message_id, first!.message!.message_id);
      assert.equal((await nodeA.getChat(chatId))?.lastSeq, 3);
    });

    test('a batch does not wait for a chat another transaction holds: its other chats commit at once, the held one after', async () => {
      const { a, b } = await twoUsers();
      const free = await group([a.id, 'admin'], [b.id, 'member']);
      const held = await group([a.id, 'admin'], [b.id, 'member']);
      await whileHeld(held, async (release) => {
        const skippedBefore = nodeA.commitStats.skippedLocks;
        let heldDone = false;
        // Queued in one turn: one batch. The free chat's send is acknowledged while the
        // other chat's row is still held (its sends go back for the next batch).
        const heldSends = nodeA.append([req(held, a.id), req(held, b.id)]).then((r) => ((heldDone = true), r));
        const [stored] = await nodeA.append([req(free, a.id)]);
        assert.equal(stored!.message!.seq, 1);
        assert.equal(heldDone, false, 'the held chat waits for its lock');
        // The next batch finds it held again and waits in the lock queue.
        for (let i = 0; i < 100 && nodeA.commitStats.skippedLocks - skippedBefore < 4; i++) await new Promise((r) => setTimeout(r, 10));
        assert.equal(nodeA.commitStats.skippedLocks - skippedBefore, 4);
        assert.equal(heldDone, false);
        await release();
        assert.deepEqual(
          (await heldSends).map((r) => r.message!.seq),
          [1, 2],
        );
        assert.equal((await nodeA.getChat(held))?.lastSeq, 2);
      });
    });

    test('run one by one after a failed batch, sends wait for a held chat in their order (none is put back)', async () => {
      const { a, b } = await twoUsers();
      const held = await group([a.id, 'admin'], [b.id, 'member']);
      await whileHeld(held, async (release) => {
        const skippedBefore = nodeA.commitStats.skippedLocks;
        // PostgreSQL refuses a NUL in text: the batch statement fails, and each send runs alone.
        const sends = [req(held, a.id), req(held, a.id, { content: 'nul \u0000' }), req(held, a.id)];
        const settled = Promise.allSettled(sends.map((s) => nodeA.append([s])));
        await new Promise((r) => setTimeout(r, 300));
        await release();
        const [first, bad, last] = await settled;
        assert.equal(bad?.status, 'rejected');
        const seqs = [first, last].map((r) => (r?.status === 'fulfilled' ? r.value[0]!.message!.seq : null));
        assert.deepEqual(seqs, [1, 2], 'stored in the order sent');
        assert.equal(nodeA.commitStats.skippedLocks, skippedBefore, 'sends run alone wait for the lock');
      });
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
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.equal(nodeA.commitStats.commits, commitsBefore + 1, 'one transaction for the batch');
      assert.equal((await nodeA.getChat(chatId))?.lastSeq, 3);
    });

    async function users(k: number) {
      const list = Array.from({ length: k }, () => ({
        id: uid('u'),
        username: uid('n'),
        displayName: 'u',
        passwordHash: 'x',
        createdAt: 1,
      }));
      await Promise.all(list.map((u) => nodeA.createUser(u)));
      return list.map((u) => u.id);
    }

    test('three admins on different nodes adding at once never grow a group past the cap', async () => {
      const admins = await users(3);
      const chatId = await group(...admins.map((id) => [id, 'admin'] as [string, Role]));
      const batches = await Promise.all([users(40), users(40), users(40)]);
      const nodes = [nodeA, nodeB, nodeA];
      const outcomes = await Promise.all(batches.map((ids, i) => nodes[i]!.addMembers(chatId, admins[i]!, ids, 2, 100)));
      const added = outcomes.filter((o) => typeof o !== 'string');
      assert.equal(added.length, 2, 'two of the three fit under 100');
      assert.equal(outcomes.filter((o) => o === 'too_large').length, 1);
      assert.equal((await nodeB.getMembers(chatId)).length, 83);
    });

    test('two admins on different nodes leaving at once leave the group with an admin', async () => {
      for (let round = 0; round < 5; round++) {
        const [x, y, z, w] = await users(4);
        const chatId = await group([x!, 'admin'], [y!, 'admin'], [z!, 'member'], [w!, 'member']);
        assert.deepEqual(await Promise.all([nodeA.removeMember(chatId, x!, x!), nodeB.removeMember(chatId, y!, y!)]), [
          'removed',
          'removed',
        ]);
        const left = await nodeA.getMembers(chatId);
        assert.equal(left.length, 2);
        assert.equal(left.filter((m) => m.role === 'admin').length, 1, 'exactly one promoted');
      }
    });

    test('sends checked on one node before a removal on another: the removed sender is refused, the others keep their order', async () => {
      const [x, y] = await users(2);
      const chatId = await group([x!, 'admin'], [y!, 'member']);
      const checked = (await nodeB.getMembership(chatId))!.version;
      assert.equal(await nodeA.removeMember(chatId, x!, y!), 'removed');
      const now = (await nodeA.getMembership(chatId))!.version;
      // One batch on node B, all checked against the old version.
      const results = await Promise.all([
        nodeB.append([req(chatId, x!, { membersVersion: checked, content: 'first' })]),
        nodeB.append([req(chatId, y!, { membersVersion: checked })]),
        nodeB.append([req(chatId, x!, { membersVersion: checked, content: 'second' })]),
      ]);
      const [first, removed, second] = results.map((r) => r[0]!);
      assert.equal(removed!.notMember, true);
      assert.deepEqual([first!.message?.seq, second!.message?.seq], [1, 2], 'in the order they were sent');
      assert.deepEqual([first!.membersVersion, second!.membersVersion], [now, now]);
      assert.equal((await nodeA.getChat(chatId))?.lastSeq, 2);
    });

    test('cursor moves from one batch report each step in order and only move forward', async () => {
      const [x, y] = await users(2);
      const chatId = `dm:${x}:${y}`;
      for (let i = 0; i < 5; i++) await nodeA.append([req(chatId, x!, { createDirectWith: [x!, y!] })]);
      const [d1, d2, back, r] = await Promise.all([
        nodeA.advanceDelivered('dev-y', y!, chatId, 2, 10),
        nodeA.advanceDelivered('dev-y', y!, chatId, 4, 11),
        nodeA.advanceDelivered('dev-y', y!, chatId, 3, 12),
        nodeA.advanceRead('dev-y', y!, chatId, 5, 13),
      ]);
      assert.deepEqual([d1.from, d1.to, d2.from, d2.to, back.from, back.to], [0, 2, 2, 4, 4, 4]);
      assert.deepEqual([r.delivered.from, r.delivered.to, r.read.from, r.read.to], [4, 5, 0, 5]);
      const member = await nodeB.getMember(chatId, y!);
      assert.deepEqual([member?.deliveredSeq, member?.readSeq], [5, 5]);
      assert.deepEqual(await nodeB.pendingChats('dev-y', y!), []);
    });
  });
}

/** A fresh schema with users a and b and their direct chat's id, and a raw client on it for what the store does not expose. */
async function withDirectChat(
  fn: (ctx: { store: PostgresStore; client: pg.Client; a: string; b: string; chatId: string }) => Promise<void>,
): Promise<void> {
  const { url, drop } = await freshPgSchema();
  const store = await PostgresStore.open(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const [a, b] = [uid('ua'), uid('ub')];
    for (const id of [a, b]) await store.createUser({ id, username: uid('n'), displayName: id, passwordHash: 'x', createdAt: 1 });
    await fn({ store, client, a, b, chatId: `dm:${a}:${b}` });
  } finally {
    await client.end();
    await store.close();
    await drop();
  }
}

test('search terms become quoted prefix terms', () => {
  assert.equal(prefixQuery(['zeb', "o'k\\"]), "'zeb':* & 'ok':*");
});
