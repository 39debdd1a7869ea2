import type { Attachment, Message, MessageUpdate, ReactionSummary, ReplyRef } from '@switchboard/protocol';

/*
 * Message lifecycle on the client (PROTOCOL.md "Message lifecycle"): an edit, a delete or a
 * reaction arrives as a `message_update` naming its target; the app wants the target as it
 * now is. `applyMessageUpdate` is that rule, and `MessageCache` keeps the messages this client
 * has seen so it can hand the updated message out.
 */

/** The fields of a message that an update changes (a UI's own message type may carry these too). */
export interface LifecycleFields {
  content: string;
  attachments?: Attachment[];
  reply_to?: ReplyRef;
  mentions?: string[];
  forwarded?: true;
  edited_at?: number;
  deleted?: true;
  reactions?: ReactionSummary[];
}

/**
 * The message after an update, as history would show it; `m` is not changed. A delete keeps
 * only what history keeps (no text, attachments, mentions, reactions or reply); a reaction
 * replaces the reacting user's earlier one, and `""` takes it back.
 */
export function applyMessageUpdate<T extends LifecycleFields>(
  m: T,
  u: Pick<MessageUpdate, 'action' | 'content' | 'emoji' | 'sender_id' | 'created_at'>,
): T {
  if (m.deleted) return m;
  switch (u.action) {
    case 'edit':
      return { ...m, content: u.content ?? '', edited_at: u.created_at };
    case 'delete': {
      const { attachments: _a, mentions: _m, reactions: _r, reply_to: _q, forwarded: _f, edited_at: _e, ...rest } = m;
      return { ...rest, content: '', deleted: true } as T;
    }
    case 'react': {
      const reactions = withReaction(m.reactions ?? [], u.sender_id, u.emoji ?? '');
      const { reactions: _r, ...rest } = m;
      return (reactions.length ? { ...rest, reactions } : rest) as T;
    }
    default:
      return m;
  }
}

/** Reactions after `userId` chose `emoji` ("" = none): their earlier one is taken back first. */
export function withReaction(list: readonly ReactionSummary[], userId: string, emoji: string): ReactionSummary[] {
  const out: ReactionSummary[] = [];
  for (const r of list) {
    if (!r.user_ids.includes(userId)) {
      out.push(r);
      continue;
    }
    const user_ids = r.user_ids.filter((id) => id !== userId);
    if (r.count > 1) out.push({ emoji: r.emoji, count: r.count - 1, user_ids });
  }
  if (emoji) {
    const at = out.findIndex((r) => r.emoji === emoji);
    if (at === -1) out.push({ emoji, count: 1, user_ids: [userId] });
    else out[at] = { emoji, count: out[at]!.count + 1, user_ids: [...out[at]!.user_ids, userId] };
  }
  return out;
}

/** The chat's other messages whose reply quotes a deleted message lose their preview, as on the server. */
function clearQuotes(chat: Map<string, Message>, deletedId: string): void {
  for (const [id, m] of chat)
    if (m.reply_to?.message_id === deletedId && m.reply_to.preview) chat.set(id, { ...m, reply_to: { ...m.reply_to, preview: '' } });
}

/**
 * The messages this client has seen (received, sent, or loaded with `history`), per chat, to
 * apply updates to. Bounded: the `perChat` messages seen last in each of the `chats` chats used last;
 * an update whose target has left the cache is still reported, without the message.
 */
export class MessageCache {
  private readonly byChat = new Map<string, Map<string, Message>>();

  constructor(
    private readonly perChat = 200,
    private readonly chats = 50,
  ) {}

  /** Remembers a message (replacing an older copy of it). */
  put(m: Message): void {
    let chat = this.byChat.get(m.chat_id);
    if (chat) this.byChat.delete(m.chat_id);
    else chat = new Map();
    // Re-inserted: the Maps' insertion order is the recency order eviction follows.
    this.byChat.set(m.chat_id, chat);
    chat.delete(m.message_id);
    chat.set(m.message_id, m);
    if (chat.size > this.perChat) chat.delete(chat.keys().next().value!);
    if (this.byChat.size > this.chats) this.byChat.delete(this.byChat.keys().next().value!);
  }

  get(chatId: string, messageId: string): Message | undefined {
    return this.byChat.get(chatId)?.get(messageId);
  }

  /** Applies an update to its target; the target as it now is, or undefined when it is not cached. */
  apply(u: MessageUpdate): Message | undefined {
    const chat = this.byChat.get(u.chat_id);
    if (u.action === 'delete' && chat) clearQuotes(chat, u.target_message_id);
    const m = chat?.get(u.target_message_id);
    if (!chat || !m) return undefined;
    const next = applyMessageUpdate(m, u);
    chat.set(m.message_id, next);
    return next;
  }
}
