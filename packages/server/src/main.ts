import { createServer } from 'node:http';
import { hostname } from 'node:os';
import type { ServerConfig } from './config.js';
import { Accounts } from './core/accounts.js';
import { Backlog } from './core/backlog.js';
import { ChatAccess } from './core/chat-access.js';
import { Chats } from './core/chats.js';
import { Delivery } from './core/delivery.js';
import { ExternalAuth } from './core/external-auth.js';
import { Groups } from './core/groups.js';
import { E2ee } from './core/e2ee.js';
import { Limits } from './core/limits.js';
import { Retention } from './core/retention.js';
import { Media } from './core/media.js';
import { Messaging } from './core/messaging.js';
import { MessageChanges } from './core/message-changes.js';
import { ChatSettings } from './core/chat-settings.js';
import { Presence } from './core/presence.js';
import { ReceiptNotifier } from './core/receipt-notifier.js';
import { findMediaTools } from './core/media-tools.js';
import { Search } from './core/search.js';
import { WsTickets } from './core/ws-tickets.js';
import { MEMBERS_TOPIC, type Bus } from './engines/bus/bus.js';
import { createEngines, type Engines } from './engines/create-engines.js';
import { createMediaStore } from './engines/media-store/create-media-store.js';
import { createHttpApi } from './gateway/http-api.js';
import { Operators } from './core/operators.js';
import { Reports } from './core/reports.js';
import { People } from './core/people.js';
import { createStaticFiles } from './gateway/static-files.js';
import { addMediaRoutes } from './gateway/media-routes.js';
import { apiDescriptionRoutes } from './gateway/openapi.js';
import { applyHttpLimits, startMetricsListener } from './gateway/ops-listeners.js';
import { EventStreams } from './gateway/event-streams.js';
import { WsGateway } from './gateway/ws-gateway.js';
import { DevicePresence } from './core/device-presence.js';
import { PushDispatcher } from './push/dispatcher.js';
import { WebhookDispatcher } from './core/webhook-dispatcher.js';
import { createPushMetrics } from './push/metrics.js';
import type { PushProvider } from './push/push-provider.js';
import { createPush } from './push/setup.js';
import { PushTargetOwners } from './push/target-owners.js';
import { createLogger, type Logger } from './util/logger.js';
import { createMetrics, type Metrics } from './util/metrics.js';

export interface RunningServer {
  /** The bound TCP port (useful when configured with port 0). */
  port: number;
  config: ServerConfig;
  /** The internal metrics listener's port (METRICS_PORT), or null when there is none. */
  metricsPort: number | null;
  engines: Engines;
  /** Every HTTP route the server registered (method and pattern, e.g. /v1/users/:id): the API description's test checks each is described. */
  routes(): { method: string; pattern: string }[];
  /** Graceful stop: refuse new work, close sockets with "reconnect", flush commits, close engines. */
  stop(): Promise<void>;
}

/** The composition root: config → engines → core → gateway, listening. */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const log = createLogger(config.logLevel);
  const metrics = createMetrics();
  const now = Date.now;
  const engines = await createEngines(config, log);
  const { ids } = engines;
  const { store, bus } = engines;

  const access = new ChatAccess(store);
  const devices = new DevicePresence({
    store: engines.devicePresence,
    nodeName: engines.nodeName,
    // Asked on each heartbeat, which starts only once `ws` exists.
    localDevices: (): string[] => ws.localDevices(),
    heartbeatMs: Math.max(50, Math.floor(config.presenceTimeoutMs / 3)),
    log,
  });
  const pushOwners = new PushTargetOwners(store);
  const push = await createPush({
    config,
    mode: engines.mode,
    store,
    queue: engines.pushQueue,
    isOnline: (ids) => devices.isOnline(ids),
    metrics,
    log,
    owners: pushOwners,
    announce: async (userId) => {
      pushOwners.added(userId);
      await engines.bus.publish([MEMBERS_TOPIC], { kind: 'push-target-added', userId });
    },
  }).catch(async (err: unknown) => {
    await engines.close(); // a push setting that cannot work stops the start: leave nothing open
    throw err;
  });
  push.dispatcher.start();
  const webhooks = new WebhookDispatcher({
    store: store.webhooks,
    bus,
    metrics,
    log,
    now,
    settings: {
      retryBaseMs: config.webhookRetryBaseMs,
      retryMaxMs: config.webhookRetryMaxMs,
      retryHours: config.webhookRetryHours,
      pollMs: config.webhookPollMs,
      leaseMs: config.webhookLeaseMs,
    },
  });
  await webhooks.start();
  const delivery = createDelivery(engines, config, access, metrics, log, push.dispatcher);
  // Embedded mode has no other worker: its in-process queue is always consumed here.
  if (config.fanoutWorker || engines.mode === 'embedded') delivery.consumeFanout();
  const receipts = new ReceiptNotifier({
    store,
    delivery,
    log,
    groupWindowMs: 250,
    // Direct status frames held half a second (guarantee 6 allows a second): a stream of
    // messages costs its sender about two read frames a second instead of four, each one
    // also a publish on the cluster bus (issue 23's 1.5 publishes per message).
    directWindowMs: 500,
    shareAbove: config.fanoutThreshold,
    membersOf: (chatId) => access.memberIds(chatId),
    now,
  });
  const limits = new Limits({ store: engines.rateLimits, settings: config.limits, enabled: config.rateLimits, log });
  const accounts = new Accounts({
    store,
    ids,
    passwordHashKib: config.passwordHashKib,
    now,
    hashing: limits.hashing,
    maxDevices: config.maxDevicesPerUser,
    sessionIdleMs: config.sessionIdleMs,
  });
  const files = await createMediaStore(config);
  const tools = findMediaTools(config.mediaToolsPath);
  log.info(
    { video: !!(tools.ffprobe && tools.ffmpeg), pdf: !!tools.pdftoppm },
    'media previews: videos with ffprobe and ffmpeg, PDFs with pdftoppm, when found',
  );
  const media = new Media({
    store,
    files,
    ids,
    now,
    log,
    tools,
    config: {
      maxBytes: config.mediaMaxBytes,
      dailyQuotaBytes: config.mediaDailyQuotaBytes,
      uploadTtlMs: config.mediaUploadTtlMs,
      downloadTtlMs: config.mediaDownloadTtlMs,
      orphanAgeMs: config.mediaOrphanAgeMs,
      sweepIntervalMs: config.mediaSweepIntervalMs,
      maxRefs: config.mediaMaxRefs,
      thumbnails: {
        maxPixels: config.mediaThumbnailMaxPixels,
        maxDecodeBytes: config.mediaThumbnailMaxDecodeBytes,
        concurrency: config.mediaThumbnailConcurrency,
      },
    },
  });
  if (engines.mode === 'cluster' && !config.s3Bucket) log.info('cluster mode without S3_BUCKET: media bytes are kept in PostgreSQL');
  const changes = new MessageChanges({
    store,
    access,
    delivery,
    ids,
    metrics,
    log,
    now,
    files,
    editWindowMs: config.editWindowS * 1000,
    deleteWindowMs: config.deleteWindowS * 1000,
    remember: (e) => messaging.remember(e),
    encryption: { isEncryptedGroup: (chatId) => e2ee.isEncryptedGroup(chatId) },
  });
  const messaging: Messaging = new Messaging({
    references: (userId, frame, memberIds) => changes.references(userId, frame, memberIds),
    store,
    access,
    delivery,
    receipts,
    ids,
    metrics,
    now,
    groupAckWindowMs: 250,
    directAckWindowMs: 30,
    media,
    encryption: { isEncryptedGroup: (chatId) => e2ee.isEncryptedGroup(chatId) },
  });
  const e2ee = new E2ee({ store: store.e2ee, access, delivery, ids, now, remember: (e) => messaging.remember(e) });
  const chats = new Chats(store, access);
  const presence = new Presence({
    store,
    presenceStore: engines.presenceStore,
    bus,
    nodeName: engines.nodeName,
    // Asked on each heartbeat, which starts (presence.start()) only once `ws` exists.
    localUsers: (): string[] => ws.localUsers(),
    heartbeatMs: Math.max(50, Math.floor(config.presenceTimeoutMs / 3)),
    now,
    log,
  });
  const groups = new Groups({ store, access, delivery, ids, now });
  const search = new Search(store);
  const tickets = new WsTickets({ tickets: engines.wsTickets, store, ttlMs: config.wsTicketTtlMs, now });

  let ready = false;
  const api = createHttpApi({
    accounts,
    chats,
    chatSettings: new ChatSettings({ store, delivery }),
    delivery,
    presence,
    groups,
    search,
    limits,
    tickets,
    trustProxy: config.trustProxy,
    metrics,
    log,
    publicWsUrl: config.publicWsUrl,
    pickWsUrl: async () => {
      const best = (await engines.registry.liveNodes())[0];
      // This node, advertised by a guessed host name (no PUBLIC_WS_URL, wildcard HOST): the
      // address the client just reached it at (null here: from the request) is surer.
      if (best?.nodeName === engines.nodeName && !config.publicWsUrl && isWildcardHost(config.host)) return null;
      return best?.wsUrl ?? null;
    },
    isReady: () => ready,
    push: push.registration,
    people: { people: new People({ store, media, bus, now }), limits },
    metricsToken: config.metricsToken,
    operators: new Operators({ store, ids, now, delivery, groups, changes, log }),
    adminToken: config.adminToken,
    reports: new Reports({ store, access, limits, ids, now }),
    externalAuth:
      config.authJwtSecret || config.authJwksUrl
        ? new ExternalAuth({
            secret: config.authJwtSecret,
            jwksUrl: config.authJwksUrl,
            issuer: config.authJwtIssuer!,
            audience: config.authJwtAudience!,
          })
        : undefined,
    passwordLogin: config.passwordLogin,
    webhooks: { store: store.webhooks, dispatcher: webhooks, adminToken: config.adminToken, now },
    e2ee,
  });
  addMediaRoutes(api.router, { accounts, limits, media, publicUrl: config.publicUrl, trustProxy: config.trustProxy });
  apiDescriptionRoutes(api.router);
  const ws: WsGateway = new WsGateway({
    backlog: new Backlog({ store, messaging }),
    bus,
    accounts,
    tickets,
    access,
    messaging,
    changes,
    delivery,
    presence,
    limits,
    devices,
    metrics,
    log,
    config: {
      maxSocketBufferBytes: config.maxSocketBufferBytes,
      presenceTimeoutMs: config.presenceTimeoutMs,
      pingIntervalMs: config.pingIntervalMs,
      typingPerSecond: config.typingPerSecond,
      shutdownGraceMs: config.shutdownGraceMs,
      stalledSocketTimeoutMs: config.stalledSocketTimeoutMs,
      streamIdleMs: config.eventsIdleMs,
    },
  });
  // GET /v1/events, POST /v1/events/{stream_id}: the socket over plain HTTP.
  const events = new EventStreams({
    gateway: ws,
    accounts,
    tickets,
    limits,
    bus,
    nodeName: engines.nodeName,
    liveNodes: async () => (await engines.registry.liveNodes()).map((n) => n.nodeName),
    log,
    config: { pollWaitMs: config.eventsPollWaitMs, idleMs: config.eventsIdleMs, commentMs: config.eventsCommentMs },
  });
  events.routes(api.router);
  presence.start();
  devices.start();
  ws.start();
  limits.start();
  media.start();
  const retention =
    config.retentionMs === undefined
      ? null
      : new Retention({
          store,
          files,
          log,
          now,
          config: {
            maxAgeMs: config.retentionMs,
            batch: config.retentionBatch,
            pauseMs: config.retentionPauseMs,
            intervalMs: config.retentionIntervalMs,
          },
        });
  retention?.start();

  // The web client at / (GET/HEAD paths that are no API route); the API answers the rest.
  const web = createStaticFiles();
  if (!web.available) log.warn({ dir: web.dir }, 'web client not built (run npm run build): serving the API only');
  const isWebPath = (method: string, url: string): boolean => {
    if (method !== 'GET' && method !== 'HEAD') return false;
    const pathname = url.split('?')[0] ?? '/';
    return pathname !== '/v1' && !pathname.startsWith('/v1/') && api.router.match(method, pathname) === null;
  };
  const http = createServer(
    (req, res) => void (isWebPath(req.method ?? 'GET', req.url ?? '/') ? web.serve(req, res) : api.handle(req, res)),
  );
  applyHttpLimits(http, {
    maxConnections: config.maxConnections,
    headersTimeoutMs: config.httpHeadersTimeoutMs,
    requestTimeoutMs: config.httpRequestTimeoutMs,
  });
  http.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/v1/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    socket.on('error', () => socket.destroy());
    void ws.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => resolve());
  });
  const metricsListener =
    config.metricsPort === undefined ? null : await startMetricsListener(metrics, config.metricsPort, config.metricsHost, log);
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const ownWsUrl = config.publicWsUrl ?? `ws://${advertisedHost(config.host)}:${port}/v1/ws`;
  const announce = () =>
    engines.registry
      .heartbeat({ nodeName: engines.nodeName, wsUrl: ownWsUrl, connections: ws.connectionCount() })
      .catch((err) => log.warn({ err }, 'node heartbeat failed'));
  await announce();
  const heartbeat = setInterval(announce, 2_000);
  heartbeat.unref();
  // Every node hears of every membership change.
  await followBroadcasts(bus, access, pushOwners);
  // Events published while the bus was down are lost: every socket catches up from the store, staying open.
  bus.onReconnect(() => {
    log.warn('bus reconnected: sockets catch up from the store');
    ws.resync();
  });
  ready = true;
  log.info({ port, host: config.host, mode: engines.mode, data_dir: config.dataDir }, 'listening');

  let stopping: Promise<void> | null = null;
  const metricsAddress = metricsListener?.address();
  return {
    port,
    metricsPort: typeof metricsAddress === 'object' && metricsAddress ? metricsAddress.port : null,
    config,
    engines,
    routes: () => api.router.list(),
    stop: () =>
      (stopping ??= (async () => {
        ready = false;
        log.info('shutting down');
        clearInterval(heartbeat);
        await engines.registry.deregister(engines.nodeName).catch(() => {});
        // Long-poll clients learn of the close in a poll's answer, while the listener still takes their next poll.
        ws.closeStreams();
        await events.told(Math.min(1000, config.shutdownGraceMs));
        http.close();
        metricsListener?.close();
        events.close();
        // In order: no new sockets and frames, then the work they left (held acks, receipt
        // frames), then the engines.
        await retention?.close();
        for (const part of [ws, limits, presence, devices, messaging, receipts, push.dispatcher, webhooks, media, engines])
          await part.close();
        http.closeAllConnections();
        log.info('stopped');
      })()),
  };
}

/** The host to put in this node's ws URL: the listen address, unless it is a wildcard. */
function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

function advertisedHost(host: string): string {
  if (isWildcardHost(host)) return hostname();
  return host.includes(':') ? `[${host}]` : host;
}

export interface RunningWorker {
  stop(): Promise<void>;
}

/** `switchboard worker`: a fan-out worker alone (cluster mode), no HTTP or sockets. */
export async function startWorker(config: ServerConfig): Promise<RunningWorker> {
  if (!config.redisUrl || !config.databaseUrl) throw new Error('a fan-out worker needs cluster mode: set REDIS_URL and DATABASE_URL');
  const log = createLogger(config.logLevel);
  const engines = await createEngines(config, log);
  const access = new ChatAccess(engines.store);
  const metrics = createMetrics();
  // A worker only queues push jobs for the messages it fans out; the server nodes send them.
  const pushOwners = new PushTargetOwners(engines.store);
  const push = new PushDispatcher({
    owners: pushOwners,
    store: engines.store,
    queue: engines.pushQueue,
    isOnline: async (ids) => ids.map(() => true),
    senders: {},
    preview: config.pushPreview,
    metrics: createPushMetrics(metrics.registry),
    log,
  });
  const delivery = createDelivery(engines, config, access, metrics, log, push);
  await followBroadcasts(engines.bus, access, pushOwners);
  delivery.consumeFanout();
  log.info({ node: engines.nodeName }, 'fan-out worker running');
  return {
    stop: () => engines.close(),
  };
}

/**
 * Keeps each node's caches in line with changes made anywhere: a membership change drops
 * the chat's cached members, a push registration the user's cached "has no target"; a bus
 * reconnect (changes may have been missed) drops them all.
 */
async function followBroadcasts(bus: Bus, access: ChatAccess, pushOwners: PushTargetOwners): Promise<void> {
  bus.onEvent((topic, event) => {
    if (topic !== MEMBERS_TOPIC) return;
    if (event.kind === 'members-changed') access.invalidate(event.chatId);
    else if (event.kind === 'push-target-added') pushOwners.added(event.userId);
  });
  bus.onReconnect(() => {
    access.invalidateAll();
    pushOwners.addedAnywhere();
  });
  await bus.subscribe(MEMBERS_TOPIC);
}

/** The delivery path as both a server and a lone worker wire it. */
function createDelivery(
  engines: Engines,
  config: ServerConfig,
  access: ChatAccess,
  metrics: Metrics,
  log: Logger,
  push: PushProvider,
): Delivery {
  return new Delivery({
    bus: engines.bus,
    push,
    fanout: engines.fanout,
    fanoutThreshold: config.fanoutThreshold,
    recipientsOf: (chatId, seq, version) => access.recipients(chatId, seq, version),
    metrics,
    log,
  });
}
