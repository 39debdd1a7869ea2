import type { RedisClient } from './redis-connection.js';

/*
 * One consumer of a Redis stream consumer group: the commands the stream-backed queues
 * (fan-out, push) share, so how a group is created, read, claimed from and acked is
 * written once. What to read when, and how many batches run at once, stays with each
 * queue: their guarantees differ (ordered partitions under a lease, or any order).
 *
 * Entries carry one field, `job`: the queue's job as JSON (addJob / jobOf).
 */

export type StreamEntry = [id: string, fields: string[] | null];
type ReadReply = [key: string, entries: StreamEntry[]][] | null;

/** Appends a job to the stream, trimming it to about maxLen entries (MAXLEN ~: trims whole nodes, cheaply). */
export function addJob(redis: RedisClient, key: string, maxLen: number, job: unknown): Promise<string | null> {
  return redis.xadd(key, 'MAXLEN', '~', maxLen, '*', 'job', JSON.stringify(job));
}

/** The job from an entry's fields; null for an entry trimmed away (MAXLEN) or not ours, which callers ack and skip. */
export function jobOf<T>(fields: string[] | null): T | null {
  if (!fields) return null;
  const at = fields.indexOf('job');
  if (at < 0 || at + 1 >= fields.length) return null;
  try {
    return JSON.parse(fields[at + 1]!) as T;
  } catch {
    return null;
  }
}

export class StreamGroup {
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly group: string,
    private readonly consumer: string,
  ) {}

  /** XGROUP CREATE … MKSTREAM; a group that exists already is fine. */
  async create(): Promise<void> {
    try {
      // From 0, not $: jobs enqueued before any consumer existed must still be done.
      await this.redis.xgroup('CREATE', this.key, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err;
    }
  }

  /**
   * XREADGROUP from `from`: `>` for entries never delivered, `0` for this consumer's own
   * pending ones (answered at once). With `block`, waits up to block.ms on block.via: a
   * blocked connection can do nothing else, so it is never the shared one.
   */
  async read(from: '>' | '0', count: number, block?: { via: RedisClient; ms: number }): Promise<StreamEntry[]> {
    const head = ['GROUP', this.group, this.consumer, 'COUNT', count] as const;
    const tail = ['STREAMS', this.key, from] as const;
    const reply = (
      block ? await block.via.xreadgroup(...head, 'BLOCK', block.ms, ...tail) : await this.redis.xreadgroup(...head, ...tail)
    ) as ReadReply;
    return reply?.[0]?.[1] ?? [];
  }

  /**
   * XAUTOCLAIM from `cursor`: up to `count` entries pending longer than minIdleMs, in
   * anyone's hands (a dead consumer's), become this consumer's. Returns the cursor to go
   * on from ('0-0' once the whole pending list was seen) and the entries taken.
   */
  async claim(minIdleMs: number, cursor: string, count: number): Promise<[next: string, entries: StreamEntry[]]> {
    const reply = (await this.redis.xautoclaim(this.key, this.group, this.consumer, minIdleMs, cursor, 'COUNT', count)) as [
      string,
      StreamEntry[],
    ];
    return [reply[0], reply[1]];
  }

  /** claim() with JUSTID: only the ownership moves (delivery counts too stay); the caller then reads its own pending list. */
  async claimIds(minIdleMs: number, cursor: string, count: number): Promise<string> {
    const reply = (await this.redis.xautoclaim(this.key, this.group, this.consumer, minIdleMs, cursor, 'COUNT', count, 'JUSTID')) as [
      string,
      ...unknown[],
    ];
    return reply[0];
  }

  /**
   * How many times each entry (of this group) was handed to a consumer: the first read
   * counts one, each claim one more. XPENDING's extended form, one range per id, in one
   * pipeline (one key: one slot on a cluster). 0 for an entry no longer pending.
   */
  async deliveries(ids: string[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.xpending(this.key, this.group, id, id, 1);
    const replies = (await pipeline.exec()) ?? [];
    return ids.map((_, i) => {
      const [err, rows] = replies[i] ?? [new Error('no reply from XPENDING'), null];
      if (err) throw err;
      const row = (rows as [id: string, consumer: string, idleMs: number, deliveries: number][])[0];
      return row ? Number(row[3]) : 0;
    });
  }

  /** XACK: the entries are done and leave the pending list (no one will claim them again). */
  async ack(...ids: string[]): Promise<void> {
    await this.redis.xack(this.key, this.group, ...ids);
  }

  /**
   * Runs `session` (which reads until go() is false) again and again while go(): each
   * time after making sure the group exists, since a failure may mean the stream was
   * deleted (a flushed Redis: NOGROUP). After a failure (Redis unreachable, a connection
   * dropped) it waits half a second first, so an outage costs no busy loop; what was read
   * and not acked stays pending for the session to find again.
   */
  async keepReading(go: () => boolean, session: () => Promise<void>): Promise<void> {
    while (go()) {
      try {
        await this.create();
        await session();
      } catch {
        if (!go()) break;
        await new Promise((resolve) => setTimeout(resolve, 500).unref());
      }
    }
  }
}
