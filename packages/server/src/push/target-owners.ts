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
  /** Reads of the store in flight, per user: later callers wait for them instead of reading again. */
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private generation = 0;
  private readonly changedAt = new Map<string, number>();
  private allChangedAt = 0;

  constructor(
    private readonly store: Pick<Store, 'pushTargets'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The users among these that have at least one push target. */
  async withTargets(userIds: string[]): Promise<string[]> {
    const known = this.cachedWithTargets(userIds);
    if (known) return known;
    const t = this.now();
    const missing = userIds.filter((id) => {
      const c = this.cache.get(id);
      return !c || t - c.readAt >= TTL_MS;
    });
    if (missing.length === 0) return userIds.filter((id) => this.cache.get(id)?.has);
    // A read in flight answers for its users: after a start, every message to a cold user
    // would otherwise read the store again (1,770 reads in a 10 s cluster bench of 400 users).
    const reading = missing.filter((id) => !this.inFlight.has(id));
    if (reading.length > 0) this.read(reading, t);
    const answers = new Map<string, boolean>();
    await Promise.all(missing.map(async (id) => answers.set(id, await this.inFlight.get(id)!)));
    return userIds.filter((id) => answers.get(id) ?? this.cache.get(id)?.has);
  }

  /** What withTargets answers, when every one of these users has a fresh cached answer; undefined otherwise. */
  cachedWithTargets(userIds: string[]): string[] | undefined {
    const t = this.now();
    const out: string[] = [];
    for (const id of userIds) {
      const c = this.cache.get(id);
      if (!c || t - c.readAt >= TTL_MS) return undefined;
      if (c.has) out.push(id);
    }
    return out;
  }

  /** Reads these users' targets once, for every caller that asks meanwhile, and caches the answers. */
  private read(userIds: string[], t: number): void {
    const started = this.generation;
    const owners = this.store.pushTargets(userIds).then((rows) => new Set(rows.map((r) => r.userId)));
    const answers = new Map(userIds.map((id) => [id, owners.then((o) => o.has(id))] as const));
    for (const [id, answer] of answers) this.inFlight.set(id, answer);
    owners
      .finally(() => {
        for (const id of userIds) if (this.inFlight.get(id) === answers.get(id)) this.inFlight.delete(id);
      })
      .catch(() => {}); // each caller gets the failure through its own answer
    void owners.then(
      (o) => {
        const raced = (id: string) => (this.changedAt.get(id) ?? 0) > started || this.allChangedAt > started;
        for (const id of userIds) {
          if (raced(id)) continue;
          if (!this.cache.has(id) && this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
          this.cache.set(id, { has: o.has(id), readAt: t });
        }
      },
      () => {},
    );
  }

  /** A user registered a target (here or on another node): read it again next time. */
  added(userId: string): void {
    this.cache.delete(userId);
    this.inFlight.delete(userId); // a read started before it may miss it: callers from now on read again
    this.changedAt.set(userId, ++this.generation);
    if (this.changedAt.size > MAX_CACHED) this.changedAt.delete(this.changedAt.keys().next().value!);
  }

  /** Registrations may have been missed (the bus reconnected): forget every answer. */
  addedAnywhere(): void {
    this.cache.clear();
    this.inFlight.clear();
    this.changedAt.clear();
    this.allChangedAt = ++this.generation;
  }
}
