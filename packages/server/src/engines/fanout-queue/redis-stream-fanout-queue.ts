import type { Redis } from 'ioredis';
import {
  isCluster,
  nodeConnection,
  openRedis,
  pipelineBySlot,
  refreshSlots,
  slotOf,
  slotOwner,
  type RedisClient,
  type RedisTarget,
} from '../redis-connection.js';
import { addJob, jobOf, StreamGroup, type StreamEntry } from '../redis-stream-group.js';
import type { FanoutJob, FanoutQueue, FanoutWorker } from './fanout-queue.js';

export interface RedisStreamFanoutQueueOptions {
  /**
   * `redis://host:port/db` (or a comma-separated Redis Cluster seed list, or a detected
   * target), or `redis`, a connection to share (not closed by close()): a `Redis`, or a
   * `Cluster`. One of the two.
   */
  url?: string | RedisTarget;
  redis?: RedisClient;
  /** This consumer's name in the group; use the node id. Must be unique among live workers. */
  consumer: string;
  /** Put before every key, so deployments (or test runs) can share a Redis. Zero value: `sb:`. */
  keyPrefix?: string;
  /** Streams the chats are spread over; fixed for the life of the data. Zero value: 16. */
  partitions?: number;
  /** How long a partition lease lasts without renewal, i.e. how soon a dead worker's partitions move. Zero value: 10,000 ms. */
  leaseMs?: number;
  /**
   * How long one XREADGROUP waits for new entries. Must be under two thirds of leaseMs:
   * a frozen worker's last blocked read has then timed out in Redis before its lease can
   * lapse, so it cannot swallow entries meant for its successor. Zero value: 2,000 ms.
   */
  blockMs?: number;
  /** Approximate cap on entries kept per stream (XADD MAXLEN ~). Zero value: 1,000,000. */
  maxLenPerPartition?: number;
  /** Entries read per XREADGROUP / XAUTOCLAIM. Zero value: 100. */
  batch?: number;
}

const GROUP = 'workers';

/** FNV-1a over the UTF-16 code units: stable across processes and versions, so a chat always maps to one stream. */
export function partitionOf(chatId: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < chatId.length; i++) {
    hash ^= chatId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

// Small enough to read inline; a .lua file would need copying next to the compiled output.
/** Extend the lease only if we still hold it: a lease that expired and was taken is gone for good. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
/** Delete the lease only if it is ours, never a successor's. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * The cluster fan-out queue: Redis streams with one consumer group, partitioned by chat.
 *
 * Redis key model ({p} = partition number, prefix = keyPrefix):
 *   {prefix}fanout:{p}          STREAM   entries `job` = FanoutJob as JSON; XADD MAXLEN ~ cap.
 *                                        Consumer group `workers`, consumers named by node.
 *   {prefix}fanout:{p}:lease    STRING   the consumer that may read partition p; SET NX PX,
 *                                        renewed while held, compare-and-delete on release.
 *   {prefix}fanout:consumers    ZSET     live consumers scored by expiry (ms); sizes each
 *                                        worker's fair share, ceil(partitions / live).
 * The braces around p are a Redis Cluster hash tag: a stream and its lease share a slot,
 * and the partitions spread over the cluster's masters (each `{p}` hashes on its own).
 * Every command and script touches one key; the lease round is one pipeline on a single
 * Redis and one per slot on a cluster (the consumers set and each held lease). On a
 * cluster each partition's blocking reader is a plain connection to the master owning
 * the partition's slot, reopened on the new owner after a MOVED or a dropped connection.
 *
 * Order: a chat always hashes to the same partition, and a partition is read by one
 * worker at a time (the lease) which handles its entries one after another, acking each
 * after the worker function returned. Different partitions run in parallel, each on its
 * own blocking connection, so a slow chat holds up only the chats sharing its partition.
 *
 * Failure: a worker that dies stops renewing; when its leases expire, others take the
 * partitions. Before reading new entries the new holder claims every pending entry of
 * the partition (XAUTOCLAIM with min-idle-time 0: the lease, not an idle time, is the
 * proof that the old holder is gone, and waiting for idleness would let newer entries
 * overtake the unfinished ones), then handles them in stream order. So delivery is at
 * least once: a job whose worker finished but whose XACK was lost runs again. A worker
 * stalled past its lease (a long GC pause, a partition from Redis) may overlap its
 * successor; the message is durable and delivery is idempotent per device (seq), so the
 * cost is a duplicate frame, which clients drop.
 *
 * A worker that throws still has its entry acked: retrying a poison job would stall the
 * partition, and members get the message by replay from their cursors anyway.
 */
export class RedisStreamFanoutQueue implements FanoutQueue {
  private readonly redis: RedisClient;
  private readonly ownsRedis: boolean;
  private readonly o: Required<Omit<RedisStreamFanoutQueueOptions, 'url' | 'redis'>>;
  private worker: FanoutWorker | null = null;
  private readonly held = new Map<number, PartitionReader>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  /** close() began: no partitions taken any more, held ones still renewed until released. */
  private stopped = false;
  private halted = false;
  private enqueuing = 0;
  private readonly enqueues = new Set<Promise<unknown>>();

  constructor(options: RedisStreamFanoutQueueOptions) {
    if (!options.redis && !options.url) throw new Error('RedisStreamFanoutQueue needs url or redis');
    this.ownsRedis = !options.redis;
    this.redis = options.redis ?? openRedis(options.url!, { maxRetriesPerRequest: 2 });
    if (this.ownsRedis) this.redis.on('error', () => {}); // failures surface through the commands
    this.o = {
      consumer: options.consumer,
      keyPrefix: options.keyPrefix ?? 'sb:',
      partitions: options.partitions ?? 16,
      leaseMs: options.leaseMs ?? 10_000,
      blockMs: options.blockMs ?? 2000,
      maxLenPerPartition: options.maxLenPerPartition ?? 1_000_000,
      batch: options.batch ?? 100,
    };
    if (this.o.blockMs * 3 >= this.o.leaseMs * 2) throw new Error('RedisStreamFanoutQueue: blockMs must be under two thirds of leaseMs');
  }

  private streamKey(partition: number): string {
    return `${this.o.keyPrefix}fanout:{${partition}}`;
  }
  private leaseKey(partition: number): string {
    return `${this.streamKey(partition)}:lease`;
  }
  private get consumersKey(): string {
    return `${this.o.keyPrefix}fanout:consumers`;
  }

  /** Resolves once the job is in the stream (replicated as far as Redis is configured to). */
  async enqueue(job: FanoutJob): Promise<void> {
    const key = this.streamKey(partitionOf(job.chatId, this.o.partitions));
    this.enqueuing++;
    const added = addJob(this.redis, key, this.o.maxLenPerPartition, job);
    this.enqueues.add(added);
    try {
      await added;
    } finally {
      this.enqueuing--;
      this.enqueues.delete(added);
    }
  }

  start(worker: FanoutWorker): void {
    this.worker = worker;
    void this.tick();
    // A third of the lease: two renewals may fail (a blip) before the lease is lost.
    this.timer = setInterval(() => void this.tick(), Math.max(10, Math.floor(this.o.leaseMs / 3)));
    this.timer.unref();
  }

  /** Jobs handed to this process and not finished: enqueues awaiting XADD, entries read and not acked. */
  depth(): number {
    let inMemory = 0;
    for (const reader of this.held.values()) inMemory += reader.inMemory;
    return this.enqueuing + inMemory;
  }

  /** Finishes the job in hand on every partition, releases the leases; unread entries stay for the others. */
  async close(): Promise<void> {
    this.stopped = true;
    await this.ticking;
    await Promise.allSettled([...this.enqueues]);
    // The timer keeps renewing while jobs in hand finish, so no one else starts on them meanwhile.
    await Promise.all([...this.held.keys()].map((p) => this.letGo(p)));
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    await this.redis.zrem(this.consumersKey, this.o.consumer).catch(() => {});
    if (this.ownsRedis) await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /**
   * Stops at once, the way a crashed process would: nothing more is acked, leases are
   * left to expire, entries in hand stay pending for the next holder. For tests of
   * failover, and for a shutdown that cannot wait.
   */
  halt(): void {
    this.stopped = this.halted = true;
    if (this.timer) clearInterval(this.timer);
    for (const reader of this.held.values()) reader.halt();
    this.held.clear();
    if (this.ownsRedis) this.redis.disconnect();
  }

  /** One lease round: announce ourselves, renew what we hold, shed or take partitions toward a fair share. */
  private tick(): Promise<void> {
    if (this.ticking || this.halted) return this.ticking ?? Promise.resolve();
    this.ticking = this.leaseRound()
      .catch(() => {}) // Redis unreachable: try again next tick; unrenewed leases lapse on their own
      .finally(() => (this.ticking = null));
    return this.ticking;
  }

  private async leaseRound(): Promise<void> {
    const now = Date.now();
    const { partitions, leaseMs, consumer } = this.o;
    const held = [...this.held.keys()];
    // Item -1: the consumers set; item p: the renewal of partition p's lease. On a cluster these are different slots.
    const items = [-1, ...held];
    const replies = await pipelineBySlot(
      this.redis,
      items,
      (p) => (p < 0 ? this.consumersKey : this.leaseKey(p)),
      (round, p) => {
        if (p >= 0) round.eval(RENEW, 1, this.leaseKey(p), consumer, leaseMs);
        else
          round
            .zadd(this.consumersKey, now + leaseMs, consumer)
            .zremrangebyscore(this.consumersKey, '-inf', now)
            .zcard(this.consumersKey);
      },
    );
    if (this.halted) return;
    held.forEach((p, i) => {
      const reader = this.held.get(p);
      const [err, renewed] = replies[1 + i]?.[0] ?? [];
      if (!reader || err) return; // an error proves nothing; the reader stops itself at leaseUntil
      if (Number(renewed) === 1) reader.leaseUntil = now + leaseMs;
      // Lost (it lapsed and someone took it): stop at once, the successor owns what we had in hand.
      else reader.halt();
    });
    // Readers that stopped themselves (lease lapsed) are gone; their entries are the successor's.
    for (const [p, reader] of this.held) if (reader.halted) this.held.delete(p);
    if (this.stopped) return;
    // Without the live count there is no fair share to aim at: take nothing this round.
    const [zcardErr, count] = replies[0]?.[2] ?? [new Error('no reply'), null];
    if (zcardErr) throw zcardErr;
    const live = Math.max(1, Number(count ?? 1));

    const fairShare = Math.ceil(partitions / live);
    const active = [...this.held].filter(([, reader]) => !reader.stopping).map(([p]) => p);
    // More workers joined: hand extras over. Not awaited, so a long job in hand does not
    // hold up this round; the partition stays in `held` (renewed) until it is released.
    for (const p of active.slice(fairShare)) void this.letGo(p);
    // Take free partitions up to the fair share, starting at a consumer-specific offset so workers do not all race for partition 0.
    const start = partitionOf(consumer, partitions);
    for (let i = 0, have = Math.min(active.length, fairShare); i < partitions && have < fairShare && !this.stopped; i++) {
      const p = (start + i) % partitions;
      if (this.held.has(p)) continue;
      const got = await this.redis.set(this.leaseKey(p), consumer, 'PX', leaseMs, 'NX');
      if (got !== 'OK') continue;
      if (this.stopped) await this.redis.eval(RELEASE, 1, this.leaseKey(p), consumer);
      else {
        this.take(p, now);
        have++;
      }
    }
  }

  private take(partition: number, askedAt: number): void {
    const reader = new PartitionReader(this.redis, this.streamKey(partition), this.o, (job) => this.work(job));
    reader.leaseUntil = askedAt + this.o.leaseMs; // counted from before the SET, never later than Redis's expiry
    this.held.set(partition, reader);
    void reader.run();
  }

  private async work(job: FanoutJob): Promise<void> {
    try {
      await this.worker?.(job);
    } catch {
      // Acked anyway (see the class comment); the worker does its own logging.
    }
  }

  /** Orderly hand-over: let the job in hand finish, then free the lease for another worker. */
  private async letGo(partition: number): Promise<void> {
    const reader = this.held.get(partition);
    if (!reader) return;
    await reader.stop();
    if (this.held.get(partition) !== reader) return; // halted meanwhile: the lease is not ours to release
    await this.redis.eval(RELEASE, 1, this.leaseKey(partition), this.o.consumer).catch(() => {});
    this.held.delete(partition);
  }
}

/**
 * Reads one leased partition: first everything pending in the group, then new entries, in
 * order. It stops on its own once the lease may have lapsed (no successful renewal for
 * leaseMs, say Redis was unreachable), so after an outage it cannot claim entries from a
 * successor that took the partition meanwhile.
 */
class PartitionReader {
  inMemory = 0;
  stopping = false;
  halted = false;
  /** Until when (this clock) the lease is known to be ours: set on acquire and each renewal. */
  leaseUntil: number;
  private blocking: Redis | null = null;
  private blockingId: number | null = null;
  /** Cluster: `host:port` of the master the blocking connection is on. */
  private blockingNode: string | null = null;
  private blocked = false;
  private done: Promise<void> = Promise.resolve();
  private readonly group: StreamGroup;

  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly o: { consumer: string; blockMs: number; batch: number; leaseMs: number },
    private readonly handle: (job: FanoutJob) => Promise<void>,
  ) {
    this.leaseUntil = Date.now() + o.leaseMs;
    this.group = new StreamGroup(redis, key, GROUP, o.consumer);
  }

  run(): Promise<void> {
    this.done = this.loop();
    return this.done;
  }

  /**
   * Orderly stop: the job in hand finishes and is acked. A BLOCK wait is ended server-side
   * (CLIENT UNBLOCK) rather than by dropping the socket, because Redis could still hand a
   * dropped-but-not-yet-noticed blocked client new entries after the lease is released,
   * leaving them pending where the successor has already looked.
   */
  async stop(): Promise<void> {
    if (this.stopping) return this.done;
    this.stopping = true;
    if (this.blocked && this.blockingId !== null) await this.unblock(this.blockingId).catch(() => {});
    await this.done;
  }

  /** CLIENT UNBLOCK, sent to the server the blocking connection is on. */
  private async unblock(id: number): Promise<void> {
    if (!isCluster(this.redis)) {
      await this.redis.client('UNBLOCK', id);
      return;
    }
    const node = this.blockingNode;
    if (node === null) return;
    const pooled = this.redis.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === node);
    if (pooled) {
      await pooled.client('UNBLOCK', id);
      return;
    }
    const once = nodeConnection(this.redis, node, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    once.on('error', () => {});
    try {
      await once.client('UNBLOCK', id);
    } finally {
      once.disconnect();
    }
  }

  /** Stop now, ack nothing more: the lease is (or may be) someone else's. */
  halt(): void {
    this.halted = this.stopping = true;
    this.blocking?.disconnect();
  }

  /** Whether to go on: false once stopping, or once the lease may have lapsed. */
  private go(): boolean {
    if (!this.stopping && Date.now() >= this.leaseUntil) this.halt();
    return !this.stopping;
  }

  private async loop(): Promise<void> {
    // After Redis trouble, start over from the claim: the pending list is where work resumes.
    await this.group.keepReading(
      () => this.go(),
      async () => {
        await this.claimPending();
        // My pending list, oldest first: what earlier holders (and I) read and never acked.
        while (this.go() && (await this.handleBatch(await this.group.read('0', this.o.batch))) > 0);
        while (this.go()) await this.handleBatch(await this.readNew());
      },
    );
    this.blocking?.disconnect();
  }

  /** Moves every pending entry of the partition, whoever's it was, to this consumer. */
  private async claimPending(): Promise<void> {
    let cursor = '0-0';
    do {
      cursor = await this.group.claimIds(0, cursor, this.o.batch);
    } while (cursor !== '0-0' && this.go());
  }

  /** New entries, waiting up to blockMs; BLOCK holds its connection, so each partition has its own. */
  private async readNew(): Promise<StreamEntry[]> {
    try {
      const blocking = this.blocking ?? (await this.openBlocking());
      if (!this.go()) return [];
      this.blocked = true;
      return await this.group.read('>', this.o.batch, { via: blocking, ms: this.o.blockMs });
    } catch (err) {
      // Start over on a fresh connection (on a cluster: to the slot's current owner).
      this.blocking?.disconnect();
      this.blocking = null;
      if (isCluster(this.redis) && /^(MOVED|ASK|CLUSTERDOWN)\b/.test((err as Error).message ?? '')) await refreshSlots(this.redis);
      throw err;
    } finally {
      this.blocked = false;
    }
  }

  /** The connection blocking reads wait on; on a cluster, one to the master owning this partition's slot. */
  private async openBlocking(): Promise<Redis> {
    let blocking: Redis;
    if (isCluster(this.redis)) {
      const slot = slotOf(this.key);
      let owner = slotOwner(this.redis, slot);
      if (owner === null) {
        await refreshSlots(this.redis);
        owner = slotOwner(this.redis, slot);
      }
      if (owner === null) throw new Error(`fan-out: no master known for slot ${slot}`);
      blocking = nodeConnection(this.redis, owner, { maxRetriesPerRequest: 0, retryStrategy: () => null });
      this.blockingNode = owner;
    } else {
      blocking = this.redis.duplicate({ maxRetriesPerRequest: 0 });
    }
    blocking.on('error', () => {}); // a failed read is retried by the loop
    this.blocking = blocking;
    this.blockingId = Number(await blocking.client('ID'));
    return blocking;
  }

  /** Hands the entries over one at a time, acking each when done; returns how many there were. */
  private async handleBatch(entries: StreamEntry[]): Promise<number> {
    this.inMemory = entries.length;
    try {
      for (const [id, fields] of entries) {
        if (!this.go()) return entries.length; // the rest stay pending for whoever holds the partition next
        const job = jobOf<FanoutJob>(fields);
        if (job) await this.handle(job);
        if (this.halted) return entries.length;
        await this.group.ack(id);
        this.inMemory--;
      }
      return entries.length;
    } finally {
      this.inMemory = 0;
    }
  }
}
