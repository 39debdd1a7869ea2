/** What one item of a batch came to. */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

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
}

/**
 * Group commit for one kind of write: items queue up while a run is in flight (one at
 * a time, so a caller's items run in the order it queued them) and go together into
 * the next run. `run` answers one outcome per item, in order, and must not throw.
 */
export class WriteBatcher<T, R> {
  private queue: { item: T; resolve: (value: R) => void; reject: (err: unknown) => void }[] = [];
  private running: Promise<void> | null = null;
  private scheduled = false;
  private lastStart = 0;

  constructor(
    private readonly run: (items: T[]) => Promise<Outcome<R>[]>,
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
    while (this.running || this.queue.length > 0) {
      if (this.running) await this.running;
      else this.start();
    }
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    const wait = Math.max(0, this.lastStart + this.opts.minIntervalMs - Date.now());
    const fire = () => {
      this.scheduled = false;
      if (!this.running && this.queue.length > 0) this.start();
    };
    // setImmediate, not a 0 ms timer: writes arriving in the same turn share the run.
    if (wait === 0) setImmediate(fire);
    else setTimeout(fire, wait);
  }

  /** How many queued items the next run takes: up to maxItems and maxWeight, at least one. */
  private takeCount(): number {
    const { maxItems, maxWeight, weight } = this.opts;
    const limit = Math.min(maxItems, this.queue.length);
    if (maxWeight === undefined || !weight) return limit;
    let total = 0;
    for (let n = 0; n < limit; n++) {
      total += weight(this.queue[n]!.item);
      if (total > maxWeight && n > 0) return n;
    }
    return limit;
  }

  private start(): void {
    const batch = this.queue.splice(0, this.takeCount());
    this.lastStart = Date.now();
    this.running = this.run(batch.map((b) => b.item))
      .then(
        (outcomes) =>
          batch.forEach((b, i) => {
            const o = outcomes[i]!;
            if (o.ok) b.resolve(o.value);
            else b.reject(o.error);
          }),
        (err) => batch.forEach((b) => b.reject(err)),
      )
      .finally(() => {
        this.running = null;
        if (this.queue.length > 0) this.schedule();
      });
  }
}
