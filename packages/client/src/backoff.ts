/** Reconnect delays: exponential backoff with full jitter. */
export interface BackoffOptions {
  /** First ceiling in ms. Default 250. */
  baseMs?: number;
  /** Largest ceiling in ms. Default 10000. */
  capMs?: number;
}

export const DEFAULT_BACKOFF = { baseMs: 250, capMs: 10_000 } as const;

/**
 * Delay before reconnect attempt `attempt` (0-based): uniform in [0, min(cap, base * 2^attempt)).
 * Full jitter spreads a crowd of clients that lost the same server over the whole window,
 * so they do not all come back in the same millisecond.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = opts.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const cap = opts.capMs ?? DEFAULT_BACKOFF.capMs;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
