import type { BucketSpec } from '../../util/token-bucket.js';

export type { BucketSpec } from '../../util/token-bucket.js';

/*
 * The rate-limit store seam: counters that limits share. Implementations:
 * InMemoryRateLimitStore (embedded: one process) and RedisRateLimitStore (cluster: every
 * node sees the same counters). Both run rate-limit-store.contract.ts.
 *
 * Guarantees:
 * - take() is atomic per key: concurrent callers (on any node) never take more than the
 *   bucket holds.
 * - A slot set never holds more than `limit` live slots; a slot lives until released or
 *   until its expiry passes without a refresh (so a node that dies frees its slots).
 * - Keys are opaque strings; a Redis Cluster keeps each key's operations in one slot.
 */
export interface RateLimitStore {
  /**
   * Token bucket `key`: refills it, then, if at least `need` tokens are there (default:
   * `cost`), takes `cost` (default 1). Answers 0 when taken, else the ms until `need`
   * tokens will be there (nothing is taken). A bucket nobody touched is full.
   */
  take(key: string, spec: BucketSpec, cost?: number, need?: number): Promise<number>;
  /** Holds slot `id` in set `key` until `ttlMs` from now, if fewer than `limit` are held. true when held. */
  acquireSlot(key: string, id: string, limit: number, ttlMs: number): Promise<boolean>;
  /** Pushes held slots' expiry to `ttlMs` from now (a released or expired slot is not brought back). */
  refreshSlots(slots: { key: string; id: string }[], ttlMs: number): Promise<void>;
  releaseSlot(key: string, id: string): Promise<void>;
  close(): Promise<void>;
}
