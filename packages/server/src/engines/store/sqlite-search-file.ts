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
const SEARCH_FILE_VERSION = 1;

/*
 * messages_fts: contentless (the text stays in the store's file), the chat as a column so a
 * search names the caller's chats in its MATCH (sqlite-migrations.ts, 7), and
 * contentless_delete, so an entry leaves by its rowid alone: the indexer need not know the
 * words it indexed then (an edit or an erase has replaced them by the time it runs).
 * search_progress: messages with rowids up to last_rowid are indexed, and the store's
 * search_changes up to changes_upto applied; committed with the index rows they describe.
 */
const SCHEMA = `
  CREATE VIRTUAL TABLE messages_fts USING fts5(content, chat, content='', contentless_delete=1, prefix='2 3',
    tokenize='unicode61 remove_diacritics 2');
  CREATE TABLE search_progress (id INTEGER PRIMARY KEY CHECK (id = 1), last_rowid INTEGER NOT NULL, changes_upto INTEGER NOT NULL);
`;

export interface SearchProgress {
  lastRowid: number;
  changesUpto: number;
}

/**
 * Opens (or makes) the search file for the store whose latest search_changes seq is
 * `changesHigh`: a file that cannot be read, is of another version, or has applied changes
 * the store never recorded (another store's, or a newer copy of it than a restored store)
 * is deleted and made anew, empty, as of `changesHigh` (the rebuild reads messages as they
 * are now, so earlier changes are in it). Answers whether it was made anew.
 */
export function prepareSearchFile(file: string, changesHigh: number): { rebuilt: boolean } {
  const usable = (): boolean => {
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { fileMustExist: true });
      if ((db.pragma('user_version', { simple: true }) as number) !== SEARCH_FILE_VERSION) return false;
      const p = db.prepare('SELECT changes_upto FROM search_progress WHERE id = 1').get() as { changes_upto: number } | undefined;
      if (!p || p.changes_upto > changesHigh) return false;
      db.prepare(`SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'x' LIMIT 1`).all();
      return true;
    } catch {
      return false;
    } finally {
      db?.close();
    }
  };
  if (usable()) return { rebuilt: false };
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) rmSync(f, { force: true });
  privateFile(file);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    tightenFiles([`${file}-wal`, `${file}-shm`]);
    db.transaction(() => {
      db.exec(SCHEMA);
      db.prepare('INSERT INTO search_progress (id, last_rowid, changes_upto) VALUES (1, 0, ?)').run(changesHigh);
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
}

/**
 * The indexing pass, on the indexer's connection: the search file as `main`, the store's
 * file attached as `store` (only read: better-sqlite3 opens no URI filenames, so `mode=ro`
 * is not available to say so). A pass reads what it needs of the store in one short read
 * transaction (one snapshot; a WAL reader, which the store's writer never waits for, and
 * which holds back the store's checkpoints only while it reads), then writes the search file
 * in a transaction of its own, where FTS5 flushes and merges. From that snapshot it
 *  1. applies the store's search changes past changes_upto (at most `limit`): each names a
 *     rowid whose message was edited, erased or removed, and its entry leaves; or says that
 *     rowids above one are free again (retention took the newest rows: SQLite hands their
 *     rowids out anew), and last_rowid comes down to it, so that what comes there counts as
 *     not indexed (the entries above it have left by then: their own changes came first);
 *  2. lowers last_rowid to the snapshot's highest rowid too (the same, seen directly);
 *  3. indexes new messages past last_rowid (at most `limit`), unless changes are still left
 *     (an old entry of a rowid handed out again must leave before it is indexed anew);
 *  4. indexes anew what step 1 took out of the already indexed range and is still a live
 *     message (an edit's new words, a rowid handed out again);
 * and commits the progress with the rows.
 */
export function searchIndexer(db: Database.Database) {
  const s = {
    progress: db.prepare('SELECT last_rowid, changes_upto FROM main.search_progress WHERE id = 1'),
    setProgress: db.prepare('UPDATE main.search_progress SET last_rowid = ?, changes_upto = ? WHERE id = 1'),
    changes: db.prepare('SELECT seq, msg_rowid, free FROM store.search_changes WHERE seq > ? ORDER BY seq LIMIT ?'),
    moreChanges: db.prepare('SELECT 1 FROM store.search_changes WHERE seq > ? LIMIT 1'),
    maxRowid: db.prepare('SELECT COALESCE(MAX(rowid), 0) AS r FROM store.messages'),
    range: db.prepare(
      `SELECT rowid, content, replace(chat_id, ':', 'x') AS chat FROM store.messages
       WHERE rowid > ? AND rowid <= ? AND kind = 'message' AND deleted = 0 ORDER BY rowid`,
    ),
    one: db.prepare(
      `SELECT rowid, content, replace(chat_id, ':', 'x') AS chat FROM store.messages WHERE rowid = ? AND kind = 'message' AND deleted = 0`,
    ),
    drop: db.prepare('DELETE FROM main.messages_fts WHERE rowid = ?'),
    insert: db.prepare('INSERT INTO main.messages_fts (rowid, content, chat) VALUES (?, ?, ?)'),
    // For a corrupt index: a contentless table is emptied whole this way.
    deleteAll: db.prepare(`INSERT INTO main.messages_fts (messages_fts) VALUES ('delete-all')`),
    highestChange: db.prepare(`SELECT COALESCE((SELECT seq FROM store.sqlite_sequence WHERE name = 'search_changes'), 0) AS s`),
  };
  type Entry = { rowid: number; content: string; chat: string };

  /** Reads (the store's snapshot): what leaves the index, what comes in, and the progress after. */
  const read = (limit: number) => {
    const p = s.progress.get() as { last_rowid: number; changes_upto: number };
    let changesUpto = p.changes_upto;
    const changes = s.changes.all(changesUpto, limit) as { seq: number; msg_rowid: number; free: number }[];
    const drops = new Set<number>();
    let freeAbove = p.last_rowid;
    for (const c of changes) {
      changesUpto = c.seq;
      if (c.free === 1) freeAbove = Math.min(freeAbove, c.msg_rowid);
      else drops.add(c.msg_rowid);
    }
    const top = (s.maxRowid.get() as { r: number }).r;
    const from = Math.min(freeAbove, top);
    let lastRowid = from;
    let entries: Entry[] = [];
    const changesLeft = changes.length === limit && s.moreChanges.get(changesUpto) !== undefined;
    if (!changesLeft && top > from) {
      lastRowid = Math.min(top, from + limit);
      entries = s.range.all(from, lastRowid) as Entry[];
    }
    for (const rowid of drops) {
      if (rowid > from) continue;
      const e = s.one.get(rowid) as Entry | undefined;
      if (e) entries.push(e);
    }
    return { drops, entries, lastRowid, changesUpto, done: !changesLeft && lastRowid === top };
  };

  const pass = (limit: number): IndexPass => {
    const r = db.transaction(() => read(limit))();
    db.transaction(() => {
      for (const rowid of r.drops) s.drop.run(rowid);
      for (const e of r.entries) s.insert.run(e.rowid, e.content, e.chat);
      s.setProgress.run(r.lastRowid, r.changesUpto);
    })();
    return { lastRowid: r.lastRowid, changesUpto: r.changesUpto, rows: r.drops.size + r.entries.length, done: r.done };
  };

  return {
    progress(): SearchProgress {
      const p = s.progress.get() as { last_rowid: number; changes_upto: number };
      return { lastRowid: p.last_rowid, changesUpto: p.changes_upto };
    },
    /** One pass (above). */
    pass,
    /** Empties the index and starts it over from rowid 0 (a corrupt index: it holds nothing the store does not). */
    reset(): void {
      db.transaction(() => {
        s.deleteAll.run();
        s.setProgress.run(0, (s.highestChange.get() as { s: number }).s);
      })();
    },
  };
}
