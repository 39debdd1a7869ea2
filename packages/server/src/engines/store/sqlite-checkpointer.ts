import { closeSync, openSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/**
 * How often the checkpointer copies the WAL back into the database (ms). Often, so that
 * what is left for the writer to copy when the WAL starts over is little.
 */
const CHECKPOINT_INTERVAL_MS = 250;
/** WAL frames (pages) past which the WAL is started over (about 32 MB at 4 KiB pages). */
const RESTART_FRAMES = 8192;
/** SQLite's own default, restored when the checkpointer thread is gone. */
export const AUTOCHECKPOINT_PAGES = 1000;

/**
 * Moves WAL checkpoints out of the commits (see sqlite-checkpoint-worker.ts): the writing
 * connection does not checkpoint itself (wal_autocheckpoint=0, set by the writer thread),
 * and this worker thread checkpoints every CHECKPOINT_INTERVAL_MS. Should it die, `onGone` has the
 * writing connection checkpoint itself again, so the WAL stays bounded either way.
 */
export class SqliteCheckpointer {
  private readonly worker: Worker;
  /**
   * The worker's descriptor for syncing the database file (sqlite-checkpoint-worker.ts),
   * opened and closed here: a worker terminated while stuck in a checkpoint runs no
   * cleanup, and descriptors belong to the process, not the thread.
   */
  private readonly syncFd: number;
  private stopped = false;
  /** Frames in the WAL at the last checkpoint (for metrics and tests). */
  walFrames = 0;

  /** `restart`: the WAL is past RESTART_FRAMES, the writer should start it over (sqlite-writer.ts restartWal). */
  constructor(file: string, onGone: () => void, restart: () => void) {
    this.syncFd = openSync(file, 'r');
    this.worker = new Worker(new URL('./sqlite-checkpoint-worker.js', import.meta.url), {
      workerData: { file, syncFd: this.syncFd, intervalMs: CHECKPOINT_INTERVAL_MS, restartFrames: RESTART_FRAMES },
    });
    this.worker.unref();
    this.worker.on('message', (m: { ok: boolean; walFrames?: number; restart?: boolean }) => {
      if (m.ok) this.walFrames = m.walFrames ?? 0;
      if (m.restart && !this.stopped) restart();
    });
    const fallBack = () => {
      if (!this.stopped) onGone();
    };
    this.worker.on('error', fallBack);
    this.worker.on('exit', fallBack);
  }

  async close(): Promise<void> {
    // Once only: a second closeSync could close a descriptor the number was handed out to since.
    if (this.stopped) return;
    this.stopped = true;
    this.worker.ref(); // keeps the process alive until the worker has closed its connection
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      timer = setTimeout(resolve, 2000); // a worker stuck in a checkpoint is terminated below
    });
    this.worker.postMessage('stop');
    await exited;
    clearTimeout(timer);
    await this.worker.terminate().catch(() => undefined);
    closeSync(this.syncFd);
  }
}
