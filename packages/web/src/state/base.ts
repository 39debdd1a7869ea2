import type { E2ee, SwitchboardClient, ChatSummary, Message, NewMessageEvent, UserView } from '@switchboard/client';
import type { KeptExtras, MessageTexts } from '../e2ee/texts.js';
import type { PendingSend, StoredSession } from '../session.js';
import { SwitchboardHttpError } from '@switchboard/client';
import { describeError } from './describe.js';
import { toMsg, type ConnState, type Conversation, type MessageInfo, type Msg, type Panel } from './types.js';

/*
 * The app's state is one object, mutated only by its own methods, and a change callback that
 * re-renders the page. Its methods are split by concern into layers, each a class extending
 * the one below, so that each concern has a file of its own:
 *   base (this file: the state itself) → people → chat-list → conversation → groups →
 *   messages → message-changes → encryption → app-state (session and connection: the object main.tsx makes).
 * A layer calls down freely; the two calls that go up are declared abstract here.
 */
export abstract class AppBase {
  phase: 'boot' | 'auth' | 'app' = 'boot';
  authError: string | null = null;
  authBusy = false;
  session: StoredSession | null = null;
  me: UserView | null = null;
  /** Profile saves so far: a GET /v1/me answered after one is older than it and must not undo it. */
  protected profileSaves = 0;
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
  notice: string | null = null;
  /** Own sends not yet acknowledged, in order (persisted). */
  outbox: PendingSend[] = [];
  failed = new Map<string, string>();
  /** The composer's reply target or the message being edited, in the open chat. */
  replyTo: Msg | null = null;
  editing: Msg | null = null;
  /** The open "Info" of one of your messages in the open chat. */
  info: MessageInfo | null = null;
  protected infoTimer: ReturnType<typeof setTimeout> | undefined;
  /** The chat list shows the archived chats instead of the others. */
  showArchived = false;
  protected client: SwitchboardClient | null = null;
  protected tabs: BroadcastChannel | null = null;
  protected leaving = false;
  /** chat → the highest seq this device marked read (a list answer on its way may predate it). */
  protected readMarked = new Map<string, number>();
  /** The other person of the open direct chat, whose presence is subscribed. */
  protected watchedPeer: string | null = null;

  /** End-to-end encryption in this tab (state/encryption.ts): null while it starts, or where it cannot run. */
  protected e2ee: E2ee | null = null;
  /** Why this tab cannot do encrypted chats (no secure context, another tab has them), or null. */
  cryptoUnavailable: string | null = null;
  /** Settles once encryption started or is known unavailable. */
  protected cryptoReady: Promise<void> = Promise.resolve();
  /** Decrypted (or own) texts of encrypted messages, by message id; kept in IndexedDB too (e2ee/texts.ts). */
  protected texts = new Map<string, string>();
  /** What else the ciphertexts said of them (replies, mentions, edits, reactions; changes), by message id; kept beside the texts. */
  protected extras = new Map<string, KeptExtras>();
  protected textStore: MessageTexts | null = null;
  /** Settles once textStore is open (or known unavailable). */
  protected textsReady: Promise<void> = Promise.resolve();
  /** Encrypted messages this device could not open. */
  protected undecryptable = new Set<string>();
  /**
   * Per chat, the ciphertexts that came on this tab's socket and that no tab of this device
   * has processed yet (message id → seq). A read mark must not cover them: ack_read moves
   * the device's delivered cursor too, and the server would never replay them to the tab
   * that can decrypt (docs/e2ee.md "Web client").
   */
  protected unprocessed = new Map<string, Map<string, number>>();

  constructor(
    protected readonly baseUrl: string,
    private readonly onChange: () => void,
  ) {}

  protected changed(): void {
    this.onChange();
  }

  get userId(): string {
    return this.session?.user_id ?? '';
  }

  /** A message as shown; an encrypted one with the text this device read (none yet: `encrypted` and no content). */
  protected msg(m: Message | NewMessageEvent): Msg {
    const out = toMsg(m);
    if (m.ciphertext !== undefined) {
      out.encrypted = true;
      out.content = this.texts.get(m.message_id) ?? '';
      // The server lists opaque uploads only (no name, no type): the files shown are those inside the ciphertext.
      out.attachments = undefined;
      const x = this.extras.get(m.message_id);
      if (x) {
        if (x.reply_to) out.reply_to = x.reply_to;
        if (x.mentions) out.mentions = x.mentions;
        if (x.files?.length) out.files = x.files;
        if (x.edited_at) out.edited_at = x.edited_at;
        if (x.reactions?.length) out.reactions = x.reactions;
        if (x.change) out.change = true;
      }
    }
    return out;
  }

  /** Reads from IndexedDB the texts of these encrypted messages not in memory yet. */
  protected async loadTexts(list: (Message | NewMessageEvent)[]): Promise<void> {
    const wanted = list.filter((m) => m.ciphertext !== undefined && !this.texts.has(m.message_id));
    if (!wanted.length) return;
    await this.textsReady;
    const store = this.textStore;
    if (!store) return;
    await Promise.all(
      wanted.map(async (m) => {
        const kept = await store.get(m.chat_id, m.message_id).catch(() => undefined);
        if (kept === undefined) return;
        this.texts.set(m.message_id, kept.text);
        if (kept.extras) this.extras.set(m.message_id, kept.extras);
      }),
    );
  }

  /** A ciphertext came on this tab's socket: it waits for the encrypting tab unless its text is known already. */
  protected noteArrived(m: NewMessageEvent): void {
    if (m.ciphertext === undefined || this.texts.has(m.message_id) || this.undecryptable.has(m.message_id)) return;
    const waiting = this.unprocessed.get(m.chat_id) ?? new Map<string, number>();
    waiting.set(m.message_id, m.seq);
    this.unprocessed.set(m.chat_id, waiting);
    // Replayed to this tab after the encrypting tab had processed it (its ack not yet stored): its text is kept.
    void this.textsReady
      .then(() => this.textStore?.get(m.chat_id, m.message_id))
      .then((kept) => kept && this.noteProcessed(m.chat_id, m.message_id))
      .catch(() => undefined);
  }

  /** A ciphertext is done with (decrypted, found undecryptable, or deleted): read marks may cover it. */
  protected noteProcessed(chatId: string, messageId: string): void {
    const waiting = this.unprocessed.get(chatId);
    if (!waiting?.delete(messageId)) return;
    if (!waiting.size) this.unprocessed.delete(chatId);
    if (this.conv?.chatId === chatId) this.markReadIfSeen();
  }

  /** The lowest seq of the chat that a read mark must stay below (Infinity: none waits). */
  protected readBound(chatId: string): number {
    // A loop, not Math.min(...): a tab left open may hold more waiting entries than a call takes arguments.
    let bound = Infinity;
    for (const seq of this.unprocessed.get(chatId)?.values() ?? []) bound = Math.min(bound, seq);
    return bound;
  }

  /** Whether the chat is end-to-end encrypted, as far as this tab knows. */
  isEncrypted(chatId: string): boolean {
    if (this.chats.find((c) => c.chat_id === chatId)?.encrypted) return true;
    if (this.conv?.chatId === chatId && (this.conv.group?.encrypted || this.conv.encrypted)) return true;
    return this.e2ee?.hasGroup(chatId) === true;
  }

  /** Whether this device can send in the encrypted chat (it is in the chat's MLS group). */
  canSendEncrypted(chatId: string): boolean {
    return this.e2ee?.hasGroup(chatId) === true;
  }

  /** Back to the login form, forgetting the session (app-state.ts). */
  protected abstract endSession(message: string | null, byUser: boolean): void;
  /** Marks the open chat read when its newest messages are on screen (messages.ts). */
  abstract markReadIfSeen(): void;

  /** A REST call failed: a 401 means the session is gone; anything else is shown. */
  protected onRequestError(err: unknown, show?: (msg: string) => void): void {
    if (err instanceof SwitchboardHttpError && err.status === 401) {
      this.endSession('Your session has ended. Please log in again.', false);
      return;
    }
    if (show) show(describeError(err));
  }

  openPanel(p: Panel): void {
    this.panel = this.panel === p ? null : p;
    this.panelError = null;
    this.changed();
  }

  protected async task(run: () => Promise<void>): Promise<void> {
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

  dismissNotice(): void {
    this.notice = null;
    this.changed();
  }
}
