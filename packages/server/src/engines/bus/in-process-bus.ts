import type { Bus, BusEvent, BusHandler } from './bus.js';

/**
 * The embedded bus: a set of subscribed topics and a direct call. Enough for one
 * process; a second process needs the Redis bus.
 */
export class InProcessBus implements Bus {
  readonly inline = true;
  private readonly subscribed = new Set<string>();
  private readonly handlers: BusHandler[] = [];

  onEvent(handler: BusHandler): void {
    this.handlers.push(handler);
  }
  /** One process has no connection to lose. */
  onReconnect(): void {}
  async subscribe(topic: string): Promise<void> {
    this.subscribed.add(topic);
  }
  async unsubscribe(topic: string): Promise<void> {
    this.subscribed.delete(topic);
  }
  async publish(topics: string[], event: BusEvent): Promise<number[]> {
    return topics.map((topic) => {
      if (!this.subscribed.has(topic)) return 0;
      for (const handler of this.handlers) handler(topic, event);
      return 1;
    });
  }
  async close(): Promise<void> {
    this.subscribed.clear();
  }
}
