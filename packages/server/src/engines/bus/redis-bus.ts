import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { awaitReady, closeRedis, detectRedisTarget, isCluster, openRedis, type RedisTarget } from '../redis-connection.js';
import type { Bus, BusEvent, BusHandler } from './bus.js';
import { ShardSubscriptions, type Subscriptions, type SubscriptionEvents } from './shard-subscriptions.js';

export interface RedisBusOptions {
  /**
   * `redis://host:port/db`, a comma-separated list of Redis Cluster seeds, or a target
   * already detected (redis-connection.ts). One URL is probed once to tell a cluster node
   * from a standalone Redis.
   */
  url: string | RedisTarget;
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
 *   {channelPrefix}{any other topic}   whatever else is published (any name works; its
 *                                      slot is the CRC16 of the whole channel name, or of
 *                                      its `{hash tag}` if it has one)
 * Payload: the BusEvent as JSON, encoded once per publish whatever the topic count.
 * SPUBLISH answers with the number of subscribed connections, and each node has exactly
 * one subscriber connection per shard, so the count is the number of nodes reached.
 *
 * Connections: the publisher has no offline queue and no retries, so publish() rejects
 * at once while Redis is unreachable (the bus is best effort; a caller must not pile up
 * sends behind an outage). On a single Redis there is one subscriber connection, which
 * keeps reconnecting forever. The publisher auto-pipelines: every SPUBLISH issued while
 * the previous write to a shard awaits its replies goes out in the next write to it. On a
 * Redis Cluster the publisher is an ioredis `Cluster` (it also holds the slot map and
 * groups the auto-pipelines by the master owning each channel's slot), and subscriptions
 * are ShardSubscriptions: one subscriber connection per master that owns a subscribed
 * channel's slot.
 *
 * Outages: events published while this node's subscriber was disconnected are lost,
 * and nothing in Redis remembers them. When the subscriber is back, every topic in
 * this class's own record (not ioredis's auto-resubscribe, so topics subscribed or
 * unsubscribed during the outage come out right) is subscribed again and then the
 * onReconnect callbacks run: the server tells its sockets to resync, and the devices get
 * what they missed by replay from the store. On a cluster the same holds per shard: a
 * lost shard connection (node restart, failover, a slot moved to another master) has its
 * channels subscribed again on the slot's current owner, then the callbacks run.
 */
export class RedisBus implements Bus {
  private readonly reconnectCallbacks: (() => void)[] = [];
  private readonly handlers: BusHandler[] = [];
  private readonly subscriptions: Subscriptions;

  private constructor(
    private readonly publisher: Redis | Cluster,
    makeSubscriptions: (events: SubscriptionEvents) => Subscriptions,
    private readonly prefix: string,
  ) {
    this.subscriptions = makeSubscriptions({
      message: (channel, message) => this.deliver(channel, message),
      reconnected: () => {
        for (const callback of this.reconnectCallbacks) callback();
      },
    });
    // ioredis logs unhandled 'error' events loudly; the state is visible through publish() failures.
    publisher.on('error', () => {});
  }

  /** Opens the connections and resolves once they are ready. */
  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    const connectTimeout = options.connectTimeoutMs ?? 2000;
    const target =
      typeof options.url === 'string' ? await detectRedisTarget(options.url, { connectTimeoutMs: connectTimeout }) : options.url;
    const base: RedisOptions = { connectTimeout, lazyConnect: true };
    // Auto-pipelining: publishes issued while the previous write to a node awaits its
    // replies go out together in the next one (one syscall and one Redis read for many),
    // which is most of what a busy node's bus costs.
    const publisher = openRedis(target, { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 0, enableAutoPipelining: true });
    publisher.on('error', () => {});
    const prefix = options.channelPrefix ?? '';
    if (isCluster(publisher)) {
      try {
        await awaitReady(publisher, Math.max(5 * connectTimeout, 5000));
      } catch (err) {
        publisher.disconnect();
        throw new Error(`bus: Redis Cluster unreachable: ${(err as Error).message}`, { cause: err });
      }
      return new RedisBus(publisher, (events) => new ShardSubscriptions(publisher, events, connectTimeout), prefix);
    }
    const subscriber = openRedis(target, {
      ...base,
      autoResubscribe: false, // see the class comment: the subscriptions' own record is the truth
      autoResendUnfulfilledCommands: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    }) as Redis;
    subscriber.on('error', () => {});
    try {
      await Promise.all([publisher.connect(), subscriber.connect()]);
    } catch (err) {
      publisher.disconnect();
      subscriber.disconnect();
      throw err;
    }
    return new RedisBus(publisher, (events) => new SingleRedisSubscriptions(subscriber, events), prefix);
  }

  onEvent(handler: BusHandler): void {
    this.handlers.push(handler);
  }

  /** Runs after the subscriber came back from a disconnect and every topic is subscribed again. */
  onReconnect(callback: () => void): void {
    this.reconnectCallbacks.push(callback);
  }

  subscribe(topic: string): Promise<void> {
    return this.subscriptions.add(this.prefix + topic);
  }

  unsubscribe(topic: string): Promise<void> {
    return this.subscriptions.remove(this.prefix + topic);
  }

  async publish(topics: string[], event: BusEvent): Promise<number[]> {
    if (topics.length === 0) return [];
    const payload = JSON.stringify(event);
    // Auto-pipelined (see connect()): the SPUBLISH commands of this call, and of every other
    // publish in the same turn, leave in one write per shard.
    const counts = await Promise.all(topics.map((topic) => this.publisher.spublish(this.prefix + topic, payload)));
    return counts.map(Number);
  }

  async close(): Promise<void> {
    await Promise.all([this.subscriptions.close(), closeRedis(this.publisher)]);
  }

  private deliver(channel: string, message: string): void {
    if (!channel.startsWith(this.prefix)) return;
    let event: BusEvent;
    try {
      event = JSON.parse(message) as BusEvent;
    } catch {
      return; // not ours (another writer on the channel); nothing sensible to do with it
    }
    for (const handler of this.handlers) handler(channel.slice(this.prefix.length), event);
  }
}

/** Subscriptions on a single Redis: one connection that reconnects forever. */
class SingleRedisSubscriptions implements Subscriptions {
  private readonly channels = new Set<string>();
  private closed = false;

  constructor(
    private readonly subscriber: Redis,
    private readonly events: SubscriptionEvents,
  ) {
    subscriber.on('smessage', (channel: string, message: string) => events.message(channel, message));
    // connect() awaited the first 'ready' before this listener existed, so every 'ready'
    // seen here is a reconnect: that is where lost subscriptions come back.
    subscriber.on('ready', () => void this.resubscribe());
  }

  async add(channel: string): Promise<void> {
    this.channels.add(channel);
    // While disconnected there is nothing to send: the reconnect resubscribes every channel.
    if (this.subscriber.status !== 'ready') return;
    try {
      await this.subscriber.ssubscribe(channel);
    } catch (err) {
      if (this.subscriber.status === 'ready') throw err; // a real refusal, not a dropped connection
    }
  }

  async remove(channel: string): Promise<void> {
    this.channels.delete(channel);
    if (this.subscriber.status !== 'ready') return; // a fresh connection will not have it
    try {
      await this.subscriber.sunsubscribe(channel);
    } catch (err) {
      if (this.subscriber.status === 'ready') throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
    await closeRedis(this.subscriber);
  }

  private async resubscribe(): Promise<void> {
    if (this.closed) return;
    // One channel per command (as on a cluster, where SSUBSCRIBE with several channels must stay in one slot).
    const results = await Promise.allSettled([...this.channels].map((c) => this.subscriber.ssubscribe(c)));
    // If the connection dropped again midway, the next 'ready' repeats all of this.
    if (results.some((r) => r.status === 'rejected') || this.subscriber.status !== 'ready') return;
    this.events.reconnected();
  }
}
