import { SwitchboardClient, SwitchboardHttpError, SendError, directChatId, withoutBidiControls } from '@switchboard/client';
import type {
  Attachment,
  ChatSettingsBody,
  ChatSettingsView,
  ChatSummary,
  GroupView,
  Message,
  MessageUpdate,
  NewMessageEvent,
  ReactionSummary,
  ReplyRef,
  UserView,
} from '@switchboard/client';
import { loadOutbox, loadSession, saveOutbox, saveSession, SESSION_STORAGE_KEY, type PendingSend, type StoredSession } from './session.js';
import { disablePush, enablePush, pushEnabled, pushUnsupportedReason, type PushState } from './push.js';
import { AppWebSocket, dropSockets } from './socket.js';
import { applySettings, applyToChats, applyToConversation, orderChats, replyRef } from './lifecycle.js';

/*
 * The app's state and everything that changes it: one object, mutated here only, and a
 * change callback that re-renders the page. The SDK does the hard parts (reconnect,
 * resend, dedupe, acks); this keeps the view of chats and of the open conversation.
 */

export type Status = 'sending' | 'sent' | 'delivered' | 'read' | 'failed';

export interface Msg {
  /** Stable across the pending → stored switch: the client_msg_id. */
  key: string;
  message_id: string | null;
  seq: number | null;
  chat_id: string;
  sender_id: string;
  content: string;
  created_at: number;
  /** Own messages: from history, or `sending`/`failed` before the ack. */
  status?: Status;
  error?: string;
  attachments?: Attachment[];
  /** Message lifecycle (PROTOCOL.md): the quoted message, mentions, and what changed it since. */
  reply_to?: ReplyRef;
  mentions?: string[];
  forwarded?: true;
  edited_at?: number;
  deleted?: true;
  reactions?: ReactionSummary[];
}

export interface Conversation {
  chatId: string;
  kind: 'direct' | 'group';
  title: string;
  /** The other user of a direct chat (yourself in notes to self). */
  peerId: string | null;
  /** Stored messages in the page, ascending seq; at most MAX_WINDOW of them. */
  messages: Msg[];
  loading: boolean;
  error: string | null;
  hasOlder: boolean;
  hasNewer: boolean;
  loadingOlder: boolean;
  loadingNewer: boolean;
  /** The message a search jumped to. */
  highlightSeq: number | null;
  /** Bumped when the view should scroll anew (to the bottom, or to highlightSeq). */
  scrollToken: number;
  group: GroupView | null;
  /** No longer a member (removed or left): read-only. */
  removed: boolean;
  /** Receipt cursors of the other members, from status_update. */
  delivered: Map<string, number>;
  read: Map<string, number>;
  /**
   * The chat's log as far as this page accounts for it without a gap (edits, deletes and
   * reactions take seqs too, so they must not look like a gap), and the highest seq seen live.
   */
  seenSeq: number;
  liveSeq: number;
  /** Updates that came while a page was loading: applied again to it, as it may predate them. */
  held: MessageUpdate[];
}

export type Panel = null | 'new-chat' | 'new-group' | 'group-info';

/**
 * "Info" of one of your group messages: how many of its recipients have it and read it.
 * Filled from GET receipts when opened, then from status_update counts (PROTOCOL.md
 * guarantee 6); null counts while loading.
 */
export interface MessageInfo {
  messageId: string;
  chatId: string;
  seq: number;
  delivered: number | null;
  read: number | null;
  members: number | null;
  error: string | null;
}
export type ConnState = 'connecting' | 'online' | 'reconnecting';

export const PAGE = 50;
/** Messages kept in the page at most; farther pages are dropped and fetched again on scroll. */
export const MAX_WINDOW = 200;
const TYPING_TTL_MS = 6000;
const RANK: Record<Status, number> = { failed: -2, sending: -1, sent: 0, delivered: 1, read: 2 };

export function describeError(err: unknown): string {
  if (err instanceof SwitchboardHttpError) {
    const body = (err.body ?? {}) as { message?: unknown; retry_after_ms?: unknown };
    switch (err.code) {
      case 'invalid_credentials':
        return 'Wrong username or password.';
      case 'username_taken':
        return 'That username is taken. Try another one.';
      case 'unauthorized':
        return 'Your session has ended. Please log in again.';
      case 'forbidden':
        return 'Only a group admin can do that.';
      case 'group_too_large':
        return 'A group can have at most 1,024 members.';
      case 'not_a_member':
        return 'You are not a member of this chat.';
      case 'rate_limited': {
        const s = typeof body.retry_after_ms === 'number' ? Math.ceil(body.retry_after_ms / 1000) : null;
        return s ? `Too many attempts. Try again in ${s} s.` : 'Too many attempts. Try again in a moment.';
      }
      case 'invalid_request':
        return typeof body.message === 'string' ? sentence(body.message) : 'That was not accepted.';
      case 'not_found':
        return 'Not found.';
    }
    if (err.status >= 500) return 'The server had a problem. Please try again.';
    return typeof body.message === 'string' ? body.message : err.message;
  }
  // fetch rejects with a TypeError when the network or the server is unreachable.
  if (err instanceof TypeError) return 'Cannot reach the server. Check your connection and try again.';
  return err instanceof Error ? err.message : String(err);
}

function sentence(s: string): string {
  const t = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** A UUID without crypto.randomUUID, which only secure contexts have (plain http on a LAN is not one). */
export function uuid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function toMsg(m: Message | NewMessageEvent): Msg {
  return {
    key: m.client_msg_id || m.message_id,
    message_id: m.message_id,
    seq: m.seq,
    chat_id: m.chat_id,
    sender_id: m.sender_id,
    content: m.content,
    created_at: m.created_at,
    status: 'status' in m ? m.status : undefined,
    attachments: m.attachments,
    reply_to: m.reply_to,
    mentions: m.mentions,
    forwarded: m.forwarded,
    edited_at: 'edited_at' in m ? m.edited_at : undefined,
    deleted: 'deleted' in m ? m.deleted : undefined,
    reactions: 'reactions' in m ? m.reactions : undefined,
  };
}

type TabSignal =
  | { t: 'read'; chat_id: string; read_seq: number }
  | { t: 'sent'; message: Message }
  | { t: 'update'; update: MessageUpdate }
  | { t: 'settings'; settings: ChatSettingsView };

export class AppState {
  phase: 'boot' | 'auth' | 'app' = 'boot';
  authError: string | null = null;
  authBusy = false;
  session: StoredSession | null = null;
  me: UserView | null = null;
  conn: ConnState = 'connecting';
  chats: ChatSummary[] = [];
  chatsLoaded = false;
  chatsError: string | null = null;
  conv: Conversation | null = null;
  panel: Panel = null;
  panelError: string | null = null;
  panelBusy = false;
  users = new Map<string, UserView>();
  presence = new Map<string, { online: boolean; last_seen: number | null }>();
  /** chat → user → typing until (ms). */
  typing = new Map<string, Map<string, number>>();
  searchResults: Message[] | null = null;
  searchQuery = '';
  searchError: string | null = null;
  private searchSeq = 0;
  notice: string | null = null;
  /** Own sends not yet acknowledged, in order (persisted). */
  outbox: PendingSend[] = [];
  failed = new Map<string, string>();
  /** The composer's reply target or the message being edited, in the open chat. */
  replyTo: Msg | null = null;
  editing: Msg | null = null;
  /** The open "Info" of one of your messages in the open chat. */
  info: MessageInfo | null = null;
  private infoTimer: ReturnType<typeof setTimeout> | undefined;
  /** The chat list shows the archived chats instead of the others. */
  showArchived = false;
  /** Every send this tab has made or taken over, so that saving never drops another tab's. */
  private knownSends = new Set<string>();

  private client: SwitchboardClient | null = null;
  private tabs: BroadcastChannel | null = null;
  private leaving = false;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private readMarked = new Map<string, number>();
  private lastTypingSent = 0;
  private pauseTimer: ReturnType<typeof setTimeout> | undefined;
  private watchedPeer: string | null = null;
  private pendingUsers = new Set<string>();
  private convToken = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly onChange: () => void,
  ) {}

  private changed(): void {
    this.onChange();
  }

  get userId(): string {
    return this.session?.user_id ?? '';
  }

  // ---- start, accounts ----

  start(): void {
    window.addEventListener('offline', () => {
      dropSockets();
      if (this.phase === 'app') this.setConn('reconnecting');
    });
    window.addEventListener('popstate', () => this.route(false));
    window.addEventListener('storage', (ev) => {
      if (ev.key !== SESSION_STORAGE_KEY || this.phase !== 'app') return;
      const now = loadSession();
      if (!now) this.endSession('You logged out in another tab.', false);
      else if (now.token !== this.session?.token) location.reload();
    });
    document.addEventListener('visibilitychange', () => this.markReadIfSeen());
    setInterval(() => this.expireTyping(), 1000);
    const s = loadSession();
    if (s) this.enter(s);
    else {
      this.phase = 'auth';
      this.changed();
    }
  }

  async login(username: string, password: string): Promise<void> {
    await this.authenticate(username, password, false);
  }

  async register(username: string, password: string): Promise<void> {
    await this.authenticate(username, password, true);
  }

  private async authenticate(username: string, password: string, create: boolean): Promise<void> {
    const name = username.trim().toLowerCase();
    if (!name || !password) {
      this.authError = 'Enter a username and a password.';
      this.changed();
      return;
    }
    this.authBusy = true;
    this.authError = null;
    this.changed();
    try {
      if (create) await SwitchboardClient.register(this.baseUrl, { username: name, password });
      const session = await SwitchboardClient.login(this.baseUrl, { username: name, password, device_name: browserName() });
      const stored = { ...session, username: name };
      saveSession(stored);
      this.enter(stored);
    } catch (err) {
      this.authError = describeError(err);
    } finally {
      this.authBusy = false;
      this.changed();
    }
  }

  private enter(s: StoredSession): void {
    this.session = s;
    this.phase = 'app';
    this.conn = 'connecting';
    this.leaving = false;
    this.me = { user_id: s.user_id, username: s.username, display_name: s.username };
    const client = SwitchboardClient.fromSession(this.baseUrl, s, { WebSocket: AppWebSocket, backoff: { baseMs: 250, capMs: 4000 } });
    this.client = client;
    if (this.push !== 'unsupported')
      void pushEnabled().then(
        (on) => {
          if (this.client === client && on && this.push === 'off') {
            this.push = 'on';
            this.changed();
          }
        },
        () => {},
      );
    client.on('connected', () => this.setConn('online'));
    client.on('disconnected', (e) => {
      if (this.client !== client || this.leaving) return;
      if (e.willReconnect) this.setConn('reconnecting');
      else
        this.endSession(
          e.code === 4100 ? 'You were logged out. Please log in again.' : 'Your session has ended. Please log in again.',
          false,
        );
    });
    client.on('sync_complete', () => {
      this.scheduleRefresh(0);
      void this.catchUp();
    });
    client.on('message', (m) => this.onMessage(m));
    client.on('status', (f) => {
      const c = this.conv;
      if (!c || c.chatId !== f.chat_id) return;
      // A shared frame of a large group speaks for every member in user_ids.
      for (const id of f.user_ids ?? [f.user_id]) {
        c.delivered.set(id, Math.max(c.delivered.get(id) ?? 0, f.seq));
        if (f.status === 'read') c.read.set(id, Math.max(c.read.get(id) ?? 0, f.seq));
      }
      this.onCounts(f);
      this.changed();
    });
    client.on('read_sync', (f) => this.onReadSync(f.chat_id, f.read_seq));
    client.on('message_update', (e) => {
      // The server sends a device none of its own changes: its other tabs hear of them from it.
      if (e.own) this.tabs?.postMessage({ t: 'update', update: e.update } satisfies TabSignal);
      this.onUpdate(e.update);
    });
    client.on('chat_settings', (f) => this.onSettings(f));
    client.on('typing', (f) => {
      if (f.user_id === this.userId) return;
      let m = this.typing.get(f.chat_id);
      if (!m) this.typing.set(f.chat_id, (m = new Map()));
      if (f.state === 'composing') m.set(f.user_id, Date.now() + TYPING_TTL_MS);
      else m.delete(f.user_id);
      this.ensureUser(f.user_id);
      this.changed();
    });
    client.on('presence', (f) => {
      this.presence.set(f.user_id, { online: f.online, last_seen: f.last_seen });
      this.changed();
    });
    client.on('group_update', (f) => {
      this.scheduleRefresh(0);
      const c = this.conv;
      if (!c || c.chatId !== f.chat_id) return;
      if (f.event === 'member_removed' && f.user_ids.includes(this.userId)) {
        c.removed = true;
        this.changed();
      } else void this.loadGroup(c);
    });
    // Tabs of one browser share a device, and the server sends a device neither its own
    // messages nor its read_sync: the tabs tell each other.
    if (typeof BroadcastChannel === 'function') {
      this.tabs = new BroadcastChannel(`switchboard.${s.device_id}`);
      this.tabs.onmessage = (ev: MessageEvent<TabSignal>) => {
        const sig = ev.data;
        if (sig.t === 'read') this.onReadSync(sig.chat_id, sig.read_seq);
        else if (sig.t === 'sent') this.onMessage(sig.message);
        else if (sig.t === 'update') this.onUpdate(sig.update);
        else if (sig.t === 'settings') this.onSettings(sig.settings);
      };
    }
    void client.connect().catch(() => {});
    void this.loadMe();
    this.scheduleRefresh(0);
    // Sends typed before a reload (or a crash) and never acknowledged go out again, same ids.
    this.outbox = loadOutbox(s.device_id);
    for (const p of this.outbox) this.knownSends.add(p.client_msg_id);
    for (const p of this.outbox) this.dispatch(p);
    this.route(false);
    this.changed();
  }

  private setConn(c: ConnState): void {
    if (this.conn === c) return;
    this.conn = c;
    this.changed();
  }

  private async loadMe(): Promise<void> {
    try {
      const me = await this.client!.me();
      this.me = me;
      this.users.set(me.user_id, me);
      this.changed();
    } catch (err) {
      this.onRequestError(err);
    }
  }

  async logout(): Promise<void> {
    this.leaving = true;
    const client = this.client;
    try {
      await client?.logout();
    } catch {
      // Offline or already revoked: the session is forgotten here all the same.
    }
    if (this.session) saveOutbox(this.session.device_id, []);
    this.endSession(null, true);
  }

  /** Back to the login form, forgetting the session (and its client). */
  private endSession(message: string | null, _byUser: boolean): void {
    const client = this.client;
    this.client = null;
    this.leaving = true;
    void client?.close();
    this.tabs?.close();
    this.tabs = null;
    saveSession(null);
    this.session = null;
    this.me = null;
    this.chats = [];
    this.chatsLoaded = false;
    this.conv = null;
    this.panel = null;
    this.outbox = [];
    this.readMarked.clear();
    this.phase = 'auth';
    this.authError = message;
    if (location.pathname !== '/') history.replaceState(null, '', '/');
    this.changed();
  }

  /** A REST call failed: a 401 means the session is gone; anything else is shown. */
  private onRequestError(err: unknown, show?: (msg: string) => void): void {
    if (err instanceof SwitchboardHttpError && err.status === 401) {
      this.endSession('Your session has ended. Please log in again.', false);
      return;
    }
    if (show) show(describeError(err));
  }

  // ---- chat list ----

  scheduleRefresh(delay = 250): void {
    if (this.refreshTimer !== undefined) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refreshChats();
    }, delay);
  }

  private async refreshChats(): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      const chats = await client.chats();
      if (client !== this.client) return;
      this.chats = chats;
      this.chatsLoaded = true;
      this.chatsError = null;
      for (const c of chats) {
        const seen = this.readMarked.get(c.chat_id) ?? 0;
        // A read acknowledged here may not be in an answer that was already on its way.
        if (seen >= c.last_seq) c.unread_count = 0;
      }
      const conv = this.conv;
      if (conv) {
        const chat = this.chat(conv.chatId);
        if (chat && chat.title && conv.kind === 'group') conv.title = chat.title;
      }
      this.changed();
      this.markReadIfSeen();
    } catch (err) {
      this.onRequestError(err, (m) => {
        this.chatsError = m;
        this.changed();
      });
    }
  }

  chat(chatId: string): ChatSummary | undefined {
    return this.chats.find((c) => c.chat_id === chatId);
  }

  private onReadSync(chatId: string, readSeq: number): void {
    const chat = this.chat(chatId);
    this.readMarked.set(chatId, Math.max(this.readMarked.get(chatId) ?? 0, readSeq));
    if (!chat) return;
    chat.read_seq = Math.max(chat.read_seq, readSeq);
    if (chat.read_seq >= chat.last_seq) chat.unread_count = 0;
    else this.scheduleRefresh();
    this.changed();
  }

  typingIn(chatId: string): string[] {
    const m = this.typing.get(chatId);
    if (!m) return [];
    const now = Date.now();
    return [...m].filter(([, until]) => until > now).map(([id]) => id);
  }

  private expireTyping(): void {
    const now = Date.now();
    let any = false;
    for (const m of this.typing.values())
      for (const [id, until] of m)
        if (until <= now) {
          m.delete(id);
          any = true;
        }
    if (any) this.changed();
  }

  // ---- messages ----

  private onMessage(m: NewMessageEvent | Message): void {
    const mine = m.sender_id === this.userId;
    const chat = this.chat(m.chat_id);
    const conv = this.conv;
    const open = conv?.chatId === m.chat_id;
    this.typing.get(m.chat_id)?.delete(m.sender_id);
    if (!chat) this.scheduleRefresh(0);
    else {
      if (m.seq > chat.last_seq) {
        chat.last_seq = m.seq;
        const { type: _t, ...message } = m as NewMessageEvent;
        chat.last_message = message as Message;
      }
      if (!mine && m.seq > chat.read_seq && m.seq > (this.readMarked.get(m.chat_id) ?? 0) && !(open && this.seeing())) chat.unread_count++;
      this.chats = orderChats([chat, ...this.chats.filter((c) => c !== chat)]);
    }
    if (conv && open) {
      if (!mine) this.ensureUser(m.sender_id);
      // Presence is only shown between people who share a chat: the first message makes one.
      const p = this.watchedPeer ? this.presence.get(this.watchedPeer) : undefined;
      if (this.watchedPeer && (!p || (!p.online && p.last_seen === null))) {
        this.client?.unsubscribePresence([this.watchedPeer]);
        this.client?.subscribePresence([this.watchedPeer]);
      }
      const msg = toMsg(m);
      if (mine) msg.status = 'sent';
      this.insertLive(conv, msg);
    }
    this.changed();
    if (open) this.markReadIfSeen();
  }

  private insertLive(conv: Conversation, msg: Msg): void {
    if (conv.loading || conv.hasNewer || msg.seq === null) return;
    const last = conv.messages[conv.messages.length - 1];
    const contiguous = this.noteSeq(conv, msg.seq);
    if (last && last.seq !== null && !contiguous) {
      // A gap (e.g. what another tab of this device was sent): fetch it rather than skip it.
      void this.catchUp();
      return;
    }
    const at = conv.messages.findIndex((x) => x.seq !== null && x.seq >= msg.seq!);
    if (at === -1) conv.messages.push(msg);
    else if (conv.messages[at]!.seq === msg.seq) return;
    else conv.messages.splice(at, 0, msg);
    if (conv.messages.length > MAX_WINDOW) {
      conv.messages.splice(0, conv.messages.length - MAX_WINDOW);
      conv.hasOlder = true;
    }
  }

  /** Records a seq seen live in the open chat; false when it leaves a gap (something between was missed). */
  private noteSeq(conv: Conversation, seq: number): boolean {
    conv.liveSeq = Math.max(conv.liveSeq, seq);
    const last = conv.messages[conv.messages.length - 1]?.seq ?? 0;
    if (seq > Math.max(last, conv.seenSeq) + 1) return false;
    conv.seenSeq = Math.max(conv.seenSeq, seq);
    return true;
  }

  /** Fetches what came after the newest message in the page (after a reconnect or a gap). */
  private async catchUp(): Promise<void> {
    const conv = this.conv;
    const client = this.client;
    if (!conv || !client || conv.loading || conv.hasNewer || conv.loadingNewer) return;
    const last = conv.messages[conv.messages.length - 1];
    // Everything seen live so far was stored before this request: its answer fills any gap below.
    const upTo = conv.liveSeq;
    conv.loadingNewer = true;
    try {
      const page = await client.history(conv.chatId, last?.seq ? { after: last.seq, limit: 200 } : { limit: PAGE });
      if (this.conv !== conv) return;
      conv.seenSeq = Math.max(conv.seenSeq, upTo);
      for (const m of page.messages) this.insertLive(conv, toMsg(m));
      this.ensureUsers(page.messages.map((m) => m.sender_id));
    } catch (err) {
      this.onRequestError(err);
    } finally {
      conv.loadingNewer = false;
      this.applyHeld(conv);
      this.changed();
      this.markReadIfSeen();
    }
  }

  /** Whether the person is looking at the newest messages of the open chat. */
  private seeing(): boolean {
    const conv = this.conv;
    return !!conv && !conv.loading && !conv.hasNewer && document.visibilityState === 'visible';
  }

  markReadIfSeen(): void {
    const conv = this.conv;
    const client = this.client;
    if (!conv || !client || !this.seeing()) return;
    const last = [...conv.messages].reverse().find((m) => m.message_id !== null && m.seq !== null);
    if (!last) return;
    const chat = this.chat(conv.chatId);
    const marked = this.readMarked.get(conv.chatId) ?? 0;
    if (chat && chat.unread_count > 0 && marked >= last.seq!) {
      chat.unread_count = 0;
      this.changed();
    }
    if (marked >= last.seq! || (chat && chat.read_seq >= last.seq! && chat.unread_count === 0)) return;
    this.readMarked.set(conv.chatId, last.seq!);
    client.markRead(conv.chatId, last.message_id!);
    this.tabs?.postMessage({ t: 'read', chat_id: conv.chatId, read_seq: last.seq! } satisfies TabSignal);
    if (chat) {
      chat.read_seq = Math.max(chat.read_seq, last.seq!);
      chat.unread_count = 0;
    }
    this.changed();
  }

  /** The tick of one of your messages in the open conversation. */
  statusOf(conv: Conversation, m: Msg): Status {
    if (m.seq === null) return this.failed.has(m.key) ? 'failed' : 'sending';
    let status: Status = m.status ?? 'sent';
    const recipients =
      conv.kind === 'direct'
        ? conv.peerId && conv.peerId !== this.userId
          ? [conv.peerId]
          : []
        : (conv.group?.members.map((x) => x.user_id).filter((id) => id !== this.userId) ?? []);
    if (recipients.length) {
      const floor = (map: Map<string, number>) => Math.min(...recipients.map((id) => map.get(id) ?? 0));
      const computed: Status = m.seq <= floor(conv.read) ? 'read' : m.seq <= floor(conv.delivered) ? 'delivered' : 'sent';
      if (RANK[computed] > RANK[status]) status = computed;
    }
    return status;
  }

  // ---- message info ----

  /** Opens (or closes, when open) the "Info" of one of your stored messages. */
  toggleInfo(m: Msg): void {
    if (m.message_id === null || m.seq === null) return;
    if (this.info?.messageId === m.message_id) return this.closeInfo();
    this.info = { messageId: m.message_id, chatId: m.chat_id, seq: m.seq, delivered: null, read: null, members: null, error: null };
    this.changed();
    void this.loadInfo();
  }

  closeInfo(): void {
    clearTimeout(this.infoTimer);
    this.info = null;
    this.changed();
  }

  /** Counts each recipient's receipt (GET receipts): exact for this message whatever frames came. */
  private async loadInfo(): Promise<void> {
    const info = this.info;
    if (!info || !this.client) return;
    try {
      const { receipts } = await this.client.receipts(info.messageId);
      if (this.info !== info) return;
      info.members = receipts.length;
      info.delivered = receipts.filter((r) => r.delivered_at !== null).length;
      info.read = receipts.filter((r) => r.read_at !== null).length;
      info.error = null;
    } catch (err) {
      if (this.info === info) info.error = describeError(err);
    }
    this.changed();
  }

  /**
   * A group status_update names a sender's latest message that someone got or read, with its
   * counts: taken as they are for the message shown; one after it may have moved this one's
   * counts too (cursors cover every earlier message), so they are fetched again, at most
   * twice a second.
   */
  private onCounts(f: {
    chat_id: string;
    message_id: string;
    seq: number;
    delivered_count?: number;
    read_count?: number;
    member_count?: number;
  }): void {
    const info = this.info;
    if (!info || info.chatId !== f.chat_id || f.seq < info.seq) return;
    if (f.message_id === info.messageId && f.member_count !== undefined) {
      info.delivered = f.delivered_count ?? info.delivered;
      info.read = f.read_count ?? info.read;
      info.members = f.member_count;
    } else if (f.seq > info.seq) {
      clearTimeout(this.infoTimer);
      this.infoTimer = setTimeout(() => void this.loadInfo(), 500);
    }
  }

  /** Own sends of the open chat not yet stored. */
  pendingIn(chatId: string): Msg[] {
    return this.outbox
      .filter((p) => p.chat_id === chatId)
      .map((p) => ({
        key: p.client_msg_id,
        message_id: null,
        seq: null,
        chat_id: p.chat_id,
        sender_id: this.userId,
        content: p.content,
        created_at: p.created_at,
        error: this.failed.get(p.client_msg_id),
        attachments: p.attachments,
        reply_to: p.reply_to,
        mentions: p.mentions,
      }));
  }

  send(text: string, attachments: Attachment[] = [], mentions: string[] = []): boolean {
    const conv = this.conv;
    if (!conv || !this.client || conv.removed || (!text.trim() && !attachments.length)) return false;
    const p: PendingSend = { chat_id: conv.chatId, client_msg_id: uuid(), content: text, created_at: Date.now() };
    if (attachments.length) p.attachments = attachments;
    if (this.replyTo?.message_id && this.replyTo.chat_id === conv.chatId) p.reply_to = replyRef(this.replyTo);
    if (mentions.length) p.mentions = mentions;
    this.replyTo = null;
    this.outbox.push(p);
    this.knownSends.add(p.client_msg_id);
    this.persistOutbox();
    this.dispatch(p);
    this.stopTyping();
    if (conv.hasNewer) void this.loadLatest(conv);
    conv.scrollToken++;
    this.changed();
    return true;
  }

  private dispatch(p: PendingSend): void {
    const client = this.client;
    if (!client) return;
    const attachments = p.attachments?.map((a) => a.media_id);
    const opts = { clientMsgId: p.client_msg_id, attachments, replyTo: p.reply_to?.message_id, mentions: p.mentions };
    client.send(p.chat_id, p.content, opts).then(
      (ack) => {
        this.dropPending(p.client_msg_id);
        const message: Message = {
          message_id: ack.message_id,
          chat_id: ack.chat_id,
          seq: ack.seq,
          sender_id: this.userId,
          sender_device_id: this.session?.device_id ?? '',
          client_msg_id: p.client_msg_id,
          content: p.content,
          created_at: ack.created_at,
          ...(p.attachments ? { attachments: p.attachments } : {}),
          ...(p.reply_to ? { reply_to: p.reply_to } : {}),
          ...(p.mentions ? { mentions: p.mentions } : {}),
        };
        this.tabs?.postMessage({ t: 'sent', message } satisfies TabSignal);
        this.onMessage(message);
      },
      (err: unknown) => {
        if (client !== this.client) return; // closed: the persisted outbox resends it next time
        if (err instanceof SendError) {
          this.failed.set(p.client_msg_id, describeSendError(err.code));
          this.notice = `Message not sent: ${describeSendError(err.code)}`;
          this.changed();
        }
      },
    );
  }

  private dropPending(clientMsgId: string): void {
    this.outbox = this.outbox.filter((x) => x.client_msg_id !== clientMsgId);
    this.persistOutbox();
  }

  /** Saves this tab's pending sends, keeping those another tab of this device saved (tabs share the key). */
  private persistOutbox(): void {
    if (!this.session) return;
    const others = loadOutbox(this.session.device_id).filter((p) => !this.knownSends.has(p.client_msg_id));
    saveOutbox(this.session.device_id, [...others, ...this.outbox]);
  }

  /**
   * Uploads a file (PROTOCOL.md "Media": POST /v1/media, then the bytes to its upload URL)
   * with XMLHttpRequest, whose upload progress fetch cannot report. Resolves with the
   * attachment as this client shows it until the server's own copy (with a thumbnail) comes.
   */
  async uploadFile(file: File, onProgress: (loaded: number, total: number) => void): Promise<Attachment> {
    const token = this.session?.token;
    if (!token) throw new Error('Not logged in.');
    const contentType = file.type || 'application/octet-stream';
    // The server refuses names with bidirectional controls (a look-alike "invoice\u202Efdp.exe"); this name came from the OS, so drop them.
    const filename = withoutBidiControls(file.name).slice(0, 255);
    const res = await fetch(`${this.baseUrl}/v1/media`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ content_type: contentType, size: file.size, ...(filename ? { filename } : {}) }),
    });
    if (!res.ok) throw new Error(res.status === 413 ? 'The file is too large for this server.' : `Upload refused (HTTP ${res.status}).`);
    const target = (await res.json()) as {
      media_id: string;
      upload_url: string;
      upload_method: string;
      upload_headers: Record<string, string>;
    };
    await new Promise<void>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(target.upload_method, target.upload_url);
      for (const [k, v] of Object.entries(target.upload_headers)) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new Error(`Upload failed (HTTP ${xhr.status}).`)));
      xhr.onerror = () => reject(new Error('Upload failed: cannot reach the server.'));
      xhr.send(file);
    });
    onProgress(file.size, file.size);
    return { media_id: target.media_id, content_type: contentType, size: file.size, filename: filename || null };
  }

  private mediaUrls = new Map<string, { url: Promise<string>; at: number }>();

  /** A short-lived URL for a media id (an <img src>, a download link); fetched again after a minute. */
  mediaUrl(mediaId: string): Promise<string> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('Not logged in.'));
    const hit = this.mediaUrls.get(mediaId);
    if (hit && Date.now() - hit.at < 60_000) return hit.url;
    const url = client.mediaUrl(mediaId);
    this.mediaUrls.set(mediaId, { url, at: Date.now() });
    url.catch(() => this.mediaUrls.delete(mediaId));
    return url;
  }

  /** Browser notifications (Web Push): 'unsupported' with pushUnsupported saying why. */
  push: PushState = pushUnsupportedReason() ? 'unsupported' : 'off';
  readonly pushUnsupported = pushUnsupportedReason();

  async togglePush(): Promise<void> {
    const client = this.client;
    if (!client || this.push === 'busy' || this.push === 'unsupported') return;
    const was = this.push;
    this.push = 'busy';
    this.changed();
    try {
      if (was === 'on') await disablePush(client);
      else await enablePush(this.baseUrl, client);
      this.push = was === 'on' ? 'off' : 'on';
    } catch (err) {
      this.push = was;
      this.notice = `Notifications: ${err instanceof Error ? err.message : String(err)}`;
    }
    this.changed();
  }

  /** Forgets a send the server refused. */
  discardFailed(clientMsgId: string): void {
    this.failed.delete(clientMsgId);
    this.dropPending(clientMsgId);
    this.changed();
  }

  composing(): void {
    const conv = this.conv;
    if (!conv || !this.client) return;
    const now = Date.now();
    if (now - this.lastTypingSent > 3000) {
      this.client.typing(conv.chatId, 'composing');
      this.lastTypingSent = now;
    }
    clearTimeout(this.pauseTimer);
    this.pauseTimer = setTimeout(() => this.stopTyping(), 4000);
  }

  private stopTyping(): void {
    clearTimeout(this.pauseTimer);
    if (this.lastTypingSent && this.conv) this.client?.typing(this.conv.chatId, 'paused');
    this.lastTypingSent = 0;
  }

  // ---- message lifecycle: replies, edits, deletes, reactions; chat settings (lifecycle.ts) ----

  private onUpdate(u: MessageUpdate): void {
    applyToChats(this.chats, u);
    const conv = this.conv;
    if (conv?.chatId === u.chat_id) {
      if (conv.loading || conv.loadingOlder || conv.loadingNewer) conv.held.push(u);
      applyToConversation(conv, u);
      if (!this.noteSeq(conv, u.seq) && !conv.loading) void this.catchUp();
      if (this.editing?.message_id === u.target_message_id && u.action === 'delete') this.editing = null;
      if (this.replyTo?.message_id === u.target_message_id && u.action === 'delete') this.replyTo = null;
    }
    this.changed();
  }

  /** Once no page of `conv` is loading: the updates that came meanwhile, applied again (they are idempotent). */
  private applyHeld(conv: Conversation): void {
    if (conv.loading || conv.loadingOlder || conv.loadingNewer || !conv.held.length) return;
    for (const u of conv.held) applyToConversation(conv, u);
    conv.held = [];
  }

  private onSettings(s: ChatSettingsView): void {
    this.chats = applySettings(this.chats, s);
    this.changed();
  }

  /** The composer answers `m` (a stored message of the open chat). */
  startReply(m: Msg): void {
    this.editing = null;
    this.replyTo = m;
    this.changed();
  }

  /** The composer edits `m` (one's own, within the edit window). */
  startEdit(m: Msg): void {
    this.replyTo = null;
    this.editing = m;
    this.changed();
  }

  cancelCompose(): void {
    this.replyTo = null;
    this.editing = null;
    this.changed();
  }

  /** Saves the edit in progress; false (nothing sent) when the text is empty. */
  saveEdit(text: string): boolean {
    const m = this.editing;
    if (!m?.message_id || !text.trim()) return false;
    this.editing = null;
    if (text !== m.content) this.change('Edit', (c) => c.edit(m.chat_id, m.message_id!, text));
    this.changed();
    return true;
  }

  deleteForEveryone(m: Msg): void {
    if (m.message_id) this.change('Delete', (c) => c.deleteForEveryone(m.chat_id, m.message_id!));
  }

  /** Sets one's reaction; choosing the one one already has takes it back. */
  react(m: Msg, emoji: string): void {
    if (!m.message_id) return;
    const mine = m.reactions?.find((r) => r.user_ids.includes(this.userId))?.emoji;
    this.change('Reaction', (c) => c.react(m.chat_id, m.message_id!, mine === emoji ? '' : emoji));
  }

  /** Edits, deletes and reactions go through the SDK's outbox; the acknowledged change comes back as a message_update. */
  private change(what: string, run: (c: SwitchboardClient) => Promise<unknown>): void {
    const client = this.client;
    if (!client) return;
    run(client).catch((err: unknown) => {
      if (client !== this.client || !(err instanceof SendError)) return;
      this.notice = `${what} not saved: ${describeSendError(err.code)}`;
      this.changed();
    });
  }

  async copyMessage(m: Msg): Promise<void> {
    try {
      await navigator.clipboard.writeText(m.content);
      this.notice = null;
    } catch {
      this.notice = 'Copying needs clipboard access; select the text instead.';
    }
    this.changed();
  }

  /** Scrolls to (and highlights) a message of the open chat, loading its page when it is not on screen. */
  jumpToMessage(messageId: string): void {
    const conv = this.conv;
    if (!conv) return;
    const here = conv.messages.find((m) => m.message_id === messageId);
    const seq = here?.seq ?? this.client?.cachedMessage(conv.chatId, messageId)?.seq;
    if (here && seq) {
      conv.highlightSeq = seq;
      conv.scrollToken++;
      this.changed();
    } else if (seq) void this.openChat(conv.chatId, { seq });
    else {
      this.notice = 'That message is no longer in this chat.';
      this.changed();
    }
  }

  /** Mute (for ever, or until a time; null unmutes), archive, pin: per user, on every device. */
  async setChatSettings(chatId: string, body: ChatSettingsBody): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      const view = await client.setChatSettings(chatId, body);
      this.tabs?.postMessage({ t: 'settings', settings: view } satisfies TabSignal);
      this.onSettings(view);
    } catch (err) {
      this.onRequestError(err, (m) => {
        this.notice = err instanceof SwitchboardHttpError && err.code === 'too_many_pinned' ? 'You can pin at most 10 chats.' : m;
        this.changed();
      });
    }
  }

  toggleArchived(): void {
    this.showArchived = !this.showArchived;
    this.changed();
  }

  // ---- opening a chat, paging ----

  /** Applies the URL: /chat/<id>?seq=N opens that chat (at that message). */
  route(push: boolean): void {
    const m = /^\/chat\/([^/]+)$/.exec(location.pathname);
    if (!m) {
      if (this.conv) this.closeChat(false);
      return;
    }
    let chatId: string;
    try {
      chatId = decodeURIComponent(m[1]!);
    } catch {
      return;
    }
    const seq = Number(new URLSearchParams(location.search).get('seq')) || undefined;
    void this.openChat(chatId, { seq, push });
  }

  closeChat(push = true): void {
    if (this.conv) this.stopTyping();
    this.conv = null;
    this.panel = this.panel === 'group-info' ? null : this.panel;
    if (push && location.pathname !== '/') history.pushState(null, '', '/');
    this.changed();
  }

  async openChat(chatId: string, opts: { seq?: number; push?: boolean; title?: string } = {}): Promise<void> {
    if (this.conv) this.stopTyping();
    if (opts.push !== false) {
      const url = `/chat/${encodeURIComponent(chatId)}${opts.seq ? `?seq=${opts.seq}` : ''}`;
      if (location.pathname + location.search !== url) history.pushState(null, '', url);
    }
    const chat = this.chat(chatId);
    const group = chatId.startsWith('g:');
    let peerId: string | null = null;
    if (!group) {
      const ids = chatId.split(':').slice(1);
      peerId = ids.find((id) => id !== this.userId) ?? ids[0] ?? null;
    }
    const conv: Conversation = {
      chatId,
      kind: group ? 'group' : 'direct',
      title: chat?.title || opts.title || (peerId ? (this.users.get(peerId)?.display_name ?? '') : ''),
      peerId,
      messages: [],
      loading: true,
      error: null,
      hasOlder: false,
      hasNewer: false,
      loadingOlder: false,
      loadingNewer: false,
      highlightSeq: opts.seq ?? null,
      scrollToken: 0,
      group: null,
      removed: false,
      delivered: new Map(),
      read: new Map(),
      seenSeq: 0,
      liveSeq: 0,
      held: [],
    };
    this.conv = conv;
    this.convToken++;
    this.replyTo = null;
    this.editing = null;
    this.panel = null;
    this.info = null;
    if (this.watchedPeer && this.watchedPeer !== peerId) this.client?.unsubscribePresence([this.watchedPeer]);
    this.watchedPeer = peerId && peerId !== this.userId ? peerId : null;
    if (this.watchedPeer) this.client?.subscribePresence([this.watchedPeer]);
    if (peerId) this.ensureUser(peerId);
    if (group) void this.loadGroup(conv);
    this.changed();
    if (opts.seq) await this.loadAround(conv, opts.seq);
    else await this.loadLatest(conv);
  }

  private async loadGroup(conv: Conversation): Promise<void> {
    try {
      const g = await this.client!.getGroup(conv.chatId.slice(2));
      if (this.conv !== conv) return;
      conv.group = g;
      conv.title = g.name;
      conv.removed = !g.members.some((m) => m.user_id === this.userId);
      this.ensureUsers(g.members.map((m) => m.user_id));
      this.changed();
    } catch (err) {
      if (err instanceof SwitchboardHttpError && err.status === 404) conv.removed = true;
      this.onRequestError(err);
      this.changed();
    }
  }

  /** The newest page: what opening a chat shows. */
  async loadLatest(conv: Conversation): Promise<void> {
    conv.loading = true;
    // The chat's log as the list knew it before this request (changes included): the page covers it.
    const upTo = Math.max(conv.liveSeq, this.chat(conv.chatId)?.last_seq ?? 0);
    try {
      const page = await this.client!.history(conv.chatId, { limit: PAGE });
      if (this.conv !== conv) return;
      conv.seenSeq = Math.max(conv.seenSeq, upTo);
      conv.messages = page.messages.map(toMsg);
      conv.hasOlder = (page.messages[0]?.seq ?? 1) > 1 && page.messages.length >= PAGE;
      conv.hasNewer = false;
      conv.highlightSeq = null;
      conv.error = null;
      this.ensureUsers(page.messages.map((m) => m.sender_id));
    } catch (err) {
      if (this.conv !== conv) return;
      // A chat nobody has written in yet (a new direct chat) has no history: that is fine.
      if (!(err instanceof SwitchboardHttpError && err.status === 404)) conv.error = describeError(err);
      this.onRequestError(err);
    } finally {
      conv.loading = false;
      this.applyHeld(conv);
      conv.scrollToken++;
      this.changed();
      this.markReadIfSeen();
    }
  }

  /** A page around one message (a search result), highlighted. */
  private async loadAround(conv: Conversation, seq: number): Promise<void> {
    try {
      const page = await this.client!.history(conv.chatId, { before: seq + PAGE / 2, limit: PAGE });
      const after = page.messages[page.messages.length - 1]?.seq ?? seq;
      const more = await this.client!.history(conv.chatId, { after, limit: 1 });
      if (this.conv !== conv) return;
      conv.messages = page.messages.map(toMsg);
      conv.hasOlder = (page.messages[0]?.seq ?? 1) > 1;
      conv.hasNewer = more.messages.length > 0;
      conv.highlightSeq = seq;
      this.ensureUsers(page.messages.map((m) => m.sender_id));
    } catch (err) {
      if (this.conv === conv) conv.error = describeError(err);
      this.onRequestError(err);
    } finally {
      conv.loading = false;
      this.applyHeld(conv);
      conv.scrollToken++;
      this.changed();
      this.markReadIfSeen();
    }
  }

  async loadOlder(): Promise<void> {
    const conv = this.conv;
    const first = conv?.messages[0];
    if (!conv || !first?.seq || !conv.hasOlder || conv.loadingOlder || conv.loading) return;
    conv.loadingOlder = true;
    this.changed();
    try {
      const page = await this.client!.history(conv.chatId, { before: first.seq, limit: PAGE });
      if (this.conv !== conv) return;
      conv.messages = [...page.messages.map(toMsg), ...conv.messages];
      conv.hasOlder = page.messages.length >= PAGE && (page.messages[0]?.seq ?? 1) > 1;
      if (conv.messages.length > MAX_WINDOW) {
        conv.messages.length = MAX_WINDOW;
        conv.hasNewer = true;
      }
      this.ensureUsers(page.messages.map((m) => m.sender_id));
    } catch (err) {
      this.onRequestError(err, (m) => (this.notice = m));
    } finally {
      conv.loadingOlder = false;
      this.applyHeld(conv);
      this.changed();
    }
  }

  async loadNewer(): Promise<void> {
    const conv = this.conv;
    const last = conv?.messages[conv.messages.length - 1];
    if (!conv || !last?.seq || !conv.hasNewer || conv.loadingNewer || conv.loading) return;
    conv.loadingNewer = true;
    this.changed();
    try {
      const page = await this.client!.history(conv.chatId, { after: last.seq, limit: PAGE });
      if (this.conv !== conv) return;
      conv.messages = [...conv.messages, ...page.messages.map(toMsg)];
      conv.hasNewer = page.messages.length >= PAGE;
      if (conv.messages.length > MAX_WINDOW) {
        conv.messages.splice(0, conv.messages.length - MAX_WINDOW);
        conv.hasOlder = true;
      }
      this.ensureUsers(page.messages.map((m) => m.sender_id));
    } catch (err) {
      this.onRequestError(err, (m) => (this.notice = m));
    } finally {
      conv.loadingNewer = false;
      this.applyHeld(conv);
      this.changed();
      this.markReadIfSeen();
    }
  }

  // ---- users ----

  ensureUser(id: string): void {
    this.ensureUsers([id]);
  }

  private ensureUsers(ids: string[]): void {
    for (const id of new Set(ids)) {
      if (this.users.has(id) || this.pendingUsers.has(id) || !this.client) continue;
      this.pendingUsers.add(id);
      this.client.getUser(id).then(
        (u) => {
          this.pendingUsers.delete(id);
          this.users.set(id, u);
          const c = this.conv;
          if (c && c.peerId === id && !c.title) c.title = u.display_name;
          this.changed();
        },
        () => this.pendingUsers.delete(id),
      );
    }
  }

  nameOf(id: string): string {
    if (id === this.userId) return 'You';
    return this.users.get(id)?.display_name ?? '…';
  }

  // ---- panels: new chat, new group, group info, search ----

  openPanel(p: Panel): void {
    this.panel = this.panel === p ? null : p;
    this.panelError = null;
    this.changed();
  }

  private async task(run: () => Promise<void>): Promise<void> {
    this.panelBusy = true;
    this.panelError = null;
    this.changed();
    try {
      await run();
    } catch (err) {
      this.onRequestError(err, (m) => (this.panelError = m));
    } finally {
      this.panelBusy = false;
      this.changed();
    }
  }

  private async userNamed(username: string): Promise<UserView> {
    const name = username.trim().replace(/^@/, '').toLowerCase();
    if (!name) throw new Error('Enter a username.');
    const user = await this.client!.findUser(name);
    if (!user) throw new Error(`There is no user named “${name}”.`);
    this.users.set(user.user_id, user);
    return user;
  }

  startChat(username: string): Promise<void> {
    return this.task(async () => {
      const user = await this.userNamed(username);
      this.panel = null;
      await this.openChat(directChatId(this.userId, user.user_id), { title: user.display_name });
    });
  }

  createGroup(name: string, members: string): Promise<void> {
    return this.task(async () => {
      if (!name.trim()) throw new Error('Give the group a name.');
      const names = members.split(/[\s,]+/).filter(Boolean);
      const users = await Promise.all(names.map((n) => this.userNamed(n)));
      const group = await this.client!.createGroup(
        name.trim(),
        users.map((u) => u.user_id),
      );
      this.panel = null;
      this.scheduleRefresh(0);
      await this.openChat(group.chat_id, { title: group.name });
    });
  }

  addMember(username: string): Promise<void> {
    return this.task(async () => {
      const conv = this.conv;
      if (!conv?.group) return;
      const user = await this.userNamed(username);
      conv.group = await this.client!.addMembers(conv.group.group_id, [user.user_id]);
    });
  }

  removeMember(userId: string): Promise<void> {
    return this.task(async () => {
      const conv = this.conv;
      if (!conv?.group) return;
      await this.client!.removeMember(conv.group.group_id, userId);
      await this.loadGroup(conv);
    });
  }

  renameGroup(name: string): Promise<void> {
    return this.task(async () => {
      const conv = this.conv;
      if (!conv?.group || !name.trim()) return;
      conv.group = await this.client!.renameGroup(conv.group.group_id, name.trim());
      conv.title = conv.group.name;
      const chat = this.chat(conv.chatId);
      if (chat) chat.title = conv.group.name;
    });
  }

  leaveGroup(): Promise<void> {
    return this.task(async () => {
      const conv = this.conv;
      if (!conv?.group) return;
      await this.client!.removeMember(conv.group.group_id, this.userId);
      this.chats = this.chats.filter((c) => c.chat_id !== conv.chatId);
      this.panel = null;
      this.closeChat();
      this.scheduleRefresh(0);
    });
  }

  /** Searches every chat of the user; an empty query goes back to the chat list. */
  async search(q: string): Promise<void> {
    this.searchQuery = q;
    const mine = ++this.searchSeq;
    if (!q.trim() || !this.client) {
      this.searchResults = null;
      this.searchError = null;
      this.changed();
      return;
    }
    try {
      const results = await this.client.search(q.trim(), { limit: 50 });
      if (mine !== this.searchSeq) return;
      this.searchResults = results;
      this.searchError = null;
      this.ensureUsers(results.map((m) => m.sender_id));
    } catch (err) {
      if (mine === this.searchSeq) this.onRequestError(err, (m) => (this.searchError = m));
    }
    this.changed();
  }

  titleOf(chatId: string): string {
    const chat = this.chat(chatId);
    if (chat?.title) return chat.title;
    if (this.conv?.chatId === chatId && this.conv.title) return this.conv.title;
    return chatId.startsWith('g:') ? 'Group' : 'Chat';
  }

  dismissNotice(): void {
    this.notice = null;
    this.changed();
  }
}

function describeSendError(code: string): string {
  switch (code) {
    case 'not_a_member':
      return 'you are not a member of this chat.';
    case 'chat_not_found':
      return 'this chat does not exist.';
    case 'content_too_long':
      return 'the message is too long.';
    case 'forbidden':
      return 'that message can no longer be changed.';
    case 'invalid_reference':
      return 'that message is not in this chat.';
    default:
      return `the server refused it (${code}).`;
  }
}

function browserName(): string {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua)
    ? 'Firefox'
    : /Edg\//.test(ua)
      ? 'Edge'
      : /Chrome\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'Browser';
  return `${browser} (web)`;
}
