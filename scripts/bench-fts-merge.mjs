// The search index's commit times while retention erases from it: FTS5's automerge (before
// migration 17) against automerge off with a 16-page merge after each bulk change (now).
// The server's table (contentless, chat column, prefix 2 and 3), ROWS rows indexed first, then
// STEPS steps of an index batch (200 new rows, as indexForSearch after 200 ms at 1,000 msg/s)
// and a retention batch (50 oldest rows deleted). Prints each kind's transaction time.
//   node scripts/bench-fts-merge.mjs [ROWS] [STEPS]      docs/BENCHMARKS.md "Retention and the search index"
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const Database = (await import(path.join(root, 'node_modules/better-sqlite3/lib/index.js'))).default;
const ROWS = Number(process.argv[2] ?? 300_000);
const STEPS = Number(process.argv[3] ?? 400);
const words =
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango'.split(' ');
let seed = 1;
const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const text = () => Array.from({ length: 10 }, () => words[Math.floor(random() * words.length)] + Math.floor(random() * 1000)).join(' ');

function run(variant) {
  seed = 1;
  const dir = mkdtempSync(path.join(tmpdir(), 'fts-merge-'));
  const db = new Database(path.join(dir, 'x.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE m (rowid INTEGER PRIMARY KEY, content TEXT, chat TEXT)');
  db.exec(`CREATE VIRTUAL TABLE f USING fts5(content, chat, content='', prefix='2 3', tokenize='unicode61 remove_diacritics 2')`);
  const ins = db.prepare('INSERT INTO m (rowid, content, chat) VALUES (?, ?, ?)');
  const fins = db.prepare('INSERT INTO f (rowid, content, chat) VALUES (?, ?, ?)');
  const get = db.prepare('SELECT rowid, content, chat FROM m WHERE rowid = ?');
  const del = db.prepare(`INSERT INTO f (f, rowid, content, chat) VALUES ('delete', ?, ?, ?)`);
  const merge = db.prepare(`INSERT INTO f (f, rank) VALUES ('merge', 16)`);
  let r = 0;
  const add = (n) => {
    for (let i = 0; i < n; i++) {
      r++;
      const t = text();
      const c = `c${r % 500}`;
      ins.run(r, t, c);
      fins.run(r, t, c);
    }
  };
  for (let b = 0; b < ROWS / 100; b++) db.transaction(() => add(100))();
  if (variant === 'merge16') db.exec(`INSERT INTO f (f, rank) VALUES ('automerge', 0)`);
  const by = { index: [], retention: [] };
  const timed = (kind, fn) => {
    const t0 = performance.now();
    db.transaction(fn)();
    by[kind].push(performance.now() - t0);
  };
  let next = 1;
  const c0 = process.cpuUsage();
  for (let step = 0; step < STEPS; step++) {
    timed('index', () => {
      add(200);
      if (variant === 'merge16') merge.run();
    });
    timed('retention', () => {
      for (let i = 0; i < 50; i++) {
        const row = get.get(next++);
        del.run(row.rowid, row.content, row.chat);
      }
      if (variant === 'merge16') merge.run();
    });
  }
  const cpu = process.cpuUsage(c0);
  const segments = db.prepare('SELECT count(*) AS n FROM f_data').get().n;
  db.close();
  rmSync(dir, { recursive: true, force: true });
  const q = (a, p) => a[Math.min(a.length - 1, Math.floor(p * a.length))].toFixed(1);
  for (const [kind, a] of Object.entries(by)) {
    a.sort((x, y) => x - y);
    console.log(`${variant.padEnd(9)} ${kind.padEnd(9)} p50 ${q(a, 0.5)} ms  p99 ${q(a, 0.99)} ms  max ${q(a, 1)} ms`);
  }
  console.log(`${variant.padEnd(9)} cpu ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s, f_data rows ${segments}`);
}

for (const v of ['automerge', 'merge16', 'automerge', 'merge16']) run(v);
