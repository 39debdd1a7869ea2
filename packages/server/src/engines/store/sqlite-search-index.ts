import { Worker } from 'node:worker_threads';
import type { SearchReply, SearchRequest } from './sqlite-search-worker.js';

/** How soon after a write that concerns search the indexer is asked to index (ms): its passes take what came meanwhile. */
const INDEX_DELAY_MS = 200;
/*
 * An indexer thread that died is restarted after a pause that doubles with each death in a
 * row (from RESTART_PAUSE_MS up to RESTART_PAUSE_MAX_MS): a thread that cannot run must not
 * spin, and while none runs the store's search_changes (the words of erased messages) are
 * not dropped. A thread that ran RESTART_PAUSE_MAX_MS or longer counts as a fresh start.
 */
const RESTART_PAUSE_MS = 1000;
const RESTART_PAUSE_MAX_MS = 30_000;

/** Where the indexer's failures are told (pino's signature; SqliteStore passes the server's logger). */
export interface SearchLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * The event loop's side of the search indexer thread (sqlite-search-worker.ts), which keeps
 * the search file (sqlite-search-file.ts) up to date with the store. `poke` after a write
 * that adds, edits or erases messages; `catchUp` before a search reads, so that it sees
 * every message acknowledged before it; `onApplied` hears how far the store's
 * search_changes are applied (the store then drops them).
 */
export class SqliteSearchIndex {
  private worker!: Worker;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private startedAt = 0;
  private closing = false;
  private closed: Promise<void> | null = null;
  /** Between a thread's death and its replacement (catch-ups asked meanwhile go to the new one). */
  private down = false;
  /** When the replacement starts (while down). */
  private upAt = 0;
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** Deaths in a row (backoff). */
  private deaths = 0;
  /** Whether the current thread has started (its first report came): a death before that is a start-up failure. */
  private ready = false;

  /**
   * `remake` makes the search file anew (empty; it is rebuilt): called after a thread died
   * before it had started, i.e. could not open or read the file.
   */
  constructor(
    private readonly searchFile: string,
    private readonly storeFile: string,
    private readonly onApplied: (changesUpto: number) => void,
    private readonly log: SearchLog,
    private readonly remake: () => void,
  ) {
    this.start();
  }

  /** Has the indexer index what was written, INDEX_DELAY_MS from now (writes meanwhile share the pass). */
  poke(): void {
    if (this.closing) return;
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.post({ kind: 'index' });
    }, INDEX_DELAY_MS);
    // Indexing is not a reason to stay up: whatever is left, the next start takes.
    this.timer.unref();
  }

  /** Resolves once the index holds every message and change committed before this call. */
  catchUp(): Promise<void> {
    if (this.closing) return Promise.reject(new Error('the store is closed'));
    const id = this.nextId++;
    // A replacement far off (backing off after repeated deaths): fail now rather than hang the search.
    if (this.down && this.upAt - Date.now() > RESTART_PAUSE_MS) return Promise.reject(new Error('the search indexer is restarting'));
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      if (this.down) return;
      this.worker.ref(); // a search waiting keeps the process alive
      this.post({ kind: 'catchUp', id });
    });
  }

  /** Stops the thread (what it has not indexed yet, it takes at the next start). */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
      if (!this.down) {
        this.worker.ref(); // until the thread has closed its connection
        const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
        this.post({ kind: 'close' });
        await exited;
      }
      this.failWaiting('the store is closed');
    })();
    return this.closed;
  }

  private start(): void {
    this.restartTimer = undefined;
    this.down = false;
    this.ready = false;
    this.startedAt = Date.now();
    const worker = new Worker(new URL('./sqlite-search-worker.js', import.meta.url), {
      workerData: { searchFile: this.searchFile, storeFile: this.storeFile },
    });
    this.worker = worker;
    worker.unref();
    for (const id of this.waiting.keys()) this.post({ kind: 'catchUp', id });
    if (this.waiting.size > 0) worker.ref();
    worker.on('message', (reply: SearchReply) => {
      this.ready = true;
      this.settle(reply);
    });
    worker.on('error', (err) => this.log.error({ err }, 'the search indexer thread failed')); // 'exit' follows
    worker.on('exit', (code) => {
      if (this.worker !== worker || this.closing) return;
      this.down = true;
      // What it was asked is lost with it: the searches waiting fail (the next ones ask the new thread).
      this.failWaiting('the search indexer stopped');
      const lived = Date.now() - this.startedAt;
      this.deaths = lived >= RESTART_PAUSE_MAX_MS ? 1 : this.deaths + 1;
      const pause = Math.min(RESTART_PAUSE_MAX_MS, RESTART_PAUSE_MS * 2 ** (this.deaths - 1));
      this.log.warn({ code, started: this.ready, restartInMs: pause }, 'the search indexer thread stopped');
      if (!this.ready) {
        // It could not open or read the search file: the next thread gets a new one (rebuilt from the store).
        try {
          this.remake();
        } catch (err) {
          this.log.error({ err }, 'making the search file anew failed');
        }
      }
      this.upAt = Date.now() + pause;
      this.restartTimer = setTimeout(() => {
        if (!this.closing) this.start();
      }, pause);
    });
  }

  private post(msg: SearchRequest): void {
    this.worker.postMessage(msg);
  }

  private failWaiting(message: string): void {
    for (const w of this.waiting.values()) w.reject(new Error(message));
    this.waiting.clear();
  }

  private settle(reply: SearchReply): void {
    if (reply.kind === 'progress') {
      this.onApplied(reply.changesUpto);
      return;
    }
    if (reply.kind === 'caughtUp') {
      this.waiting.get(reply.id)?.resolve();
      this.waiting.delete(reply.id);
    } else {
      this.log.warn({ message: reply.message, searches: reply.ids.length }, 'a search indexing pass failed');
      for (const id of reply.ids) {
        this.waiting.get(id)?.reject(new Error(`search indexing failed: ${reply.message}`));
        this.waiting.delete(id);
      }
    }
    if (this.waiting.size === 0 && !this.closing) this.worker.unref();
  }
}
