import { createServer } from 'node:http';
import { hostname } from 'node:os';
import type { ServerConfig } from './config.js';
import { Accounts } from './core/accounts.js';
import { Backlog } from './core/backlog.js';
import { ChatAccess } from './core/chat-access.js';
import { Chats } from './core/chats.js';
import { Delivery } from './core/delivery.js';
import { Groups } from './core/groups.js';
import { Messaging } from './core/messaging.js';
import { Presence } from './core/presence.js';
import { ReceiptNotifier } from './core/receipt-notifier.js';
import { Search } from './core/search.js';
import { MEMBERS_TOPIC, type Bus } from './engines/bus/bus.js';
import { createEngines, type Engines } from './engines/create-engines.js';
import { createHttpApi } from './gateway/http-api.js';
import { applyHttpLimits, startMetricsListener } from './gateway/ops-listeners.js';
import { WsGateway } from './gateway/ws-gateway.js';
import { LogPushProvider } from './push/log-push-provider.js';
import { createLogger, type Logger } from './util/logger.js';
import { createMetrics, type Metrics } from './util/metrics.js';
import { Snowflake } from './util/snowflake.js';

export interface RunningServer {
  /** The bound TCP port (useful when configured with port 0). */
  port: number;
  config: ServerConfig;
  /** The internal metrics listener's port (METRICS_PORT), or null when there is none. */
  metricsPort: number | null;
  engines: Engines;
  /** Graceful stop: refuse new work, close sockets with "reconnect", flush commits, close engines. */
  stop(): Promise<void>;
}

/** The composition root: config → engines → core → gateway, listening. */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const log = createLogger(config.logLevel);
  const metrics = createMetrics();
  const now = Date.now;
  const engines = await createEngines(config);
  const ids = new Snowflake(engines.snowflakeNodeId);
  const { store, bus } = engines;

  const access = new ChatAccess(store);
  const delivery = createDelivery(engines, config, access, metrics, log);
  // Embedded mode has no other worker: its in-process queue is always consumed here.
  if (config.fanoutWorker || engines.mode === 'embedded') delivery.consumeFanout();
  const receipts = new ReceiptNotifier({
    store,
    delivery,
    log,
    groupWindowMs: 250,
    shareAbove: config.fanoutThreshold,
    membersOf: (chatId) => access.memberIds(chatId),
    now,
  });
  const accounts = new Accounts({ store, ids, scryptCost: config.scryptCost, now });
  const messaging = new Messaging({ store, access, delivery, receipts, ids, metrics, now, groupAckWindowMs: 250 });
  const chats = new Chats(store);
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

  let ready = false;
  const api = createHttpApi({
    accounts,
    chats,
    delivery,
    presence,
    groups,
    search,
    metrics,
    log,
    publicWsUrl: config.publicWsUrl,
    pickWsUrl: async () => (await engines.registry.liveNodes())[0]?.wsUrl ?? null,
    isReady: () => ready,
    metricsToken: config.metricsToken,
  });
  const ws: WsGateway = new WsGateway({
    backlog: new Backlog({ store, messaging }),
    bus,
    accounts,
    access,
    messaging,
    delivery,
    presence,
    metrics,
    log,
    config: {
      maxSocketBufferBytes: config.maxSocketBufferBytes,
      presenceTimeoutMs: config.presenceTimeoutMs,
      pingIntervalMs: config.pingIntervalMs,
      typingPerSecond: config.typingPerSecond,
      shutdownGraceMs: config.shutdownGraceMs,
      stalledSocketTimeoutMs: config.stalledSocketTimeoutMs,
    },
  });
  presence.start();
  ws.start();

  const http = createServer((req, res) => void api.handle(req, res));
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
  await followMembershipChanges(bus, access);
  // Events published while the bus was down are lost: every device reconnects and replays.
  bus.onReconnect(() => {
    log.warn('bus reconnected: asking sockets to reconnect and replay');
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
    stop: () =>
      (stopping ??= (async () => {
        ready = false;
        log.info('shutting down');
        clearInterval(heartbeat);
        await engines.registry.deregister(engines.nodeName).catch(() => {});
        http.close();
        metricsListener?.close();
        // In order: no new sockets and frames, then the work they left (held acks, receipt
        // frames), then the engines.
        for (const part of [ws, presence, messaging, receipts, engines]) await part.close();
        http.closeAllConnections();
        log.info('stopped');
      })()),
  };
}

/** The host to put in this node's ws URL: the listen address, unless it is a wildcard. */
function advertisedHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return hostname();
  return host.includes(':') ? `[${host}]` : host;
}

export interface RunningWorker {
  stop(): Promise<void>;
}

/** `switchboard worker`: a fan-out worker alone (cluster mode), no HTTP or sockets. */
export async function startWorker(config: ServerConfig): Promise<RunningWorker> {
  if (!config.redisUrl || !config.databaseUrl) throw new Error('a fan-out worker needs cluster mode: set REDIS_URL and DATABASE_URL');
  const log = createLogger(config.logLevel);
  const engines = await createEngines(config);
  const access = new ChatAccess(engines.store);
  const delivery = createDelivery(engines, config, access, createMetrics(), log);
  await followMembershipChanges(engines.bus, access);
  delivery.consumeFanout();
  log.info({ node: engines.nodeName }, 'fan-out worker running');
  return {
    stop: () => engines.close(),
  };
}

/**
 * Keeps `access` in line with membership changes made anywhere: each change drops the
 * chat's cached members; a bus reconnect (changes may have been missed) drops them all.
 */
async function followMembershipChanges(bus: Bus, access: ChatAccess): Promise<void> {
  bus.onEvent((topic, event) => {
    if (topic === MEMBERS_TOPIC && event.kind === 'members-changed') access.invalidate(event.chatId);
  });
  bus.onReconnect(() => access.invalidateAll());
  await bus.subscribe(MEMBERS_TOPIC);
}

/** The delivery path as both a server and a lone worker wire it. */
function createDelivery(engines: Engines, config: ServerConfig, access: ChatAccess, metrics: Metrics, log: Logger): Delivery {
  return new Delivery({
    bus: engines.bus,
    push: new LogPushProvider(log),
    fanout: engines.fanout,
    fanoutThreshold: config.fanoutThreshold,
    recipientsOf: (chatId, seq, version) => access.recipients(chatId, seq, version),
    metrics,
    log,
  });
}
