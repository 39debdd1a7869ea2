import type { MediaStore } from '../engines/media-store/media-store.js';
import type { Store } from '../engines/store/store.js';
import type { Logger } from '../util/logger.js';

/** Rest after each batch, as a multiple of the time it took: at most a quarter of the store's time goes to a backlog. */
const DUTY_REST = 3;

export interface RetentionConfig {
  /** RETENTION_DAYS (or RETENTION_MS) in ms: entries older than this are erased. */
  maxAgeMs: number;
  /** Entries per transaction. */
  batch: number;
  /** Least pause between batches while catching up (ms). */
  pauseMs: number;
  /** Pause between passes once caught up (ms). */
  intervalMs: number;
}

export interface RetentionDeps {
  store: Pick<Store, 'expireMessages'>;
  /** Where media bytes live: an erased message's media goes with it. */
  files: Pick<MediaStore, 'delete'>;
  log: Logger;
  now: () => number;
  config: RetentionConfig;
}

/**
 * Retention (PROTOCOL.md settings table, RETENTION_DAYS): log entries older than maxAgeMs
 * are erased in the background, as by delete for everyone but without a message_update
 * (the store reuses the lifecycle's erase), and leave the log, so history and replay start
 * where retention left off. Small batches with a pause between them keep a backlog (a first
 * start on years of messages) from crowding out sends: the embedded store commits each
 * batch on its writer thread only when no send waits; the cluster's store gives the work
 * to one node at a time (an advisory lock per batch), so nodes never erase the same rows.
 */
export class Retention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private stopped = false;

  constructor(private readonly deps: RetentionDeps) {}

  start(): void {
    this.schedule(0);
  }

  /** One pass: batches until the store has nothing older, another node has the turn, or the server stops. Answers the entries erased. */
  pass(): Promise<number> {
    this.running ??= (async () => {
      const { store, config, log, now } = this.deps;
      let total = 0;
      try {
        while (!this.stopped) {
          const started = performance.now();
          const batch = await store.expireMessages(now() - config.maxAgeMs, config.batch);
          if (!batch) break; // another node is erasing: its turn
          // How long the batch took, queueing behind sends included: the store's load (or the
          // store's own time, where waiting is not load: workMs). Resting DUTY_REST times that
          // long keeps retention to a fraction of the writer's time, and backs off by itself
          // when sends keep it busy.
          const took = batch.workMs ?? performance.now() - started;
          total += batch.erased;
          if (batch.erasedMedia.length > 0) {
            // After the commit (no message names them any more). A failure leaves bytes no
            // record points at: logged, and the erasure stands.
            await this.deps.files
              .delete(batch.erasedMedia)
              .catch((err: unknown) => log.warn({ err, media_ids: batch.erasedMedia.length }, 'retention: erasing media bytes failed'));
          }
          if (!batch.more) break;
          await new Promise((resolve) => setTimeout(resolve, Math.max(config.pauseMs, took * DUTY_REST)));
        }
        if (total > 0) log.info({ erased: total }, 'retention: erased expired messages');
        return total;
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.pass()
        .catch((err: unknown) => this.deps.log.warn({ err }, 'retention pass failed'))
        .finally(() => this.schedule(this.deps.config.intervalMs));
    }, delayMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => {});
  }
}
