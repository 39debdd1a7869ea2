import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { searchIndexer, type IndexPass } from './sqlite-search-file.js';

/*
 * The embedded store's search indexer thread (sqlite-search-file.ts): the only connection
 * that writes the search file, so FTS5's flushes and merges run here, where no send waits
 * for them. It reads the store's file as a WAL reader. It indexes when asked
 * (sqlite-search-index.ts: after appends, edits, deletes, retention), pass after pass until
 * it has all of the store, and answers a catch-up (a search about to read) once a pass
 * that began after the request has finished with nothing left.
 */

export type SearchRequest = { kind: 'index' } | { kind: 'catchUp'; id: number } | { kind: 'close' };

export type SearchReply =
  | { kind: 'progress'; lastRowid: number; changesUpto: number }
  | { kind: 'caughtUp'; id: number }
  | { kind: 'failed'; ids: number[]; message: string };

const { searchFile, storeFile } = workerData as { searchFile: string; storeFile: string };
const db = new Database(searchFile, { fileMustExist: true });
// FULL: the store drops its search_changes once this file says they are applied; a commit
// lost to a power cut after that would leave entries of erased or edited messages behind.
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 5000');
db.pragma('journal_size_limit = 67108864');
db.prepare('ATTACH DATABASE ? AS store').run(storeFile);
const indexer = searchIndexer(db);
const port = parentPort!;

/*
 * Rows per pass (each its own commit here): nobody waits on a pass but a search, so they
 * are larger than the 100 a send once waited for; not unbounded, so that a rebuild goes in
 * steps and a pass's reads of the store (rows held in memory until written) stay small.
 */
const PASS_ROWS = 2000;
/** After a pass failed (e.g. the disk full), the next try (ms), doubling with each failure in a row up to RETRY_MAX_MS. */
const RETRY_MS = 1000;
const RETRY_MAX_MS = 30_000;
/** A corrupt index is started over at most once in this long (ms); corrupt again within it, it fails as any error. */
const RESET_INTERVAL_MS = 60_000;

/** Catch-ups waiting, with the number of passes finished when each came. */
const waiters: { id: number; since: number }[] = [];
let passes = 0;
let due = false;
let scheduled = false;
let retry: NodeJS.Timeout | null = null;
let failures = 0;
let lastReset = -Infinity;
let closed = false;
let reported = indexer.progress();

function schedule(): void {
  if (scheduled || retry || closed) return;
  scheduled = true;
  // Every message already queued on the port is taken before the next pass.
  setImmediate(runPass);
}

function runPass(): void {
  scheduled = false;
  if (closed) return;
  due = false;
  let r: IndexPass;
  try {
    r = indexer.pass(PASS_ROWS);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const corrupt = typeof e?.code === 'string' && (e.code.startsWith('SQLITE_CORRUPT') || e.code === 'SQLITE_NOTADB');
    if (corrupt && Date.now() - lastReset >= RESET_INTERVAL_MS) {
      // It holds nothing the store does not: start it over (once: corrupt again soon, the reset did not help).
      lastReset = Date.now();
      try {
        indexer.reset();
        due = true;
        schedule();
        return;
      } catch {
        // Fails as below.
      }
    }
    const failed = waiters.splice(0);
    port.postMessage({ kind: 'failed', ids: failed.map((w) => w.id), message: String(e?.message ?? err) } satisfies SearchReply);
    due = true;
    failures++;
    retry = setTimeout(
      () => {
        retry = null;
        schedule();
      },
      Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** (failures - 1)),
    );
    return;
  }
  failures = 0;
  passes++;
  if (r.lastRowid !== reported.lastRowid || r.changesUpto !== reported.changesUpto) {
    reported = { lastRowid: r.lastRowid, changesUpto: r.changesUpto };
    port.postMessage({ kind: 'progress', ...reported } satisfies SearchReply);
  }
  if (r.done) {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.since >= passes) continue;
      port.postMessage({ kind: 'caughtUp', id: waiters[i]!.id } satisfies SearchReply);
      waiters.splice(i, 1);
    }
  }
  if (!r.done || due || waiters.length > 0) schedule();
}

function upToDate(): boolean {
  if (closed) return false;
  try {
    return indexer.current();
  } catch {
    return false; // a pass meets the error and reports it
  }
}

port.on('message', (msg: SearchRequest) => {
  if (msg.kind === 'index') {
    due = true;
    schedule();
  } else if (msg.kind === 'catchUp') {
    // Nothing new in the store: answered from a read, no pass (a pass would find nothing to write).
    if (upToDate()) {
      port.postMessage({ kind: 'caughtUp', id: msg.id } satisfies SearchReply);
      return;
    }
    waiters.push({ id: msg.id, since: passes });
    schedule();
  } else {
    closed = true;
    if (retry) clearTimeout(retry);
    db.close();
    port.close();
  }
});

// A start: the store drops what an earlier run applied; then whatever was left (a rebuild
// after an upgrade or a lost file, messages sent since the last pass).
port.postMessage({ kind: 'progress', ...reported } satisfies SearchReply);
schedule();
