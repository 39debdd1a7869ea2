import { applyMessageUpdate } from '@switchboard/client';
import type { ChatSettingsView, ChatSummary, GroupView, MessageUpdate, ReplyRef } from '@switchboard/client';
import type { Conversation, Msg } from './state/types.js';

/*
 * Message lifecycle in the web client (PROTOCOL.md "Message lifecycle"): what an edit, a
 * delete or a reaction does to the open conversation and the chat list, who may do what to a
 * message, chat settings (mute, archive, pin), and "@" mentions in the composer. Plain
 * functions over the app's state; AppState calls them and re-renders.
 */

/*
 * The server's default windows and the quote length (PROTOCOL.md). Restated, not imported from
 * the protocol package: its lifecycle module also builds zod schemas at load, which the bundler
 * must keep once anything of that module is used (+30 KB gzipped).
 */
const DEFAULT_EDIT_WINDOW_S = 900;
const DEFAULT_DELETE_WINDOW_S = 172_800;
const REPLY_PREVIEW_CHARS = 100;

/** The quick reactions offered under "React". */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'] as const;

/** "Muted for ever": muted_until is a time, so the far future stands for "until unmuted". */
export const MUTED_FOREVER = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Applies an update to the open conversation; true when something on screen changed. */
export function applyToConversation(conv: Conversation, u: MessageUpdate): boolean {
  let changed = false;
  conv.messages = conv.messages.map((m) => {
    if (m.message_id === u.target_message_id) {
      changed = true;
      return applyMessageUpdate(m, u);
    }
    // The server erases a deleted message's text from the replies quoting it too.
    if (u.action === 'delete' && m.reply_to?.message_id === u.target_message_id && m.reply_to.preview) {
      changed = true;
      return { ...m, reply_to: { ...m.reply_to, preview: '' } };
    }
    return m;
  });
  return changed;
}

/** Applies an update to the chat list: the last message shown as it now is; last_seq counts changes. */
export function applyToChats(chats: ChatSummary[], u: MessageUpdate): boolean {
  const chat = chats.find((c) => c.chat_id === u.chat_id);
  if (!chat) return false;
  chat.last_seq = Math.max(chat.last_seq, u.seq);
  if (chat.last_message?.message_id === u.target_message_id) chat.last_message = applyMessageUpdate(chat.last_message, u);
  return true;
}

/** Pinned chats first, each part in the order it had (most recent first). */
export function orderChats(chats: ChatSummary[]): ChatSummary[] {
  return [...chats.filter((c) => c.pinned), ...chats.filter((c) => !c.pinned)];
}

/** Applies a chat's settings (an answer of PATCH, or a chat_settings frame from another device). */
export function applySettings(chats: ChatSummary[], s: ChatSettingsView): ChatSummary[] {
  const chat = chats.find((c) => c.chat_id === s.chat_id);
  if (!chat) return chats;
  chat.muted_until = s.muted_until;
  chat.archived = s.archived;
  chat.pinned = s.pinned;
  return orderChats(chats);
}

export function isMuted(chat: Pick<ChatSummary, 'muted_until'>, now = Date.now()): boolean {
  return chat.muted_until !== null && chat.muted_until !== undefined && chat.muted_until > now;
}

function isAdmin(group: GroupView | null, userId: string): boolean {
  return !!group?.members.some((x) => x.user_id === userId && x.role === 'admin');
}

/** Own stored messages, not deleted, within the edit window (the server's default). */
export function canEdit(m: Msg, userId: string, now = Date.now()): boolean {
  return m.sender_id === userId && m.message_id !== null && !m.deleted && now - m.created_at < DEFAULT_EDIT_WINDOW_S * 1000;
}

/** Own messages within the delete window, or any message as a group admin. */
export function canDelete(m: Msg, userId: string, conv: Conversation, now = Date.now()): boolean {
  if (m.message_id === null || m.deleted) return false;
  if (conv.kind === 'group' && isAdmin(conv.group, userId)) return true;
  return m.sender_id === userId && now - m.created_at < DEFAULT_DELETE_WINDOW_S * 1000;
}

/** The quote a reply carries, as the server will store it (shown until the stored copy arrives). */
export function replyRef(m: Msg): ReplyRef {
  // An encrypted file without a caption is quoted by its name (the server quotes plaintext ones itself).
  const text = m.content || (m.files?.[0]?.name ?? '');
  return { message_id: m.message_id ?? '', sender_id: m.sender_id, preview: Array.from(text).slice(0, REPLY_PREVIEW_CHARS).join('') };
}

/** The "@" word being typed just before the caret, or null. */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | null {
  const m = /(^|\s)@([^\s@]{0,32})$/.exec(text.slice(0, caret));
  if (!m) return null;
  return { start: caret - m[2]!.length - 1, query: m[2]! };
}

export interface Member {
  user_id: string;
  name: string;
}

/** Members whose name starts with (then contains) the query, at most 6. */
export function mentionCandidates(members: Member[], query: string): Member[] {
  const q = query.toLowerCase();
  const starts = members.filter((m) => m.name.toLowerCase().startsWith(q));
  const contains = members.filter((m) => !starts.includes(m) && m.name.toLowerCase().includes(q));
  return [...starts, ...contains].slice(0, 6);
}

/** The user ids of the chosen mentions whose "@name" is still in the text. */
export function mentionsIn(text: string, chosen: Member[]): string[] {
  return [...new Set(chosen.filter((m) => text.includes(`@${m.name}`)).map((m) => m.user_id))];
}
