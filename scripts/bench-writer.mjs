// The embedded store's writer-thread cost of the pairs workload, without sockets: per message an
// append, the partner's delivered cursor, and a read cursor every 10th, committed 20 calls at a time.
// Compares checkouts: node scripts/bench-writer.mjs /path/to/built/checkout [messages]
// (SYNC=OFF leaves fsync out, to see the CPU of the statements alone). docs/BENCHMARKS.md, "The send path again".
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
const repo = process.argv[2];
const N = Number(process.argv[3] ?? 20000);
const Database = (await import(path.join(repo, 'node_modules/better-sqlite3/lib/index.js'))).default;
const { SqliteStore } = await import(path.join(repo, 'packages/server/dist/engines/store/sqlite-store.js'));
const { sqliteWriteOps, commitWrites } = await import(path.join(repo, 'packages/server/dist/engines/store/sqlite-writes.js'));
const dir = mkdtempSync('/tmp/wm-');
const store = new SqliteStore(dir);
const pairs = [];
for (let i = 0; i < 50; i++) {
  const a = `ua${i}`,
    b = `ub${i}`;
  for (const u of [a, b]) {
    await store.createUser({ id: u, username: u, displayName: u, passwordHash: 'x', createdAt: 1 });
    await store.createDevice({ id: `${u}-d`, userId: u, name: 'd', createdAt: 1, tokenHash: `t${u}` });
  }
  const chatId = a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
  pairs.push({ a, b, chatId, seq: 0 });
}
await store.close();
const db = new Database(path.join(dir, 'switchboard.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = ' + (process.env.SYNC ?? 'FULL'));
db.pragma('wal_autocheckpoint = 0');
const ops = sqliteWriteOps(db);
let k = 0;
const mk = (p, from, to) => ({
  op: 'append',
  args: [
    {
      messageId: `m${k}`,
      chatId: p.chatId,
      senderId: from,
      senderDeviceId: `${from}-d`,
      clientMsgId: `c${k++}`,
      content: 'x'.repeat(64),
      createdAt: Date.now(),
      createDirectWith: [p.a, p.b].sort(),
      directWith: to,
    },
  ],
});
const t0 = performance.now();
const c0 = process.cpuUsage();
let calls = [];
for (let i = 0; i < N; i++) {
  const p = pairs[i % pairs.length];
  const from = i % 2 ? p.a : p.b,
    to = i % 2 ? p.b : p.a;
  calls.push(mk(p, from, to));
  p.seq++;
  calls.push({ op: 'advanceDelivered', args: [`${to}-d`, to, p.chatId, p.seq, Date.now()] });
  if (i % 10 === 0) calls.push({ op: 'advanceRead', args: [`${to}-d`, to, p.chatId, p.seq, Date.now()] });
  if (calls.length >= 20) {
    const out = commitWrites(db, ops, calls);
    if (out.some((o) => !o.ok)) {
      console.error(out.find((o) => !o.ok));
      process.exit(1);
    }
    calls = [];
  }
}
const c = process.cpuUsage(c0);
const t = performance.now() - t0;
console.log(
  `${path.basename(repo)}: ${N} msgs, wall ${((t / N) * 1000).toFixed(1)} µs/msg, cpu ${((c.user + c.system) / N).toFixed(1)} µs/msg (user ${(c.user / N).toFixed(1)})`,
);
