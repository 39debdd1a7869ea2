// `node scripts/bench-unread.mjs [sqlite|postgres] [N] [repo]`: times store.listChats (what GET /v1/chats
// reads) for a reader with two groups of N messages unread each, at the store (no HTTP), 200 calls.
// repo: the checkout whose packages/server/dist to load (default: this one), to compare commits.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
const [kind = 'sqlite', nArg, repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..')] = process.argv.slice(2);
const N = Number(nArg ?? 10000);
const store_ = `${repo}/packages/server/dist/engines/store`;
let store, cleanup;
if (kind === 'sqlite') {
  const { SqliteStore } = await import(`${store_}/sqlite-store.js`);
  const dir = mkdtempSync(path.join(tmpdir(), 'unread-lc-'));
  store = new SqliteStore(dir);
  cleanup = async () => (await store.close(), rmSync(dir, { recursive: true, force: true }));
} else {
  const { PostgresStore } = await import(`${store_}/postgres-store.js`);
  const schema = `unread_lc_${process.pid}`;
  const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  store = await PostgresStore.open(`postgres://postgres@127.0.0.1:5432/test?options=-c%20search_path%3D${schema}`);
  cleanup = async () => (await store.close(), await admin.query(`DROP SCHEMA ${schema} CASCADE`), await admin.end());
}
try {
  for (const id of ['wa', 'wb']) await store.createUser({ id, username: id, displayName: id, passwordHash: 'x', createdAt: 1 });
  for (const g of ['g:1', 'g:2']) {
    await store.createGroup({
      chatId: g,
      name: g,
      createdBy: 'wa',
      createdAt: 1,
      members: [
        { userId: 'wa', role: 'admin' },
        { userId: 'wb', role: 'member' },
      ],
    });
    for (let i = 0; i < N; i += 500) {
      await store.append(
        Array.from({ length: Math.min(500, N - i) }, (_, k) => ({
          messageId: `${g}m${i + k}`,
          chatId: g,
          senderId: 'wa',
          senderDeviceId: 'd',
          clientMsgId: `${g}c${i + k}`,
          content: `message ${i + k}`,
          createdAt: 2 + i + k,
        })),
      );
    }
  }
  const times = [];
  let unread;
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    const rows = await store.listChats('wb');
    times.push(performance.now() - t);
    unread = rows.map((r) => r.unreadCount);
  }
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(2);
  console.log(`${kind} listChats, 2 chats x ${N} unread (${unread}): min ${q(0)} ms, p50 ${q(0.5)} ms, p90 ${q(0.9)} ms (200 calls)`);
} finally {
  await cleanup();
}
