import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import {
  BACKGROUND_OPS,
  RIDING_OPS,
  commitWrites,
  sqliteWriteOps,
  type SqliteWriteCall,
  type SqliteWriteOutcome,
} from './sqlite-writes.js';

/*
 * The embedded store's writer thread: it owns the only connection that writes, so the
 * commits (statements, fsync) of every send and cursor move run beside the event loop,
 * not on it. A batch is answered only after COMMIT returned, with synchronous=FULL, so
 * it is on disk by then.
 */

export type WriterRequest =
  | { kind: 'batch'; id: number; calls: SqliteWriteCall[] }
  | { kind: 'autocheckpoint'; pages: number }
  | { kind: 'restartWal' }
  | { kind: 'close' };

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
 * Background writes (BACKGROUND_OPS: cursors, activity times, applied search changes) are
 * committed BACKGROUND_CHUNK at a time and only when no other write waits; the event
 * loop's side sends them in batches of their own (sqlite-writer.ts).
 */
const BACKGROUND_CHUNK = 256;

/** Cursor moves a background write carries: one, or a group window's many (advanceDeliveredMany, advanceReadMany). */
function weight(call: SqliteWriteCall): number {
  return call.op === 'advanceDeliveredMany' || call.op === 'advanceReadMany' ? (call.args[1] as unknown[]).length : 1;
}

/** The next background writes to commit: BACKGROUND_CHUNK cursor moves' worth (at least one write). */
function takeBackground(): Entry[] {
  let n = 0;
  let total = 0;
  while (n < background.length && (n === 0 || total + weight(background[n]!.call) <= BACKGROUND_CHUNK))
    total += weight(background[n++]!.call);
  return background.splice(0, n);
}

interface Batch {
  id: number;
  outcomes: SqliteWriteOutcome[];
  left: number;
  failed?: { message: string; code?: string };
}
interface Entry {
  batch: Batch;
  index: number;
  call: SqliteWriteCall;
}

/*
 * Writes that arrive while a commit runs are committed together (group commit across
 * batches, so the event loop never waits to hand over the next one); each batch is
 * answered once all its writes are.
 */
let urgent: Entry[] = [];
const background: Entry[] = [];
let scheduled = false;

/*
 * RIDING_OPS (retention's erasures) wait here for the next background commit, which takes
 * one of them along: no commit and fsync of their own for a send to queue behind. Not a
 * send's commit: a slice there made the sends it carried wait for it (about 1 ms at the
 * median, 8-18 ms at the tail in the retention bench, half of the sends' writer time over
 * 15 ms). When no background commit comes, one goes alone after RIDE_WAIT_MS, once no send
 * waits; while sends alone keep the thread busy (background writes then wait too), one rides
 * a send's commit after RIDE_STARVE_MS, so the erasure still keeps up.
 */
const RIDE_WAIT_MS = 5;
const RIDE_STARVE_MS = 50;
const riders: Entry[] = [];
let rideTimer: NodeJS.Timeout | null = null;
let riderDue = false;
/** Since when the first rider has waited (performance.now()). */
let riderSince = 0;

function waitForRide(): void {
  if (rideTimer || riders.length === 0) return;
  rideTimer = setTimeout(() => {
    rideTimer = null;
    riderDue = true;
    schedule();
  }, RIDE_WAIT_MS);
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  // Every message already queued on the port is delivered before this runs.
  setImmediate(commitNext);
}

/*
 * Asked by the checkpointer (sqlite-checkpoint-worker.ts) when the WAL is large: copy
 * what its last checkpoint left (little: it runs every 250 ms) from here, where no other
 * write can come in between, so that the next transaction finds every frame copied and
 * starts the WAL from its beginning. PASSIVE never waits: a checkpoint already running on
 * the other thread makes it a no-op, and the checkpointer asks again.
 */
let restartWal = false;

/** `flush`: on close, riders go too, with or without a commit to ride. */
function commitNext(flush = false): void {
  scheduled = false;
  if (restartWal) {
    restartWal = false;
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // SQLITE_BUSY and the like: the checkpointer asks again while the WAL is large.
    }
  }
  let entries: Entry[];
  const sends = urgent.length > 0;
  if (sends) {
    entries = urgent;
    urgent = [];
  } else {
    entries = takeBackground();
  }
  const starving = riders.length > 0 && performance.now() - riderSince > RIDE_STARVE_MS;
  if (riders.length > 0 && (!sends || starving || flush) && (entries.length > 0 || riderDue || flush)) {
    entries.push(riders.shift()!);
    // Two on a background commit: with one, the erasure fell below the 1,300 rows/s it needs (BENCHMARKS.md).
    if (!sends && riders.length > 0) entries.push(riders.shift()!);
    riderSince = performance.now();
    riderDue = false;
    if (rideTimer) clearTimeout(rideTimer);
    rideTimer = null;
  }
  if (entries.length > 0) commit(entries);
  // A rider that is due but met a send's commit goes next, unless more sends came meanwhile.
  if (urgent.length > 0 || background.length > 0 || (riderDue && riders.length > 0)) schedule();
  waitForRide();
}

function commit(entries: Entry[]): void {
  try {
    const outcomes = commitWrites(
      db,
      ops,
      entries.map((e) => e.call),
    );
    entries.forEach((e, i) => (e.batch.outcomes[e.index] = outcomes[i]!));
  } catch (err) {
    // The commit itself failed (disk full, I/O error): nothing of it is durable.
    const e = err as { message?: string; code?: string };
    for (const entry of entries) entry.batch.failed ??= { message: String(e?.message ?? err), code: e?.code };
  }
  for (const { batch } of entries) {
    if (--batch.left > 0) continue;
    const reply: WriterReply = batch.failed
      ? { kind: 'batch', id: batch.id, failed: batch.failed }
      : { kind: 'batch', id: batch.id, outcomes: batch.outcomes };
    port.postMessage(reply);
  }
}

port.on('message', (msg: WriterRequest) => {
  if (msg.kind === 'batch') {
    const batch: Batch = { id: msg.id, outcomes: new Array(msg.calls.length), left: msg.calls.length };
    if (batch.left === 0) port.postMessage({ kind: 'batch', id: msg.id, outcomes: [] } satisfies WriterReply);
    if (riders.length === 0) riderSince = performance.now();
    msg.calls.forEach((call, index) =>
      (RIDING_OPS.has(call.op) ? riders : BACKGROUND_OPS.has(call.op) ? background : urgent).push({ batch, index, call }),
    );
    schedule();
  } else if (msg.kind === 'restartWal') {
    restartWal = true;
  } else if (msg.kind === 'autocheckpoint') {
    db.pragma(`wal_autocheckpoint = ${msg.pages}`);
  } else {
    if (rideTimer) clearTimeout(rideTimer);
    while (urgent.length > 0 || background.length > 0 || riders.length > 0) commitNext(true);
    db.close();
    port.close();
  }
});
