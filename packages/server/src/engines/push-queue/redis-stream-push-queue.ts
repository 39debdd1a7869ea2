import { openRedis, type RedisClient, type RedisTarget } from '../redis-connection.js';
import { addJob, jobOf, StreamGroup, type StreamEntry } from '../redis-stream-group.js';
import type { PushJob, PushQueue } from './push-queue.js';

export interface RedisStreamPushQueueOptions {
  /** The shared connection for ordinary commands (not closed by close()). */
  redis: RedisClient;
  /** Where to open this queue's own connection for blocking reads. */
  target: RedisTarget | string;
  /** This consumer's name in the group: the node's name, unique among live nodes. */
  consumer: string;
  /** Put before every key. Zero value: `sb:`. */
  keyPrefix?: string;
  /** Approximate cap on the stream (XADD MAXLEN ~). Zero value: 100,000. */
  maxLen?: number;
  /** How long one blocking read waits. Zero value: 1,000 ms. */
  blockMs?: number;
  /**
   * A job pending this long in a consumer's hands is taken over by another: the
   * consumer died. Must exceed the time a live dispatcher spends on a batch (its
   * deadline) plus its claim hold. Zero value: 60,000 ms.
   */
  reclaimIdleMs?: number;
  /** Where a job given up on (a dead letter) is reported. Zero value: nowhere. */
  log?: { warn(fields: object, message: string): void };
}

const GROUP = 'push';
const BATCH = 64;
const DONE_MS = 24 * 3600_000;
/**
 * Times a job is handed out (its first read, then each takeover) before it is given up:
 * enough for transient failures (a store or Redis blip) and a dead node or two, while a
 * job that always fails stops costing every node work each reclaim period.
 */
const MAX_DELIVERIES = 5;

/**
 * The cluster push queue: one Redis stream with one consumer group that every node
 * reads, so each job goes to one node. A node that dies leaves its jobs pending; every
 * node runs XAUTOCLAIM for jobs idle past reclaimIdleMs and handles them, page after page
 * while it has free slots. A job handed out MAX_DELIVERIES times (its handler failed each
 * time) is acked and logged: a dead letter, not retried forever. A job handled twice
 * pushes once per device: each push is claimed first (SET NX PX), and the claim
 * becomes permanent once the push is done.
 *
 * Redis key model (prefix = keyPrefix):
 *   {prefix}push-jobs                    STREAM  `job` = PushJob as JSON; group `push`
 *   {prefix}push-sent:{message}:{device} STRING  `pending` (PX hold) or `done` (PX a day)
 *   {prefix}shared:{name}                STRING  a value the first node set (the VAPID keys)
 * Each command touches one key, so this runs on a Redis Cluster as it is (the stream
 * lives on one slot: push jobs are small and one per message, not per member).
 */
export class RedisStreamPushQueue implements PushQueue {
  private readonly redis: RedisClient;
  private readonly key: string;
  private readonly group: StreamGroup;
  private readonly o: Required<Omit<RedisStreamPushQueueOptions, 'redis' | 'target' | 'log'>>;
  private reader: RedisClient | null = null;
  private closed = false;
  private running = 0;
  private loop: Promise<void> | null = null;
  private readonly slotFreed: (() => void)[] = [];

  constructor(private readonly options: RedisStreamPushQueueOptions) {
    this.redis = options.redis;
    this.o = {
      consumer: options.consumer,
      keyPrefix: options.keyPrefix ?? 'sb:',
      maxLen: options.maxLen ?? 100_000,
      blockMs: options.blockMs ?? 1_000,
      reclaimIdleMs: options.reclaimIdleMs ?? 60_000,
    };
    this.key = `${this.o.keyPrefix}push-jobs`;
    this.group = new StreamGroup(this.redis, this.key, GROUP, this.o.consumer);
  }

  async enqueue(job: PushJob): Promise<boolean> {
    await addJob(this.redis, this.key, this.o.maxLen, job);
    return true;
  }

  start(handle: (jobs: PushJob[]) => Promise<void>, concurrency: number): void {
    if (this.loop) return;
    this.reader = openRedis(this.options.target, { maxRetriesPerRequest: null });
    this.reader.on('error', () => {}); // the read loop retries
    this.loop = this.run(handle, Math.max(1, concurrency));
  }

  private async run(handle: (jobs: PushJob[]) => Promise<void>, concurrency: number): Promise<void> {
    let nextReclaim = 0;
    // Where the reclaim pass under way goes on (XAUTOCLAIM's cursor); null between passes.
    let cursor: string | null = null;
    let readTurn = false;
    await this.group.keepReading(
      () => !this.closed,
      async () => {
        while (!this.closed) {
          while (this.running >= concurrency && !this.closed) await new Promise<void>((r) => this.slotFreed.push(r));
          if (this.closed) break;
          if (cursor === null && Date.now() >= nextReclaim) {
            nextReclaim = Date.now() + Math.max(1_000, this.o.reclaimIdleMs / 4);
            cursor = '0-0';
          }
          // A pass goes through the whole pending list, a page per free slot, so a dead
          // node's backlog is taken over as fast as batches finish (still at most
          // `concurrency` batches in memory), taking turns with reads of new jobs.
          if (cursor !== null && !readTurn) {
            const [next, stale] = await this.group.claim(this.o.reclaimIdleMs, cursor, BATCH);
            cursor = next === '0-0' ? null : next;
            readTurn = true;
            const live = await this.withoutDeadLetters(stale);
            if (live.length > 0) this.dispatch(handle, live);
            continue;
          }
          readTurn = false;
          // Mid-pass, only what is already there: a blocking wait would slow the pass down.
          const block = cursor === null ? { via: this.reader!, ms: this.o.blockMs } : undefined;
          const entries = await this.group.read('>', BATCH, block);
          if (entries.length > 0) this.dispatch(handle, entries);
        }
      },
    );
  }

  /**
   * The claimed entries minus those handed out MAX_DELIVERIES times already (each time
   * it failed, or its node died): those are acked and logged, dead letters. Otherwise a
   * job that always fails would stay pending and be taken over again every period.
   */
  private async withoutDeadLetters(entries: StreamEntry[]): Promise<StreamEntry[]> {
    if (entries.length === 0) return entries;
    const counts = await this.group.deliveries(entries.map(([id]) => id));
    const dead = entries.filter((_, i) => counts[i]! > MAX_DELIVERIES);
    if (dead.length === 0) return entries;
    await this.group.ack(...dead.map(([id]) => id));
    for (const [id, fields] of dead) {
      const job = jobOf<PushJob>(fields);
      this.options.log?.warn(
        { stream_id: id, message_id: job?.messageId, chat_id: job?.chatId, attempts: MAX_DELIVERIES },
        'push job failed every attempt: dropped (dead letter); its devices get the message when they connect',
      );
    }
    return entries.filter((_, i) => counts[i]! <= MAX_DELIVERIES);
  }

  /** Runs a batch; acknowledges it once handled (a handler that threw leaves it for XAUTOCLAIM). */
  private dispatch(handle: (jobs: PushJob[]) => Promise<void>, entries: StreamEntry[]): void {
    const ids = entries.map(([id]) => id);
    const jobs = entries.map(([, fields]) => jobOf<PushJob>(fields)).filter((job) => job !== null);
    this.running++;
    void handle(jobs)
      .then(() => this.group.ack(...ids))
      .catch(() => {})
      .finally(() => {
        this.running--;
        this.slotFreed.shift()?.();
      });
  }

  async claim(messageId: string, deviceId: string, holdMs: number): Promise<boolean> {
    return (await this.redis.set(this.sentKey(messageId, deviceId), 'pending', 'PX', holdMs, 'NX')) === 'OK';
  }

  async done(messageId: string, deviceId: string): Promise<void> {
    await this.redis.set(this.sentKey(messageId, deviceId), 'done', 'PX', DONE_MS);
  }

  private sentKey(messageId: string, deviceId: string): string {
    return `${this.o.keyPrefix}push-sent:${messageId}:${deviceId}`;
  }

  async shared(name: string, candidate: string): Promise<string> {
    const key = `${this.o.keyPrefix}shared:${name}`;
    await this.redis.set(key, candidate, 'NX');
    return (await this.redis.get(key)) ?? candidate;
  }

  /** Stops reading; waits for batches under way (bounded by the dispatcher's deadline). */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.slotFreed.splice(0)) wake();
    this.reader?.disconnect();
    await this.loop;
    while (this.running > 0) await new Promise((r) => setTimeout(r, 20));
  }
}
