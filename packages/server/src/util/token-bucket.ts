/*
 * Token-bucket arithmetic shared by the in-process limiters and the in-memory
 * rate-limit store (the Redis store runs the same rule in Lua).
 */

export interface BucketSpec {
  /** The burst: tokens a full bucket holds. */
  capacity: number;
  /** Tokens added back per second. */
  perSecond: number;
}

export interface BucketState {
  tokens: number;
  at: number;
}

/**
 * Refills `state` to `now`, then takes `cost` tokens if at least `need` are there.
 * Answers 0 when taken, else the ms until `need` tokens will be there (nothing taken).
 * A cost above the capacity is charged as the capacity (one oversized request can
 * always pass from a full bucket).
 */
export function takeTokens(state: BucketState, spec: BucketSpec, now: number, cost: number, need: number): number {
  const rate = spec.perSecond / 1000;
  state.tokens = Math.min(spec.capacity, state.tokens + Math.max(0, now - state.at) * rate);
  state.at = now;
  const want = Math.min(need, spec.capacity);
  if (state.tokens < want) return Math.max(1, Math.ceil((want - state.tokens) / rate));
  state.tokens -= Math.min(cost, spec.capacity);
  return 0;
}

/** Whether a bucket left alone would be full again by `now` (so it can be forgotten). */
export function isFull(state: BucketState, spec: BucketSpec, now: number): boolean {
  return state.tokens + Math.max(0, now - state.at) * (spec.perSecond / 1000) >= spec.capacity;
}

/**
 * Per-key buckets held in this process, for limits that need not agree across nodes
 * (a device's socket frames reach one node). Full buckets are forgotten by sweep().
 */
export class LocalBuckets {
  private readonly buckets = new Map<string, BucketState>();

  constructor(
    private readonly spec: BucketSpec,
    private readonly now: () => number = Date.now,
  ) {}

  /** 0 when `cost` tokens were taken (given at least `need` were there), else the ms to wait. */
  take(key: string, cost = 1, need = cost): number {
    const now = this.now();
    let state = this.buckets.get(key);
    if (!state) this.buckets.set(key, (state = { tokens: this.spec.capacity, at: now }));
    return takeTokens(state, this.spec, now, cost, need);
  }

  /** Forgets buckets that have filled up again: they hold nothing a fresh one would not. */
  sweep(): void {
    const now = this.now();
    for (const [key, state] of this.buckets) if (isFull(state, this.spec, now)) this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }
}
