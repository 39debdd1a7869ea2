import { fdatasyncSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/*
 * The embedded store's WAL checkpointer, on its own thread and its own connection to the
 * database file. SQLite's automatic checkpoint runs inside the COMMIT of whichever write
 * crosses the threshold, so on the event loop it stalls every socket for as long as it
 * copies pages; a PASSIVE checkpoint here never blocks the writer (it copies what no
 * reader still needs and stops).
 */

const { file, syncFd, intervalMs, restartFrames } = workerData as {
  file: string;
  syncFd: number;
  intervalMs: number;
  restartFrames: number;
};
const db = new Database(file);
db.pragma('busy_timeout = 1000');

/*
 * Under a write load that never pauses, PASSIVE alone does not bound the WAL: it copies the
 * frames that were there when it started, the writer appends more meanwhile, and the WAL
 * starts over only when a write begins with every frame copied, which then never happens
 * (measured: 5 GB of WAL after 90 s at 2,500 msg/s). So past restartFrames this thread asks
 * the writer thread to start it over (`restart`): the writer, the only one that appends,
 * copies the few frames written since this checkpoint itself, and its next transaction
 * starts the WAL from the beginning. A RESTART checkpoint from here did the same but made
 * the writer wait in SQLite's busy handler, whose sleeps (1, 2, 5, 10, 15, 20 ms...) held
 * sends for about 55 ms each time (retention bench, 2026-12-06). Only a WAL that still grows
 * far past that (the writer's start-over kept failing: readers in the WAL each time) gets
 * the blocking RESTART from here.
 */
const FORCE_FACTOR = 4;

/*
 * A PASSIVE checkpoint that the writer outran (the usual case under load) copies pages into
 * the database file but does not sync it: SQLite syncs the file only when a checkpoint
 * reaches the WAL's end, and that one is the writer's start-over. Measured in the retention
 * bench (2026-12-06): that start-over then flushed every page copied here since the last
 * one, 60-110 ms on the writer thread with sends waiting behind it (their p99 followed it).
 * So this thread syncs what it copied itself (a second descriptor, which the main thread opens
 * and closes: fdatasync flushes the file's pages whoever wrote them), and before asking for a start-over it copies and syncs
 * again until a round is quick, so that the writer is left a few frames and a cheap sync
 * (its start-over: 3-4 ms at the median and 14 at most in the same bench, against 74 and 119).
 */
const QUICK_ROUND_MS = 3;
const MAX_ROUNDS = 6;
/** Frames copied as of the last sync (a start-over brings it back to 0). */
let lastSynced = 0;

type CheckpointResult = { busy: number; log: number; checkpointed: number };

function checkpoint(): CheckpointResult | undefined {
  const [r] = db.pragma('wal_checkpoint(PASSIVE)') as CheckpointResult[];
  // Whenever it copied frames, even all it saw (checkpointed = log): SQLite syncs only when
  // that is still the WAL's end once copied, and the writer has usually appended meanwhile.
  if (r && r.checkpointed !== lastSynced) {
    fdatasyncSync(syncFd);
    lastSynced = r.checkpointed;
  }
  return r;
}

const timer = setInterval(() => {
  try {
    let r = checkpoint();
    if ((r?.log ?? 0) > restartFrames * FORCE_FACTOR) {
      [r] = db.pragma('wal_checkpoint(RESTART)') as CheckpointResult[];
    } else if ((r?.log ?? 0) > restartFrames) {
      // Converge before the writer starts the WAL over: each round copies what came in during the last.
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const started = performance.now();
        r = checkpoint();
        if (performance.now() - started < QUICK_ROUND_MS) break;
      }
    }
    const walFrames = r?.log ?? 0;
    parentPort?.postMessage({ ok: true, walFrames, checkpointed: r?.checkpointed ?? 0, restart: walFrames > restartFrames });
  } catch (err) {
    parentPort?.postMessage({ ok: false, message: (err as Error).message });
  }
}, intervalMs);

parentPort?.on('message', (msg: unknown) => {
  if (msg !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
