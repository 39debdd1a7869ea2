import { Worker } from 'node:worker_threads';
import type { SearchReply, SearchRequest } from './sqlite-search-worker.js';

/** How soon after a write that concerns search the indexer is asked to index (ms): its passes take what came meanwhile. */
const INDEX_DELAY_MS = 200;
/** An indexer thread that died this soon after the last one started is restarted only after a pause (ms). */
const RESTART_PAUSE_MS = 1000;

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

  constructor(
    private readonly searchFile: string,
    private readonly storeFile: string,
    private readonly onApplied: (changesUpto: number) => void,
  ) {
    this.start();
  }

  /** Has the indexer index what was written, INDEX_DELAY_MS from now (writes meanwhile share the pass). */
  poke(): void {
    if (this.closing) return;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.post({ kind: 'index' });
    }, INDEX_DELAY_MS);
  }

  /** Resolves once the index holds every message and change committed before this call. */
  catchUp(): Promise<void> {
    if (this.closing) return Promise.reject(new Error('the store is closed'));
    const id = this.nextId++;
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
    this.down = false;
    this.startedAt = Date.now();
    const worker = new Worker(new URL('./sqlite-search-worker.js', import.meta.url), {
      workerData: { searchFile: this.searchFile, storeFile: this.storeFile },
    });
    this.worker = worker;
    worker.unref();
    for (const id of this.waiting.keys()) this.post({ kind: 'catchUp', id });
    if (this.waiting.size > 0) worker.ref();
    worker.on('message', (reply: SearchReply) => this.settle(reply));
    worker.on('error', () => undefined); // 'exit' follows and handles it
    worker.on('exit', () => {
      if (this.worker !== worker || this.closing) return;
      this.down = true;
      // What it was asked is lost with it: the searches waiting fail (the next ones ask the new thread).
      this.failWaiting('the search indexer stopped');
      const pause = Math.max(0, this.startedAt + RESTART_PAUSE_MS - Date.now());
      setTimeout(() => {
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
      for (const id of reply.ids) {
        this.waiting.get(id)?.reject(new Error(`search indexing failed: ${reply.message}`));
        this.waiting.delete(id);
      }
    }
    if (this.waiting.size === 0 && !this.closing) this.worker.unref();
  }
}
