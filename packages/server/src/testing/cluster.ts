import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { freePort, startServerProcess, type ServerProcess } from './harness.js';
import { freshPgSchema, startRedis, type TestRedis } from './services.js';

/** Starts a cluster node (`switchboard serve` with REDIS_URL + DATABASE_URL) on a fixed port. */
export async function startNode(opts: {
  redisUrl: string;
  databaseUrl: string;
  prefix: string;
  port?: number;
  env?: Record<string, string>;
}): Promise<ServerProcess> {
  const port = opts.port ?? (await freePort());
  return startServerProcess({
    dataDir: mkdtempSync(path.join(tmpdir(), 'sb-node-')),
    port,
    env: {
      REDIS_URL: opts.redisUrl,
      DATABASE_URL: opts.databaseUrl,
      REDIS_PREFIX: opts.prefix,
      PUBLIC_WS_URL: `ws://127.0.0.1:${port}/v1/ws`,
      LOG_LEVEL: 'error', // outages in these tests are deliberate: keep their warnings out of the test output
      ...opts.env,
    },
  });
}

export function testPrefix(): string {
  return `sbt${randomBytes(4).toString('hex')}:`;
}

/**
 * A minimal TCP load balancer for tests: each connection goes to the next backend
 * that accepts it, so clients that know only this address survive a node's death.
 * `cut()` drops every open connection; with `backendPorts()` returning none it refuses
 * new ones too (a proxy in front of a database simulates the database going away).
 */
export async function startBalancer(backendPorts: () => number[]): Promise<{ port: number; url: string; cut(): void; close(): void }> {
  let next = 0;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    client.pause();
    open.add(client);
    client.once('close', () => open.delete(client));
    const ports = backendPorts();
    const tryPort = (left: number) => {
      if (left <= 0) return client.destroy();
      const port = ports[next++ % ports.length]!;
      const upstream = net.connect(port, '127.0.0.1');
      upstream.once('connect', () => {
        open.add(upstream);
        upstream.once('close', () => open.delete(upstream));
        client.pipe(upstream).pipe(client);
        client.resume();
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        upstream.once('close', () => client.destroy());
        client.once('close', () => upstream.destroy());
      });
      upstream.once('error', () => tryPort(left - 1));
    };
    tryPort(ports.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const cut = () => {
    for (const s of open) s.destroy();
    open.clear();
  };
  return { port, url: `http://127.0.0.1:${port}`, cut, close: () => (cut(), server.close()) };
}

export { clusterServicesMissing, freshPgSchema, startRedis, type TestRedis } from './services.js';

/**
 * Before/after hooks of a cluster suite: a private redis-server, a fresh PostgreSQL schema
 * and `count` nodes on them (the first migrates the schema, the others start together
 * after it), killed and dropped afterwards. Call it inside `describe`.
 */
export function clusterSuite(
  count: number,
  opts: { env?: Record<string, string> } = {},
): { nodes: ServerProcess[]; redisUrl: () => string; databaseUrl: () => string } {
  const nodes: ServerProcess[] = [];
  let redis: TestRedis | undefined;
  let pg: { url: string; drop: () => Promise<void> } | undefined;
  before(async () => {
    redis = await startRedis();
    pg = await freshPgSchema();
    const start = () => startNode({ redisUrl: redis!.url, databaseUrl: pg!.url, prefix, env: opts.env });
    const prefix = testPrefix();
    nodes.push(await start());
    nodes.push(...(await Promise.all(Array.from({ length: count - 1 }, start))));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await redis?.stop();
    await pg?.drop();
  });
  return { nodes, redisUrl: () => redis!.url, databaseUrl: () => pg!.url };
}
