import { openRedis, pipelineBySlot, type RedisClient, type RedisTarget } from '../redis-connection.js';
import type { BucketSpec, RateLimitStore } from './rate-limit-store.js';

/*
 * Lua, so each check-and-take is one atomic step whichever node runs it. Time is Redis's
 * (TIME), so nodes with skewed clocks still agree on a bucket. Inline because a .lua
 * file would need copying next to the compiled output.
 */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS[1] bucket hash {tokens, at}; ARGV: capacity, perSecond, cost, need. Returns 0 or ms to wait. */
const TAKE = `${NOW}
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2]) / 1000
local cost = math.min(tonumber(ARGV[3]), capacity)
local need = math.min(tonumber(ARGV[4]), capacity)
local s = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(s[1]) or capacity
local at = tonumber(s[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
if tokens < need then return math.max(1, math.ceil((need - tokens) / rate)) end
tokens = tokens - cost
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate) + 1000)
return 0`;

/** KEYS[1] slot zset (member = id, score = expiry); ARGV: id, limit, ttlMs. Returns 1 when held. */
const ACQUIRE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/** KEYS[1] slot zset; ARGV: id, ttlMs. Only a slot still held moves (XX). */
const REFRESH = `${NOW}
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

export interface RedisRateLimitStoreOptions {
  /** A URL or detected target to connect to, or `redis`, a connection to share (not closed by close()). One of the two. */
  url?: string | RedisTarget;
  redis?: RedisClient;
  /** Put before every key. Zero value: `sb:`. */
  keyPrefix?: string;
}

/**
 * Cluster counters, in Redis, so every node sees the same ones.
 *
 * Key model (one key per bucket or slot set; every command and script touches one key):
 *   {prefix}rl:{KEY}   HASH  tokens, at (ms, Redis time); PEXPIRE = until the bucket
 *                           would be full again, so idle buckets vanish.
 *   {prefix}rl:{KEY}   ZSET  slot id → expiry (ms, Redis time); a slot nobody refreshes
 *                           stops counting after its TTL (a dead node's sockets).
 * The caller's key is the hash tag, so on a Redis Cluster the keys spread over the slots.
 */
export class RedisRateLimitStore implements RateLimitStore {
  private readonly redis: RedisClient;
  private readonly ownsRedis: boolean;
  private readonly prefix: string;

  constructor(options: RedisRateLimitStoreOptions) {
    if (!options.redis && !options.url) throw new Error('RedisRateLimitStore needs url or redis');
    this.ownsRedis = !options.redis;
    this.redis = options.redis ?? openRedis(options.url!, { maxRetriesPerRequest: 2 });
    if (this.ownsRedis) this.redis.on('error', () => {}); // failures surface through the commands
    this.prefix = options.keyPrefix ?? 'sb:';
  }

  private key(key: string): string {
    return `${this.prefix}rl:{${key}}`;
  }

  async take(key: string, spec: BucketSpec, cost = 1, need = cost): Promise<number> {
    return Number(await this.redis.eval(TAKE, 1, this.key(key), spec.capacity, spec.perSecond, cost, need));
  }

  async acquireSlot(key: string, id: string, limit: number, ttlMs: number): Promise<boolean> {
    return Number(await this.redis.eval(ACQUIRE, 1, this.key(key), id, limit, Math.ceil(ttlMs))) === 1;
  }

  async refreshSlots(slots: { key: string; id: string }[], ttlMs: number): Promise<void> {
    const replies = await pipelineBySlot(
      this.redis,
      slots,
      (s) => this.key(s.key),
      (pipeline, s) => void pipeline.eval(REFRESH, 1, this.key(s.key), s.id, Math.ceil(ttlMs)),
    );
    for (const item of replies) for (const [err] of item) if (err) throw err;
  }

  async releaseSlot(key: string, id: string): Promise<void> {
    await this.redis.zrem(this.key(key), id);
  }

  async close(): Promise<void> {
    if (this.ownsRedis) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
