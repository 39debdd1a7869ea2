import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { CloseCode, MAX_FRAME_BYTES, parseClientFrames, type ParseResult } from '@switchboard/protocol';
import { MEMBERS_TOPIC, userTopic, type Bus, type BusEvent } from '../engines/bus/bus.js';
import type { Accounts } from '../core/accounts.js';
import type { Backlog } from '../core/backlog.js';
import type { ChatAccess } from '../core/chat-access.js';
import type { Delivery } from '../core/delivery.js';
import type { DevicePresence } from '../core/device-presence.js';
import { RateLimited, type Limits } from '../core/limits.js';
import { frameErrorOf, unexpectedError } from './error-map.js';
import type { Messaging } from '../core/messaging.js';
import type { Presence } from '../core/presence.js';
import { KeyedChain } from '../util/keyed-chain.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import type { WsTickets } from '../core/ws-tickets.js';
import { socketDevice } from './socket-auth.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { FrameDispatcher } from '../core/frames/registry.js';
import type { FrameSocket } from '../core/frames/types.js';
import type { MessageChanges } from '../core/message-changes.js';
import { HttpStream } from './http-stream.js';

/** Bus events of GET /v1/events streams (event-streams.ts handles them). */
export type StreamBusEvent = Extract<BusEvent, { kind: 'stream-frames' | 'stream-poll' | 'stream-batch' }>;

export interface WsGatewayDeps {
  backlog: Backlog;
  bus: Bus;
  accounts: Accounts;
  /** Redeems `?ticket=` on the upgrade. */
  tickets: WsTickets;
  access: ChatAccess;
  messaging: Messaging;
  /** Edits, deletes and reactions. */
  changes: MessageChanges;
  delivery: Delivery;
  presence: Presence;
  limits: Limits;
  /** Per-device online marks (push decides on them); absent: none kept. */
  devices?: DevicePresence;
  metrics: Metrics;
  log: Logger;
  config: {
    maxSocketBufferBytes: number;
    presenceTimeoutMs: number;
    pingIntervalMs: number;
    typingPerSecond: number;
    /** How long close() waits for sockets to go after asking them to reconnect. */
    shutdownGraceMs: number;
    /** A socket that does not read for this long (ms; buffer over the high-water mark) is closed with 4001. */
    stalledSocketTimeoutMs: number;
    /** A GET /v1/events stream not polled or connected for this long (ms) is closed. */
    streamIdleMs: number;
  };
}

/**
 * The socket side of the gateway: authenticates upgrades, holds this node's
 * connections (by user, subscribed on the bus while any is open), replays what each
 * device is owed on connect, and turns frames into core calls. A connection's transport
 * is a WebSocket or an HTTP stream of GET /v1/events (event-streams.ts): everything past
 * the transport is the same code.
 */
export class WsGateway {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  private readonly byUser = new Map<string, Set<Connection>>();
  /** Users whose topic this node is subscribed to, and the pending change per user. */
  private readonly subscribed = new Set<string>();
  /** Users this node listens to without a connection of theirs: a stream's poll relayed from here (event-streams.ts). */
  private readonly interest = new Map<string, number>();
  /** Stream events from the bus, for event-streams.ts. */
  private streamEvents: ((event: StreamBusEvent) => void) | null = null;
  /** Per user, the subscription changes in flight (see syncSubscription). */
  private readonly subscriptions = new KeyedChain();
  private sweeper: NodeJS.Timeout | undefined;
  private draining = false;
  /*
   * What every socket shares: its connection options and its listeners. An idle socket's
   * memory is mostly the socket itself; closures per socket would add to it for nothing.
   */
  private readonly connections = new WeakMap<WebSocket, Connection>();
  private readonly connectionOptions: ConnectionOptions;
  private readonly socketListeners;
  private readonly frames: FrameDispatcher;

  constructor(private readonly deps: WsGatewayDeps) {
    const { log, metrics, config } = deps;
    this.frames = new FrameDispatcher({
      accounts: deps.accounts,
      access: deps.access,
      messaging: deps.messaging,
      changes: deps.changes,
      delivery: deps.delivery,
      presence: deps.presence,
      limits: deps.limits,
      metrics,
      config: { typingPerSecond: config.typingPerSecond },
      fail: (socket, err, clientMsgId) => this.frameError(socket, err, clientMsgId),
    });
    this.connectionOptions = {
      maxBufferBytes: config.maxSocketBufferBytes,
      stalledTimeoutMs: config.stalledSocketTimeoutMs,
      metrics,
      fetchRange: (conn, chatId, after, upto, limit) => deps.backlog.visible(conn.userId, conn.deviceId, chatId, after, upto, limit),
      onError: (conn, err) => log.error({ err, user_id: conn.userId }, 'connection error'),
    };
    const connections = this.connections;
    const onFrame = (conn: Connection, data: RawData, isBinary: boolean) => {
      // A throw here would escape the ws event and end the process: answer it instead.
      try {
        this.onFrame(conn, data, isBinary);
      } catch (err) {
        this.frameError(conn, err);
      }
    };
    const closed = (conn: Connection) => void this.closed(conn);
    const accounts = this.deps.accounts;
    this.socketListeners = {
      message(this: WebSocket, data: RawData, isBinary: boolean) {
        const conn = connections.get(this);
        if (conn) onFrame(conn, data, isBinary);
      },
      heard(this: WebSocket) {
        const conn = connections.get(this);
        if (!conn) return;
        conn.lastActivity = Date.now();
        // A socket that only listens (answers pings) is a session in use: it must not expire idle.
        accounts.touch(conn.deviceId);
      },
      error(this: WebSocket, err: Error) {
        log.debug({ err, user_id: connections.get(this)?.userId }, 'socket error');
      },
      close(this: WebSocket) {
        const conn = connections.get(this);
        if (conn) closed(conn);
      },
    };

    deps.bus.onEvent((topic, event) => {
      if (topic.startsWith('user:')) this.onUserEvent(topic.slice(5), event);
      else if (topic.startsWith('presence:')) deps.presence.onBusEvent(topic.slice(9), event);
      else if (topic === MEMBERS_TOPIC && event.kind === 'members-changed' && event.removed) deps.presence.membersLeft(event.removed);
    });
  }

  /** Starts the sweeper that pings quiet sockets and closes silent ones. */
  start(): void {
    const { pingIntervalMs, presenceTimeoutMs, stalledSocketTimeoutMs } = this.deps.config;
    // At most every 500 ms: a silent socket is seen offline within ~0.5 s of the presence
    // timeout (guarantee 7: online only while heard from within the last 30 s), not 5 s late.
    const every = Math.min(1000, pingIntervalMs, presenceTimeoutMs, stalledSocketTimeoutMs) / 2;
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(50, every));
    this.sweeper.unref();
  }

  /**
   * Brings the user's bus subscription in line with whether this node holds a socket of
   * theirs. Calls for one user run one after another, so a socket opening while the last
   * one closes can never end up unsubscribed.
   */
  private syncSubscription(userId: string): Promise<void> {
    return this.subscriptions.run(userId, async () => {
      const want = this.byUser.has(userId) || this.interest.has(userId);
      if (want === this.subscribed.has(userId)) return;
      if (want) {
        await this.deps.bus.subscribe(userTopic(userId));
        this.subscribed.add(userId);
      } else {
        this.subscribed.delete(userId);
        await this.deps.bus.unsubscribe(userTopic(userId));
      }
    });
  }

  /** Listens to a user's topic while `done` has not run (a stream's poll relayed to the node holding it). */
  async listen(userId: string): Promise<() => void> {
    this.interest.set(userId, (this.interest.get(userId) ?? 0) + 1);
    const done = () => {
      const left = (this.interest.get(userId) ?? 1) - 1;
      if (left > 0) this.interest.set(userId, left);
      else this.interest.delete(userId);
      void this.syncSubscription(userId).catch((err) => this.deps.log.warn({ err }, 'unsubscribe failed'));
    };
    try {
      await this.syncSubscription(userId);
    } catch (err) {
      done();
      throw err;
    }
    return done;
  }

  /** Where the bus's stream events go (event-streams.ts). */
  onStreamEvent(handler: (event: StreamBusEvent) => void): void {
    this.streamEvents = handler;
  }

  /** Refuses new connections: the node is shutting down. */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Users with at least one socket on this node. */
  localUsers(): string[] {
    return [...this.byUser.keys()];
  }

  /** Devices with at least one socket on this node. */
  localDevices(): string[] {
    const ids = new Set<string>();
    for (const set of this.byUser.values()) for (const conn of set) ids.add(conn.deviceId);
    return [...ids];
  }

  private hasDevice(userId: string, deviceId: string): boolean {
    for (const conn of this.byUser.get(userId) ?? []) if (conn.deviceId === deviceId) return true;
    return false;
  }

  connectionCount(): number {
    let n = 0;
    for (const set of this.byUser.values()) n += set.size;
    return n;
  }

  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const reject = (status: number, body: string) => {
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Service Unavailable'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    if (this.draining) return reject(503, '{"error":"unavailable"}');
    let device;
    try {
      device = await socketDevice(req, this.deps.accounts, this.deps.tickets);
    } catch (err) {
      this.deps.log.error({ err }, 'authenticating an upgrade failed');
      return reject(503, '{"error":"internal"}');
    }
    if (!device) return reject(401, '{"error":"unauthorized"}');
    let release: () => void;
    try {
      release = await this.deps.limits.openSocket(device.userId, device.id);
    } catch (err) {
      if (err instanceof RateLimited) return refuseLimited(socket, err);
      this.deps.log.error({ err }, 'socket limit check failed');
      return reject(503, '{"error":"internal"}');
    }
    // The raw socket closes however the upgrade ends (completed or not): its place is given back then.
    socket.once('close', release);
    if (socket.destroyed) return release();
    // ?batch=1: the client may send JSON arrays of frames (PROTOCOL.md "Batching").
    const batch = new URL(req.url ?? '/', 'http://x').searchParams.get('batch') === '1';
    this.wss.handleUpgrade(req, socket, head, (ws) => void this.open(ws, device.userId, device.id, batch));
  }

  private async open(ws: WebSocket, userId: string, deviceId: string, batch: boolean): Promise<void> {
    const conn = new Connection(ws, userId, deviceId, this.connectionOptions);
    conn.batch = batch;
    this.connections.set(ws, conn);
    // Shared listeners (they find the connection by its socket): no closures per socket.
    ws.on('message', this.socketListeners.message);
    ws.on('pong', this.socketListeners.heard);
    // A client's own ping is a frame it sent too (guarantee 7): it keeps the socket alive.
    ws.on('ping', this.socketListeners.heard);
    ws.on('error', this.socketListeners.error);
    ws.on('close', this.socketListeners.close);
    await this.admit(conn);
  }

  /**
   * Opens a connection on an HTTP stream of GET /v1/events (its `stream` frame already
   * written): from here it is a socket like any other. `onClosed` runs once it is gone.
   */
  openStream(stream: HttpStream, userId: string, deviceId: string, onClosed: () => void): Connection {
    const conn = new Connection(stream, userId, deviceId, this.connectionOptions);
    stream.setHooks({
      onClosed: () => {
        void this.closed(conn);
        onClosed();
      },
      onHeard: () => {
        conn.lastActivity = Date.now();
        this.deps.accounts.touch(deviceId);
      },
    });
    void this.admit(conn);
    return conn;
  }

  /** Client frames that came by POST /v1/events/{stream_id}: one frame or an array of them, as on a socket. */
  receive(conn: Connection, text: string): void {
    try {
      conn.lastActivity = Date.now();
      for (const one of parseClientFrames(text, true)) this.frames.handle(conn, one);
    } catch (err) {
      this.frameError(conn, err);
    }
  }

  /** Everything after the transport: presence, the user's bus topic, replay, sync_complete. */
  private async admit(conn: Connection): Promise<void> {
    const { log, metrics } = this.deps;
    const { userId, deviceId } = conn;
    metrics.connections.inc();
    const firstOfDevice = !this.hasDevice(userId, deviceId);
    let set = this.byUser.get(userId);
    if (!set) this.byUser.set(userId, (set = new Set()));
    set.add(conn);
    try {
      // Marked before replay: a device that has seen sync_complete is known to be online (no push).
      if (firstOfDevice) await this.deps.devices?.arrived(deviceId).catch((err) => log.warn({ err }, 'device presence update failed'));
      if (set.size === 1) {
        void this.deps.presence.userArrived(userId).catch((err) => log.warn({ err }, 'presence update failed'));
      }
      // Every socket waits until the user's topic is subscribed before replaying, so
      // nothing committed between the replay query and the subscription is missed.
      await this.syncSubscription(userId);
      await this.replay(conn);
    } catch (err) {
      log.error({ err, user_id: userId }, 'replay failed');
      conn.close(CloseCode.reconnect, 'replay failed: reconnect');
    }
  }

  /** Sends everything this device is owed (above its cursors), then sync_complete. */
  private async replay(conn: Connection): Promise<void> {
    await this.catchUp(conn);
    await conn.drained();
    if (conn.closed) return;
    conn.release();
    conn.sendFrame({ type: 'sync_complete' });
  }

  /**
   * Writes what the device is owed above its cursors that this socket has not had yet: the
   * whole backlog on connect (replay), the gap after a bus outage (resync; no second sync_complete).
   */
  private async catchUp(conn: Connection): Promise<void> {
    const { backlog } = this.deps;
    for (const pending of await backlog.pendingChats(conn.deviceId, conn.userId)) {
      let after = Math.max(pending.afterSeq, conn.positionIn(pending.chatId) ?? 0);
      while (after < pending.lastSeq && !conn.closed) {
        const page = await backlog.page(pending, after);
        if (page.length === 0) break;
        await conn.replayMessages(pending.chatId, page);
        after = page[page.length - 1]!.seq;
      }
    }
  }

  private async closed(conn: Connection): Promise<void> {
    conn.closed = true;
    this.deps.metrics.connections.dec();
    this.deps.presence.dropWatcher(conn);
    const set = this.byUser.get(conn.userId);
    const removed = set?.delete(conn) ?? false;
    if (removed && !this.hasDevice(conn.userId, conn.deviceId)) {
      void this.deps.devices?.left(conn.deviceId).catch((err) => this.deps.log.warn({ err }, 'device presence update failed'));
    }
    if (removed && set!.size === 0) {
      this.byUser.delete(conn.userId);
      await this.syncSubscription(conn.userId).catch((err) => this.deps.log.warn({ err }, 'unsubscribe failed'));
      await this.deps.presence.userLeft(conn.userId).catch((err) => this.deps.log.warn({ err }, 'presence update failed'));
    }
  }

  private onUserEvent(userId: string, event: BusEvent): void {
    if (event.kind === 'stream-frames' || event.kind === 'stream-poll' || event.kind === 'stream-batch') {
      this.streamEvents?.(event);
      return;
    }
    const set = this.byUser.get(userId);
    if (!set) return;
    if (event.kind === 'close-device') {
      for (const conn of set) if (conn.deviceId === event.deviceId) conn.close(event.code, event.reason);
      return;
    }
    if (event.kind === 'members-changed' || event.kind === 'push-target-added' || event.kind === 'webhooks-changed') return; // broadcasts, not for sockets
    if (event.kind === 'message') {
      this.deps.messaging.remember({
        message_id: event.messageId,
        chat_id: event.chatId,
        seq: event.seq,
        sender_id: event.senderId,
        ...(event.change ? { change: true } : {}),
      });
    }
    for (const conn of set) if (event.exceptDevice !== conn.deviceId) conn.deliver(event);
  }

  /** Parses a frame and hands it to core's dispatcher (core/frames): one handler per frame type. */
  private onFrame(conn: Connection, data: RawData, isBinary: boolean): void {
    conn.lastActivity = Date.now();
    // Binary frames count against the frame limit like any other bad frame.
    const parsed: ParseResult[] = isBinary
      ? [{ ok: false, message: 'frames must be text (JSON)' }]
      : parseClientFrames(data.toString(), conn.batch);
    // A batch's frames are handled in order, each as if it came alone (limits included).
    for (const one of parsed) this.frames.handle(conn, one);
  }

  private frameError(conn: FrameSocket, err: unknown, clientMsgId?: string): void {
    const known = frameErrorOf(err);
    if (!known) this.deps.log.error({ err, user_id: conn.userId }, 'frame failed');
    const { code, message, extra } = known ?? unexpectedError(err);
    this.deps.metrics.frameErrors.inc({ code });
    const frame = { type: 'error' as const, code, message, ...extra };
    conn.sendFrame(clientMsgId === undefined ? frame : { ...frame, client_msg_id: clientMsgId });
  }

  /** Pings quiet sockets; closes those silent past the presence timeout. */
  private sweep(): void {
    const now = Date.now();
    const { pingIntervalMs, presenceTimeoutMs } = this.deps.config;
    for (const set of this.byUser.values()) {
      for (const conn of set) {
        conn.checkStalled(now);
        if (conn.transport instanceof HttpStream) {
          // Streams have no ping: connected or polling is heard; not polled for streamIdleMs closes it.
          conn.transport.tick(now, this.deps.config.streamIdleMs);
          continue;
        }
        const quiet = now - conn.lastActivity;
        if (quiet > presenceTimeoutMs) {
          conn.closed = true;
          // 4002 (docs/protocol-notes.md), best effort: a peer this quiet is likely gone, so
          // the socket is cut at once rather than after a close handshake (offline now).
          try {
            conn.transport.close(CloseCode.idleTimeout, 'idle: no frame or pong within the presence timeout');
          } catch {
            /* socket already closing */
          }
          conn.transport.terminate();
        } else if (quiet > pingIntervalMs && now - Math.max(conn.lastPing, conn.lastActivity) > pingIntervalMs) {
          // Once per ping interval, not on every sweep.
          conn.lastPing = now;
          try {
            conn.transport.ping();
          } catch {
            /* socket already closing */
          }
        }
      }
    }
  }

  /**
   * The bus lost events (a Redis blip): every socket stays open and gets what it missed
   * from the store, from its own position in each chat, as a gap fill does. At a million
   * sockets a reconnect storm on top of an outage is what this avoids.
   */
  resync(): void {
    for (const set of this.byUser.values()) for (const conn of set) conn.catchUp(() => this.catchUp(conn));
  }

  /**
   * The first step of a shutdown, while HTTP still answers: no new connections, and every
   * HTTP stream closed with "reconnect", so that a long-poll client is told in its poll's
   * answer (or its next poll) rather than finding the listener gone.
   */
  closeStreams(): void {
    this.draining = true;
    for (const set of this.byUser.values())
      for (const conn of set) if (conn.transport instanceof HttpStream) conn.close(CloseCode.reconnect, 'server shutting down: reconnect');
  }

  /** Graceful shutdown: refuse new sockets, close open ones with "reconnect". */
  async close(): Promise<void> {
    const graceMs = this.deps.config.shutdownGraceMs;
    this.draining = true;
    clearInterval(this.sweeper);
    const all = [...this.byUser.values()].flatMap((s) => [...s]);
    for (const conn of all) conn.close(CloseCode.reconnect, 'server shutting down: reconnect');
    const deadline = Date.now() + graceMs;
    while (this.connectionCount() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const conn of all) conn.transport.terminate();
    this.wss.close();
  }
}

/** A socket over a limit: HTTP 429 before the upgrade, like every HTTP limit. */
function refuseLimited(socket: Duplex, err: RateLimited): void {
  const body = JSON.stringify({ error: 'rate_limited', message: err.message, retry_after_ms: err.retryAfterMs });
  socket.end(
    `HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: ${Math.max(1, Math.ceil(err.retryAfterMs / 1000))}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
