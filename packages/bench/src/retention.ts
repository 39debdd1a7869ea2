import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runPairs, type PairsOptions, type PairsReport } from './pairs.js';
import { spawnServer, type SpawnOptions } from './server.js';
import { fmtMs, table } from './stats.js';

/*
 * `npm run bench -- retention` (issue 24): what erasing a large backlog of expired messages
 * costs sends. An embedded server's store is seeded (beside the server, before it starts)
 * with R messages 60 days old, spread over direct chats, indexed for search, one in ten
 * with a reaction. Then the pairs load runs at a fixed rate twice on that same data: first
 * with RETENTION unset (the baseline), then with RETENTION_DAYS=30, so that retention erases
 * the seeded rows in the background for the whole step. Rows erased during the step are read
 * off the store (the lowest rowid left: retention erases in rowid order).
 */

export interface RetentionBenchOptions {
  rows: number;
  chats: number;
  /** After the step, how long to wait for the whole backlog to be erased (s). */
  eraseWaitSeconds: number;
  pairs: PairsOptions;
  /** Extra server environment for the retention run (e.g. RETENTION_BATCH). */
  serverEnv: Record<string, string>;
}

interface RunFigures {
  report: PairsReport;
  erasedDuringStep: number;
}

export interface RetentionBenchResult {
  opts: RetentionBenchOptions;
  seedSeconds: number;
  baseline: RunFigures;
  retention: RunFigures;
  /** Seconds from the retention server's start until every seeded row was gone (null: not within the wait). */
  allErasedSeconds: number | null;
}

const DAY_MS = 86_400_000;

/**
 * Seeds the store's file, and the search index in the search file beside it (search.db,
 * made by the server's first start): the server then starts with every seeded row indexed,
 * as a server that indexed them as they came would.
 */
function seed(file: string, rows: number, chats: number): void {
  const db = new Database(file);
  const search = new Database(path.join(path.dirname(file), 'search.db'), { fileMustExist: true });
  search.pragma('synchronous = OFF');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const start = Date.now() - 60 * DAY_MS;
  const insertChat = db.prepare("INSERT INTO chats (id, kind, created_at, last_seq, last_at) VALUES (?, 'direct', ?, ?, ?)");
  const insertMessage = db.prepare(
    `INSERT INTO messages (id, chat_id, seq, sender_id, sender_device_id, client_msg_id, content, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertFts = search.prepare('INSERT INTO messages_fts (rowid, content, chat) VALUES (?, ?, ?)');
  const insertReaction = db.prepare('INSERT INTO reactions (message_id, user_id, emoji, at) VALUES (?, ?, ?, ?)');
  const perChat = Math.ceil(rows / chats);
  const CHUNK = 50_000;
  for (let from = 0; from < rows; from += CHUNK) {
    search.exec('BEGIN');
    db.transaction(() => {
      for (let i = from; i < Math.min(rows, from + CHUNK); i++) {
        const c = i % chats;
        const seq = Math.floor(i / chats) + 1;
        const chatId = `dm:seed${c}a:seed${c}b`;
        const sender = `seed${c}${i % 2 ? 'a' : 'b'}`;
        const at = start + i;
        const content = `old message ${i} about the weather and the news of the day, long gone`;
        const id = `seed-${i}`;
        const rowid = insertMessage.run(id, chatId, seq, sender, `${sender}-dev`, `cm-${i}`, content, at).lastInsertRowid;
        insertFts.run(rowid, content, chatId.replaceAll(':', 'x'));
        if (i % 10 === 0) insertReaction.run(id, `seed${c}b`, '👍', at);
      }
    })();
    search.exec('COMMIT');
  }
  db.transaction(() => {
    for (let c = 0; c < chats; c++) insertChat.run(`dm:seed${c}a:seed${c}b`, start, perChat, start + rows);
  })();
  const top = (db.prepare('SELECT MAX(rowid) AS r FROM messages').get() as { r: number }).r;
  search.prepare('UPDATE search_progress SET last_rowid = ? WHERE id = 1').run(top);
  search.close();
  db.close();
}

/** Seeded rows retention has erased so far: it erases in rowid order, and the seeded rows are rowids 1..rows. */
function erasedSoFar(file: string, rows: number): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const min = (db.prepare('SELECT MIN(rowid) AS m FROM messages').get() as { m: number | null }).m;
    return min === null ? rows : Math.min(rows, min - 1);
  } finally {
    db.close();
  }
}

export async function runRetentionBench(
  spawn: SpawnOptions,
  opts: RetentionBenchOptions,
  log: (s: string) => void,
): Promise<RetentionBenchResult> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'switchboard-bench-retention-'));
  const file = path.join(dataDir, 'switchboard.db');
  try {
    // A first start makes the schema; the store is seeded while no server runs.
    await (await spawnServer({ ...spawn, dataDir, keepData: true })).stop();
    log(`seeding ${opts.rows} messages 60 days old over ${opts.chats} chats...`);
    const t = performance.now();
    seed(file, opts.rows, opts.chats);
    // The seed writes without fsync: flush it now, so that the measured runs' fsyncs do not wait for its writeback.
    spawnSync('sync');
    const seedSeconds = (performance.now() - t) / 1000;
    log(`seeded in ${seedSeconds.toFixed(1)} s`);

    const measure = async (
      label: string,
      env: Record<string, string>,
    ): Promise<RunFigures & { startedAt: number; stop: () => Promise<void> }> => {
      log(`\n--- ${label} ---`);
      const startedAt = performance.now();
      const target = await spawnServer({ ...spawn, dataDir, keepData: true, env: { ...spawn.env, ...env } });
      const report = await runPairs(target, opts.pairs, log, {
        batch: true,
        counters: async () => ({ erased: erasedSoFar(file, opts.rows) }),
      });
      // The counter's increase over the judged step's window.
      const erasedDuringStep = Math.round(report.steps[report.steps.length - 1]?.counters.erased ?? 0);
      return { report, erasedDuringStep, startedAt, stop: () => target.stop() };
    };

    const baseline = await measure('baseline: RETENTION unset', {});
    await baseline.stop();
    const retention = await measure('RETENTION_DAYS=30', { RETENTION_DAYS: '30', ...opts.serverEnv });
    // How long the whole backlog takes, the load over.
    let allErasedSeconds: number | null = null;
    const deadline = Date.now() + opts.eraseWaitSeconds * 1000;
    while (Date.now() < deadline) {
      if (erasedSoFar(file, opts.rows) >= opts.rows) {
        allErasedSeconds = (performance.now() - retention.startedAt) / 1000;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await retention.stop();
    return {
      opts,
      seedSeconds,
      baseline: { report: baseline.report, erasedDuringStep: baseline.erasedDuringStep },
      retention: { report: retention.report, erasedDuringStep: retention.erasedDuringStep },
      allErasedSeconds,
    };
  } finally {
    if (!spawn.keepData) rmSync(dataDir, { recursive: true, force: true });
  }
}

export function printRetentionBench(r: RetentionBenchResult, log: (s: string) => void): void {
  const o = r.opts;
  log('');
  log(
    `retention: ${o.rows} seeded messages 60 days old (${o.chats} chats, search-indexed, 10% with a reaction), seeded in ${r.seedSeconds.toFixed(1)} s; ` +
      `pairs: ${o.pairs.pairs} pairs at ${o.pairs.rates.join(',')} msg/s for ${o.pairs.stepSeconds} s`,
  );
  log('latency = scheduled send time -> new_message at the partner; ack = scheduled send time -> ack_sent');
  const row = (name: string, f: RunFigures) => {
    const s = f.report.steps[f.report.steps.length - 1]!;
    return [
      name,
      String(Math.round(s.sentRate)),
      fmtMs(s.ack.p50),
      fmtMs(s.ack.p99),
      fmtMs(s.latency.p50),
      fmtMs(s.latency.p99),
      fmtMs(s.latency.max),
      `${Math.round(s.serverCpuPct)}%`,
      String(f.erasedDuringStep),
    ];
  };
  log(
    table([
      ['run', 'sent/s', 'ack p50', 'ack p99', 'latency p50', 'latency p99', 'latency max', 'server CPU', 'rows erased in step'],
      row('baseline (retention off)', r.baseline),
      row('RETENTION_DAYS=30', r.retention),
    ]),
  );
  log(
    r.allErasedSeconds === null
      ? `the seeded rows were not all erased within ${r.opts.eraseWaitSeconds} s of the step's end`
      : `every seeded row was erased ${r.allErasedSeconds.toFixed(1)} s after the retention server started`,
  );
}
