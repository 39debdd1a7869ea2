import { deleteIndexedDbStorage, SwitchboardClient } from '@switchboard/client';
import { loadOutbox, loadSession, saveOutbox, saveSession, SESSION_STORAGE_KEY, type StoredSession } from './session.js';
import { disablePush, enablePush, pushEnabled, pushUnsupportedReason, type PushState } from './push.js';
import { AppWebSocket, dropSockets } from './socket.js';
import { describeError } from './state/describe.js';
import type { ConnState, TabSignal } from './state/types.js';
import { EncryptionState } from './state/encryption.js';

export type { Conversation, ConnState, Msg, Panel, Status } from './state/types.js';
export { MAX_WINDOW, PAGE, uuid } from './state/types.js';
export { describeError } from './state/describe.js';

/*
 * The app's state, top layer (the layers: state/base.ts): the session and its connection.
 * Logging in and out, the SDK client and its events, which it hands to the layers below.
 * The SDK does the hard parts (reconnect, resend, dedupe, acks, MLS).
 */

export class AppState extends EncryptionState {
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

  protected async authenticate(username: string, password: string, create: boolean): Promise<void> {
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

  protected enter(s: StoredSession): void {
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
    client.on('message', (m) => {
      this.noteArrived(m);
      this.onMessage(m);
    });
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
    client.on('typing', (f) => this.onTyping(f.chat_id, f.user_id, f.state));
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
        else if (sig.t === 'text') this.showText(sig.chat_id, sig.message_id, sig.text, sig.extras);
        else if (sig.t === 'undecryptable') this.markUndecryptable(sig.chat_id, sig.message_id);
      };
    }
    // E2ee listens before the socket connects: a ciphertext replayed on connect is then decrypted, not passed by.
    void this.startCrypto(client, s.device_id)
      .then(() => (this.client === client ? client.connect() : undefined))
      .catch(() => {});
    void this.loadMe();
    void this.loadBlocked();
    void this.loadContacts();
    this.scheduleRefresh(0);
    // Sends typed before a reload (or a crash) and never acknowledged go out again, same ids.
    this.outbox = loadOutbox(s.device_id);
    for (const p of this.outbox) this.knownSends.add(p.client_msg_id);
    for (const p of this.outbox) this.dispatch(p);
    this.route(false);
    this.changed();
  }

  protected setConn(c: ConnState): void {
    if (this.conn === c) return;
    this.conn = c;
    this.changed();
  }

  protected async loadMe(): Promise<void> {
    try {
      const saves = this.profileSaves;
      const me = await this.client!.me();
      // A profile saved while this was out (a slow start) is newer than this answer.
      if (saves !== this.profileSaves) return;
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
    const deviceId = this.session?.device_id;
    if (deviceId) saveOutbox(deviceId, []);
    this.endSession(null, true);
    // The device's session is gone, and with it its MLS membership: its keys and kept texts go too.
    if (deviceId)
      void Promise.all([`switchboard.mls.${deviceId}`, `switchboard.texts.${deviceId}`].map((n) => deleteIndexedDbStorage(n))).catch(
        () => {},
      );
  }

  /** Back to the login form, forgetting the session (and its client). */
  protected endSession(message: string | null, _byUser: boolean): void {
    const client = this.client;
    this.client = null;
    this.leaving = true;
    this.stopCrypto();
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
    this.stagedFiles.clear();
    this.readMarked.clear();
    this.contacts = null;
    this.blocked = new Set();
    this.peopleResults = null;
    this.reportTarget = null;
    this.phase = 'auth';
    this.authError = message;
    if (location.pathname !== '/') history.replaceState(null, '', '/');
    this.changed();
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
