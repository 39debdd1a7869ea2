import type { Cluster, Redis } from 'ioredis';
import { nodeConnection, refreshSlots, slotOf, slotOwner } from '../redis-connection.js';
import { PingBarrier } from './ping-barrier.js';

/** What a subscriptions holder reports to the bus. */
export interface SubscriptionEvents {
  /** A message arrived on a subscribed shard channel. */
  message(channel: string, message: string): void;
  /** Subscriptions had been lost (events in between are gone) and every wanted channel is subscribed again. */
  reconnected(): void;
  /** Some subscription may have lapsed (a connection dropped, a slot moved): events may be missed from now on. */
  lost(): void;
}

/** The bus's subscriber side: a record of wanted channels, kept subscribed. */
export interface Subscriptions {
  add(channel: string): Promise<void>;
  remove(channel: string): Promise<void>;
  /** Whether the channel is subscribed on a connection that is up now. */
  isLive(channel: string): boolean;
  /** Resolves once every message Redis sent on the channel before this call was handed to `message`; rejects when that cannot be known. */
  barrier(channel: string): Promise<void>;
  close(): Promise<void>;
}

interface NodeSubscriber {
  redis: Redis;
  ready: Promise<void>;
  /** Channels confirmed subscribed on this connection. */
  channels: Set<string>;
  barrier: PingBarrier;
}

/** Reply errors that mean "ask again, elsewhere or later", not a refusal. */
const TRANSIENT = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING|MASTERDOWN)\b/;

/**
 * Sharded pub/sub subscriptions on a Redis Cluster. A shard channel can only be
 * subscribed on the master owning its slot, so there is one subscriber connection per
 * master that owns a wanted channel (opened on first use), and each SSUBSCRIBE goes to
 * the owner in the cluster client's slot map (`router`), one channel per command.
 *
 * This class, not ioredis, is the record of what is wanted (`wanted`) and where it is
 * subscribed (`placed`), so the bus's outage semantics hold per shard:
 * - a subscriber connection that drops is not reconnected in place (its node may be gone
 *   for good after a failover); its channels go to `pending`;
 * - a channel whose slot moved to another master (seen when the slot map is refreshed,
 *   every few seconds and after redirections) goes to `pending` too;
 * - a subscribe that could not reach its shard resolves anyway, and goes to `pending`;
 * - heal() reloads the slot map and subscribes every pending channel on its slot's
 *   current owner, retrying with backoff; once nothing is pending, `reconnected` fires
 *   (once per loss), so the server resyncs its sockets and devices replay what they
 *   missed.
 * A channel is delivered by at most one shard connection at a time: a moved channel is
 * unsubscribed from its old owner before it is placed again.
 */
export class ShardSubscriptions implements Subscriptions {
  private readonly wanted = new Set<string>();
  /** channel → node key (`host:port`) of the connection it is subscribed on. */
  private readonly placed = new Map<string, string>();
  private readonly pending = new Set<string>();
  private readonly conns = new Map<string, NodeSubscriber>();
  /** Some subscription was lost since `reconnected` last fired. */
  private lost = false;
  private healTimer: NodeJS.Timeout | null = null;
  private healing = false;
  private healAgain = false;
  private attempts = 0;
  private closed = false;
  /** The slot owners as of the last check, to spot slots that moved. */
  private owners: (string | undefined)[] = [];

  constructor(
    private readonly router: Cluster,
    private readonly events: SubscriptionEvents,
    private readonly connectTimeoutMs: number,
  ) {
    this.snapshotOwners();
    router.on('refresh', () => this.checkPlacement());
  }

  async add(channel: string): Promise<void> {
    this.wanted.add(channel);
    if (this.placed.has(channel)) return;
    try {
      await this.place(channel);
      this.pending.delete(channel);
    } catch (err) {
      if (this.closed) return;
      // A refusal from a shard that is up (an ACL, say) is the caller's to see.
      if (!isConnectionTrouble(err)) throw err;
      // The shard is unreachable: the caller goes on as if subscribed, the way a single
      // Redis subscriber does during an outage; heal() subscribes it and then the
      // reconnect callbacks have devices replay whatever was missed meanwhile.
      this.pending.add(channel);
      this.lost = true;
      this.events.lost();
      this.scheduleHeal(0);
    }
  }

  async remove(channel: string): Promise<void> {
    this.wanted.delete(channel);
    this.pending.delete(channel);
    const node = this.placed.get(channel);
    if (node === undefined) return;
    this.placed.delete(channel);
    const sub = this.conns.get(node);
    if (!sub) return;
    sub.channels.delete(channel);
    if (sub.redis.status !== 'ready') return; // a dropped connection has no subscriptions left
    try {
      await sub.redis.sunsubscribe(channel);
    } catch (err) {
      if (sub.redis.status === 'ready' && !isConnectionTrouble(err)) throw err;
    }
  }

  isLive(channel: string): boolean {
    const node = this.placed.get(channel);
    return node !== undefined && this.conns.get(node)?.redis.status === 'ready';
  }

  barrier(channel: string): Promise<void> {
    const node = this.placed.get(channel);
    const sub = node === undefined ? undefined : this.conns.get(node);
    return sub ? sub.barrier.wait(channel) : Promise.reject(new Error(`${channel} is not subscribed on a live connection`));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.healTimer) clearTimeout(this.healTimer);
    this.healTimer = null;
    this.wanted.clear();
    this.pending.clear();
    this.placed.clear();
    const conns = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(
      conns.map(async (sub) => {
        if (sub.redis.status === 'ready') await sub.redis.quit().catch(() => undefined);
        sub.redis.disconnect();
      }),
    );
  }

  /** Subscribes one channel on the current owner of its slot; a stale slot map is reloaded and the owner asked again. */
  private async place(channel: string): Promise<void> {
    const slot = slotOf(channel);
    for (let attempt = 0; ; attempt++) {
      let owner = slotOwner(this.router, slot);
      if (owner === null || attempt > 0) {
        await refreshSlots(this.router);
        owner = slotOwner(this.router, slot);
      }
      if (owner === null) throw new ConnectionTrouble(`no master known for slot ${slot}`);
      const sub = this.connection(owner);
      try {
        await sub.ready;
        await sub.redis.ssubscribe(channel);
      } catch (err) {
        if (attempt < 2 && TRANSIENT.test((err as Error).message ?? '')) continue;
        throw err;
      }
      if (this.closed) return;
      if (this.conns.get(owner) !== sub || sub.redis.status !== 'ready') throw new ConnectionTrouble('subscriber connection lost');
      if (!this.wanted.has(channel)) {
        // Unsubscribed while this was in flight.
        await sub.redis.sunsubscribe(channel).catch(() => undefined);
        return;
      }
      const previous = this.placed.get(channel);
      if (previous !== undefined && previous !== owner) this.unplace(channel, previous);
      sub.channels.add(channel);
      this.placed.set(channel, owner);
      return;
    }
  }

  /** Forgets (and best-effort unsubscribes) a channel's subscription on one node. */
  private unplace(channel: string, node: string): void {
    if (this.placed.get(channel) === node) this.placed.delete(channel);
    const sub = this.conns.get(node);
    if (!sub) return;
    sub.channels.delete(channel);
    if (sub.redis.status === 'ready') sub.redis.sunsubscribe(channel).catch(() => undefined);
  }

  /** The subscriber connection to a master, opened on first use. */
  private connection(node: string): NodeSubscriber {
    const existing = this.conns.get(node);
    if (existing) return existing;
    const redis = nodeConnection(this.router, node, {
      lazyConnect: true,
      connectTimeout: this.connectTimeoutMs,
      autoResubscribe: false, // this class is the record
      autoResendUnfulfilledCommands: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null, // a lost connection is replaced, perhaps on another master
    });
    redis.on('error', () => {});
    redis.on('smessage', (channel: string, message: string) => this.events.message(channel, message));
    const sub: NodeSubscriber = { redis, channels: new Set(), ready: redis.connect(), barrier: new PingBarrier(redis) };
    sub.ready.catch(() => undefined);
    redis.once('end', () => this.dropped(node, sub));
    this.conns.set(node, sub);
    return sub;
  }

  private dropped(node: string, sub: NodeSubscriber): void {
    if (this.conns.get(node) === sub) this.conns.delete(node);
    if (this.closed || sub.channels.size === 0) return;
    for (const channel of sub.channels) {
      if (this.placed.get(channel) === node) this.placed.delete(channel);
      if (this.wanted.has(channel)) this.pending.add(channel);
    }
    sub.channels.clear();
    this.lost = true;
    this.events.lost();
    this.scheduleHeal(0);
  }

  /** After a slot map refresh: channels whose slot now belongs to another master move there. */
  private checkPlacement(): void {
    if (this.closed) return;
    const changed = new Set<number>();
    const slots = this.router.slots;
    for (let slot = 0; slot < 16384; slot++) {
      const owner = slots[slot]?.[0];
      if (owner !== this.owners[slot]) changed.add(slot);
    }
    if (changed.size === 0) return;
    this.snapshotOwners();
    let moved = false;
    for (const [channel, node] of this.placed) {
      const slot = slotOf(channel);
      if (!changed.has(slot)) continue;
      const owner = slots[slot]?.[0];
      if (owner === undefined || owner === node) continue;
      this.unplace(channel, node);
      if (this.wanted.has(channel)) this.pending.add(channel);
      moved = true;
    }
    if (moved) {
      this.lost = true;
      this.events.lost();
      this.scheduleHeal(0);
    }
  }

  private snapshotOwners(): void {
    const slots = this.router.slots;
    this.owners = Array.from({ length: 16384 }, (_, slot) => slots[slot]?.[0]);
  }

  private scheduleHeal(delayMs: number): void {
    if (this.closed || this.healTimer) return;
    this.healTimer = setTimeout(() => {
      this.healTimer = null;
      void this.heal();
    }, delayMs);
  }

  /** Subscribes every pending channel on its slot's current owner; fires `reconnected` once nothing is left. */
  private async heal(): Promise<void> {
    if (this.healing) {
      this.healAgain = true;
      return;
    }
    this.healing = true;
    try {
      do {
        this.healAgain = false;
        for (const channel of this.pending) if (!this.wanted.has(channel) || this.placed.has(channel)) this.pending.delete(channel);
        if (this.pending.size === 0) break;
        await refreshSlots(this.router); // after a failover the slots have a new owner
        const channels = [...this.pending];
        const results = await Promise.allSettled(channels.map((c) => this.place(c)));
        results.forEach((r, i) => r.status === 'fulfilled' && this.pending.delete(channels[i]!));
      } while (this.healAgain && !this.closed);
    } finally {
      this.healing = false;
    }
    if (this.closed) return;
    if (this.pending.size > 0) {
      this.attempts++;
      this.scheduleHeal(Math.min(2000, 50 * 2 ** Math.min(this.attempts, 6)));
      return;
    }
    this.attempts = 0;
    if (this.lost) {
      this.lost = false;
      this.events.reconnected();
    }
  }
}

class ConnectionTrouble extends Error {}

/** Whether an error says the shard could not be reached (or asked us to come back), rather than refusing the command. */
function isConnectionTrouble(err: unknown): boolean {
  if (err instanceof ConnectionTrouble) return true;
  const message = (err as Error)?.message ?? '';
  if (TRANSIENT.test(message)) return true;
  // ioredis's own errors for a connection that is not (or no longer) there have no Redis error code.
  return !(err as { command?: unknown })?.command || /connect|closed|Connection|ECONN|ETIMEDOUT|EPIPE|ENOTFOUND/i.test(message);
}
