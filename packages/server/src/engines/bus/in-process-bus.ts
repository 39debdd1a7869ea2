import type { Bus, BusEvent, BusHandler } from './bus.js';

/**
 * The embedded bus: a set of subscribed users and a direct call. Enough for one
 * process; a second process needs the Redis bus.
 */
export class InProcessBus implements Bus {
  private readonly subscribed = new Set<string>();
  private handler: BusHandler = () => {};

  onEvent(handler: BusHandler): void {
    this.handler = handler;
  }
  async subscribe(userId: string): Promise<void> {
    this.subscribed.add(userId);
  }
  async unsubscribe(userId: string): Promise<void> {
    this.subscribed.delete(userId);
  }
  async publish(userIds: string[], event: BusEvent): Promise<number[]> {
    return userIds.map((userId) => {
      if (!this.subscribed.has(userId)) return 0;
      this.handler(userId, event);
      return 1;
    });
  }
  async close(): Promise<void> {
    this.subscribed.clear();
  }
}
