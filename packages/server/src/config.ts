import path from 'node:path';
import { z } from 'zod';

/*
 * Server configuration: validated once at start, then frozen. Every field documents
 * its default; CLI flags override environment variables, which override defaults.
 */
const ConfigSchema = z.object({
  /** TCP port for HTTP and WebSocket. 0 picks a free port. Default 8080. */
  port: z.number().int().min(0).max(65535).default(8080),
  /** Listen address. Default 0.0.0.0. */
  host: z.string().default('0.0.0.0'),
  /** Embedded store folder (SQLite). Default ./data. */
  dataDir: z.string().default('./data'),
  /** pino level. Default info. */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** ws URL handed out by POST /v1/sessions; default derived from the request's Host header. */
  publicWsUrl: z.string().optional(),
  /** Snowflake node id (0..1023), unique among live nodes. Default: 0 embedded; in a cluster, allocated from Redis at start. */
  snowflakeNodeId: z.number().int().min(0).max(1023).optional(),
  /** Prefix of every Redis key and channel, so deployments (or test runs) can share a Redis. Default sb:. */
  redisPrefix: z.string().default('sb:'),
  /** A socket is offline after this long without a frame or pong (ms). Default 30000. */
  presenceTimeoutMs: z.number().int().positive().default(30_000),
  /** The server pings a socket that has been silent this long (ms). Default 10000. */
  pingIntervalMs: z.number().int().positive().default(10_000),
  /** Per-socket cap on queued outbound bytes before the socket is closed as too slow. Default 8 MiB. */
  maxSocketBufferBytes: z
    .number()
    .int()
    .positive()
    .default(8 * 1024 * 1024),
  /** Groups with more members than this fan out through the fan-out queue. Default 100. */
  fanoutThreshold: z.number().int().min(0).default(100),
  /** Whether this node also runs a fan-out worker (cluster: or leave it to `switchboard worker`). Default true. */
  fanoutWorker: z.boolean().default(true),
  /** Bound on queued fan-out jobs; senders wait when it is full. Default 10000. */
  fanoutQueueCapacity: z.number().int().positive().default(10_000),
  /** Typing frames allowed per socket per second. Default 5. */
  typingPerSecond: z.number().positive().default(5),
  /** scrypt cost (N). Default 16384; tests may lower it. */
  scryptCost: z.number().int().min(2).default(16_384),
  /** How long SIGTERM waits for in-flight work (ms). Default 5000. */
  shutdownGraceMs: z.number().int().positive().default(5_000),
  /**
   * Cluster mode: both set selects Redis + PostgreSQL engines. REDIS_URL is one Redis, one
   * node of a Redis Cluster (told apart at start with INFO cluster), or a comma-separated
   * list of Redis Cluster seed nodes (`redis://h1:7000,redis://h2:7000`); see
   * engines/redis-connection.ts.
   */
  // ---- bounds (issue 9): see docs/protocol-notes.md "Bounds" ----
  /** A socket whose outbound buffer stays over the replay high-water mark this long (ms) is closed with 4001. Default 30000. */
  stalledSocketTimeoutMs: z.number().int().positive().default(30_000),
  /** Open TCP connections (HTTP and sockets) the listener accepts; more are refused at once. Default 100000. */
  maxConnections: z.number().int().positive().default(100_000),
  /** HTTP: time to receive a request's headers / the whole request (ms). Defaults 15000 / 120000. */
  httpHeadersTimeoutMs: z.number().int().positive().default(15_000),
  httpRequestTimeoutMs: z.number().int().positive().default(120_000),
  /** Bearer token that opens GET /metrics on the public listener; unset: /metrics answers 404 there. */
  metricsToken: z.string().min(16).optional(),
  /** An internal listener serving only GET /metrics, without a token (unset: none). Host defaults to 127.0.0.1. */
  metricsPort: z.number().int().min(0).max(65535).optional(),
  metricsHost: z.string().default('127.0.0.1'),
  redisUrl: z.string().refine(validRedisUrls, 'expected a redis:// (or rediss://) URL, or a comma-separated list of them').optional(),
  databaseUrl: z.string().optional(),
});

/** One `redis://` / `rediss://` URL (or bare `host:port`), or a comma-separated list of them. */
function validRedisUrls(value: string): boolean {
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return (
    parts.length > 0 &&
    parts.every((part) => {
      try {
        const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(part) ? part : `redis://${part}`);
        return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
      } catch {
        return false;
      }
    })
  );
}

export type ServerConfig = Readonly<z.infer<typeof ConfigSchema>>;

function envNumber(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${v}`);
  return n;
}

/** Builds the config from overrides (CLI flags) over environment variables over defaults. */
export function loadConfig(overrides: Partial<z.input<typeof ConfigSchema>> = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const fromEnv = {
    port: envNumber(env.PORT),
    host: env.HOST || undefined,
    dataDir: env.DATA_DIR || undefined,
    logLevel: env.LOG_LEVEL || undefined,
    publicWsUrl: env.PUBLIC_WS_URL || undefined,
    snowflakeNodeId: envNumber(env.NODE_ID),
    fanoutThreshold: envNumber(env.FANOUT_THRESHOLD),
    fanoutWorker:
      env.FANOUT_WORKER === undefined || env.FANOUT_WORKER === '' ? undefined : env.FANOUT_WORKER !== '0' && env.FANOUT_WORKER !== 'false',
    presenceTimeoutMs: envNumber(env.PRESENCE_TIMEOUT_MS),
    pingIntervalMs: envNumber(env.PING_INTERVAL_MS),
    scryptCost: envNumber(env.SCRYPT_COST),
    redisPrefix: env.REDIS_PREFIX || undefined,
    stalledSocketTimeoutMs: envNumber(env.STALLED_SOCKET_TIMEOUT_MS),
    maxConnections: envNumber(env.MAX_CONNECTIONS),
    httpHeadersTimeoutMs: envNumber(env.HTTP_HEADERS_TIMEOUT_MS),
    httpRequestTimeoutMs: envNumber(env.HTTP_REQUEST_TIMEOUT_MS),
    metricsToken: env.METRICS_TOKEN || undefined,
    metricsPort: envNumber(env.METRICS_PORT),
    metricsHost: env.METRICS_HOST || undefined,
    redisUrl: env.REDIS_URL || undefined,
    databaseUrl: env.DATABASE_URL || undefined,
  };
  const merged: Record<string, unknown> = {};
  for (const [k, v] of Object.entries({ ...fromEnv, ...overrides })) if (v !== undefined) merged[k] = v;
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid configuration: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  return Object.freeze({ ...parsed.data, dataDir: path.resolve(parsed.data.dataDir) });
}
