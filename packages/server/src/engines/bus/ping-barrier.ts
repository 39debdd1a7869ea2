import type { Redis } from 'ioredis';

/**
 * A barrier on a subscriber connection: a PING whose PONG comes back after every message
 * Redis wrote to that connection before it (one connection, in order), and ioredis hands
 * those messages to their listeners before it resolves the PING. Callers of one event-loop
 * turn share a PING.
 */
export class PingBarrier {
  private next: Promise<void> | null = null;

  constructor(private readonly redis: Redis) {}

  /** Rejects when the connection is down, or when Redis no longer has `channel` subscribed on it. */
  async wait(channel: string): Promise<void> {
    if (this.redis.status !== 'ready') throw new Error('subscriber connection not ready');
    this.next ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      // Callers from here on need a PING sent after their call: a new one.
      this.next = null;
      await this.redis.ping();
    });
    await this.next;
    // Redis unsubscribes a shard channel by itself when its slot leaves the master (it
    // sends SUNSUBSCRIBE, which ioredis records in its subscription set); the bus would
    // only notice at the next slot-map refresh.
    if (!subscribedOn(this.redis, channel)) throw new Error(`${channel} is no longer subscribed on this connection`);
  }
}

/** ioredis's own record of the connection's shard subscriptions, as Redis last reported them (not in its typings). */
function subscribedOn(redis: Redis, channel: string): boolean {
  const subscriber = (redis as unknown as { condition?: { subscriber?: false | { set?: { ssubscribe?: Record<string, boolean> } } } })
    .condition?.subscriber;
  return subscriber ? subscriber.set?.ssubscribe?.[channel] === true : false;
}
