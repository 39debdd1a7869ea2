import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/*
 * The embedded store's WAL checkpointer, on its own thread and its own connection to the
 * database file. SQLite's automatic checkpoint runs inside the COMMIT of whichever write
 * crosses the threshold, so on the event loop it stalls every socket for as long as it
 * copies pages; a PASSIVE checkpoint here never blocks the writer (it copies what no
 * reader still needs and stops).
 */

const { file, intervalMs, restartFrames } = workerData as { file: string; intervalMs: number; restartFrames: number };
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

const timer = setInterval(() => {
  try {
    let [r] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
    if ((r?.log ?? 0) > restartFrames * FORCE_FACTOR) {
      [r] = db.pragma('wal_checkpoint(RESTART)') as { busy: number; log: number; checkpointed: number }[];
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
