import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { isCluster, openRedis } from './redis-connection.js';

/*
 * What the Redis engine tests share: where Redis is, a key prefix unique to this run
 * (so parallel runs on one Redis never see each other's keys or channels), and a
 * clean-up that deletes everything under that prefix. When Redis cannot be reached the
 * suites are skipped with the reason printed, unless SWITCHBOARD_REQUIRE_SERVICES=1
 * (CI), where a missing service must fail rather than pass silently.
 */

export const testRedisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A fresh prefix per call: `sbtest:{pid}:{random}:`. */
export function uniquePrefix(): string {
  return `sbtest:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

/** Resolves null when Redis answers PING, or the reason to skip the Redis suites. */
export async function redisUnavailable(url = testRedisUrl): Promise<string | null> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause = '';
  probe.on('error', (err: Error) => (cause = err.message)); // connect() rejects with a vaguer message
  try {
    await probe.connect();
    await probe.ping();
    return null;
  } catch (err) {
    const reason = `Redis at ${url} is unreachable (${cause || (err as Error).message}); start it or set REDIS_URL`;
    if (process.env.SWITCHBOARD_REQUIRE_SERVICES === '1') throw new Error(`${reason} (SWITCHBOARD_REQUIRE_SERVICES=1)`, { cause: err });
    console.log(`skipping Redis suites: ${reason}`);
    return reason;
  } finally {
    probe.disconnect();
  }
}

/**
 * Deletes every key under the prefix (SCAN, not KEYS, so a shared Redis is not stalled).
 * A comma-separated seed list is a Redis Cluster: every master is scanned, and keys are
 * unlinked one by one (one UNLINK may not span slots).
 */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = openRedis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    const servers = isCluster(client) ? (await clusterReady(client), client.nodes('master')) : [client];
    for (const server of servers) {
      let cursor = '0';
      do {
        const [next, keys] = await server.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length === 0) continue;
        const pipeline = server.pipeline();
        for (const key of keys) pipeline.unlink(key);
        await pipeline.exec();
      } while (cursor !== '0');
    }
  } finally {
    client.disconnect();
  }
}

/** Resolves once a cluster client has its slot map and node connections. */
function clusterReady(client: { status: string; once(event: string, cb: (...args: unknown[]) => void): unknown }): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('end', () => reject(new Error('Redis Cluster connection ended')));
  });
}

/**
 * A throwaway redis-server of this test's own, for outage tests that stop and restart
 * Redis (the shared one must never be stopped). Same port across restarts, so clients
 * reconnect to it.
 */
export async function privateRedis(): Promise<{ url: string; stop: () => Promise<void>; start: () => Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const { createServer } = await import('node:net');
  const port = await new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
  const url = `redis://127.0.0.1:${port}`;
  let child: ReturnType<typeof spawn> | null = null;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await probe.connect();
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        probe.disconnect();
      }
    }
    throw new Error(`redis-server on port ${port} did not start`);
  };
  const stop = async () => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGKILL'); // a crash, not a clean shutdown
    });
  };
  await start();
  return { url, stop, start };
}

/** The port of the master owning each of the 16,384 slots, as one node of a Redis Cluster tells it (CLUSTER SLOTS). */
export async function clusterSlotPorts(nodeUrl: string): Promise<number[]> {
  const redis = new Redis(nodeUrl, { maxRetriesPerRequest: 1 });
  try {
    const ranges = (await redis.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
    const ports = new Array<number>(16384).fill(0);
    for (const [start, end, [, port]] of ranges) for (let slot = start; slot <= end; slot++) ports[slot] = Number(port);
    return ports;
  } finally {
    redis.disconnect();
  }
}
