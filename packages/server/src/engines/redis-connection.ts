import { createRequire } from 'node:module';
import { Cluster, Redis, type ChainableCommander, type ClusterOptions, type RedisOptions } from 'ioredis';

/*
 * Where Redis is and how to connect to it, for every Redis engine: one Redis, or a Redis
 * Cluster. `REDIS_URL` is either one URL (`redis://host:port`, `rediss://…`), which may
 * name a standalone Redis or any node of a cluster, or a comma-separated list of seed
 * URLs, which always means a cluster. A single URL is told apart by asking the server
 * once at start (`INFO cluster` → `cluster_enabled:1`).
 *
 * On a cluster every command must stay within one hash slot: a Lua script's keys, a
 * multi-key command's keys, and (in ioredis) every command of one pipeline. The engines
 * keep that rule with hash tags (`{…}`) where keys must live together, and with
 * pipelineBySlot() where a batch touches independent keys.
 */

export type RedisClient = Redis | Cluster;

export interface RedisTarget {
  /** true: a Redis Cluster reached through these seed URLs; false: the one Redis at urls[0]. */
  cluster: boolean;
  urls: string[];
}

/** `a,b,c` → URLs; a bare `host:port` gets `redis://`. */
export function splitRedisUrls(value: string): string[] {
  const urls = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `redis://${s}`));
  if (urls.length === 0) throw new Error('REDIS_URL is empty');
  return urls;
}

/** Without a round trip: a list is a cluster; one URL is taken as a standalone Redis (detectRedisTarget asks the server). */
export function parseRedisTarget(value: string): RedisTarget {
  const urls = splitRedisUrls(value);
  return { cluster: urls.length > 1, urls };
}

/** Hides a password in a URL list for messages and logs. */
export function redactRedisUrl(value: string): string {
  return value.replace(/\/\/([^@/]*)@/g, '//***@');
}

/**
 * Decides once, at start, whether REDIS_URL is a cluster: a list of seeds is; one URL is
 * probed with `INFO cluster`. Rejects when that one Redis cannot be reached.
 */
export async function detectRedisTarget(value: string, options: { connectTimeoutMs?: number } = {}): Promise<RedisTarget> {
  const target = parseRedisTarget(value);
  if (target.cluster) return target;
  const probe = new Redis(target.urls[0]!, {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let cause = '';
  probe.on('error', (err: Error) => (cause = err.message)); // connect() rejects with a vaguer message
  try {
    await probe.connect();
    const info = await probe.info('cluster');
    return { cluster: /^cluster_enabled:1\b/m.test(info), urls: target.urls };
  } catch (err) {
    throw new Error(`Redis at ${redactRedisUrl(value)} is unreachable (${cause || (err as Error).message})`, { cause: err });
  } finally {
    probe.disconnect();
  }
}

/** Credentials and TLS from a URL, for the per-node connections of a cluster. */
function nodeAuth(url: string): RedisOptions {
  const u = new URL(url);
  const auth: RedisOptions = {};
  if (u.username) auth.username = decodeURIComponent(u.username);
  if (u.password) auth.password = decodeURIComponent(u.password);
  if (u.protocol === 'rediss:') auth.tls = {};
  return auth;
}

/**
 * Opens a client: `Redis` for a standalone target, `Cluster` for a cluster. `options` are
 * per-connection options (for a cluster they apply to each node connection, except
 * lazyConnect and enableOfflineQueue, which are the cluster's own); `clusterOptions` add
 * to or override the cluster settings. A string is parsed without a round trip.
 */
export function openRedis(target: RedisTarget | string, options: RedisOptions = {}, clusterOptions: ClusterOptions = {}): RedisClient {
  const t = typeof target === 'string' ? parseRedisTarget(target) : target;
  if (!t.cluster) return new Redis(t.urls[0]!, options);
  const seeds = t.urls.map((url) => {
    const u = new URL(url);
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) };
  });
  const { lazyConnect, enableOfflineQueue, ...perNode } = options;
  return new Cluster(seeds, {
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...clusterOptions,
    redisOptions: { ...nodeAuth(t.urls[0]!), ...perNode, ...clusterOptions.redisOptions },
  });
}

export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

// The CRC16 slot function ioredis itself routes with (its dependency cluster-key-slot,
// resolved from ioredis's own folder so it is found however node_modules is laid out).
const requireFromIoredis = createRequire(createRequire(import.meta.url).resolve('ioredis'));
const calculateSlot = requireFromIoredis('cluster-key-slot') as (key: string) => number;

/** The cluster hash slot (0..16383) of a key or shard channel, honouring `{hash tags}`. */
export function slotOf(key: string): number {
  return calculateSlot(key);
}

/** `host:port` of the master owning a slot, from the client's slot map (null while it has none). */
export function slotOwner(cluster: Cluster, slot: number): string | null {
  return cluster.slots[slot]?.[0] ?? null;
}

/** Asks the cluster client to reload its slot map now; resolves either way. */
export function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => {
    try {
      cluster.refreshSlotsCache(() => resolve());
    } catch {
      resolve();
    }
  });
}

/** A plain connection to one cluster node (`host:port`), with the cluster's node options. */
export function nodeConnection(cluster: Cluster, nodeKey: string, options: RedisOptions = {}): Redis {
  const at = nodeKey.lastIndexOf(':');
  return new Redis({ ...cluster.options.redisOptions, host: nodeKey.slice(0, at), port: Number(nodeKey.slice(at + 1)), ...options });
}

export type PipelineReplies = [error: Error | null, result: unknown][];

/**
 * Runs a batch of commands in as few round trips as the deployment allows and gives each
 * item back its own replies, in order. `add` queues one item's commands (all on keys of
 * the item's `key` slot). A standalone Redis gets one pipeline. A cluster gets one
 * pipeline per slot (ioredis refuses a pipeline that spans slots), all sent at once; a
 * slot whose pipeline fails as a whole gets that error for each of its commands.
 */
export async function pipelineBySlot<T>(
  client: RedisClient,
  items: readonly T[],
  key: (item: T) => string,
  add: (pipeline: ChainableCommander, item: T) => void,
): Promise<PipelineReplies[]> {
  if (items.length === 0) return [];
  const groups = new Map<number, number[]>();
  if (isCluster(client)) {
    items.forEach((item, i) => {
      const slot = slotOf(key(item));
      const group = groups.get(slot);
      if (group) group.push(i);
      else groups.set(slot, [i]);
    });
  } else {
    groups.set(
      -1,
      items.map((_, i) => i),
    );
  }
  const out: PipelineReplies[] = new Array(items.length);
  await Promise.all(
    [...groups.values()].map(async (indexes) => {
      const pipeline = client.pipeline();
      const counts: number[] = [];
      for (const i of indexes) {
        const before = pipeline.length;
        add(pipeline, items[i]!);
        counts.push(pipeline.length - before);
      }
      let replies: PipelineReplies;
      try {
        replies = ((await pipeline.exec()) as PipelineReplies | null) ?? failAll(pipeline.length, new Error('pipeline discarded'));
      } catch (err) {
        replies = failAll(pipeline.length, err as Error);
      }
      let at = 0;
      indexes.forEach((i, n) => {
        out[i] = replies.slice(at, at + counts[n]!);
        at += counts[n]!;
      });
    }),
  );
  return out;
}

function failAll(count: number, err: Error): PipelineReplies {
  return Array.from({ length: count }, () => [err, null]);
}

/**
 * Resolves once the client is ready (connecting it if it was created lazily); rejects
 * after `timeoutMs`, or when the client gives up. A cluster client never gives up by
 * itself (it retries, and queues or refuses commands meanwhile), so a start must not
 * wait on a command to learn that the cluster is unreachable.
 */
export async function awaitReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  let last = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => void (last = err.message);
    const onReady = () => (cleanup(), resolve());
    const onEnd = () => (cleanup(), reject(new Error(`connection ended${last ? ` (${last})` : ''}`)));
    const timer = setTimeout(() => (cleanup(), reject(new Error(`not ready after ${timeoutMs} ms${last ? ` (${last})` : ''}`))), timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      client.off('error', onError);
    };
    client.on('ready', onReady);
    client.on('end', onEnd);
    client.on('error', onError);
  });
  if (client.status === 'wait') client.connect().catch((err: Error) => void (last = err.message));
  await ready;
}

/** QUIT when connected (lets replies drain), otherwise just drop the connection and stop reconnecting. */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through
    }
  }
  client.disconnect();
}
