import { shouldReconnect, CloseCode, MAX_BATCH_FRAMES, MAX_CONTENT_CHARS, overChars } from '@switchboard/protocol';
import type { Message, MessageUpdate, ServerFrame, ServerFrameOf } from '@switchboard/protocol';
import { TypedEmitter } from './emitter.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { SeqDeduper } from './dedup.js';
import { AckBatcher } from './ack-batcher.js';
import { AckGate } from './ack-gate.js';
import { Outbox, type ChangeFrame, type OutboxFrame } from './outbox.js';
import { MessageCache } from './message-cache.js';
import { trimSlash, wsUrlFor, SwitchboardHttpError, type FetchLike } from './http.js';
import type { SessionApi } from './rest.js';
import { defaultWebSocket, OPEN, type WebSocketConstructor, type WebSocketLike } from './socket.js';
import { HttpStreamSocket, httpBaseOf } from './http-stream-socket.js';

/** How the session reaches the server: the WebSocket, or the socket over plain HTTP (PROTOCOL.md "Without WebSockets"). */
export type Transport = 'websocket' | 'sse' | 'long-poll';

export type NewMessageEvent = ServerFrameOf<'new_message'>;
export type AckSent = ServerFrameOf<'ack_sent'>;
export type ErrorFrame = ServerFrameOf<'error'>;
export type ChatSettingsEvent = ServerFrameOf<'chat_settings'>;

/**
 * An edit, delete or reaction (PROTOCOL.md "Message lifecycle"): the update as it came, and
 * its target as it now is, or null when this client has not seen the target (not received,
 * sent or loaded with `history` since it started, or evicted from its cache).
 */
export interface MessageUpdateEvent {
  update: MessageUpdate;
  message: Message | null;
  /** This device made the change (emitted once the server acknowledged it). */
  own: boolean;
}

/** Options of `send`: attachments and the message lifecycle fields. */
export interface SendOptions {
  clientMsgId?: string;
  attachments?: (string | { media_id: string })[];
  /** The message_id of a message of the same chat this one answers. */
  replyTo?: string;
  /** User ids of members the message mentions (at most 50). */
  mentions?: string[];
  forwarded?: boolean;
  /** An end-to-end encrypted chat's MLS ciphertext (base64); `content` must then be "" (docs/e2ee.md). */
  ciphertext?: string;
}

export interface ClientEvents {
  /** A new message (duplicates already dropped). */
  message: NewMessageEvent;
  /** Delivered / read ticks for this user's own messages. */
  status: ServerFrameOf<'status_update'>;
  /** This user read a chat on another device. */
  read_sync: ServerFrameOf<'read_sync'>;
  typing: ServerFrameOf<'typing'>;
  presence: ServerFrameOf<'presence'>;
  group_update: ServerFrameOf<'group_update'>;
  /**
   * An earlier message was edited, deleted for everyone or reacted to, by anyone, this
   * device's own acknowledged changes included (duplicates dropped, like messages).
   */
  message_update: MessageUpdateEvent;
  /** This user changed a chat's settings (mute, archive, pin) on another device. */
  chat_settings: ChatSettingsEvent;
  /** An MLS commit of an encrypted chat, in the chat's seq order (duplicates dropped, like messages; see E2ee). */
  mls_commit: ServerFrameOf<'mls_commit'>;
  /** Everything owed from before this connect has arrived. */
  sync_complete: ServerFrameOf<'sync_complete'>;
  /** An error frame that does not answer one of this client's pending sends. */
  error: ErrorFrame;
  /** The socket is open; `reconnect` is false only for the first connection. */
  connected: { reconnect: boolean };
  /**
   * The session changed transport: fell back to `sse` (then `long-poll`) because the
   * WebSocket could not open while the server answered over HTTP, or went back to the
   * `websocket` once it opened again.
   */
  transport: { transport: Transport; reason: string };
  /** The socket closed (or a connection attempt failed). */
  disconnected: { code: number; reason: string; willReconnect: boolean; retryInMs?: number };
  /** Every frame from the server, before any other event (for logging and debugging). */
  frame: ServerFrame;
}

export interface SwitchboardClientOptions {
  /** HTTP base URL, e.g. https://chat.example.com. */
  baseUrl: string;
  token: string;
  /** WebSocket URL (the session's ws_url). Default: derived from baseUrl. */
  wsUrl?: string;
  userId?: string;
  deviceId?: string;
  /** WebSocket constructor. Default: globalThis.WebSocket (browsers, Node 22+); pass `ws`'s on Node 20. */
  WebSocket?: WebSocketConstructor;
  /**
   * Send the token in an `Authorization` header on the upgrade, for a constructor that takes
   * `ws`'s options (`new WebSocket(url, { headers })`: Node with the `ws` package). Default
   * false: each connect first fetches a single-use ticket (POST /v1/ws-tickets) and opens
   * `?ticket=`, since a browser cannot set headers and a token in a URL ends up in proxy logs.
   */
  authHeader?: boolean;
  /** fetch implementation. Default: globalThis.fetch. */
  fetch?: FetchLike;
  /** Reconnect backoff. Default base 250 ms, cap 10 s, full jitter. */
  backoff?: BackoffOptions;
  /** Keep-alive ping period in ms. Default 15000. */
  pingIntervalMs?: number;
  /** Drop and reconnect a socket that has been silent this long (ms). Default 3 × pingIntervalMs. */
  staleAfterMs?: number;
  /** Send ack_delivered for received messages. Default true. */
  autoAck?: boolean;
  /** Random source for jitter (tests). Default Math.random. */
  random?: () => number;
  /**
   * The transports to try, in order. Default all three: the WebSocket, then Server-Sent
   * Events, then long polling. The session moves to the next when one cannot open twice in
   * a row while the server answers over HTTP (a proxy that blocks upgrades or buffers
   * event streams), and emits `transport`.
   */
  transports?: Transport[];
  /** On a fallback transport, how often to try the WebSocket again (ms). Default 60000. */
  webSocketRetryMs?: number;
  /** A connection attempt that has not opened after this long (ms) has failed. Default 10000. */
  connectTimeoutMs?: number;
}

/** Rejection of `send` when the server answered with an error frame. */
export class SendError extends Error {
  override readonly name = 'SendError';
  readonly code: string;
  constructor(readonly frame: ErrorFrame) {
    super(`${frame.code}: ${frame.message}`);
    this.code = frame.code;
  }
}

/** Rejection of `send` (and `connect`) when the client stopped for good. */
export class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError';
}

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed';

const MAX_IDS_PER_PRESENCE_FRAME = 1000;

/**
 * The socket half of the client: one WebSocket kept open, and what rides on it.
 *
 * Reliability, in one place:
 * - Reconnects with exponential backoff and full jitter whenever the socket closes with a
 *   code for which `shouldReconnect` is true; a 4100 (session revoked) stops it for good,
 *   and so does a failed handshake when GET /v1/users/me then answers 401 (a browser
 *   cannot see the HTTP 401 of a refused upgrade).
 * - Before every reconnect the client asks GET /v1/sessions/current for a fresh ws_url,
 *   so after a 4000 ("reconnect, possibly elsewhere") or a dead node it lands on a live
 *   node of the cluster; when that call fails it keeps the old URL.
 * - Sends that have not been acknowledged are resent after every reconnect with the same
 *   client_msg_id, in their original order; the server is idempotent on client_msg_id,
 *   so a send that did commit before the connection broke is acknowledged, not doubled.
 * - Every received message is acknowledged (ack_delivered, batched per burst), duplicates
 *   included, and duplicates are dropped before the `message` event (see SeqDeduper). An
 *   ack_read sent before the batch leaves takes the place of the ids it covers (markRead).
 * - A ping every 15 s keeps presence alive; a socket silent for 3 periods is replaced.
 */
export class SocketSession extends TypedEmitter<ClientEvents> {
  readonly baseUrl: string;
  /** Where the socket connects; refreshed from GET /v1/sessions/current before each reconnect. */
  wsUrl: string;
  readonly userId: string | undefined;
  readonly deviceId: string | undefined;
  private token: string;
  private readonly WS: WebSocketConstructor | undefined;
  private readonly authHeader: boolean;
  /** Counts connect attempts, so a ticket that arrives after close() or a newer attempt opens nothing. */
  private opening = 0;
  private readonly backoff: BackoffOptions;
  private readonly pingIntervalMs: number;
  private readonly staleAfterMs: number;
  private readonly autoAck: boolean;
  private readonly random: () => number;
  private readonly transports: Transport[];
  private transportIndex = 0;
  /** Failed attempts in a row of the current transport while the server answered over HTTP. */
  private transportFailures = 0;
  private readonly webSocketRetryMs: number;
  private readonly connectTimeoutMs: number;
  private probeTimer: ReturnType<typeof setTimeout> | undefined;
  private probe: WebSocketLike | null = null;

  private ws: WebSocketLike | null = null;
  private _state: ConnectionState = 'idle';
  private everConnected = false;
  private attempt = 0;
  private lastFrameAt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private readonly acks = new AckBatcher((frame) => this.sendFrame(frame));
  /** Frames sendFrame queued this turn, for one WebSocket message (flushOutgoing). */
  private outgoing: string[] = [];
  /** The reads among `outgoing` (chat → message): if the socket is gone before they leave, they wait for the reconnect. */
  private outgoingReads = new Map<string, string>();
  private readonly ackGate = new AckGate((id, chatId, seq) => this.acks.add(id, chatId, seq));
  private ackHolder: ((frame: NewMessageEvent | ServerFrameOf<'mls_commit'>) => boolean) | undefined;
  private readonly outbox = new Outbox();
  private readonly pendingReads = new Map<string, string>();
  private readonly watched = new Set<string>();
  private readonly dedup = new SeqDeduper();
  private readonly cache = new MessageCache();
  private connectWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(
    opts: SwitchboardClientOptions,
    /** The REST calls the socket needs: who am I (is the token still good) and where to connect. */
    protected readonly api: SessionApi,
  ) {
    super();
    this.baseUrl = trimSlash(opts.baseUrl);
    this.wsUrl = opts.wsUrl ?? wsUrlFor(opts.baseUrl);
    this.token = opts.token;
    this.userId = opts.userId;
    this.deviceId = opts.deviceId;
    this.WS = opts.WebSocket ?? defaultWebSocket();
    this.authHeader = opts.authHeader ?? false;
    this.backoff = opts.backoff ?? {};
    this.pingIntervalMs = opts.pingIntervalMs ?? 15_000;
    this.staleAfterMs = opts.staleAfterMs ?? 3 * this.pingIntervalMs;
    this.autoAck = opts.autoAck ?? true;
    this.random = opts.random ?? Math.random;
    this.transports = opts.transports?.length ? [...opts.transports] : ['websocket', 'sse', 'long-poll'];
    this.webSocketRetryMs = opts.webSocketRetryMs ?? 60_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.fetchImpl = opts.fetch as unknown as typeof fetch | undefined;
  }

  private readonly fetchImpl: typeof fetch | undefined;

  /** The transport in use (or being tried). */
  get transport(): Transport {
    return this.transports[this.transportIndex]!;
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** Sends not yet acknowledged, oldest first (e.g. to persist an outbox). */
  pendingSends(): { chat_id: string; client_msg_id: string; content: string }[] {
    return this.outbox
      .frames()
      .flatMap((frame) =>
        frame.type === 'send_message' ? [{ chat_id: frame.chat_id, client_msg_id: frame.client_msg_id, content: frame.content }] : [],
      );
  }

  /** A message as this client last saw it (received, sent, or loaded with `history`), with every update applied. */
  cachedMessage(chatId: string, messageId: string): Message | undefined {
    return this.cache.get(chatId, messageId);
  }

  /** Remembers messages loaded over REST, so that later updates to them can be applied (`history` does this). */
  protected remember(messages: Message[]): void {
    for (const m of messages) this.cache.put(m);
  }

  /**
   * For the E2ee layer: log entries for which `hold` answers true are acknowledged
   * (ack_delivered) only once `releaseAck` is called for them, after they were processed;
   * later entries of the same chat wait behind them (see AckGate). Answers a function that
   * stops holding new entries (those held stay held until released or the client closes:
   * unacknowledged, the server replays them).
   */
  holdAcks(hold: (frame: NewMessageEvent | ServerFrameOf<'mls_commit'>) => boolean): () => void {
    this.ackHolder = hold;
    return () => {
      if (this.ackHolder === hold) this.ackHolder = undefined;
    };
  }

  /** Releases a log entry held by `holdAcks`: it (and what waited behind it) is acknowledged now. */
  releaseAck(chatId: string, messageId: string): void {
    this.ackGate.release(chatId, messageId);
  }

  private acknowledge(frame: { chat_id: string; message_id: string; seq: number }, fresh: boolean, hold: boolean): void {
    if (this.autoAck) this.ackGate.arrived(frame.chat_id, frame.message_id, frame.seq, fresh, hold);
  }

  /** Highest seq received in a chat on this client (the duplicate-drop mark). */
  lastSeq(chatId: string): number | undefined {
    return this.dedup.lastSeq(chatId);
  }

  // ---- socket ----

  /** Opens the socket (reconnecting until it opens); resolves once it is open. */
  connect(): Promise<void> {
    if (this._state === 'open') return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
    if (this._state === 'idle' || this._state === 'closed') {
      this._state = 'connecting';
      this.openSocket();
    }
    return p;
  }

  /** Closes the socket and stops reconnecting. Unacknowledged sends are rejected. */
  async close(): Promise<void> {
    if (this._state === 'closed') return;
    const ws = this.ws;
    // Acks held for the batching window go now: a closing client has had these messages.
    if (this._state === 'open') this.acks.flush();
    this.flushOutgoing();
    this.stop(1000, 'client closed', new ClientClosedError('client closed'));
    if (ws && ws.readyState <= OPEN) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        ws.onclose = () => {
          clearTimeout(timer);
          resolve();
        };
        ws.onerror = () => {};
        try {
          ws.close(1000, 'client closed');
        } catch {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  }

  /**
   * Sends a text message. Resolves with the ack_sent frame once the server has stored it;
   * rejects with SendError when the server refuses it. While disconnected the send waits
   * and goes out (in order) after the next connect.
   */
  send(chatId: string, content: string, opts: SendOptions = {}): Promise<AckSent> {
    if (this._state === 'closed') return Promise.reject(new ClientClosedError('client closed'));
    const clientMsgId = opts.clientMsgId ?? crypto.randomUUID();
    if (overChars(content, MAX_CONTENT_CHARS) && !this.outbox.has(clientMsgId)) {
      // Refused here: a frame over 1 MiB would close the socket (1009), and resending it
      // after every reconnect would loop forever.
      return Promise.reject(
        new SendError({
          type: 'error',
          code: 'content_too_long',
          message: `content is longer than ${MAX_CONTENT_CHARS} characters`,
          client_msg_id: clientMsgId,
        }),
      );
    }
    const queued = this.outbox.has(clientMsgId);
    const attachments = opts.attachments?.map((a) => (typeof a === 'string' ? { media_id: a } : { media_id: a.media_id }));
    const frame = {
      type: 'send_message' as const,
      chat_id: chatId,
      client_msg_id: clientMsgId,
      content,
      ...(attachments?.length ? { attachments } : {}),
      ...(opts.replyTo ? { reply_to: opts.replyTo } : {}),
      ...(opts.mentions?.length ? { mentions: [...new Set(opts.mentions)] } : {}),
      ...(opts.forwarded ? { forwarded: true as const } : {}),
      ...(opts.ciphertext !== undefined ? { ciphertext: opts.ciphertext } : {}),
    };
    const acked = this.outbox.add(frame);
    if (!queued && this._state === 'open') this.sendFrame(frame);
    return acked;
  }

  /** Sends a reply to `messageId` (a message of the same chat): `send` with `replyTo`. */
  reply(chatId: string, messageId: string, content: string, opts: Omit<SendOptions, 'replyTo'> = {}): Promise<AckSent> {
    return this.send(chatId, content, { ...opts, replyTo: messageId });
  }

  /**
   * Replaces the text of one of this user's messages (within the server's edit window).
   * Resolves with the ack (the edit's own seq); rejects with SendError (`forbidden`,
   * `invalid_reference`, `content_too_long`). Queued and resent like a send.
   */
  edit(chatId: string, messageId: string, content: string, opts: { clientMsgId?: string } = {}): Promise<AckSent> {
    if (overChars(content, MAX_CONTENT_CHARS))
      return Promise.reject(
        new SendError({ type: 'error', code: 'content_too_long', message: `content is longer than ${MAX_CONTENT_CHARS} characters` }),
      );
    return this.change({ type: 'edit_message', chat_id: chatId, client_msg_id: '', message_id: messageId, content }, opts.clientMsgId);
  }

  /** Deletes a message for everyone: one's own within the delete window, or any as a group admin. */
  deleteForEveryone(chatId: string, messageId: string, opts: { clientMsgId?: string } = {}): Promise<AckSent> {
    return this.change({ type: 'delete_message', chat_id: chatId, client_msg_id: '', message_id: messageId }, opts.clientMsgId);
  }

  /** Sets this user's one reaction to a message, replacing an earlier one; `""` takes it back. */
  react(chatId: string, messageId: string, emoji: string, opts: { clientMsgId?: string } = {}): Promise<AckSent> {
    return this.change({ type: 'react', chat_id: chatId, client_msg_id: '', message_id: messageId, emoji }, opts.clientMsgId);
  }

  private change(frame: ChangeFrame, clientMsgId: string | undefined): Promise<AckSent> {
    if (this._state === 'closed') return Promise.reject(new ClientClosedError('client closed'));
    frame.client_msg_id = clientMsgId ?? crypto.randomUUID();
    const queued = this.outbox.has(frame.client_msg_id);
    const acked = this.outbox.add(frame);
    if (!queued && this._state === 'open') this.sendFrame(frame);
    return acked;
  }

  /** What this device's own acknowledged send or change means for the message cache (and the app). */
  private ownAcked(frame: OutboxFrame, ack: AckSent): void {
    const own = {
      chat_id: ack.chat_id,
      sender_id: this.userId ?? '',
      sender_device_id: this.deviceId ?? '',
      client_msg_id: frame.client_msg_id,
    };
    if (frame.type === 'send_message') {
      // What the server stored (a reply's quote excepted: only the server knows its preview).
      const { type: _t, attachments: _a, reply_to: _r, ...rest } = frame;
      this.cache.put({ ...rest, ...own, message_id: ack.message_id, seq: ack.seq, created_at: ack.created_at });
      return;
    }
    const update: MessageUpdate = {
      ...own,
      message_id: ack.message_id,
      seq: ack.seq,
      created_at: ack.created_at,
      target_message_id: frame.message_id,
      action: frame.type === 'edit_message' ? 'edit' : frame.type === 'delete_message' ? 'delete' : 'react',
      ...(frame.type === 'edit_message' ? { content: frame.content } : frame.type === 'react' ? { emoji: frame.emoji } : {}),
    };
    this.emit('message_update', { update, message: this.cache.apply(update) ?? null, own: true });
  }

  /**
   * Marks a chat read up to and including messageId (sent when connected; the latest per chat
   * is kept while offline). A read covers delivery (guarantee 6: the server moves this
   * device's delivered cursor with it), so the ack_delivered ids it covers are not sent:
   * those of this chat queued at or below messageId's seq, when that seq is known (the
   * message was received, sent or loaded here and is cached, or its own ack is queued).
   */
  markRead(chatId: string, messageId: string): void {
    if (this._state !== 'open' || !this.sendRead(chatId, messageId)) {
      this.pendingReads.set(chatId, messageId);
      return;
    }
    if (this.acks.size === 0) return;
    const seq = this.cache.get(chatId, messageId)?.seq ?? this.acks.seqOf(chatId, messageId);
    if (seq !== undefined) this.acks.coveredByRead(chatId, seq);
  }

  /**
   * Queues an ack_read; false when the socket is closing (before its close event) and took
   * nothing. One the flush then finds gone waits for the reconnect too (flushOutgoing): reads
   * have no answer, and the latest per chat is all a cursor needs.
   */
  private sendRead(chatId: string, messageId: string): boolean {
    if (!this.sendFrame({ type: 'ack_read', chat_id: chatId, last_read_message_id: messageId })) return false;
    if (!(this.ws instanceof HttpStreamSocket)) this.outgoingReads.set(chatId, messageId);
    return true;
  }

  /** Typing indicator; dropped when not connected (it is ephemeral). */
  typing(chatId: string, state: 'composing' | 'paused'): void {
    if (this._state === 'open') this.sendFrame({ type: 'typing', chat_id: chatId, state });
  }

  /** Watches users' presence; renewed automatically after reconnects. */
  subscribePresence(userIds: string[]): void {
    const fresh = userIds.filter((id) => !this.watched.has(id));
    for (const id of fresh) this.watched.add(id);
    if (this._state === 'open' && fresh.length) this.sendPresence('presence_subscribe', fresh);
  }

  unsubscribePresence(userIds: string[]): void {
    const gone = userIds.filter((id) => this.watched.delete(id));
    if (this._state === 'open' && gone.length) this.sendPresence('presence_unsubscribe', gone);
  }

  private sendPresence(type: 'presence_subscribe' | 'presence_unsubscribe', ids: string[]): void {
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_PRESENCE_FRAME) {
      this.sendFrame({ type, user_ids: ids.slice(i, i + MAX_IDS_PER_PRESENCE_FRAME) });
    }
  }

  /** Queues (or, over HTTP, sends) a frame; false when the socket is not open or refused it. */
  private sendFrame(frame: object): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    // The WebSocket is opened with ?batch=1 (PROTOCOL.md "Batching"): what one turn sends
    // (an ack with a read, a reconnect's resends) goes as one array, not a message each.
    // The HTTP fallback gathers its frames per POST itself.
    if (!(ws instanceof HttpStreamSocket)) {
      if (this.outgoing.push(JSON.stringify(frame)) === 1) queueMicrotask(() => this.flushOutgoing());
      return true;
    }
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      // The close event follows; pending sends are resent after the reconnect.
      return false;
    }
  }

  /** Sends what this turn queued (sendFrame), at most MAX_BATCH_FRAMES to a message. */
  private flushOutgoing(): void {
    const texts = this.outgoing;
    this.outgoing = [];
    const reads = this.outgoingReads;
    this.outgoingReads = new Map();
    const ws = this.ws;
    try {
      // Gone: sends are resent after the reconnect, acks replayed, and reads kept for it.
      if (!ws || ws.readyState !== OPEN) throw new Error('socket gone');
      for (let i = 0; i < texts.length; i += MAX_BATCH_FRAMES) {
        const part = texts.slice(i, i + MAX_BATCH_FRAMES);
        ws.send(part.length === 1 ? part[0]! : `[${part.join(',')}]`);
      }
    } catch {
      // The close event follows. A read that did not leave waits, unless a later one of its chat does already.
      for (const [chatId, messageId] of reads) if (!this.pendingReads.has(chatId)) this.pendingReads.set(chatId, messageId);
    }
  }

  /** The socket URL with ?batch=1: frames may travel as arrays both ways (PROTOCOL.md "Batching"). */
  private batchUrl(): string {
    return `${this.wsUrl}${this.wsUrl.includes('?') ? '&' : '?'}batch=1`;
  }

  /** `prefetched`: the ticket already asked for (a reconnect asks while it refreshes ws_url). */
  private openSocket(prefetched?: Promise<string | null>): void {
    this.reconnectTimer = undefined;
    // close() came while a reconnect was asking for the current ws_url: it stays closed (a
    // socket opened now would reconnect for ever, and keep a Node process from exiting).
    if (this._state === 'closed') return;
    const transport = this.transport;
    if (transport !== 'websocket') {
      this._state = 'connecting';
      ++this.opening;
      this.startSocket(
        () => new HttpStreamSocket({ baseUrl: httpBaseOf(this.wsUrl), token: this.token, transport, fetch: this.fetchImpl }),
      );
      return;
    }
    if (!this.WS) {
      // No WebSocket here at all (an old runtime, or a page that took it away): straight to the next transport.
      if (this.transportIndex + 1 < this.transports.length) {
        this.useTransport(this.transportIndex + 1, 'no WebSocket implementation');
        this.openSocket();
        return;
      }
      this.stop(1006, 'no WebSocket implementation', new Error('no WebSocket constructor: pass options.WebSocket'));
      return;
    }
    this._state = 'connecting';
    const attempt = ++this.opening;
    if (this.authHeader) {
      // `ws`'s constructor takes (url, options); the browser's would read options as protocols.
      const WithOptions = this.WS as unknown as new (url: string, options: { headers: Record<string, string> }) => WebSocketLike;
      this.startSocket(() => new WithOptions(this.batchUrl(), { headers: { authorization: `Bearer ${this.token}` } }));
      return;
    }
    void (prefetched ?? this.ticket()).then(
      (t) => {
        // Without a ticket (a server that has none): the token in the query, as before tickets.
        const url =
          t === null
            ? `${this.batchUrl()}&access_token=${encodeURIComponent(this.token)}`
            : `${this.batchUrl()}&ticket=${encodeURIComponent(t)}`;
        if (attempt === this.opening && this._state === 'connecting') this.startSocket(() => new this.WS!(url));
      },
      (err: unknown) => {
        if (attempt !== this.opening || this._state !== 'connecting') return;
        if (err instanceof SwitchboardHttpError && err.status === 401) {
          this.stop(CloseCode.sessionRevoked, 'token rejected', new ClientClosedError('token rejected (401)'));
        } else this.onSocketClosed(1006, 'socket ticket request failed', false);
      },
    );
  }

  /**
   * A fresh single-use ticket for the socket URL, so the token never appears in a URL
   * (proxies and access logs keep URLs); null for a server without tickets (404) or an api
   * without them, which then get `?access_token=`.
   */
  private async ticket(): Promise<string | null> {
    if (!this.api.wsTicket) return null;
    try {
      return (await this.api.wsTicket()).ticket;
    } catch (err) {
      if (err instanceof SwitchboardHttpError && err.status === 404) return null;
      throw err;
    }
  }

  private startSocket(create: () => WebSocketLike): void {
    let ws: WebSocketLike;
    try {
      ws = create();
    } catch {
      this.onSocketClosed(1006, 'connect failed', false);
      return;
    }
    this.ws = ws;
    let opened = false;
    // An attempt that hangs (a proxy that holds the upgrade, or buffers the event stream) has failed.
    const timeout = unref(
      setTimeout(() => {
        if (this.ws !== ws || opened) return;
        this.ws = null;
        try {
          ws.close(1000, 'connect timed out');
        } catch {
          /* already closing */
        }
        this.onSocketClosed(1006, 'connect timed out', false);
      }, this.connectTimeoutMs),
    );
    ws.onopen = () => {
      clearTimeout(timeout);
      if (this.ws !== ws) return;
      opened = true;
      this.onOpen();
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      if (typeof ev.data === 'string') this.onText(ev.data);
    };
    ws.onclose = (ev) => {
      clearTimeout(timeout);
      if (this.ws !== ws) return;
      this.onSocketClosed(ev.code, ev.reason, opened);
    };
    ws.onerror = () => {
      // Always followed by close.
    };
  }

  private onOpen(): void {
    this._state = 'open';
    this.lastFrameAt = Date.now();
    const reconnect = this.everConnected;
    this.everConnected = true;
    this.pingTimer = unref(setInterval(() => this.keepAlive(), this.pingIntervalMs));
    this.transportFailures = 0;
    if (this.transport !== 'websocket' && this.transports.includes('websocket')) this.scheduleProbe();
    // Restore state before anything new can be sent, so resends keep their order.
    if (this.watched.size) this.sendPresence('presence_subscribe', [...this.watched]);
    const reads = [...this.pendingReads];
    this.pendingReads.clear();
    for (const [chatId, messageId] of reads) if (!this.sendRead(chatId, messageId)) this.pendingReads.set(chatId, messageId);
    for (const frame of this.outbox.frames()) this.sendFrame(frame);
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.resolve();
    this.emit('connected', { reconnect });
  }

  private keepAlive(): void {
    const ws = this.ws;
    if (!ws || this._state !== 'open') return;
    if (Date.now() - this.lastFrameAt > this.staleAfterMs) {
      // Half-open connection: stop waiting for a close that may never come.
      this.ws = null;
      try {
        ws.close(CloseCode.idleTimeout, 'no traffic');
      } catch {
        /* already closing */
      }
      this.onSocketClosed(CloseCode.idleTimeout, 'no traffic from server', true);
      return;
    }
    this.sendFrame({ type: 'ping' });
  }

  private onText(text: string): void {
    this.lastFrameAt = Date.now();
    let parsed: ServerFrame | ServerFrame[];
    try {
      parsed = JSON.parse(text) as ServerFrame | ServerFrame[];
    } catch {
      return;
    }
    // ?batch=1: one message may carry several frames, in order.
    if (Array.isArray(parsed)) for (const frame of parsed) this.onFrame(frame);
    else this.onFrame(parsed);
  }

  private onFrame(frame: ServerFrame): void {
    if (typeof frame !== 'object' || frame === null || typeof frame.type !== 'string') return;
    this.emit('frame', frame);
    switch (frame.type) {
      case 'new_message': {
        const fresh = this.dedup.accept(frame.chat_id, frame.seq);
        this.acknowledge(frame, fresh, this.ackHolder?.(frame) === true);
        if (fresh) {
          const { type: _t, ...message } = frame;
          this.cache.put(message);
          this.emit('message', frame);
        }
        break;
      }
      case 'message_update': {
        // Delivered like a message: acknowledged, and in the same seq order (one dedup mark per chat).
        const fresh = this.dedup.accept(frame.chat_id, frame.seq);
        this.acknowledge(frame, fresh, false);
        if (fresh) {
          const { type: _t, ...update } = frame;
          this.emit('message_update', { update, message: this.cache.apply(update) ?? null, own: false });
        }
        break;
      }
      case 'mls_commit': {
        // An entry of the chat's log like a message: acknowledged, and in the same seq order.
        const fresh = this.dedup.accept(frame.chat_id, frame.seq);
        this.acknowledge(frame, fresh, this.ackHolder?.(frame) === true);
        if (fresh) this.emit('mls_commit', frame);
        break;
      }
      case 'chat_settings':
        this.emit('chat_settings', frame);
        break;
      case 'ack_sent': {
        const sent = this.outbox.frame(frame.client_msg_id);
        this.outbox.acked(frame);
        if (sent) this.ownAcked(sent, frame);
        break;
      }
      case 'error':
        this.onErrorFrame(frame);
        break;
      case 'status_update':
        this.emit('status', frame);
        break;
      case 'read_sync':
        this.emit('read_sync', frame);
        break;
      case 'typing':
        this.emit('typing', frame);
        break;
      case 'presence':
        this.emit('presence', frame);
        break;
      case 'group_update':
        this.emit('group_update', frame);
        break;
      case 'sync_complete':
        // The connection works end to end: the next outage starts from a short delay again.
        this.attempt = 0;
        this.emit('sync_complete', frame);
        break;
      case 'pong':
        break;
    }
  }

  private onErrorFrame(frame: ErrorFrame): void {
    const clientMsgId = frame.client_msg_id;
    if (clientMsgId === undefined || !this.outbox.has(clientMsgId)) {
      this.emit('error', frame);
      return;
    }
    // rate_limited, or internal with retry_after_ms (the server's store is unreachable for now): nothing was stored.
    if (frame.code === 'rate_limited' || (frame.code === 'internal' && typeof frame.retry_after_ms === 'number')) {
      // Still pending: try again later (a reconnect in between resends it anyway).
      // Note: a later send may overtake this one.
      const retry = Math.max(50, frame.retry_after_ms ?? 1000);
      const sent = this.outbox.frame(clientMsgId);
      unref(
        setTimeout(() => {
          if (this.outbox.frame(clientMsgId) === sent && sent && this._state === 'open') this.sendFrame(sent);
        }, retry),
      );
      return;
    }
    this.outbox.refused(clientMsgId, new SendError(frame));
  }

  private onSocketClosed(code: number, reason: string, wasOpen: boolean): void {
    this.ws = null;
    this.clearSocketTimers();
    // Acks not yet written are lost with the socket; the server redelivers those messages.
    this.acks.clear();
    if (this._state === 'closed') return;
    if (!shouldReconnect(code)) {
      this.stop(code, reason, new ClientClosedError(`session ended (close code ${code})`));
      return;
    }
    if (!wasOpen) {
      // A refused upgrade looks the same as a network failure from here; ask over HTTP.
      this._state = 'waiting';
      void this.reachability().then((answer) => {
        if (this._state !== 'waiting' || this.reconnectTimer !== undefined) return;
        if (answer === 'rejected') {
          this.stop(CloseCode.sessionRevoked, 'token rejected', new ClientClosedError('token rejected (401)'));
          return;
        }
        // The server answers over HTTP but this transport does not open: after two tries, the next one.
        if (answer === 'ok' && ++this.transportFailures >= 2 && this.transportIndex + 1 < this.transports.length) {
          this.useTransport(this.transportIndex + 1, `${this.transport} did not open (${reason})`);
        }
        this.scheduleReconnect(code, reason);
      });
      return;
    }
    this.scheduleReconnect(code, reason);
  }

  /** Whether the server answers over HTTP with this token: `rejected` (401), `ok`, or `unreachable`. */
  private async reachability(): Promise<'rejected' | 'ok' | 'unreachable'> {
    try {
      await this.api.me();
      return 'ok';
    } catch (err) {
      if (err instanceof SwitchboardHttpError) return err.status === 401 ? 'rejected' : 'ok';
      return 'unreachable';
    }
  }

  private useTransport(index: number, reason: string): void {
    this.transportIndex = index;
    this.transportFailures = 0;
    this.emit('transport', { transport: this.transport, reason });
  }

  /** On a fallback: tries a WebSocket now and then; once one opens, the session moves back to it. */
  private scheduleProbe(): void {
    if (this.probeTimer !== undefined || !this.WS) return;
    this.probeTimer = unref(
      setTimeout(() => {
        this.probeTimer = undefined;
        void this.probeWebSocket();
      }, this.webSocketRetryMs),
    );
  }

  private async probeWebSocket(): Promise<void> {
    if (this._state !== 'open' || this.transport === 'websocket' || !this.WS) return;
    let url = this.wsUrl;
    let ws: WebSocketLike;
    try {
      if (this.authHeader) {
        const WithOptions = this.WS as unknown as new (url: string, options: { headers: Record<string, string> }) => WebSocketLike;
        ws = new WithOptions(url, { headers: { authorization: `Bearer ${this.token}` } });
      } else {
        const t = await this.ticket();
        const sep = url.includes('?') ? '&' : '?';
        url = t === null ? `${url}${sep}access_token=${encodeURIComponent(this.token)}` : `${url}${sep}ticket=${encodeURIComponent(t)}`;
        ws = new this.WS(url);
      }
    } catch {
      return this.scheduleProbe();
    }
    this.probe = ws;
    const done = (opened: boolean) => {
      if (this.probe !== ws) return;
      this.probe = null;
      clearTimeout(timer);
      try {
        ws.close(1000, 'probe');
      } catch {
        /* already closed */
      }
      if (!opened || this._state !== 'open' || this.transport === 'websocket') return this.scheduleProbe();
      // The WebSocket works again: leave the fallback (unacknowledged sends go out again on the socket).
      this.useTransport(this.transports.indexOf('websocket'), 'the WebSocket opens again');
      const old = this.ws;
      this.ws = null;
      try {
        old?.close(1000, 'back to the WebSocket');
      } catch {
        /* already closed */
      }
      this.onSocketClosed(CloseCode.reconnect, 'back to the WebSocket', true);
    };
    const timer = unref(setTimeout(() => done(false), this.connectTimeoutMs));
    ws.onopen = () => done(true);
    ws.onclose = () => done(false);
    ws.onerror = () => {};
    ws.onmessage = () => {};
  }

  private scheduleReconnect(code: number, reason: string): void {
    const delay = backoffDelay(this.attempt++, this.backoff, this.random);
    this._state = 'waiting';
    this.reconnectTimer = setTimeout(() => {
      // The ticket is asked for alongside the fresh ws_url, not after it: a reconnect costs no
      // extra round trip (a ticket from any node works on every node of a cluster).
      const ticket = this.authHeader || this.transport !== 'websocket' ? undefined : this.ticket();
      ticket?.catch(() => {}); // handled by openSocket
      void this.refreshWsUrl().then(() => this.openSocket(ticket));
    }, delay);
    this.emit('disconnected', { code, reason, willReconnect: true, retryInMs: delay });
  }

  /**
   * Asks the server where to connect now: in a cluster the node this client was on may
   * be draining (4000) or dead, and the least-loaded live node is handed out. Failing
   * that (the server is unreachable), the old URL is kept and the backoff goes on.
   */
  private async refreshWsUrl(): Promise<void> {
    try {
      const current = await this.api.currentSession();
      if (typeof current.ws_url === 'string' && current.ws_url) this.wsUrl = current.ws_url;
    } catch {
      /* keep the old URL */
    }
  }

  private clearSocketTimers(): void {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    const probe = this.probe;
    this.probe = null;
    try {
      probe?.close(1000, 'probe');
    } catch {
      /* already closed */
    }
  }

  /** Stops for good: no reconnect, pending sends and connect() callers rejected. */
  private stop(code: number, reason: string, err: Error): void {
    const wasClosed = this._state === 'closed';
    this._state = 'closed';
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.clearSocketTimers();
    this.acks.clear();
    this.ws = null;
    this.outbox.rejectAll(err);
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.reject(err);
    if (!wasClosed) this.emit('disconnected', { code, reason, willReconnect: false });
  }
}

/** Lets Node exit while only client timers remain (no-op in browsers). */
function unref<T>(timer: T): T {
  if (typeof timer === 'object' && timer !== null && 'unref' in timer && typeof timer.unref === 'function') timer.unref();
  return timer;
}
