import { openRedis, pipelineBySlot, type PipelineReplies, type RedisClient, type RedisTarget } from '../redis-connection.js';
import type { PresenceStore } from './presence-store.js';

export interface RedisPresenceStoreOptions {
  /**
   * `redis://host:port/db` (or a comma-separated Redis Cluster seed list, or a detected
   * target), or `redis`, a connection to share (not closed by close()): a `Redis`, or a
   * `Cluster`. One of the two.
   */
  url?: string | RedisTarget;
  redis?: RedisClient;
  /** How long an entry lives without a refresh. Every node must use the same value. Zero value: 30,000 ms. */
  ttlMs?: number;
  /** Put before every key, so deployments (or test runs) can share a Redis. Zero value: `sb:`. */
  keyPrefix?: string;
  /** The clock scores are written and compared with; injectable for tests. Zero value: Date.now. */
  now?: () => number;
}

/*
 * Read-and-write in one step, so two nodes bringing the same user online at once cannot
 * both miss each other (both would announce "came online", or neither). Inline because
 * a .lua file would need copying next to the compiled output.
 * KEYS[1] presence key; ARGV: now, expiry, nodeName, ttlMs. Returns the live count before.
 */
const SET_ONLINE = `
local before = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return before`;

/** KEYS[1] presence key; ARGV: now, nodeName. Returns the live count after removing the node. */
const SET_OFFLINE = `
redis.call('ZREM', KEYS[1], ARGV[2])
local left = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
if left == 0 then redis.call('DEL', KEYS[1]) end
return left`;

/**
 * Cluster presence: which nodes hold a socket of each user, in Redis.
 *
 * Redis key model:
 *   {prefix}presence:{userId}   ZSET  member = node id, score = until when (ms) that
 *                                     node's entry counts; key PEXPIRE = the TTL, pushed
 *                                     forward by every write, so a user nobody refreshes
 *                                     disappears entirely.
 * A user is online while some score is in the future. A node that dies stops refreshing
 * and its entries stop counting after the TTL; the dead member itself is removed by the
 * next setOnline/refresh of that user (or with the key).
 *
 * Scores use this node's clock, so node clocks must agree to well within the TTL; the
 * key expiry is relative and uses Redis's. Best effort like every presence store: never
 * used to decide whether a message is delivered.
 *
 * refresh() writes entries back even if they had expired (say Redis restarted and lost
 * them): the heartbeat lists the users this node really holds, so that heals presence.
 * Every multi-user call is one pipeline, one round trip; on a Redis Cluster, one
 * pipeline per slot, sent together (users' keys spread over the slots, and the scripts
 * touch only the one user's key).
 */
export class RedisPresenceStore implements PresenceStore {
  private readonly redis: RedisClient;
  private readonly ownsRedis: boolean;
  private readonly ttlMs: number;
  private readonly prefix: string;
  private readonly now: () => number;

  constructor(options: RedisPresenceStoreOptions) {
    if (!options.redis && !options.url) throw new Error('RedisPresenceStore needs url or redis');
    this.ownsRedis = !options.redis;
    this.redis = options.redis ?? openRedis(options.url!, { maxRetriesPerRequest: 2 });
    if (this.ownsRedis) this.redis.on('error', () => {}); // failures surface through the commands
    this.ttlMs = options.ttlMs ?? 30_000;
    this.prefix = options.keyPrefix ?? 'sb:';
    this.now = options.now ?? Date.now;
  }

  private key(userId: string): string {
    return `${this.prefix}presence:${userId}`;
  }

  async setOnline(userId: string, nodeName: string): Promise<boolean> {
    const now = this.now();
    const before = await this.redis.eval(SET_ONLINE, 1, this.key(userId), now, now + this.ttlMs, nodeName, this.ttlMs);
    return Number(before) === 0;
  }

  async setOffline(userId: string, nodeName: string): Promise<boolean> {
    const left = await this.redis.eval(SET_OFFLINE, 1, this.key(userId), this.now(), nodeName);
    return Number(left) === 0;
  }

  async refresh(userIds: string[], nodeName: string): Promise<void> {
    if (userIds.length === 0) return;
    const now = this.now();
    const replies = await pipelineBySlot(
      this.redis,
      userIds,
      (id) => this.key(id),
      (pipeline, id) => {
        const key = this.key(id);
        pipeline.zadd(key, now + this.ttlMs, nodeName);
        pipeline.zremrangebyscore(key, '-inf', now); // dead nodes' members, so the set stays small
        pipeline.pexpire(key, this.ttlMs);
      },
    );
    check(replies);
  }

  async isOnline(userIds: string[]): Promise<boolean[]> {
    if (userIds.length === 0) return [];
    const now = this.now();
    const replies = await pipelineBySlot(
      this.redis,
      userIds,
      (id) => this.key(id),
      (pipeline, id) => void pipeline.zcount(this.key(id), `(${now}`, '+inf'),
    );
    return check(replies).map((live) => Number(live) > 0);
  }

  async close(): Promise<void> {
    if (this.ownsRedis) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Each item's first reply, or the first error of any command. */
function check(replies: PipelineReplies[]): unknown[] {
  return replies.map((item) => {
    for (const [err] of item) if (err) throw err;
    const [, value] = item[0] ?? [new Error('presence: no reply'), null];
    return value;
  });
}
