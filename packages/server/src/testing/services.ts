import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { freePort, sleep } from './harness.js';

/*
 * Real Redis and PostgreSQL for cluster tests. Each test run gets its own redis-server
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
