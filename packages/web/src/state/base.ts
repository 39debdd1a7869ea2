import type { SwitchboardClient, ChatSummary, Message, UserView } from '@switchboard/client';
import type { PendingSend, StoredSession } from '../session.js';
import { SwitchboardHttpError } from '@switchboard/client';
import { describeError } from './describe.js';
import type { ConnState, Conversation, MessageInfo, Msg, Panel } from './types.js';

/*
 * The app's state is one object, mutated only by its own methods, and a change callback that
 * re-renders the page. Its methods are split by concern into layers, each a class extending
 * the one below, so that each concern has a file of its own:
 *   base (this file: the state itself) → people → chat-list → conversation → groups →
 *   messages → message-changes → app-state (session and connection: the object main.tsx makes).
 * A layer calls down freely; the two calls that go up are declared abstract here.
 */
export abstract class AppBase {
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
