import { openRedis, type RedisClient, type RedisTarget } from '../redis-connection.js';
import type { WsTicketStore } from './ws-ticket-store.js';

export interface RedisWsTicketStoreOptions {
  /** A URL or detected target to connect to, or `redis`, a connection to share (not closed by close()). One of the two. */
  url?: string | RedisTarget;
  redis?: RedisClient;
  /** Put before every key. Zero value: `sb:`. */
  keyPrefix?: string;
}

/**
 * Cluster tickets, in Redis, so any node redeems what any node minted.
 *
 * Key model: {prefix}wst:{KEY}  STRING  the ticket's value; PX = the ticket's TTL, so an
 * unused ticket vanishes by itself. take() is GETDEL (Redis 6.2+): read and delete in one
 * atomic command, so a ticket is redeemed once however many nodes try at once. One key per
 * command: on a Redis Cluster the tickets spread over the slots.
 */
export class RedisWsTicketStore implements WsTicketStore {
  private readonly redis: RedisClient;
  private readonly ownsRedis: boolean;
  private readonly prefix: string;

  constructor(options: RedisWsTicketStoreOptions) {
    if (!options.redis && !options.url) throw new Error('RedisWsTicketStore needs url or redis');
    this.ownsRedis = !options.redis;
    this.redis = options.redis ?? openRedis(options.url!, { maxRetriesPerRequest: 2 });
    if (this.ownsRedis) this.redis.on('error', () => {}); // failures surface through the commands
    this.prefix = options.keyPrefix ?? 'sb:';
  }

  private key(key: string): string {
    return `${this.prefix}wst:${key}`;
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.key(key), value, 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async take(key: string): Promise<string | null> {
    return this.redis.getdel(this.key(key));
  }

  async close(): Promise<void> {
    if (this.ownsRedis) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
