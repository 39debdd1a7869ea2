import { SwitchboardHttpError } from '@switchboard/client';
import type { ChatSettingsBody, ChatSettingsView, ChatSummary, Message } from '@switchboard/client';
import { applySettings } from '../lifecycle.js';
import { peerOf, type TabSignal } from './types.js';
import { PeopleState } from './people.js';

/* The chat list: loading it, unread counts, per-user chat settings (mute, archive, pin), and message search over it. */

export abstract class ChatListState extends PeopleState {
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private searchSeq = 0;
  scheduleRefresh(delay = 250): void {
    if (this.refreshTimer !== undefined) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refreshChats();
    }, delay);
  }

  protected async refreshChats(): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      const chats = await client.chats();
      await this.loadTexts(chats.flatMap((c) => (c.last_message ? [c.last_message] : [])));
      if (client !== this.client) return;
      this.chats = chats;
      // The other person of each direct chat near the top: the list shows their avatar (one GET each, so not for all).
      this.ensureUsers(chats.slice(0, 100).flatMap((c) => (c.kind === 'direct' ? [peerOf(c.chat_id, this.userId)] : [])));
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

  protected onReadSync(chatId: string, readSeq: number): void {
    const chat = this.chat(chatId);
    this.readMarked.set(chatId, Math.max(this.readMarked.get(chatId) ?? 0, readSeq));
    if (!chat) return;
    chat.read_seq = Math.max(chat.read_seq, readSeq);
    if (chat.read_seq >= chat.last_seq) chat.unread_count = 0;
    else this.scheduleRefresh();
    this.changed();
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

  protected onSettings(s: ChatSettingsView): void {
    this.chats = applySettings(this.chats, s);
    this.changed();
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

  /** A list preview's message: an encrypted one with the text and files this device read, if any. */
  shownMessage(m: Message): Message {
    if (m.ciphertext === undefined) return m;
    const files = this.extras.get(m.message_id)?.files;
    return {
      ...m,
      content: this.texts.get(m.message_id) ?? (m.deleted ? '' : 'Encrypted message'),
      attachments: files?.map((f) => ({ media_id: f.media_id, content_type: f.content_type, size: f.size, filename: f.name })),
    };
  }

  titleOf(chatId: string): string {
    const chat = this.chat(chatId);
    if (chat?.title) return chat.title;
    if (this.conv?.chatId === chatId && this.conv.title) return this.conv.title;
    return chatId.startsWith('g:') ? 'Group' : 'Chat';
  }
}
