/** What one item of a batch came to. */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };
/** A run's answer for an item it did not do: the item goes back to the front of the queue, for the next run. */
export const AGAIN = { again: true } as const;
export type Again = typeof AGAIN;

export interface WriteBatcherOptions<T> {
  /** Most items handed to one run. */
  maxItems: number;
  /** Most total weight (e.g. bytes of content) handed to one run; one item always goes, however heavy. */
  maxWeight?: number;
  weight?: (item: T) => number;
  /**
   * Least time between the starts of two runs (ms). Under load, items gather for this
   * long and share one statement and one commit; a lone item after a quiet spell still
   * runs at the next turn of the event loop.
   */
  minIntervalMs: number;
  /**
   * Runs in flight at once (default 1). Past one, a run takes only items whose `key` no
   * running run holds, so items of one key still run one run at a time, in queue order.
   */
  maxInFlight?: number;
  key?: (item: T) => string;
}

/**
 * Group commit for one kind of write: items queue up while a run is in flight and go
 * together into the next run, so a caller's items run in the order it queued them.
 * With `maxInFlight` above one, a second run may start while the first commits, with the
 * queued items of keys the first does not hold (a cluster node's appends: chats other than
 * those being committed need not wait for that commit). `run` answers one outcome per
 * item, in order, and must not throw; AGAIN puts an item back for the next run.
 */
export class WriteBatcher<T, R> {
  private queue: { item: T; resolve: (value: R) => void; reject: (err: unknown) => void }[] = [];
  private readonly running = new Set<Promise<void>>();
  /** Keys held by the runs in flight (only with maxInFlight > 1), with how many of their items each holds. */
  private readonly busy = new Map<string, number>();
  private scheduled = false;
  /** The interval's timer while one is pending (a full batch cancels it). */
  private timer: NodeJS.Timeout | null = null;
  private lastStart = 0;

  constructor(
    private readonly run: (items: T[]) => Promise<(Outcome<R> | Again)[]>,
    private readonly opts: WriteBatcherOptions<T>,
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Runs everything queued now, without waiting for the interval; resolves when all of it has run. */
  async drain(): Promise<void> {
    while (this.running.size > 0 || this.queue.length > 0) {
      if (!this.start()) await Promise.race(this.running);
    }
  }

  private get full(): boolean {
    return this.running.size >= (this.opts.maxInFlight ?? 1);
  }

  private schedule(): void {
    if (this.full) return;
    // A full batch gathers nothing more by waiting, and waiting would cap the batcher at
    // maxItems per interval: it starts at the next turn, whatever the interval.
    const fullBatch = this.queue.length >= this.opts.maxItems;
    if (this.scheduled) {
      if (!fullBatch || !this.timer) return;
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.scheduled = true;
    const wait = fullBatch ? 0 : Math.max(0, this.lastStart + this.opts.minIntervalMs - Date.now());
    const fire = () => {
      this.scheduled = false;
      this.timer = null;
      if (!this.full && this.queue.length > 0) this.start();
    };
    // setImmediate, not a 0 ms timer: writes arriving in the same turn share the run.
    if (wait === 0) setImmediate(fire);
    else this.timer = setTimeout(fire, wait);
  }

  /** The queue positions the next run takes: in order, up to maxItems and maxWeight (one item at least), none of a busy key. */
  private take(): number[] {
    const { maxItems, maxWeight, weight, key } = this.opts;
    const taken: number[] = [];
    let total = 0;
    for (let i = 0; i < this.queue.length && taken.length < maxItems; i++) {
      const item = this.queue[i]!.item;
      if (key && this.busy.has(key(item))) continue;
      if (maxWeight !== undefined && weight) {
        total += weight(item);
        if (total > maxWeight && taken.length > 0) break;
      }
      taken.push(i);
    }
    return taken;
  }

  /** Starts a run with what may go now; false when nothing could (every queued item's key is busy, or none queued). */
  private start(): boolean {
    if (this.full) return false;
    const positions = this.take();
    if (positions.length === 0) return false;
    const picked = new Set(positions);
    const batch = positions.map((i) => this.queue[i]!);
    this.queue = this.queue.filter((_, i) => !picked.has(i));
    const keys = this.opts.key ? batch.map((b) => this.opts.key!(b.item)) : [];
    for (const k of keys) this.busy.set(k, (this.busy.get(k) ?? 0) + 1);
    this.lastStart = Date.now();
    const running: Promise<void> = this.run(batch.map((b) => b.item))
      .then(
        (outcomes) => {
          const again: typeof batch = [];
          batch.forEach((b, i) => {
            const o = outcomes[i]!;
            if ('again' in o) again.push(b);
            else if (o.ok) b.resolve(o.value);
            else b.reject(o.error);
          });
          // At the front, in their order: still before every later item of their keys,
          // which waited in the queue while this run held those keys.
          if (again.length > 0) this.queue.unshift(...again);
        },
        (err) => batch.forEach((b) => b.reject(err)),
      )
      .finally(() => {
        this.running.delete(running);
        for (const k of keys) {
          const left = this.busy.get(k)! - 1;
          if (left === 0) this.busy.delete(k);
          else this.busy.set(k, left);
        }
        if (this.queue.length > 0) this.schedule();
      });
    this.running.add(running);
    return true;
  }
}
