import { isFull, takeTokens, type BucketSpec, type BucketState } from '../../util/token-bucket.js';
import type { RateLimitStore } from './rate-limit-store.js';

/** Embedded mode's counters: one process, so plain maps; full buckets and empty slot sets are dropped by a sweep. */
export class InMemoryRateLimitStore implements RateLimitStore {
  private readonly buckets = new Map<string, { state: BucketState; spec: BucketSpec }>();
  private readonly slots = new Map<string, Map<string, number>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  async take(key: string, spec: BucketSpec, cost = 1, need = cost): Promise<number> {
    const now = this.now();
    let entry = this.buckets.get(key);
    if (!entry) this.buckets.set(key, (entry = { state: { tokens: spec.capacity, at: now }, spec }));
    entry.spec = spec;
    return takeTokens(entry.state, spec, now, cost, need);
  }

  async acquireSlot(key: string, id: string, limit: number, ttlMs: number): Promise<boolean> {
    const now = this.now();
    let set = this.slots.get(key);
    if (!set) this.slots.set(key, (set = new Map()));
    for (const [slot, until] of set) if (until <= now) set.delete(slot);
    if (!set.has(id) && set.size >= limit) return false;
    set.set(id, now + ttlMs);
    return true;
  }

  async refreshSlots(slots: { key: string; id: string }[], ttlMs: number): Promise<void> {
    const until = this.now() + ttlMs;
    for (const { key, id } of slots) {
      const set = this.slots.get(key);
      if (set?.has(id)) set.set(id, until);
    }
  }

  async releaseSlot(key: string, id: string): Promise<void> {
    const set = this.slots.get(key);
    set?.delete(id);
    if (set?.size === 0) this.slots.delete(key);
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, { state, spec }] of this.buckets) if (isFull(state, spec, now)) this.buckets.delete(key);
    for (const [key, set] of this.slots) {
      for (const [slot, until] of set) if (until <= now) set.delete(slot);
      if (set.size === 0) this.slots.delete(key);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}
