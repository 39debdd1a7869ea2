import { Redis, type RedisOptions } from 'ioredis';
import type { Bus, BusEvent, BusHandler } from './bus.js';

export interface RedisBusOptions {
  /** `redis://host:port/db`. Two connections are opened to it: one publishes, one subscribes. */
  url: string;
  /** Put before every topic to form the shard channel, so deployments (or test runs) can share a Redis. Zero value: none. */
  channelPrefix?: string;
  /** How long connecting may take before it counts as a failure. Zero value: 2,000 ms. */
  connectTimeoutMs?: number;
}

/**
 * The cluster bus: Redis 7 sharded pub/sub (SSUBSCRIBE / SPUBLISH / SUNSUBSCRIBE). A
 * shard channel lives on the node owning its hash slot, so on Redis Cluster a publish
 * goes to one shard instead of being broadcast to every node as classic PUBLISH is;
 * on a single Redis it behaves like ordinary pub/sub.
 *
 * Redis model (no keys, only shard channels):
 *   {channelPrefix}user:{userId}       events for the node(s) holding that user's sockets
 *   {channelPrefix}presence:{userId}   presence changes for nodes watching that user
 * Payload: the BusEvent as JSON, encoded once per publish whatever the topic count.
 * SPUBLISH answers with the number of subscribed connections, and each node has
 * exactly one subscriber connection, so the count is the number of nodes reached.
 *
 * Connections: the publisher has no offline queue and no retries, so publish() rejects
 * at once while Redis is unreachable (the bus is best effort; a caller must not pile up
 * sends behind an outage). The subscriber keeps reconnecting forever.
 *
 * Outages: events published while this node's subscriber was disconnected are lost,
 * and nothing in Redis remembers them. When the subscriber is back, every topic in
 * `topics` (this class's own record, not ioredis's auto-resubscribe, so topics
 * subscribed or unsubscribed during the outage come out right) is subscribed again and
 * then the onReconnect callbacks run: the server tells its sockets to resync, and the
 * devices get what they missed by replay from the store.
 *
 * Not yet: Redis Cluster connections (ioredis `Cluster` with `shardedSubscribers`); a
 * cluster pipeline must stay within one slot, so publish would group topics by slot.
 */
export class RedisBus implements Bus {
  private readonly topics = new Set<string>();
  private readonly reconnectCallbacks: (() => void)[] = [];
  private handler: BusHandler = () => {};
  private readonly prefix: string;
  private closed = false;

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    prefix: string,
  ) {
    this.prefix = prefix;
    subscriber.on('smessage', (channel: string, message: string) => this.deliver(channel, message));
    // connect() awaited the first 'ready' before this listener existed, so every 'ready'
    // seen here is a reconnect: that is where lost subscriptions come back.
    subscriber.on('ready', () => void this.resubscribe());
    // ioredis logs unhandled 'error' events loudly; the state is visible through publish() failures.
    publisher.on('error', () => {});
    subscriber.on('error', () => {});
  }

  /** Opens both connections and resolves once they are ready. */
  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    const base: RedisOptions = { connectTimeout: options.connectTimeoutMs ?? 2000, lazyConnect: true };
    const publisher = new Redis(options.url, { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const subscriber = new Redis(options.url, {
      ...base,
      autoResubscribe: false, // see the class comment: this.topics is the record
      autoResendUnfulfilledCommands: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    try {
      await Promise.all([publisher.connect(), subscriber.connect()]);
    } catch (err) {
      publisher.disconnect();
      subscriber.disconnect();
      throw err;
    }
    return new RedisBus(publisher, subscriber, options.channelPrefix ?? '');
  }

  onEvent(handler: BusHandler): void {
    this.handler = handler;
  }

  /** Runs after the subscriber came back from a disconnect and every topic is subscribed again. */
  onReconnect(callback: () => void): void {
    this.reconnectCallbacks.push(callback);
  }

  async subscribe(topic: string): Promise<void> {
    this.topics.add(topic);
    // While disconnected there is nothing to send: the reconnect resubscribes every topic.
    if (this.subscriber.status !== 'ready') return;
    try {
      await this.subscriber.ssubscribe(this.prefix + topic);
    } catch (err) {
      if (this.subscriber.status === 'ready') throw err; // a real refusal, not a dropped connection
    }
  }

  async unsubscribe(topic: string): Promise<void> {
    this.topics.delete(topic);
    if (this.subscriber.status !== 'ready') return; // a fresh connection will not have it
    try {
      await this.subscriber.sunsubscribe(this.prefix + topic);
    } catch (err) {
      if (this.subscriber.status === 'ready') throw err;
    }
  }

  async publish(topics: string[], event: BusEvent): Promise<number[]> {
    if (topics.length === 0) return [];
    const payload = JSON.stringify(event);
    // One pipeline: all SPUBLISH commands leave in one write and their replies come back together.
    const pipeline = this.publisher.pipeline();
    for (const topic of topics) pipeline.spublish(this.prefix + topic, payload);
    const replies = await pipeline.exec();
    if (!replies) throw new Error('bus publish: pipeline discarded');
    return replies.map(([err, count]) => {
      if (err) throw err;
      return Number(count);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.topics.clear();
    await Promise.all([quit(this.publisher), quit(this.subscriber)]);
  }

  private deliver(channel: string, message: string): void {
    if (!channel.startsWith(this.prefix)) return;
    let event: BusEvent;
    try {
      event = JSON.parse(message) as BusEvent;
    } catch {
      return; // not ours (another writer on the channel); nothing sensible to do with it
    }
    this.handler(channel.slice(this.prefix.length), event);
  }

  private async resubscribe(): Promise<void> {
    if (this.closed) return;
    // One channel per command: in a cluster, SSUBSCRIBE with several channels must stay in one slot.
    const results = await Promise.allSettled([...this.topics].map((t) => this.subscriber.ssubscribe(this.prefix + t)));
    // If the connection dropped again midway, the next 'ready' repeats all of this.
    if (results.some((r) => r.status === 'rejected') || this.subscriber.status !== 'ready') return;
    for (const callback of this.reconnectCallbacks) callback();
  }
}

/** QUIT when connected (lets replies drain), otherwise just drop the socket and stop reconnecting. */
async function quit(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await redis.quit();
      return;
    } catch {
      // fall through
    }
  }
  redis.disconnect();
}
