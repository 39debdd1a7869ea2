import type { Store } from '../engines/store/store.js';

/** How long a cached answer is used at most (ms): bounds the cost of a broadcast that never arrived. */
const TTL_MS = 30_000;
const MAX_CACHED = 100_000;

/**
 * Which users have a push target at all, cached per node, so that a message to users
 * without one (most messages, on most servers) costs no push job, no queue write and no
 * store read. Only "has none" can be wrong in a way that loses a wake-up, so every new
 * registration is broadcast to every node (added()), a node whose bus connection dropped
 * forgets everything, a read that raced an invalidation is not cached, and nothing is
 * kept longer than TTL_MS. A stale "has one" only costs a job whose store read (the
 * dispatcher's, always fresh) finds no target.
 */
export class PushTargetOwners {
  private readonly cache = new Map<string, { has: boolean; readAt: number }>();
  private generation = 0;
  private readonly changedAt = new Map<string, number>();
  private allChangedAt = 0;

  constructor(
    private readonly store: Pick<Store, 'pushTargets'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The users among these that have at least one push target. */
  async withTargets(userIds: string[]): Promise<string[]> {
    const t = this.now();
    const missing = userIds.filter((id) => {
      const c = this.cache.get(id);
      return !c || t - c.readAt >= TTL_MS;
    });
    if (missing.length > 0) {
      const started = this.generation;
      const owners = new Set((await this.store.pushTargets(missing)).map((r) => r.userId));
      const fresh = new Set(missing);
      const raced = (id: string) => (this.changedAt.get(id) ?? 0) > started || this.allChangedAt > started;
      for (const id of missing) {
        if (raced(id)) continue;
        if (!this.cache.has(id) && this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
        this.cache.set(id, { has: owners.has(id), readAt: t });
      }
      return userIds.filter((id) => (fresh.has(id) ? owners.has(id) : this.cache.get(id)?.has));
    }
    return userIds.filter((id) => this.cache.get(id)?.has);
  }

  /** A user registered a target (here or on another node): read it again next time. */
  added(userId: string): void {
    this.cache.delete(userId);
    this.changedAt.set(userId, ++this.generation);
    if (this.changedAt.size > MAX_CACHED) this.changedAt.delete(this.changedAt.keys().next().value!);
  }

  /** Registrations may have been missed (the bus reconnected): forget every answer. */
  addedAnywhere(): void {
    this.cache.clear();
    this.changedAt.clear();
    this.allChangedAt = ++this.generation;
  }
}
