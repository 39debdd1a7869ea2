import { SendError } from '@switchboard/client';
import type { MessageUpdate, SwitchboardClient } from '@switchboard/client';
import { applyToChats, applyToConversation } from '../lifecycle.js';
import { describeSendError } from './describe.js';
import type { Msg } from './types.js';
import { MessagesState } from './messages.js';

/* A message's lifecycle (PROTOCOL.md): replies, edits, deletes for everyone, reactions, and the updates that carry them. */

export abstract class MessageChangesState extends MessagesState {
  /** An edit or reaction in an encrypted chat: inside the ciphertext (encryption.ts). */
  protected abstract sendEncryptedChange(m: Msg, action: 'edit' | 'react', value: string): void;

  protected onUpdate(u: MessageUpdate): void {
    // Deleted for everyone: its ciphertext is erased, nothing is left for any tab to process.
    if (u.action === 'delete') this.noteProcessed(u.chat_id, u.target_message_id);
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
    if (text !== m.content) {
      if (this.isEncrypted(m.chat_id)) this.sendEncryptedChange(m, 'edit', text);
      else this.change('Edit', (c) => c.edit(m.chat_id, m.message_id!, text));
    }
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
    const chosen = mine === emoji ? '' : emoji;
    if (this.isEncrypted(m.chat_id)) this.sendEncryptedChange(m, 'react', chosen);
    else this.change('Reaction', (c) => c.react(m.chat_id, m.message_id!, chosen));
  }

  /** Edits, deletes and reactions go through the SDK's outbox; the acknowledged change comes back as a message_update. */
  protected change(what: string, run: (c: SwitchboardClient) => Promise<unknown>): void {
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
}
