import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/*
 * The embedded store's WAL checkpointer, on its own thread and its own connection to the
 * database file. SQLite's automatic checkpoint runs inside the COMMIT of whichever write
 * crosses the threshold, so on the event loop it stalls every socket for as long as it
 * copies pages; a PASSIVE checkpoint here never blocks the writer (it copies what no
 * reader still needs and stops), and the WAL starts over from its beginning once a
 * checkpoint has caught up, so it does not grow without bound.
 */

const { file, intervalMs } = workerData as { file: string; intervalMs: number };
const db = new Database(file);
db.pragma('busy_timeout = 1000');

const timer = setInterval(() => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
    parentPort?.postMessage({ ok: true, walFrames: r?.log ?? 0, checkpointed: r?.checkpointed ?? 0 });
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
