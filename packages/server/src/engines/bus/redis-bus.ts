import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { awaitReady, closeRedis, detectRedisTarget, isCluster, openRedis, type RedisTarget } from '../redis-connection.js';
import type { Bus, BusEvent, BusHandler } from './bus.js';
import { PingBarrier } from './ping-barrier.js';
import { ShardSubscriptions, type Subscriptions, type SubscriptionEvents } from './shard-subscriptions.js';
import { SoleSubscriber } from './sole-subscriber.js';

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
 * Payload (encodeBusEvent): a `message` or `frame` event as a JSON header line (every field
 * but the frame) and then the frame's text as it is; any other event as JSON. Encoded once
 * per publish whatever the topic count. The events one turn publishes to one channel share
 * one SPUBLISH (encodeBusBatch: their lengths, then the events back to back).
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
 *
 * Local delivery (sole-subscriber.ts): a `message` or `frame` event for a channel this node
 * is the only subscriber of is handed to the handlers here, without Redis (after a PING
 * barrier on the subscriber connection, which is what keeps it from racing another node's
 * subscribe + replay). `subscribe` announces the node on the channel before it resolves;
 * after a reconnect every channel is announced again before the callbacks run.
 */
export class RedisBus implements Bus {
  private readonly reconnectCallbacks: (() => void)[] = [];
  private readonly handlers: BusHandler[] = [];
  private readonly subscriptions: Subscriptions;
  private readonly sole: SoleSubscriber;
  /** Channels to announce again (after a reconnect) before the reconnect callbacks run. */
  private readonly unannounced = new Set<string>();
  private announcing: Promise<void> | null = null;
  /** Bumped by every reconnect: an announcement sent before the latest one does not count. */
  private reconnects = 0;
  private announceTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Events handed to the handlers without Redis, barriers waited for, and SPUBLISH commands of events: for tests and benchmarks. */
  readonly stats = { local: 0, barriers: 0, publishes: 0 };
  /** This turn's events for Redis, by channel: each channel's go in one SPUBLISH when the turn ends (flush). */
  private pending: { batches: PendingPublish[]; open: Map<string, PendingPublish> } | null = null;

  private constructor(
    private readonly publisher: Redis | Cluster,
    makeSubscriptions: (events: SubscriptionEvents) => Subscriptions,
    private readonly prefix: string,
  ) {
    this.subscriptions = makeSubscriptions({
      message: (channel, message) => {
        if (!this.sole.handle(channel, message)) this.deliver(channel, message);
      },
      reconnected: () => this.resubscribed(),
      // Hellos sent meanwhile are gone: nothing known about other subscribers holds any more.
      lost: () => this.sole.reset(),
    });
    this.sole = new SoleSubscriber({
      publish: async (channel, payload) => Number(await this.publisher.spublish(channel, payload)),
      barrier: (channel) => this.subscriptions.barrier(channel),
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

  /**
   * Subscribes, then announces this node on the channel (see the class comment). If the
   * announcement fails while the subscription is live, the subscription is undone and
   * this rejects: another node may be delivering that topic locally and would not know
   * of this one. While the subscriber is down it resolves, as before: the reconnect
   * announces every channel before the reconnect callbacks run.
   */
  async subscribe(topic: string): Promise<void> {
    const channel = this.prefix + topic;
    await this.subscriptions.add(channel);
    this.sole.track(channel);
    try {
      await this.sole.announce(channel);
    } catch (err) {
      if (!this.subscriptions.isLive(channel)) return;
      this.sole.forget(channel);
      await this.subscriptions.remove(channel).catch(() => undefined);
      throw err;
    }
  }

  async unsubscribe(topic: string): Promise<void> {
    const channel = this.prefix + topic;
    this.sole.forget(channel);
    this.unannounced.delete(channel);
    await this.subscriptions.remove(channel);
    await this.sole.leave(channel);
  }

  async publish(topics: string[], event: BusEvent): Promise<number[]> {
    if (topics.length === 0) return [];
    // Only store-backed messages and best-effort frames go locally; closes and broadcasts always take Redis.
    const mayBeLocal = event.kind === 'message' || event.kind === 'frame';
    const local = mayBeLocal ? topics.map((topic) => this.sole.isSolo(this.prefix + topic)) : [];
    let payload: string | undefined;
    const remote = (topic: string) => this.publishRemote(this.prefix + topic, (payload ??= encodeBusEvent(event)));
    return Promise.all(topics.map((topic, i) => (local[i] ? this.publishLocally(topic, event, remote) : remote(topic))));
  }

  /**
   * Queues a payload for the channel's SPUBLISH of this turn. The events a turn publishes to
   * one channel (the messages of one append batch for one user, most often) leave as one
   * SPUBLISH (encodeBusBatch): one command for Redis to route, one push for the receiving
   * node to parse, instead of one each. Their order on the channel is kept: within the
   * payload, and across SPUBLISHes by the publisher connection's order. Resolves with the
   * number of nodes reached, as SPUBLISH answers.
   */
  private publishRemote(channel: string, payload: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (!this.pending) {
        this.pending = { batches: [], open: new Map() };
        // After this turn's microtasks (where a batch's acknowledgements resolve), as the
        // auto-pipeline itself flushes: no event waits longer than it did.
        process.nextTick(() => this.flush());
      }
      let batch = this.pending.open.get(channel);
      if (!batch || batch.chars >= MAX_BATCH_CHARS) {
        // A full batch goes out first: the next one of the channel is sent after it, in order.
        batch = { channel, payloads: [], settle: [], chars: 0 };
        this.pending.batches.push(batch);
        this.pending.open.set(channel, batch);
      }
      batch.payloads.push(payload);
      batch.chars += payload.length;
      batch.settle.push({ resolve, reject });
    });
  }

  /** Sends this turn's batches in the order they were opened (auto-pipelined: one write per shard). */
  private flush(): void {
    const pending = this.pending;
    this.pending = null;
    if (!pending) return;
    for (const batch of pending.batches) {
      this.stats.publishes++;
      const text = batch.payloads.length === 1 ? batch.payloads[0]! : encodeBusBatch(batch.payloads);
      this.publisher.spublish(batch.channel, text).then(
        (n) => {
          for (const s of batch.settle) s.resolve(Number(n));
        },
        (err: unknown) => {
          for (const s of batch.settle) s.reject(err);
        },
      );
    }
  }

  /** Hands the event to this node's handlers if, after the barrier, no other node subscribes the topic; otherwise publishes it. */
  private async publishLocally(topic: string, event: BusEvent, remote: (topic: string) => Promise<number>): Promise<number> {
    const channel = this.prefix + topic;
    this.stats.barriers++;
    const confirmed = await this.subscriptions.barrier(channel).then(
      () => this.sole.isSolo(channel),
      () => false,
    );
    if (!confirmed) return remote(topic);
    this.stats.local++;
    for (const handler of this.handlers) handler(topic, event);
    return 1;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.announceTimer) clearTimeout(this.announceTimer);
    await Promise.all([this.subscriptions.close(), closeRedis(this.publisher)]);
  }

  /** Subscriptions are back after a loss: announce every channel again, then run the callbacks. */
  private resubscribed(): void {
    this.sole.reset();
    this.reconnects++;
    for (const channel of this.sole.tracked()) this.unannounced.add(channel);
    void this.announceAll();
  }

  /** Announces every channel still owed an announcement, retrying until all are; then runs the reconnect callbacks once. */
  private announceAll(): Promise<void> {
    return (this.announcing ??= (async () => {
      const reconnects = this.reconnects;
      const channels = [...this.unannounced];
      const results = await Promise.allSettled(channels.map((c) => this.sole.announce(c)));
      // Lost and back again meanwhile: every channel is owed a new announcement.
      if (this.reconnects === reconnects) results.forEach((r, i) => r.status === 'fulfilled' && this.unannounced.delete(channels[i]!));
      this.announcing = null;
      if (this.closed) return;
      if (this.unannounced.size > 0) {
        this.announceTimer ??= setTimeout(
          () => {
            this.announceTimer = null;
            void this.announceAll();
          },
          this.reconnects === reconnects ? 250 : 0,
        );
        return;
      }
      for (const callback of this.reconnectCallbacks) callback();
    })());
  }

  private deliver(channel: string, message: string): void {
    if (!channel.startsWith(this.prefix)) return;
    let events: BusEvent[];
    try {
      events = decodeBusBatch(message);
    } catch {
      return; // not ours (another writer on the channel); nothing sensible to do with it
    }
    const topic = channel.slice(this.prefix.length);
    // A handler that throws on one event of a batch costs that event only, as when each came
    // alone: the others are handed over first, then the first error goes on as it did.
    let failure: { err: unknown } | undefined;
    for (const event of events) {
      try {
        for (const handler of this.handlers) handler(topic, event);
      } catch (err) {
        failure ??= { err };
      }
    }
    if (failure) throw failure.err;
  }
}

/**
 * A bus event as the text published on Redis. The frame of a `message` or `frame` event is
 * already JSON: as a string inside a JSON event it would be escaped on every publish and
 * unescaped on every receipt (most of the bus's own CPU per message). So such an event is
 * its other fields as JSON, a newline, then the frame's text untouched. JSON.stringify
 * never writes a raw newline, so the first one ends the header. Other events are JSON.
 */
export function encodeBusEvent(event: BusEvent): string {
  if (event.kind === 'message' || event.kind === 'frame') {
    const { frame, ...header } = event;
    return `${JSON.stringify(header)}\n${frame}`;
  }
  return JSON.stringify(event);
}

/** The event encodeBusEvent wrote (plain JSON too); throws on text that is neither. */
export function decodeBusEvent(payload: string): BusEvent {
  const nl = payload.indexOf('\n');
  if (nl < 0) return JSON.parse(payload) as BusEvent;
  const header = JSON.parse(payload.slice(0, nl)) as { frame?: string };
  header.frame = payload.slice(nl + 1);
  return header as BusEvent;
}

/** Characters of events in one SPUBLISH, beyond which a channel's events of a turn start another. */
const MAX_BATCH_CHARS = 256 * 1024;

/** Events bound for one channel in this turn's SPUBLISH, with their publishers' callbacks. */
interface PendingPublish {
  channel: string;
  payloads: string[];
  settle: { resolve: (nodes: number) => void; reject: (err: unknown) => void }[];
  chars: number;
}

/**
 * Several encoded events as one payload: `*`, their lengths (UTF-16 code units, as both ends
 * count them) joined by commas, a newline, then the events back to back. A single event is
 * published as encodeBusEvent wrote it, and neither of its forms starts with `*`.
 */
export function encodeBusBatch(payloads: string[]): string {
  return `*${payloads.map((p) => p.length).join(',')}\n${payloads.join('')}`;
}

/** The events of a payload encodeBusBatch or encodeBusEvent wrote; throws on anything else. */
export function decodeBusBatch(payload: string): BusEvent[] {
  if (payload[0] !== '*') return [decodeBusEvent(payload)];
  const nl = payload.indexOf('\n');
  if (nl < 0) throw new Error('bus batch without a header');
  const lengths = payload.slice(1, nl).split(',').map(Number);
  const events: BusEvent[] = [];
  let at = nl + 1;
  for (const n of lengths) {
    if (!Number.isSafeInteger(n) || n < 0 || at + n > payload.length) throw new Error('bus batch lengths do not match its text');
    events.push(decodeBusEvent(payload.slice(at, at + n)));
    at += n;
  }
  if (at !== payload.length) throw new Error('bus batch lengths do not match its text');
  return events;
}

/** Subscriptions on a single Redis: one connection that reconnects forever. */
class SingleRedisSubscriptions implements Subscriptions {
  private readonly channels = new Set<string>();
  private readonly barrierPing: PingBarrier;
  private closed = false;

  constructor(
    private readonly subscriber: Redis,
    private readonly events: SubscriptionEvents,
  ) {
    this.barrierPing = new PingBarrier(subscriber);
    subscriber.on('smessage', (channel: string, message: string) => events.message(channel, message));
    subscriber.on('close', () => events.lost());
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

  isLive(channel: string): boolean {
    return this.channels.has(channel) && this.subscriber.status === 'ready';
  }

  barrier(channel: string): Promise<void> {
    return this.barrierPing.wait(channel);
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
