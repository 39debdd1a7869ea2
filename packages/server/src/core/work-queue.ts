/**
 * At most `concurrency` jobs at once, the rest waiting in turn, at most `maxWaiting` of
 * them: past that a job is refused at once (null) rather than queued without end. Used
 * for thumbnails, each of which may hold a large decoded image: one server never decodes
 * more than a few at a time, however many images arrive at once.
 */
export class WorkQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  /** The job's promise, or null when the queue is full (the job is not run). */
  tryRun<T>(job: () => Promise<T>): Promise<T> | null {
    if (this.running >= this.concurrency && this.waiting.length >= this.maxWaiting) return null;
    return this.run(job);
  }

  private async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await job();
    } finally {
      // The slot passes straight to the next waiting job (running stays the same), or is freed.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
