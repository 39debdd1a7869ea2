import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { privateFile, tightenFiles } from './private-files.js';

/*
 * The embedded store's search index, in a file of its own (search.db beside switchboard.db):
 * SQLite has one writer per file, and FTS5 merges its segments inside whichever commit
 * flushes an index write, tens of milliseconds on a large index. In the store's file every
 * send queued behind such a commit waited for it (issue 24); here only the search indexer
 * thread (sqlite-search-worker.ts) writes, and nobody waits on its commits but a search.
 *
 * The file holds nothing the store's file does not: missing, corrupt, of another schema or
 * of another store, it is made anew and the indexer rebuilds it from rowid 0.
 */

/** The search file's schema version (its user_version); another one is rebuilt. */
const SEARCH_FILE_VERSION = 2;

/*
 * messages_fts: contentless (the text stays in the store's file), the chat as a column so a
 * search names the caller's chats in its MATCH (sqlite-migrations.ts, 7). An entry leaves by
 * naming the words it was indexed with, which the store's search_changes carry. Not
 * contentless_delete (delete by rowid alone): measured on the retention bench's text, a
 * million entries, 200 inserts and 280 deletes per round (scratch script, 2026-12-07), it took
 * 5.2 s of CPU for 300 rounds against 1.9, and its delete commits had a p99 of 416 ms against 28.
 * search_progress: messages with rowids up to last_rowid are indexed, and the store's
 * search_changes up to changes_upto applied; committed with the index rows they describe.
 * store_id: the store's (its store_identity, migration 21) that this file indexes.
 */
const SCHEMA = `
  CREATE VIRTUAL TABLE messages_fts USING fts5(content, chat, content='', prefix='2 3', tokenize='unicode61 remove_diacritics 2');
  CREATE TABLE search_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1), last_rowid INTEGER NOT NULL, changes_upto INTEGER NOT NULL, store_id TEXT NOT NULL
  );
`;

export interface SearchProgress {
  lastRowid: number;
  changesUpto: number;
}

/**
 * Opens (or makes) the search file for the store open on `store` (its file as `main`). The
 * file is deleted and made anew, empty, as of the store's latest search_changes seq (the
 * rebuild reads messages as they are now, so earlier changes are in it) when it cannot be
 * read or is of another version; when it is another store's (store_id); when it has applied
 * changes the store never recorded (changes_upto above the store's highest seq: a newer copy
 * than a restored store); when the store dropped changes it has not applied (an older copy:
 * seqs come without gaps, AUTOINCREMENT and one writer, so the changes past changes_upto must
 * number highest seq - changes_upto); when it indexed rowids above the store's highest with
 * no change saying they are free; and with `anew`. Answers whether it was made anew.
 */
export function prepareSearchFile(file: string, store: Database.Database, anew = false): { rebuilt: boolean } {
  const { storeId, changesHigh } = store
    .prepare(
      `SELECT (SELECT store_id FROM main.store_identity WHERE id = 1) AS storeId,
         COALESCE((SELECT seq FROM main.sqlite_sequence WHERE name = 'search_changes'), 0) AS changesHigh`,
    )
    .get() as { storeId: string; changesHigh: number };
  const usable = (): boolean => {
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { fileMustExist: true });
      if ((db.pragma('user_version', { simple: true }) as number) !== SEARCH_FILE_VERSION) return false;
      const p = db.prepare('SELECT last_rowid, changes_upto, store_id FROM search_progress WHERE id = 1').get() as
        { last_rowid: number; changes_upto: number; store_id: string } | undefined;
      if (!p || p.store_id !== storeId || p.changes_upto > changesHigh) return false;
      const waiting = store
        .prepare('SELECT COUNT(*) AS n, COALESCE(MAX(free), 0) AS free FROM main.search_changes WHERE seq > ?')
        .get(p.changes_upto) as { n: number; free: number };
      if (waiting.n !== changesHigh - p.changes_upto) return false;
      const top = (store.prepare('SELECT COALESCE(MAX(rowid), 0) AS r FROM main.messages').get() as { r: number }).r;
      if (p.last_rowid > top && waiting.free === 0) return false;
      db.prepare(`SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'x' LIMIT 1`).all();
      return true;
    } catch {
      return false;
    } finally {
      db?.close();
    }
  };
  if (!anew && usable()) return { rebuilt: false };
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) rmSync(f, { force: true });
  privateFile(file);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    tightenFiles([`${file}-wal`, `${file}-shm`]);
    db.transaction(() => {
      db.exec(SCHEMA);
      db.prepare('INSERT INTO search_progress (id, last_rowid, changes_upto, store_id) VALUES (1, 0, ?, ?)').run(changesHigh, storeId);
      db.pragma(`user_version = ${SEARCH_FILE_VERSION}`);
    })();
  } finally {
    db.close();
  }
  return { rebuilt: true };
}

/** What one indexing pass did: where the index now stands, and whether it has all the store's snapshot. */
export interface IndexPass extends SearchProgress {
  done: boolean;
  rows: number;
  /** Whether it committed anything (a pass with nothing to do writes nothing). */
  wrote: boolean;
}

/**
 * More search changes than this waiting (an indexer stopped for long while retention ran) and
 * the index starts over instead: a pass applies every change waiting in one go (below).
 */
const MAX_CHANGES = 100_000;
/** Nor more words than this (bytes of content) waiting in them: a pass holds them all in memory. */
const MAX_CHANGE_BYTES = 32 * 1024 * 1024;
/** New messages a pass reads (bytes of content), besides its row limit: up to 100k characters each. */
const PASS_BYTES = 8 * 1024 * 1024;

/**
 * The indexing pass, on the indexer's connection: the search file as `main`, the store's
 * file attached as `store` (only read: better-sqlite3 opens no URI filenames, so `mode=ro`
 * is not available to say so). A pass reads what it needs of the store in one short read
 * transaction (one snapshot; a WAL reader, which the store's writer never waits for, and
 * which holds back the store's checkpoints only while it reads), then writes the search file
 * in a transaction of its own, where FTS5 flushes and merges. From that snapshot it
 *  1. applies every search change past changes_upto, in order. A change names a rowid whose
 *     message was edited, erased or removed, with the words it had just before: the first
 *     change of a rowid since the index last read it carries the words it was indexed with
 *     (every change of the words is one), so that entry leaves by them; later changes of the
 *     same rowid are words never indexed. A rowid above last_rowid was never indexed. Or a
 *     change says that rowids above one are free again (retention took the newest rows: SQLite
 *     hands their rowids out anew): last_rowid comes down to it, so that a message coming
 *     there counts as not indexed (the entries above it have left by then: their own changes
 *     came first). All of them in one pass: the words of a rowid indexed anew come from this
 *     snapshot, and the next change of it (after the snapshot) carries them;
 *  2. lowers last_rowid to the snapshot's highest rowid too (the same, seen directly);
 *  3. indexes new messages past last_rowid (at most `limit`);
 *  4. indexes anew the rowids step 1 took out at or below last_rowid that still hold a live
 *     message (an edit's new words);
 * and commits the progress with the rows.
 */
export function searchIndexer(db: Database.Database) {
  const s = {
    progress: db.prepare('SELECT last_rowid, changes_upto FROM main.search_progress WHERE id = 1'),
    setProgress: db.prepare('UPDATE main.search_progress SET last_rowid = ?, changes_upto = ? WHERE id = 1'),
    changes: db.prepare('SELECT seq, msg_rowid, content, chat, free FROM store.search_changes WHERE seq > ? ORDER BY seq'),
    changeBytes: db.prepare('SELECT COALESCE(SUM(length(CAST(content AS BLOB))), 0) AS b FROM store.search_changes WHERE seq > ?'),
    maxRowid: db.prepare('SELECT COALESCE(MAX(rowid), 0) AS r FROM store.messages'),
    range: db.prepare(
      `SELECT rowid, content, replace(chat_id, ':', 'x') AS chat FROM store.messages
       WHERE rowid > ? AND rowid <= ? AND kind = 'message' AND deleted = 0 ORDER BY rowid`,
    ),
    one: db.prepare(
      `SELECT rowid, content, replace(chat_id, ':', 'x') AS chat FROM store.messages WHERE rowid = ? AND kind = 'message' AND deleted = 0`,
    ),
    drop: db.prepare(`INSERT INTO main.messages_fts (messages_fts, rowid, content, chat) VALUES ('delete', ?, ?, ?)`),
    insert: db.prepare('INSERT INTO main.messages_fts (rowid, content, chat) VALUES (?, ?, ?)'),
    // The index emptied whole (a contentless table), for a start over.
    deleteAll: db.prepare(`INSERT INTO main.messages_fts (messages_fts) VALUES ('delete-all')`),
    highestChange: db.prepare(`SELECT COALESCE((SELECT seq FROM store.sqlite_sequence WHERE name = 'search_changes'), 0) AS s`),
  };
  type Entry = { rowid: number; content: string; chat: string };

  /** Reads (the store's snapshot): what leaves the index, what comes in, and the progress after; null: too many changes wait. */
  const read = (limit: number) => {
    const p = s.progress.get() as { last_rowid: number; changes_upto: number };
    let changesUpto = p.changes_upto;
    // Too many, decided by arithmetic (seqs come without gaps, sqlite-search-file's prepare checks) and a sum, not by reading them.
    if ((s.highestChange.get() as { s: number }).s - changesUpto > MAX_CHANGES) return null;
    if ((s.changeBytes.get(changesUpto) as { b: number }).b > MAX_CHANGE_BYTES) return null;
    const changes = s.changes.all(changesUpto) as (Entry & { seq: number; msg_rowid: number; free: number })[];
    const seen = new Set<number>();
    const drops: Entry[] = [];
    let indexedUpto = p.last_rowid;
    for (const c of changes) {
      changesUpto = c.seq;
      if (c.free === 1) indexedUpto = Math.min(indexedUpto, c.msg_rowid);
      else if (!seen.has(c.msg_rowid)) {
        seen.add(c.msg_rowid);
        if (c.msg_rowid <= indexedUpto) drops.push({ rowid: c.msg_rowid, content: c.content, chat: c.chat });
      }
    }
    const top = (s.maxRowid.get() as { r: number }).r;
    const from = Math.min(indexedUpto, top);
    let lastRowid = Math.min(top, from + limit);
    const entries: Entry[] = [];
    if (lastRowid > from) {
      let bytes = 0;
      for (const e of s.range.iterate(from, lastRowid) as IterableIterator<Entry>) {
        entries.push(e);
        bytes += e.content.length;
        if (bytes >= PASS_BYTES && e.rowid < lastRowid) {
          // Enough for one pass: the rest from the next (the loop's end closes the statement).
          lastRowid = e.rowid;
          break;
        }
      }
    }
    for (const d of drops) {
      if (d.rowid > from) continue;
      const e = s.one.get(d.rowid) as Entry | undefined;
      if (e) entries.push(e);
    }
    const unchanged = drops.length === 0 && entries.length === 0 && lastRowid === p.last_rowid && changesUpto === p.changes_upto;
    return { drops, entries, lastRowid, changesUpto, done: lastRowid === top, unchanged };
  };

  const reset = (): void => {
    db.transaction(() => {
      s.deleteAll.run();
      s.setProgress.run(0, (s.highestChange.get() as { s: number }).s);
    })();
  };

  const pass = (limit: number): IndexPass => {
    const r = db.transaction(() => read(limit))();
    if (r === null) {
      reset();
      return { lastRowid: 0, changesUpto: progress().changesUpto, rows: 0, done: false, wrote: true };
    }
    // Nothing to write: no commit (a WAL frame and an fsync of this file for nothing).
    if (r.unchanged) return { lastRowid: r.lastRowid, changesUpto: r.changesUpto, rows: 0, done: r.done, wrote: false };
    db.transaction(() => {
      for (const d of r.drops) s.drop.run(d.rowid, d.content, d.chat);
      for (const e of r.entries) s.insert.run(e.rowid, e.content, e.chat);
      s.setProgress.run(r.lastRowid, r.changesUpto);
    })();
    return { lastRowid: r.lastRowid, changesUpto: r.changesUpto, rows: r.drops.length + r.entries.length, done: r.done, wrote: true };
  };

  /**
   * Whether the index already has all of the store (no new message past last_rowid, no
   * change past changes_upto), read in one snapshot without writing: a search asking to
   * catch up is then answered at once, without a pass.
   */
  const current = (): boolean =>
    db.transaction(() => {
      const p = s.progress.get() as { last_rowid: number; changes_upto: number };
      return (s.maxRowid.get() as { r: number }).r <= p.last_rowid && (s.highestChange.get() as { s: number }).s <= p.changes_upto;
    })();

  const progress = (): SearchProgress => {
    const p = s.progress.get() as { last_rowid: number; changes_upto: number };
    return { lastRowid: p.last_rowid, changesUpto: p.changes_upto };
  };

  return {
    progress,
    /** One pass (above). */
    pass,
    current,
    /** Empties the index and starts it over from rowid 0 (a corrupt index: it holds nothing the store does not). */
    reset,
  };
}
