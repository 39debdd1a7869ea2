import type { WsTicketStore } from './ws-ticket-store.js';

/** Embedded mode's tickets: one process, so a map; expired entries are dropped by a sweep. */
export class InMemoryWsTicketStore implements WsTicketStore {
  private readonly tickets = new Map<string, { value: string; until: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    this.tickets.set(key, { value, until: this.now() + ttlMs });
  }

  async take(key: string): Promise<string | null> {
    const entry = this.tickets.get(key);
    if (!entry) return null;
    this.tickets.delete(key);
    return entry.until > this.now() ? entry.value : null;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, { until }] of this.tickets) if (until <= now) this.tickets.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.tickets.clear();
  }
}
