import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { isCluster, openRedis } from '../engines/redis-connection.js';
import { freePort, sleep } from './harness.js';
import { pollUntil } from './poll.js';

/*
 * Every real service the tests use, in one place: the shared Redis of the engine suites
 * (with a key prefix per run and a clean-up), private redis-server processes and Redis
 * Clusters, and PostgreSQL schemas. Real Redis and PostgreSQL for cluster tests. Each test run gets its own redis-server
 * process (so a test may stop and restart it without disturbing anyone) and its own
 * PostgreSQL schema. Without them the tests skip with the reason printed, unless
 * SWITCHBOARD_REQUIRE_SERVICES=1, which turns a missing service into a failure.
 */

export const pgBaseUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

function requireOrSkip(reason: string | null, what: string): string | null {
  if (reason && process.env.SWITCHBOARD_REQUIRE_SERVICES === '1') throw new Error(`${reason}; SWITCHBOARD_REQUIRE_SERVICES=1 requires it`);
  if (reason) console.log(`# skipping ${what}: ${reason}`);
  return reason;
}

async function postgresUnreachable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: pgBaseUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return `PostgreSQL at ${pgBaseUrl.replace(/\/\/[^@]*@/, '//***@')} is unreachable (${(err as Error).message})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The shared Redis the engine suites use (they never stop it): REDIS_URL or the local one. */
export const testRedisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A fresh key and channel prefix, `sbtest:{pid}:{random}:`, so runs sharing a Redis never see each other's keys. */
export function uniquePrefix(): string {
  return `sbtest:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

/** Why the Redis engine suites cannot run here (Redis at `url` does not answer PING), or null. Throws instead when services are required. */
export async function redisUnavailable(url = testRedisUrl): Promise<string | null> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause = '';
  probe.on('error', (err: Error) => (cause = err.message)); // connect() rejects with a vaguer message
  let reason: string | null = null;
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    reason = `Redis at ${url} is unreachable (${cause || (err as Error).message}); start it or set REDIS_URL`;
  } finally {
    probe.disconnect();
  }
  return requireOrSkip(reason, 'the Redis suites');
}

/** Deletes every key under the prefix (SCAN, not KEYS, so a shared Redis is not stalled). */
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

/** Why PostgreSQL tests cannot run here, or null when they can. Throws instead when services are required. */
export async function postgresMissing(): Promise<string | null> {
  return requireOrSkip(await postgresUnreachable(), 'the PostgreSQL tests');
}

/** Why cluster tests cannot run here, or null when they can. Throws instead when services are required. */
export async function clusterServicesMissing(): Promise<string | null> {
  let reason = await postgresUnreachable();
  if (!reason) {
    const probe = spawn('redis-server', ['--version'], { stdio: 'ignore' });
    const ok = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.once('exit', (code) => resolve(code === 0));
    });
    if (!ok) reason = 'redis-server is not installed';
  }
  return requireOrSkip(reason, 'the cluster tests');
}

export interface TestRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** A private redis-server on a free loopback port (no persistence). */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  let proc: ChildProcess | null = null;
  const url = `redis://127.0.0.1:${port}`;
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
      r.on('error', () => {});
      try {
        await r.connect();
        await r.ping();
        r.disconnect();
        return;
      } catch {
        r.disconnect();
        if (Date.now() > deadline) throw new Error('redis-server did not start');
        await sleep(50);
      }
    }
  };
  const stop = async () => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((resolve) => p.once('exit', resolve));
    p.kill('SIGKILL');
    await exited;
  };
  await start();
  return { url, port, start, stop };
}

/** Whether a binary runs (`--version` exits 0). */
async function runs(command: string): Promise<boolean> {
  const probe = spawn(command, ['--version'], { stdio: 'ignore' });
  return new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.once('exit', (code) => resolve(code === 0));
  });
}

/** Why a Redis Cluster cannot be started here (redis-server or redis-cli missing), or null. Throws instead when services are required. */
export async function redisClusterMissing(): Promise<string | null> {
  let reason: string | null = null;
  if (!(await runs('redis-server'))) reason = 'redis-server is not installed';
  else if (!(await runs('redis-cli'))) reason = 'redis-cli is not installed';
  else {
    // Sharded pub/sub and --cluster-port need Redis 7.
    const { execFileSync } = await import('node:child_process');
    const version = /v=(\d+)\./.exec(execFileSync('redis-server', ['--version']).toString())?.[1];
    if (version !== undefined && Number(version) < 7)
      reason = `redis-server is version ${version}; the Redis Cluster tests need 7 or later`;
  }
  return requireOrSkip(reason, 'the Redis Cluster tests');
}

export interface TestRedisCluster {
  /** The seed list for REDIS_URL: `redis://127.0.0.1:P1,redis://127.0.0.1:P2,redis://127.0.0.1:P3`. */
  url: string;
  /** One URL per master, in start order. */
  urls: string[];
  ports: number[];
  /** Kills one master (SIGKILL) without touching the others. */
  stopNode(index: number): Promise<void>;
  /** Starts a stopped master again with its node config (same id, same slots). */
  startNode(index: number): Promise<void>;
  /** Kills every process and removes the temporary folder. */
  stop(): Promise<void>;
}

/**
 * A private 3-master Redis Cluster (no replicas, no persistence) on free loopback ports,
 * for the Redis Cluster variants of the engine suites and the cluster tests. Each node
 * gets a free client port and a free cluster-bus port (`--cluster-port`, so the bus port
 * need not be port + 10000); the nodes are joined with `redis-cli --cluster create` and
 * the helper resolves once every node reports `cluster_state:ok` and knows the others.
 */
export async function startRedisCluster(masters = 3): Promise<TestRedisCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-redis-cluster-'));
  const ports: number[] = [];
  const busPorts: number[] = [];
  // Distinct ports: freePort may hand the same one twice once it has been released.
  while (ports.length + busPorts.length < masters * 2) {
    const port = await freePort();
    if (ports.includes(port) || busPorts.includes(port)) continue;
    (ports.length < masters ? ports : busPorts).push(port);
  }
  const procs: (ChildProcess | null)[] = ports.map(() => null);
  const urls = ports.map((port) => `redis://127.0.0.1:${port}`);

  const startNode = async (i: number) => {
    const port = ports[i]!;
    const running = procs[i];
    if (running && running.exitCode === null && running.signalCode === null) return;
    procs[i] = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        path.join(dir, `nodes-${port}.conf`),
        '--cluster-port',
        String(busPorts[i]),
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    );
    // The test process may exit without stopping the cluster (the 'exit' hook below kills it then).
    procs[i]!.unref();
    await waitFor(urls[i]!, async (r) => r.ping(), 10_000, `redis-server on port ${port} did not start`);
  };
  const stopNode = async (i: number) => {
    const p = procs[i];
    procs[i] = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((resolve) => p.once('exit', resolve));
    p.ref(); // an unref'd child's exit would not keep the event loop waiting for it
    p.kill('SIGKILL');
    await exited;
  };
  // A test process that dies without its after() hooks must not leave the servers running.
  const killAll = () => {
    for (const p of procs) if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    await Promise.all(ports.map((_, i) => stopNode(i)));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await Promise.all(ports.map((_, i) => startNode(i)));
    const create = spawn(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    create.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    create.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      create.once('error', reject);
      create.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`redis-cli --cluster create failed (${code}): ${output.slice(-2000)}`);
    await Promise.all(urls.map((url) => waitForClusterOk(url, masters)));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: urls.join(','),
    urls,
    ports,
    stopNode,
    startNode: async (i) => (await startNode(i), await waitForClusterOk(urls[i]!, masters)),
    stop,
  };
}

/** Until this node says `cluster_state:ok` with every slot assigned and every master known. */
async function waitForClusterOk(url: string, masters: number): Promise<void> {
  await waitFor(
    url,
    async (r) => {
      const info = await r.call('CLUSTER', 'INFO');
      const text = String(info);
      const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(text)?.[1];
      if (
        field('cluster_state') !== 'ok' ||
        field('cluster_slots_assigned') !== '16384' ||
        Number(field('cluster_known_nodes')) < masters
      ) {
        throw new Error(`not ready: ${text.split('\n').slice(0, 3).join(' ')}`);
      }
    },
    20_000,
    `Redis Cluster node ${url} did not reach cluster_state:ok`,
  );
}

/** Retries `check` on a fresh connection to `url` until it resolves or the time is up. */
async function waitFor(url: string, check: (r: Redis) => Promise<unknown>, timeoutMs: number, message: string): Promise<void> {
  const attempt = async (): Promise<string> => {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      await check(r);
      return 'ok';
    } catch (err) {
      return (err as Error).message;
    } finally {
      r.disconnect();
    }
  };
  await pollUntil(message, attempt, (answer) => answer === 'ok', timeoutMs);
}

/** A fresh PostgreSQL schema and a connection string whose sessions use it. */
export async function freshPgSchema(): Promise<{ url: string; drop: () => Promise<void> }> {
  const schema = `sb_cluster_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgBaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(pgBaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: pgBaseUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}
