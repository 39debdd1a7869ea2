import { SwitchboardHttpError } from '@switchboard/client';
import { applyToConversation } from '../lifecycle.js';
import { describeError } from './describe.js';
import { MAX_WINDOW, PAGE, peerOf, type Conversation } from './types.js';
import { ChatListState } from './chat-list.js';

/* The open conversation: routing (/chat/<id>?seq=N), opening and closing a chat, and its pages of history. */

export abstract class ConversationState extends ChatListState {
  protected convToken = 0;
  /** Fetches what came after the newest message on screen (messages.ts). */
  protected abstract catchUp(): Promise<void>;
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
    if (!group) peerId = peerOf(chatId, this.userId);
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
      encrypted: false,
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
    // Fetched anew: their name or avatar may have changed since the app last asked.
    if (peerId) this.refreshUser(peerId);
    this.reportTarget = null;
    if (group) void this.loadGroup(conv);
    this.changed();
    if (opts.seq) await this.loadAround(conv, opts.seq);
    else await this.loadLatest(conv);
  }

  protected async loadGroup(conv: Conversation): Promise<void> {
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
      await this.loadTexts(page.messages);
      if (this.conv !== conv) return;
      conv.seenSeq = Math.max(conv.seenSeq, upTo);
      conv.messages = page.messages.map((m) => this.msg(m));
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
    await this.fetchMissedWhileLoading(conv);
  }

  /**
   * A message that came live while a page was on its way (insertLive notes its seq), and
   * that the page, read before it was stored, does not hold: fetched now, else it stayed
   * off screen until the next reload.
   */
  private async fetchMissedWhileLoading(conv: Conversation): Promise<void> {
    const last = conv.messages[conv.messages.length - 1]?.seq ?? 0;
    if (this.conv === conv && !conv.error && !conv.hasNewer && conv.liveSeq > last) await this.catchUp();
  }

  /** A page around one message (a search result), highlighted. */
  protected async loadAround(conv: Conversation, seq: number): Promise<void> {
    try {
      const page = await this.client!.history(conv.chatId, { before: seq + PAGE / 2, limit: PAGE });
      const after = page.messages[page.messages.length - 1]?.seq ?? seq;
      const more = await this.client!.history(conv.chatId, { after, limit: 1 });
      await this.loadTexts(page.messages);
      if (this.conv !== conv) return;
      conv.messages = page.messages.map((m) => this.msg(m));
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
    await this.fetchMissedWhileLoading(conv);
  }

  async loadOlder(): Promise<void> {
    const conv = this.conv;
    const first = conv?.messages[0];
    if (!conv || !first?.seq || !conv.hasOlder || conv.loadingOlder || conv.loading) return;
    conv.loadingOlder = true;
    this.changed();
    try {
      const page = await this.client!.history(conv.chatId, { before: first.seq, limit: PAGE });
      await this.loadTexts(page.messages);
      if (this.conv !== conv) return;
      conv.messages = [...page.messages.map((m) => this.msg(m)), ...conv.messages];
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
    const liveBefore = conv.liveSeq;
    this.changed();
    try {
      const page = await this.client!.history(conv.chatId, { after: last.seq, limit: PAGE });
      await this.loadTexts(page.messages);
      if (this.conv !== conv) return;
      conv.messages = [...conv.messages, ...page.messages.map((m) => this.msg(m))];
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
    // Reached the newest page while live messages came: one may have been stored after it was read.
    if (this.conv === conv && !conv.hasNewer && conv.liveSeq > liveBefore) await this.catchUp();
  }

  /** Once no page of `conv` is loading: the updates that came meanwhile, applied again (they are idempotent). */
  protected applyHeld(conv: Conversation): void {
    if (conv.loading || conv.loadingOlder || conv.loadingNewer || !conv.held.length) return;
    for (const u of conv.held) applyToConversation(conv, u);
    conv.held = [];
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
}
