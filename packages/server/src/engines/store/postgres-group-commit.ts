import type pg from 'pg';
import type { PoolClient } from 'pg';
import { WriteBatcher, type Outcome } from './write-batcher.js';

/*
 * The cluster store's general group commit (moved out of postgres-store.ts), for the rarer
 * writes (accounts, devices, membership changes): queued writes run in one transaction,
 * sorted by LockKey; if any fails, the batch re-runs with each write in its own savepoint.
 * (Savepoints only on that path: every savepoint that writes gets a subtransaction id, and
 * more than 64 of them in one open transaction slow every other session's snapshots.)
 * Also what every batch of the store shares: which failures are worth another try.
 */

export type Tx = Pick<PoolClient, 'query'>;

/** Appends or cursor moves per statement. */
export const MAX_ITEMS_PER_STATEMENT = 1000;
/** Writes per batch transaction: bounds how long one transaction holds its row locks. */
const MAX_WRITES_PER_BATCH = 500;
/** How often a write that hit a deadlock or a concurrent duplicate is tried in all. */
export const WRITE_ATTEMPTS = 2;
/** SQLSTATEs worth one more try: deadlock, serialization failure, unique violation (a duplicate send racing on another node). */
const RETRYABLE_CODES = new Set(['40P01', '40001', '23505']);

/** Transactions committed and writes in them, for metrics and benchmarks. */
export interface CommitStats {
  commits: number;
  writes: number;
  isolatedRetries: number;
  /** Appends run a second time because another transaction held their chat's row at the first. */
  skippedLocks: number;
}

/**
 * Where a write takes its row locks, for ordering the writes of a batch. Rank 0 is a
 * chat row (append, membership changes, rename), rank 1 a member row of that chat
 * (cursors, roles). Every node runs a batch in this order, so two nodes' transactions
 * take the locks they share in the same order and cannot deadlock on each other.
 */
export type LockKey = readonly [scope: 'chat' | 'user' | 'device', id: string, rank: 0 | 1, sub: string];

function compareKeys(a: LockKey, b: LockKey): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

interface QueuedWrite {
  key: LockKey;
  run: (tx: Tx) => Promise<unknown>;
}

export function isRetryable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && RETRYABLE_CODES.has((err as { code?: string }).code ?? '');
}

export class PgGroupCommit {
  private readonly writes = new WriteBatcher<QueuedWrite, unknown>((batch) => this.commitBatch(batch), {
    maxItems: MAX_WRITES_PER_BATCH,
    minIntervalMs: 0,
  });

  constructor(
    private readonly pool: pg.Pool,
    private readonly commitStats: CommitStats,
  ) {}

  /** Queues a write for the next batch transaction. */
  write<T>(key: LockKey, run: (tx: Tx) => Promise<T>): Promise<T> {
    return this.writes.add({ key, run }) as Promise<T>;
  }

  drain(): Promise<void> {
    return this.writes.drain();
  }

  /** Commits one batch; answers each write's outcome, in batch order. Rejects (every write fails) when the transaction itself does. */
  private async commitBatch(batch: QueuedWrite[]): Promise<Outcome<unknown>[]> {
    // A stable sort: writes with equal keys keep their queue order.
    const order = batch.map((w, i) => ({ w, i })).sort((a, b) => compareKeys(a.w.key, b.w.key));
    const ordered = order.map((o) => o.w);
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      let outcomes = await this.runTogether(client, ordered);
      if (!outcomes) {
        this.commitStats.isolatedRetries++;
        outcomes = await this.runIsolated(client, ordered);
      }
      this.commitStats.commits++;
      this.commitStats.writes += ordered.length;
      const inBatchOrder = new Array<Outcome<unknown>>(batch.length);
      order.forEach(({ i }, k) => (inBatchOrder[i] = outcomes[k]!));
      return inBatchOrder;
    } catch (err) {
      // BEGIN, a savepoint command or COMMIT failed (or the connection did): nothing in
      // this batch is known to be durable.
      broken = err instanceof Error ? err : new Error(String(err));
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** The fast path: the whole batch in one transaction, no savepoints. Null when any write failed (rolled back). */
  private async runTogether(client: PoolClient, ordered: QueuedWrite[]): Promise<Outcome<unknown>[] | null> {
    await client.query('BEGIN');
    const outcomes: Outcome<unknown>[] = [];
    for (const w of ordered) {
      try {
        outcomes.push({ ok: true, value: await w.run(client) });
      } catch {
        await client.query('ROLLBACK');
        return null;
      }
    }
    await client.query('COMMIT');
    return outcomes;
  }

  /** The batch again, each write in its own savepoint, so a failing write fails alone. */
  private async runIsolated(client: PoolClient, ordered: QueuedWrite[]): Promise<Outcome<unknown>[]> {
    await client.query('BEGIN');
    const outcomes: Outcome<unknown>[] = [];
    for (const w of ordered) outcomes.push(await this.runInSavepoint(client, w));
    await client.query('COMMIT');
    return outcomes;
  }

  private async runInSavepoint(client: PoolClient, w: QueuedWrite): Promise<Outcome<unknown>> {
    for (let attempt = 1; ; attempt++) {
      await client.query('SAVEPOINT write');
      try {
        const value = await w.run(client);
        await client.query('RELEASE SAVEPOINT write');
        return { ok: true, value };
      } catch (error) {
        await client.query('ROLLBACK TO SAVEPOINT write; RELEASE SAVEPOINT write');
        // A deadlock victim or a duplicate that committed on another node meanwhile:
        // a second run sees the committed state (the duplicate then reads as one).
        if (attempt < WRITE_ATTEMPTS && isRetryable(error)) continue;
        return { ok: false, error };
      }
    }
  }
}
