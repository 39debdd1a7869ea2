import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { commitWrites, sqliteWriteOps, type SqliteWriteCall } from './sqlite-writes.js';

/*
 * The embedded store's writer thread: it owns the only connection that writes, so the
 * commits (statements, fsync) of every send and cursor move run beside the event loop,
 * not on it. Each message is one batch and one transaction; the answer goes back only
 * after COMMIT returned, with synchronous=FULL, so it is on disk by then.
 */

export type WriterRequest =
  { kind: 'batch'; id: number; calls: SqliteWriteCall[] } | { kind: 'autocheckpoint'; pages: number } | { kind: 'close' };

export type WriterReply =
  | { kind: 'batch'; id: number; outcomes: ReturnType<typeof commitWrites> }
  | { kind: 'batch'; id: number; failed: { message: string; code?: string } };

const { file, journalSizeLimit } = workerData as { file: string; journalSizeLimit: number };
const db = new Database(file);
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
db.pragma('busy_timeout = 5000');
db.pragma(`journal_size_limit = ${journalSizeLimit}`);
// Checkpoints run on their own thread (sqlite-checkpointer.ts), not inside a commit here.
db.pragma('wal_autocheckpoint = 0');
const ops = sqliteWriteOps(db);
const port = parentPort!;

/*
 * Batches that arrive while a commit runs are committed together: each batch is still
 * answered on its own, but they share one transaction and one fsync (group commit across
 * batches, so the event loop never waits to hand over the next one).
 */
let waiting: { id: number; calls: SqliteWriteCall[] }[] = [];
let scheduled = false;

function commitWaiting(): void {
  scheduled = false;
  const batches = waiting;
  waiting = [];
  const calls = batches.flatMap((b) => b.calls);
  try {
    const outcomes = commitWrites(db, ops, calls);
    let at = 0;
    for (const b of batches) {
      port.postMessage({ kind: 'batch', id: b.id, outcomes: outcomes.slice(at, at + b.calls.length) } satisfies WriterReply);
      at += b.calls.length;
    }
  } catch (err) {
    // The commit itself failed (disk full, I/O error): nothing in these batches is durable.
    const e = err as { message?: string; code?: string };
    const failed = { message: String(e?.message ?? err), code: e?.code };
    for (const b of batches) port.postMessage({ kind: 'batch', id: b.id, failed } satisfies WriterReply);
  }
}

port.on('message', (msg: WriterRequest) => {
  if (msg.kind === 'batch') {
    waiting.push(msg);
    if (!scheduled) {
      scheduled = true;
      // Every message already queued on the port is delivered before this runs.
      setImmediate(commitWaiting);
    }
  } else if (msg.kind === 'autocheckpoint') {
    db.pragma(`wal_autocheckpoint = ${msg.pages}`);
  } else {
    if (waiting.length > 0) commitWaiting();
    db.close();
    port.close();
  }
});
