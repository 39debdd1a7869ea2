import type { ServerConfig } from '../config.js';
import type { Bus } from './bus/bus.js';
import type { FanoutQueue } from './fanout-queue/fanout-queue.js';
import type { NodeRegistry } from './node-registry/node-registry.js';
import type { PresenceStore } from './presence-store/presence-store.js';
import type { RateLimitStore } from './rate-limit-store/rate-limit-store.js';
import type { PushQueue } from './push-queue/push-queue.js';
import type { Store } from './store/store.js';
import type { WsTicketStore } from './ws-ticket-store/ws-ticket-store.js';
import type { Logger } from '../util/logger.js';
import { Snowflake } from '../util/snowflake.js';

export interface Engines {
  store: Store;
  bus: Bus;
  fanout: FanoutQueue;
  presenceStore: PresenceStore;
  registry: NodeRegistry;
  /** Counters of the limits that must hold across nodes (limits/sessions). */
  rateLimits: RateLimitStore;
  /** Push jobs, and which devices have an open socket (ids are device ids): see push/. */
  pushQueue: PushQueue;
  devicePresence: PresenceStore;
  /** Single-use socket tickets (POST /v1/ws-tickets), redeemable on any node. */
  wsTickets: WsTicketStore;
  /** Mints message and other ids: snowflakes whose node id (0..1023) no other live node holds. */
  ids: Snowflake;
  /** Closes every engine, in an order that lets each finish its work: fan-out, bus, presence, store, registry, shared connections. */
  close(): Promise<void>;
  /** This node's name in shared state (presence entries, node registry). */
  nodeName: string;
  mode: 'embedded' | 'cluster';
}

/**
 * Configuration → engine implementations. Drivers are imported lazily so embedded mode
 * never loads pg or ioredis. `log` gets what an engine drops for good (push dead letters).
 */
export async function createEngines(config: ServerConfig, log: Logger): Promise<Engines> {
  if (config.redisUrl && config.databaseUrl) return createClusterEngines(config, config.redisUrl, config.databaseUrl, log);
  if (config.redisUrl || config.databaseUrl) throw new Error('cluster mode needs both REDIS_URL and DATABASE_URL');
  const { SqliteStore } = await import('./store/sqlite-store.js');
  const { InProcessBus } = await import('./bus/in-process-bus.js');
  const { InProcessFanoutQueue } = await import('./fanout-queue/in-process-fanout-queue.js');
  const { InMemoryPresenceStore } = await import('./presence-store/in-memory-presence-store.js');
  const { SingleNodeRegistry } = await import('./node-registry/single-node-registry.js');
  const { InMemoryRateLimitStore } = await import('./rate-limit-store/in-memory-rate-limit-store.js');
  const { InProcessPushQueue } = await import('./push-queue/in-process-push-queue.js');
  const { InMemoryWsTicketStore } = await import('./ws-ticket-store/in-memory-ws-ticket-store.js');
  const engines = {
    mode: 'embedded' as const,
    store: new SqliteStore(config.dataDir, log),
    bus: new InProcessBus(),
    fanout: new InProcessFanoutQueue(config.fanoutQueueCapacity),
    presenceStore: new InMemoryPresenceStore(config.presenceTimeoutMs),
    pushQueue: new InProcessPushQueue(10_000),
    devicePresence: new InMemoryPresenceStore(config.presenceTimeoutMs),
    nodeName: 'embedded',
    registry: new SingleNodeRegistry(),
    rateLimits: new InMemoryRateLimitStore(),
    wsTickets: new InMemoryWsTicketStore(),
    ids: new Snowflake(config.snowflakeNodeId ?? 0),
  };
  return { ...engines, close: () => closeInOrder(engines) };
}

/**
 * Cluster mode: PostgreSQL store; Redis bus, fan-out streams, presence and node registry.
 * REDIS_URL may be one Redis, one node of a Redis Cluster, or a comma-separated list of
 * cluster seeds: redis-connection.ts decides which, once, here.
 */
async function createClusterEngines(config: ServerConfig, redisUrl: string, databaseUrl: string, log: Logger): Promise<Engines> {
  const { awaitReady, detectRedisTarget, openRedis, redactRedisUrl } = await import('./redis-connection.js');
  const { hostname } = await import('node:os');
  const { randomBytes } = await import('node:crypto');
  const { PostgresStore } = await import('./store/postgres-store.js');
  const { RedisBus } = await import('./bus/redis-bus.js');
  const { RedisStreamFanoutQueue } = await import('./fanout-queue/redis-stream-fanout-queue.js');
  const { RedisPresenceStore } = await import('./presence-store/redis-presence-store.js');
  const { RedisNodeRegistry } = await import('./node-registry/redis-node-registry.js');
  const { RedisRateLimitStore } = await import('./rate-limit-store/redis-rate-limit-store.js');
  const { RedisStreamPushQueue } = await import('./push-queue/redis-stream-push-queue.js');
  const { RedisWsTicketStore } = await import('./ws-ticket-store/redis-ws-ticket-store.js');
  const { NodeIdLease } = await import('./node-id-lease.js');

  const prefix = config.redisPrefix;
  const nodeName = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const target = await detectRedisTarget(redisUrl, { connectTimeoutMs: 2000 });
  // One client for ordinary commands (a `Cluster` on a Redis Cluster); the bus and the
  // stream readers open their own connections. A cluster client has no per-command retry
  // limit: once it is ready it gets no offline queue, so while the whole cluster is
  // unreachable commands fail at once (as the single client's do after two retries)
  // instead of piling up.
  const redis = openRedis(target, { maxRetriesPerRequest: 2, connectTimeout: 2000, ...(target.cluster ? { lazyConnect: true } : {}) });
  redis.on('error', () => {}); // failures surface through the commands that need Redis
  if (target.cluster) {
    try {
      await awaitReady(redis, 10_000);
    } catch (err) {
      redis.disconnect();
      throw new Error(`Redis Cluster at ${redactRedisUrl(redisUrl)} is unreachable: ${(err as Error).message}`, { cause: err });
    }
    redis.options.enableOfflineQueue = false;
  }
  const store = await PostgresStore.open(databaseUrl);
  // Snowflake ids must not collide between live nodes: a leased node id (node-id-lease.ts),
  // unless NODE_ID names one (then keeping it unique is the operator's part).
  const ids = new Snowflake(config.snowflakeNodeId ?? 0);
  const lease =
    config.snowflakeNodeId === undefined
      ? await NodeIdLease.acquire(redis, {
          prefix,
          owner: nodeName,
          onMoved: (id) => {
            log.warn(
              { from: ids.currentNodeId, to: id },
              'snowflake node id taken by another node (Redis lost its lease): moved to a free one',
            );
            ids.setNodeId(id);
          },
          onRenewFailed: (err) => log.warn({ err }, 'snowflake node id lease not renewed; trying again'),
        })
      : null;
  if (lease) ids.setNodeId(lease.id);
  const bus = await RedisBus.connect({ url: target, channelPrefix: prefix });
  const engines = {
    mode: 'cluster' as const,
    store,
    bus,
    fanout: new RedisStreamFanoutQueue({ redis, consumer: nodeName, keyPrefix: prefix }),
    presenceStore: new RedisPresenceStore({ redis, keyPrefix: prefix, ttlMs: config.presenceTimeoutMs }),
    registry: new RedisNodeRegistry(redis, { prefix, ttlMs: 10_000 }),
    rateLimits: new RedisRateLimitStore({ redis, keyPrefix: prefix }),
    wsTickets: new RedisWsTicketStore({ redis, keyPrefix: prefix }),
    pushQueue: new RedisStreamPushQueue({ redis, target, consumer: nodeName, keyPrefix: prefix, reclaimIdleMs: config.pushReclaimMs, log }),
    // Per device, in keys of their own: {prefix}device-presence:{deviceId}.
    devicePresence: new RedisPresenceStore({ redis, keyPrefix: `${prefix}device-`, ttlMs: config.presenceTimeoutMs }),
    nodeName,
    ids,
  };
  return {
    ...engines,
    close: async () => {
      await closeInOrder(engines);
      await lease?.close();
      redis.disconnect(); // shared by the fan-out queue, presence, the registry, the rate limits and the tickets
    },
  };
}

/** Fan-out first (its jobs publish on the bus), the store after everything that writes to it. */
async function closeInOrder(engines: Omit<Engines, 'close'>): Promise<void> {
  await engines.fanout.close();
  await engines.pushQueue.close();
  await engines.bus.close();
  await engines.presenceStore.close();
  await engines.devicePresence.close();
  await engines.store.close();
  await engines.registry.close();
  await engines.rateLimits.close();
  await engines.wsTickets.close();
}
