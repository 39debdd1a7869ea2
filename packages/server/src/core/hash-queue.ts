import { RateLimited } from './limits.js';

/** Who waits for a password hash: logins go first; registrations have a share of their own. */
export type HashLane = 'login' | 'registration';

interface Waiting {
  lane: HashLane;
  start: () => void;
  timer?: NodeJS.Timeout;
}

/**
 * Runs at most `concurrency` password hashes at once (scrypt is deliberately slow and
 * memory-hungry, and shares libuv's small thread pool with file and DNS work). The rest
 * wait in line, in two lanes: registrations may hold at most half the slots (at least
 * one) and wait in a short line of their own, so a flood of sign-ups cannot make the
 * logins that share the hashing time out; a freed slot goes to a waiting login first.
 * With `refuse`, a full line or a wait past `maxWaitMs` is refused (429) rather than
 * letting a flood hold everyone else's requests for minutes.
 */
export class HashQueue {
  private running = 0;
  private runningRegistrations = 0;
  private readonly registrationSlots: number;
  private readonly waiting: Record<HashLane, Waiting[]> = { login: [], registration: [] };

  constructor(
    private readonly concurrency: number,
    private readonly queues: Record<HashLane, number>,
    private readonly maxWaitMs: number,
    private readonly refuse: boolean,
  ) {
    this.registrationSlots = Math.max(1, Math.floor(concurrency / 2));
  }

  async run<T>(job: () => Promise<T>, lane: HashLane = 'login'): Promise<T> {
    await this.acquire(lane);
    try {
      return await job();
    } finally {
      this.release(lane);
    }
  }

  private mayStart(lane: HashLane): boolean {
    return this.running < this.concurrency && (lane === 'login' || this.runningRegistrations < this.registrationSlots);
  }

  private started(lane: HashLane): void {
    this.running++;
    if (lane === 'registration') this.runningRegistrations++;
  }

  private acquire(lane: HashLane): Promise<void> {
    // A registration does not pass logins already waiting.
    if (this.mayStart(lane) && (lane === 'login' || this.waiting.login.length === 0)) {
      this.started(lane);
      return Promise.resolve();
    }
    const line = this.waiting[lane];
    const busy = () =>
      new RateLimited(
        1000,
        lane === 'login' ? 'the server is busy with other logins: try again shortly' : 'too many sign-ups right now: try again shortly',
      );
    if (this.refuse && line.length >= this.queues[lane]) return Promise.reject(busy());
    return new Promise<void>((resolve, reject) => {
      const entry: Waiting = { lane, start: resolve };
      if (this.refuse) {
        entry.timer = setTimeout(() => {
          const i = line.indexOf(entry);
          if (i >= 0) line.splice(i, 1);
          reject(busy());
        }, this.maxWaitMs);
      }
      line.push(entry);
    });
  }

  private release(lane: HashLane): void {
    this.running--;
    if (lane === 'registration') this.runningRegistrations--;
    for (;;) {
      const next = this.waiting.login.length > 0 ? this.waiting.login : this.mayStart('registration') ? this.waiting.registration : null;
      const entry = next?.shift();
      if (!entry || !this.mayStart(entry.lane)) {
        if (entry) next!.unshift(entry);
        return;
      }
      clearTimeout(entry.timer);
      this.started(entry.lane);
      entry.start();
    }
  }
}
