import { Worker } from 'node:worker_threads';
import { BACKGROUND_OPS, RIDING_OPS, type SqliteWriteCall, type SqliteWriteName, type SqliteWriteOps } from './sqlite-writes.js';
import type { WriterReply, WriterRequest } from './sqlite-writer-worker.js';

/** After a checkpoint resets the WAL, its file is truncated to at most this many bytes. */
export const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024;
/** A writer thread that died this soon after the last one started is restarted only after a pause (ms). */
const RESTART_PAUSE_MS = 1000;

interface Pending {
  call: SqliteWriteCall;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** An error thrown on the writer thread, with its SQLite code (e.g. SQLITE_CONSTRAINT_UNIQUE). */
export class SqliteWriteError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'SqliteWriteError';
  }
}

/**
 * The event loop's side of the writer thread (sqlite-writer-worker.ts). Writes queued in
 * one turn of the event loop go over as one batch; the thread commits every batch that
 * arrived while it was busy in one transaction (group commit), so neither side waits
 * for the other, and no fsync holds the event loop. A write resolves once its
 * transaction has committed.
 *
 * Should the thread die, whatever was in flight is refused (its commit may or may not
 * have happened: the client's retry with the same client_msg_id finds out) and a new
 * thread takes the queue.
 */
export class SqliteWriter {
  private worker!: Worker;
  private queue: Pending[] = [];
  /** Batches handed to the thread and not yet answered, by id (a batch of cursor moves may be answered after a later one). */
  private readonly inFlight = new Map<number, Pending[]>();
  private nextId = 1;
  private scheduled = false;
  private closing = false;
  private startedAt = 0;
  private autocheckpointPages: number | null = null;
  private closed: Promise<void> | null = null;
  /** Between a thread's death and its replacement: writes wait in the queue. */
  private down = false;
  /** close() waiting for the next answer (or a new thread) to look again at what is left. */
  private waiters: (() => void)[] = [];

  constructor(private readonly file: string) {
    this.start();
  }

  /** Queues one write for the next batch; resolves with its answer once committed. */
  write<K extends SqliteWriteName>(op: K, ...args: Parameters<SqliteWriteOps[K]>): Promise<ReturnType<SqliteWriteOps[K]>> {
    if (this.closing) return Promise.reject(new Error('the store is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ call: { op, args }, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Has the writing connection checkpoint the WAL itself again (pages), e.g. when the checkpointer thread is gone. */
  autocheckpoint(pages: number): void {
    this.autocheckpointPages = pages;
    this.post({ kind: 'autocheckpoint', pages });
  }

  /** Has the thread start the WAL over before its next commit (see sqlite-checkpoint-worker.ts). */
  restartWal(): void {
    if (!this.down && !this.closing) this.post({ kind: 'restartWal' });
  }

  /** Commits everything queued, then stops the thread. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      while (this.inFlight.size > 0 || this.queue.length > 0) {
        if (this.queue.length > 0 && !this.down) this.send();
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
      this.closing = true;
      this.worker.ref(); // until the thread has closed its connection
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      this.post({ kind: 'close' });
      await exited;
    })();
    return this.closed;
  }

  private start(): void {
    this.down = false;
    this.startedAt = Date.now();
    const worker = new Worker(new URL('./sqlite-writer-worker.js', import.meta.url), {
      workerData: { file: this.file, journalSizeLimit: JOURNAL_SIZE_LIMIT },
    });
    this.worker = worker;
    worker.unref();
    worker.on('message', (reply: WriterReply) => this.settle(reply));
    worker.on('error', () => undefined); // 'exit' follows and handles it
    worker.on('exit', () => {
      if (this.worker !== worker || this.closing) return;
      this.restart();
    });
    if (this.autocheckpointPages !== null) this.post({ kind: 'autocheckpoint', pages: this.autocheckpointPages });
  }

  private restart(): void {
    this.down = true;
    for (const batch of this.inFlight.values()) {
      for (const p of batch) p.reject(new Error('the writer thread stopped before answering; the write may not be stored'));
    }
    this.inFlight.clear();
    const pause = Math.max(0, this.startedAt + RESTART_PAUSE_MS - Date.now());
    setTimeout(() => {
      this.start();
      this.schedule();
      this.wakeWaiters();
    }, pause);
  }

  private post(msg: WriterRequest): void {
    this.worker.postMessage(msg);
  }

  private schedule(): void {
    if (this.scheduled || this.down) return;
    this.scheduled = true;
    // setImmediate: writes queued in the same turn of the event loop share the batch. It
    // goes at once, even with another batch in flight: the thread commits whatever has
    // arrived while it was busy in one transaction.
    setImmediate(() => {
      this.scheduled = false;
      if (this.queue.length > 0 && !this.down) this.send();
    });
  }

  private send(): void {
    // Background writes go in a batch of their own. The thread answers a batch once all
    // of it is committed, and commits background writes only when nothing else waits: an
    // append sharing a batch with one was answered after appends queued behind it (so,
    // with two senders in a chat, a device's acks came out of order: guarantee 3).
    // Riding writes (retention's slices) too: they are answered only as commits take them
    // along, and a cursor move sharing their batch would wait for the last of them.
    const urgent: Pending[] = [];
    const background: Pending[] = [];
    const riding: Pending[] = [];
    for (const p of this.queue) (RIDING_OPS.has(p.call.op) ? riding : BACKGROUND_OPS.has(p.call.op) ? background : urgent).push(p);
    this.queue = [];
    this.worker.ref(); // an idle writer does not keep the process alive; one with a batch out does
    for (const batch of [urgent, background, riding]) {
      if (batch.length === 0) continue;
      const id = this.nextId++;
      this.inFlight.set(id, batch);
      this.post({ kind: 'batch', id, calls: batch.map((p) => p.call) });
    }
  }

  private wakeWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private settle(reply: WriterReply): void {
    const batch = this.inFlight.get(reply.id);
    if (!batch) return;
    this.inFlight.delete(reply.id);
    this.wakeWaiters();
    if (this.inFlight.size === 0) this.worker.unref();
    if ('failed' in reply) {
      const err = new SqliteWriteError(reply.failed.message, reply.failed.code);
      for (const p of batch) p.reject(err);
    } else {
      batch.forEach((p, i) => {
        const o = reply.outcomes[i]!;
        if (o.ok) p.resolve(o.value);
        else p.reject(new SqliteWriteError(o.error.message, o.error.code));
      });
    }
  }
}
