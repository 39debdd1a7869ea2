import type { PushJob, PushQueue } from './push-queue.js';

const BATCH = 64;

/**
 * The embedded push queue: an array with a cap. A full queue drops new jobs (the
 * devices still get their messages when they next connect); a job lives only in this
 * process, so one job runs once and `claim` always grants.
 */
export class InProcessPushQueue implements PushQueue {
  private jobs: PushJob[] = [];
  private handle: ((jobs: PushJob[]) => Promise<void>) | null = null;
  private running = 0;
  private concurrency = 1;
  private closed = false;
  private readonly idle: (() => void)[] = [];

  constructor(private readonly capacity: number) {}

  async enqueue(job: PushJob): Promise<boolean> {
    if (this.closed || this.jobs.length >= this.capacity) return false;
    this.jobs.push(job);
    this.pump();
    return true;
  }

  start(handle: (jobs: PushJob[]) => Promise<void>, concurrency: number): void {
    this.handle = handle;
    this.concurrency = Math.max(1, concurrency);
    this.pump();
  }

  private pump(): void {
    const handle = this.handle;
    while (handle && !this.closed && this.jobs.length > 0 && this.running < this.concurrency) {
      const batch = this.jobs.splice(0, BATCH);
      this.running++;
      void handle(batch)
        .catch(() => {}) // the handler counts and logs its own failures
        .finally(() => {
          this.running--;
          if (this.running === 0) for (const wake of this.idle.splice(0)) wake();
          this.pump();
        });
    }
  }

  async claim(): Promise<boolean> {
    return true;
  }
  async done(): Promise<void> {}
  async shared(_name: string, candidate: string): Promise<string> {
    return candidate;
  }

  /** Stops taking jobs; waits for the batches under way (their sends have timeouts). */
  async close(): Promise<void> {
    this.closed = true;
    this.jobs = [];
    if (this.running > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }
}
