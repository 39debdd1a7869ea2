import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_LIMITS, limitSettingsFromEnv, type LimitSettings } from './core/limit-settings.js';

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
  /** How long a socket ticket (POST /v1/ws-tickets) stays valid, in ms (WS_TICKET_TTL_MS). Default 30000. */
  wsTicketTtlMs: z.number().int().positive().default(30_000),
  /** Typing frames allowed per socket per second. Default 5. */
  typingPerSecond: z.number().positive().default(5),
  /**
   * PASSWORD_HASH_KIB: argon2id memory (KiB) for new password hashes (t=2, p=1). Default
   * 19456 (19 MiB, OWASP's guidance). Hashes made with less (or with scrypt, before argon2id)
   * are redone at the next successful login. Tests lower it (the harness uses 1024) so that
   * thousands of users are quick.
   */
  passwordHashKib: z
    .number()
    .int()
    .min(64)
    .max(4 * 1024 * 1024)
    .default(19_456),
  /** MAX_DEVICES_PER_USER: live sessions per user; a login past it ends the least recently active one. Default 100. */
  maxDevicesPerUser: z.number().int().min(1).max(1000).default(100),
  /**
   * A session not used for this long (ms) is over: its token answers 401. From
   * SESSION_IDLE_DAYS (default 90), or SESSION_IDLE_MS, meant for tests, which wins.
   */
  sessionIdleMs: z
    .number()
    .int()
    .positive()
    .default(90 * 86_400_000),
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
  // ---- GET /v1/events (PROTOCOL.md "Without WebSockets") ----
  /** EVENTS_POLL_WAIT_MS: how long a long-poll with nothing to answer waits before `{frames:[]}`. Default 25000. */
  eventsPollWaitMs: z.number().int().positive().default(25_000),
  /** EVENTS_IDLE_MS: a stream not polled or connected for this long is closed. Default 60000. */
  eventsIdleMs: z.number().int().positive().default(60_000),
  /** EVENTS_COMMENT_MS: an SSE stream gets a comment line when nothing else was written for this long. Default 15000. */
  eventsCommentMs: z.number().int().positive().default(15_000),
  /** Open TCP connections (HTTP and sockets) the listener accepts; more are refused at once. Default 100000. */
  maxConnections: z.number().int().positive().default(100_000),
  /** HTTP: time to receive a request's headers / the whole request (ms). Defaults 15000 / 120000. */
  httpHeadersTimeoutMs: z.number().int().positive().default(15_000),
  httpRequestTimeoutMs: z.number().int().positive().default(300_000),
  /** Bearer token that opens GET /metrics on the public listener; unset: /metrics answers 404 there. */
  metricsToken: z.string().min(16).optional(),
  /** ADMIN_TOKEN: opens /v1/admin/ (PROTOCOL.md "Operators"); at least 32 characters. Unset: every admin call answers 404. */
  adminToken: z.string().min(32, 'ADMIN_TOKEN must be at least 32 characters').optional(),
  // ---- signing in from your own app (PROTOCOL.md "Signing in from your own app"; core/external-auth.ts) ----
  /** AUTH_JWT_SECRET: HS256 key of the host app's assertions, at least 32 bytes. Unset: no HS256. */
  authJwtSecret: z
    .string()
    .refine((s) => Buffer.byteLength(s) >= 32, 'AUTH_JWT_SECRET must be at least 32 bytes')
    .optional(),
  /** AUTH_JWKS_URL: the host app's public keys (RS256, ES256, EdDSA), fetched and cached. Unset: none. */
  authJwksUrl: z.string().url('AUTH_JWKS_URL must be a URL').optional(),
  /** AUTH_JWT_ISSUER / AUTH_JWT_AUDIENCE: the `iss` and `aud` an assertion must carry; required with either key source. */
  authJwtIssuer: z.string().min(1).optional(),
  authJwtAudience: z.string().min(1).optional(),
  /** PASSWORD_LOGIN=off: no username/password registration or login (403 forbidden). Default on. */
  passwordLogin: z.boolean().default(true),
  /** Webhook retries (PROTOCOL.md "Webhooks"): the first after WEBHOOK_RETRY_BASE_MS, doubling up to WEBHOOK_RETRY_MAX_MS, given up after WEBHOOK_RETRY_HOURS. */
  webhookRetryBaseMs: z.number().int().min(1).max(10_000).default(5_000),
  webhookRetryMaxMs: z.number().int().min(1).default(3_600_000),
  webhookRetryHours: z.number().positive().default(24),
  /** How often each node looks for webhook events that are due (ms). */
  webhookPollMs: z.number().int().min(10).default(1_000),
  /** How long a node's claim on a webhook event lasts before another node may take it over (a dead node's events). */
  webhookLeaseMs: z.number().int().min(100).default(30_000),
  /** An internal listener serving only GET /metrics, without a token (unset: none). Host defaults to 127.0.0.1. */
  metricsPort: z.number().int().min(0).max(65535).optional(),
  metricsHost: z.string().default('127.0.0.1'),
  redisUrl: z.string().refine(validRedisUrls, 'expected a redis:// (or rediss://) URL, or a comma-separated list of them').optional(),
  databaseUrl: z.string().optional(),
  /** RATE_LIMITS=off switches every per-client limit off (load tests). Default on. */
  rateLimits: z.boolean().default(true),
  /** TRUST_PROXY: take the client address from X-Forwarded-For (its last entry, the one the proxy added). Default off. */
  trustProxy: z.boolean().default(false),
  /** Each limit's setting (LIMIT_* variables; see core/limit-settings.ts). */
  limits: z.custom<LimitSettings>((v) => typeof v === 'object' && v !== null).default(DEFAULT_LIMITS),
  // ---- push (PROTOCOL.md "Push notifications"; README "Push notifications") ----
  /** PUSH_PREVIEW=on: pushes carry the sender's name and the first 100 characters. Default off. */
  pushPreview: z.boolean().default(false),
  /** URL prefixes a Web Push endpoint must start with (`https://*.host/` matches subdomains). Default: the browsers' push services. */
  webpushAllowedEndpoints: z
    .array(z.string())
    .default([
      'https://fcm.googleapis.com/',
      'https://updates.push.services.mozilla.com/',
      'https://web.push.apple.com/',
      'https://*.notify.windows.com/',
    ]),
  /** VAPID key pair (base64url) and contact; unset: generated once (DATA_DIR, or shared through Redis in a cluster). */
  vapidPublicKey: z.string().optional(),
  vapidPrivateKey: z.string().optional(),
  vapidSubject: z.string().default('mailto:push@switchboard.invalid'),
  /** APNs endpoint for every target; unset: Apple's production or sandbox endpoint per target. */
  apnsUrl: z.string().url().optional(),
  /** APNs token key (.p8), its key id, the team id and the app's bundle id (apns-topic). APNs is off without a key. */
  apnsKeyFile: z.string().optional(),
  apnsKeyId: z.string().optional(),
  apnsTeamId: z.string().optional(),
  apnsTopic: z.string().optional(),
  /** FCM endpoint. Default https://fcm.googleapis.com. */
  fcmUrl: z.string().url().default('https://fcm.googleapis.com'),
  /** FCM service account JSON; FCM is off without one. */
  fcmServiceAccountFile: z.string().optional(),
  /** Cluster: a push job held this long by a node is taken over by another (the node died). Default 60000. */
  pushReclaimMs: z.number().int().min(1000).default(60_000),
  // ---- message lifecycle (PROTOCOL.md "Message lifecycle") ----
  /** How long after sending its sender may edit a message, in seconds (EDIT_WINDOW_S). Default 900. */
  editWindowS: z.number().min(0).default(900),
  /** How long after sending its sender may delete a message for everyone, in seconds (DELETE_WINDOW_S). Default 172800. */
  deleteWindowS: z.number().min(0).default(172_800),
  // ---- retention (PROTOCOL.md settings table; core/retention.ts; README "Retention") ----
  /**
   * Log entries older than this (ms) are erased in the background. From RETENTION_DAYS, or
   * RETENTION_MS, meant for tests, which wins. Unset: kept forever.
   */
  retentionMs: z.number().int().positive().optional(),
  /** Entries erased per batch (RETENTION_BATCH): a transaction in a cluster; slices riding the sends' commits embedded. Default 50. */
  retentionBatch: z.number().int().min(1).max(10_000).default(50),
  /**
   * Least pause between two batches (RETENTION_PAUSE_MS); the pause is also at least three
   * times as long as the batch's work took (core/retention.ts), so a backlog never crowds
   * out sends. Default 20.
   */
  retentionPauseMs: z.number().int().min(0).default(20),
  /** How often a node looks for newly expired entries once it has caught up (RETENTION_INTERVAL_MS). Default 60000. */
  retentionIntervalMs: z.number().int().min(10).default(60_000),
  // ---- media (README "Media") ----
  /** This server's public base URL (e.g. https://chat.example.com), for upload URLs that point back at it. Default: from the request's Host header. */
  publicUrl: z.string().url().optional(),
  /** Largest upload accepted, in bytes (MEDIA_MAX_BYTES). Default 64 MiB. */
  mediaMaxBytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024 * 1024),
  /** Bytes a user may upload per 24 hours (MEDIA_DAILY_QUOTA_BYTES); 0, or RATE_LIMITS=off, turns it off. Default 2 GiB. */
  mediaDailyQuotaBytes: z
    .number()
    .int()
    .min(0)
    .default(2 * 1024 * 1024 * 1024),
  /** How long an upload URL works, in ms (MEDIA_UPLOAD_TTL_MS). Default 1 hour. */
  mediaUploadTtlMs: z.number().int().positive().default(3_600_000),
  /** How long a download URL works, in ms (MEDIA_DOWNLOAD_TTL_MS). Default 5 minutes. */
  mediaDownloadTtlMs: z.number().int().positive().default(300_000),
  /** Uploads never attached to a message are deleted once this old, in ms (MEDIA_ORPHAN_AGE_MS). Default 24 hours. */
  mediaOrphanAgeMs: z.number().int().positive().default(86_400_000),
  /** How often the orphan sweeper runs, in ms (MEDIA_SWEEP_INTERVAL_MS). Default 10 minutes. */
  mediaSweepIntervalMs: z.number().int().positive().default(600_000),
  /** How many messages may carry one media (MEDIA_MAX_REFS); past it the send answers invalid_attachment. Default 1000. */
  mediaMaxRefs: z.number().int().positive().default(1000),
  /** Images with more pixels get no thumbnail (MEDIA_THUMBNAIL_MAX_PIXELS). Default 24,000,000. */
  mediaThumbnailMaxPixels: z.number().int().positive().default(24_000_000),
  /** Images whose decoding would take more memory get no thumbnail (MEDIA_THUMBNAIL_MAX_DECODE_BYTES). Default 100 MiB. */
  mediaThumbnailMaxDecodeBytes: z
    .number()
    .int()
    .positive()
    .default(100 * 1024 * 1024),
  /** Thumbnails one server makes at once (MEDIA_THUMBNAIL_CONCURRENCY). Default 1. */
  mediaThumbnailConcurrency: z.number().int().min(1).max(16).default(1),
  /**
   * Where ffprobe, ffmpeg (video previews) and pdftoppm (PDF previews) are looked for when the
   * server starts (MEDIA_TOOLS_PATH, PATH's form). Default: PATH. Without them videos and PDFs are plain files.
   */
  mediaToolsPath: z.string().default(process.env.PATH ?? ''),
  /** S3-compatible media store (S3_BUCKET set selects it; otherwise files go under DATA_DIR/media). */
  s3Bucket: z.string().optional(),
  s3Endpoint: z.string().url().optional(),
  s3Region: z.string().default('us-east-1'),
  s3AccessKeyId: z.string().optional(),
  s3SecretAccessKey: z.string().optional(),
  s3ForcePathStyle: z.boolean().default(false),
  s3Prefix: z.string().optional(),
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

function daysToMs(days: number | undefined): number | undefined {
  return days === undefined ? undefined : Math.round(days * 86_400_000);
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
    wsTicketTtlMs: envNumber(env.WS_TICKET_TTL_MS),
    passwordHashKib: envNumber(env.PASSWORD_HASH_KIB),
    maxDevicesPerUser: envNumber(env.MAX_DEVICES_PER_USER),
    sessionIdleMs: envNumber(env.SESSION_IDLE_MS) ?? daysToMs(envNumber(env.SESSION_IDLE_DAYS)),
    redisPrefix: env.REDIS_PREFIX || undefined,
    stalledSocketTimeoutMs: envNumber(env.STALLED_SOCKET_TIMEOUT_MS),
    eventsPollWaitMs: envNumber(env.EVENTS_POLL_WAIT_MS),
    eventsIdleMs: envNumber(env.EVENTS_IDLE_MS),
    eventsCommentMs: envNumber(env.EVENTS_COMMENT_MS),
    maxConnections: envNumber(env.MAX_CONNECTIONS),
    httpHeadersTimeoutMs: envNumber(env.HTTP_HEADERS_TIMEOUT_MS),
    httpRequestTimeoutMs: envNumber(env.HTTP_REQUEST_TIMEOUT_MS),
    metricsToken: env.METRICS_TOKEN || undefined,
    adminToken: env.ADMIN_TOKEN || undefined,
    authJwtSecret: env.AUTH_JWT_SECRET || undefined,
    authJwksUrl: env.AUTH_JWKS_URL || undefined,
    authJwtIssuer: env.AUTH_JWT_ISSUER || undefined,
    authJwtAudience: env.AUTH_JWT_AUDIENCE || undefined,
    passwordLogin:
      env.PASSWORD_LOGIN === undefined || env.PASSWORD_LOGIN === ''
        ? undefined
        : !['off', '0', 'false'].includes(env.PASSWORD_LOGIN.toLowerCase()),
    webhookRetryBaseMs: envNumber(env.WEBHOOK_RETRY_BASE_MS),
    webhookRetryMaxMs: envNumber(env.WEBHOOK_RETRY_MAX_MS),
    webhookRetryHours: envNumber(env.WEBHOOK_RETRY_HOURS),
    webhookPollMs: envNumber(env.WEBHOOK_POLL_MS),
    webhookLeaseMs: envNumber(env.WEBHOOK_LEASE_MS),
    metricsPort: envNumber(env.METRICS_PORT),
    metricsHost: env.METRICS_HOST || undefined,
    redisUrl: env.REDIS_URL || undefined,
    databaseUrl: env.DATABASE_URL || undefined,
    rateLimits:
      env.RATE_LIMITS === undefined || env.RATE_LIMITS === '' ? undefined : !['off', '0', 'false'].includes(env.RATE_LIMITS.toLowerCase()),
    trustProxy:
      env.TRUST_PROXY === undefined || env.TRUST_PROXY === '' ? undefined : !['off', '0', 'false'].includes(env.TRUST_PROXY.toLowerCase()),
    limits: limitSettingsFromEnv(env),
    pushPreview: env.PUSH_PREVIEW ? env.PUSH_PREVIEW === 'on' || env.PUSH_PREVIEW === '1' || env.PUSH_PREVIEW === 'true' : undefined,
    webpushAllowedEndpoints: env.WEBPUSH_ALLOWED_ENDPOINTS
      ? env.WEBPUSH_ALLOWED_ENDPOINTS.split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : undefined,
    vapidPublicKey: env.VAPID_PUBLIC_KEY || undefined,
    vapidPrivateKey: env.VAPID_PRIVATE_KEY || undefined,
    vapidSubject: env.VAPID_SUBJECT || undefined,
    apnsUrl: env.APNS_URL || undefined,
    apnsKeyFile: env.APNS_KEY_FILE || undefined,
    apnsKeyId: env.APNS_KEY_ID || undefined,
    apnsTeamId: env.APNS_TEAM_ID || undefined,
    apnsTopic: env.APNS_TOPIC || undefined,
    fcmUrl: env.FCM_URL || undefined,
    fcmServiceAccountFile: env.FCM_SERVICE_ACCOUNT_FILE || undefined,
    pushReclaimMs: envNumber(env.PUSH_RECLAIM_MS),
    editWindowS: envNumber(env.EDIT_WINDOW_S),
    deleteWindowS: envNumber(env.DELETE_WINDOW_S),
    retentionMs: envNumber(env.RETENTION_MS) ?? daysToMs(envNumber(env.RETENTION_DAYS)),
    retentionBatch: envNumber(env.RETENTION_BATCH),
    retentionPauseMs: envNumber(env.RETENTION_PAUSE_MS),
    retentionIntervalMs: envNumber(env.RETENTION_INTERVAL_MS),
    publicUrl: env.PUBLIC_URL || undefined,
    mediaMaxBytes: envNumber(env.MEDIA_MAX_BYTES),
    // RATE_LIMITS=off lifts the upload quota like every other per-client limit (any spelling rateLimits accepts).
    mediaDailyQuotaBytes:
      env.RATE_LIMITS && ['off', '0', 'false'].includes(env.RATE_LIMITS.toLowerCase()) ? 0 : envNumber(env.MEDIA_DAILY_QUOTA_BYTES),
    mediaUploadTtlMs: envNumber(env.MEDIA_UPLOAD_TTL_MS),
    mediaDownloadTtlMs: envNumber(env.MEDIA_DOWNLOAD_TTL_MS),
    mediaOrphanAgeMs: envNumber(env.MEDIA_ORPHAN_AGE_MS),
    mediaSweepIntervalMs: envNumber(env.MEDIA_SWEEP_INTERVAL_MS),
    mediaMaxRefs: envNumber(env.MEDIA_MAX_REFS),
    mediaThumbnailMaxPixels: envNumber(env.MEDIA_THUMBNAIL_MAX_PIXELS),
    mediaThumbnailMaxDecodeBytes: envNumber(env.MEDIA_THUMBNAIL_MAX_DECODE_BYTES),
    mediaThumbnailConcurrency: envNumber(env.MEDIA_THUMBNAIL_CONCURRENCY),
    mediaToolsPath: env.MEDIA_TOOLS_PATH,
    s3Bucket: env.S3_BUCKET || undefined,
    s3Endpoint: env.S3_ENDPOINT || undefined,
    s3Region: env.S3_REGION || undefined,
    s3AccessKeyId: env.S3_ACCESS_KEY_ID || undefined,
    s3SecretAccessKey: env.S3_SECRET_ACCESS_KEY || undefined,
    s3ForcePathStyle: env.S3_FORCE_PATH_STYLE ? env.S3_FORCE_PATH_STYLE === 'true' || env.S3_FORCE_PATH_STYLE === '1' : undefined,
    s3Prefix: env.S3_PREFIX || undefined,
  };
  const merged: Record<string, unknown> = {};
  for (const [k, v] of Object.entries({ ...fromEnv, ...overrides })) if (v !== undefined) merged[k] = v;
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid configuration: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  // An assertion is only as good as the claims it is checked against: a key alone would accept any app's tokens.
  const c = parsed.data;
  if ((c.authJwtSecret || c.authJwksUrl) && (!c.authJwtIssuer || !c.authJwtAudience)) {
    throw new Error('invalid configuration: AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE are both required with AUTH_JWT_SECRET or AUTH_JWKS_URL');
  }
  return Object.freeze({ ...parsed.data, dataDir: path.resolve(parsed.data.dataDir) });
}
