import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { runStoreContract } from './store.contract.js';
import { SqliteStore } from './sqlite-store.js';
import { sqliteMigrations } from './sqlite-migrations.js';

/** Index of the unread counters' migration (later ones, such as e2ee's, run after it as usual). */
const UNREAD_COUNTERS_SQLITE = sqliteMigrations.findIndex((m) => m.includes('ADD COLUMN msg_count'));
import { checkBackfilledCounts, seedBeforeCounters, type Exec } from './unread-backfill.contract.js';

runStoreContract('sqlite', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-sqlite-'));
  const store = new SqliteStore(dir);
  return { store, cleanup: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
});

test('sqlite: WAL checkpoints run on the checkpointer thread and keep the WAL from growing without bound', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-sqlite-wal-'));
  const store = new SqliteStore(dir);
  try {
    const a = await store.createUser({ id: 'ua', username: 'wala', displayName: 'a', passwordHash: 'x', createdAt: 1 });
    const b = await store.createUser({ id: 'ub', username: 'walb', displayName: 'b', passwordHash: 'x', createdAt: 1 });
    assert.ok(typeof a === 'object' && typeof b === 'object');
    const chatId = 'dm:ua:ub';
    const content = 'x'.repeat(2000);
    const wal = path.join(dir, 'switchboard.db-wal');
    const round = async (r: number) => {
      const sends = Array.from({ length: 2000 }, (_, i) => ({
        messageId: `m${r}-${i}`,
        chatId,
        senderId: 'ua',
        senderDeviceId: 'd',
        clientMsgId: `c${r}-${i}`,
        content,
        createdAt: 1,
        createDirectWith: ['ua', 'ub'],
      }));
      await store.append(sends);
    };
    await round(0);
    const walAfterFirst = statSync(wal).size;
    // Each round writes ~4 MB; without checkpoints resetting it the WAL would hold them all.
    for (let r = 1; r <= 5; r++) {
      await new Promise((resolve) => setTimeout(resolve, 1500)); // a checkpoint interval
      await round(r);
    }
    const walAtEnd = statSync(wal).size;
    assert.ok(
      walAtEnd < walAfterFirst * 3,
      `the WAL grew from ${walAfterFirst} to ${walAtEnd} bytes over 5 more rounds: checkpoints are not resetting it`,
    );
    assert.equal((await store.getChat(chatId))?.lastSeq, 12_000);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: under writes that never pause (and reads beside them) the WAL still starts over', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-sqlite-walrun-'));
  const store = new SqliteStore(dir);
  try {
    await store.createUser({ id: 'ua', username: 'runa', displayName: 'a', passwordHash: 'x', createdAt: 1 });
    await store.createUser({ id: 'ub', username: 'runb', displayName: 'b', passwordHash: 'x', createdAt: 1 });
    const chatId = 'dm:ua:ub';
    const wal = path.join(dir, 'switchboard.db-wal');
    const content = 'y'.repeat(1000);
    let largest = 0;
    let n = 0;
    // Frames in the WAL as the checkpointer last saw them: they fall only when the WAL starts over.
    const { checkpointer } = store as unknown as { checkpointer: { walFrames: number } };
    let mostFrames = 0;
    let startedOver = 0;
    // At least 8 s of writes, then on until the WAL started over (a loaded machine writes
    // the 32 MB that take it there more slowly), at most 90 s.
    const start = Date.now();
    const going = () => Date.now() - start < 8000 || (startedOver === 0 && Date.now() - start < 90_000);
    // One batch always in flight and one queued: the writer never waits, as under sustained load.
    const writer = async () => {
      while (going()) {
        const sends = Array.from({ length: 100 }, () => {
          const i = n++;
          return {
            messageId: `w${i}`,
            chatId,
            senderId: 'ua',
            senderDeviceId: 'd',
            clientMsgId: `w${i}`,
            content,
            createdAt: i,
            createDirectWith: ['ua', 'ub'],
          };
        });
        await store.append(sends);
        largest = Math.max(largest, statSync(wal).size);
        if (checkpointer.walFrames < mostFrames / 2) {
          startedOver++;
          mostFrames = checkpointer.walFrames;
        }
        mostFrames = Math.max(mostFrames, checkpointer.walFrames);
      }
    };
    const reader = async () => {
      while (going()) {
        await store.range(chatId, Math.max(0, n - 50), n, 50);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    await Promise.all([writer(), writer(), reader()]);
    // Past 8,192 frames (32 MB) the writer starts it over: without that the WAL only grows (330 MB here in 8 s).
    assert.ok(
      startedOver > 0,
      `the WAL never started over (${mostFrames} frames, ${(largest / 1024 / 1024).toFixed(0)} MB, ${n} messages)`,
    );
    assert.ok(largest < 256 * 1024 * 1024, `the WAL reached ${(largest / 1024 / 1024).toFixed(0)} MB over ${n} messages`);
    assert.equal((await store.getChat(chatId))?.lastSeq, n);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: the unread counters’ migration counts the messages already stored', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-sqlite-unread-'));
  const db = new Database(path.join(dir, 'switchboard.db'));
  for (const [v, sql] of sqliteMigrations.slice(0, UNREAD_COUNTERS_SQLITE).entries()) {
    db.exec(sql);
    db.pragma(`user_version = ${v + 1}`);
  }
  const exec: Exec = async (sql, params) =>
    void db.prepare(sql.replace(/\$(\d+)/g, '@p$1')).run(Object.fromEntries(params.map((v, i) => [`p${i + 1}`, v])));
  const { chatId, users } = await seedBeforeCounters(exec, 'bf');
  db.close();
  const store = new SqliteStore(dir);
  try {
    await checkBackfilledCounts(store, chatId, users);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
