import { HISTORY_LIMIT_DEFAULT, parseChatId, type ChatSummary, type Message, type Receipt } from '@switchboard/protocol';
import { isMessage, type MemberRecord, type Store, type StoredMessage } from '../engines/store/store.js';
import type { ChatAccess } from './chat-access.js';
import { DomainError } from './errors.js';
import { fitFromBack, fitFromFront } from './response-budget.js';

/** GET /v1/chats page size: default (a normal user's every chat in one page) and maximum. */
export const CHATS_PAGE_DEFAULT = 500;
export const CHATS_PAGE_MAX = 1000;

/**
 * A chat list cursor names the last row of a page: whether it is pinned (pinned chats come
 * first), its last_at and chat id, opaque to clients. Cursors without the pinned mark
 * (given before pinning existed) continue among unpinned chats.
 */
function encodeChatCursor(pinned: boolean, lastAt: number, chatId: string): string {
  return Buffer.from(`${pinned ? 'p.' : ''}${lastAt}.${chatId}`).toString('base64url');
}

function decodeChatCursor(cursor: string): { pinned: boolean; lastAt: number; chatId: string } {
  const m = /^(p\.)?(\d{1,16})\.(.+)$/s.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw new DomainError('invalid_request', 'cursor is not one this server gave');
  return { pinned: m[1] !== undefined, lastAt: Number(m[2]), chatId: m[3]! };
}

/** Read-side views of chats: the chat list, history with ticks, receipts. */
export class Chats {
  constructor(
    private readonly store: Store,
    private readonly access: ChatAccess,
  ) {}

  /**
   * One page of the caller's chats, most recent first; next_cursor continues it, and is
   * left out on the last page (so the answer of a user with few chats is exactly the
   * protocol's `{chats}`). A page ends at `limit` chats or at the response byte budget. Chats whose
   * last message moves them to the front while a client pages are seen on its next read.
   */
  async list(userId: string, q: { limit?: number; cursor?: string } = {}): Promise<{ chats: ChatSummary[]; next_cursor?: string }> {
    const limit = q.limit ?? CHATS_PAGE_DEFAULT;
    const after = q.cursor ? decodeChatCursor(q.cursor) : undefined;
    // One more than asked: tells whether another page follows.
    const rows = await this.store.listChats(userId, { limit: limit + 1, after });
    // Every last message's reactions in one read, not one per chat.
    const lasts = new Map(
      (
        await withReactions(
          this.store,
          rows.flatMap((r) => (r.lastMessage ? [r.lastMessage] : [])),
        )
      ).map((m) => [m.message_id, m]),
    );
    const out: ChatSummary[] = [];
    for (const row of rows) {
      let title = row.chat.name ?? '';
      if (row.chat.kind === 'direct') {
        const ids = parseChatId(row.chat.id);
        const otherId = ids?.kind === 'direct' ? (ids.userIds[0] === userId ? ids.userIds[1] : ids.userIds[0]) : userId;
        title = (await this.store.getUser(otherId))?.displayName ?? otherId;
      }
      out.push({
        chat_id: row.chat.id,
        kind: row.chat.kind,
        title,
        last_seq: row.chat.lastSeq,
        last_message: row.lastMessage
          ? await this.withStatus(userId, row.chat.id, [lasts.get(row.lastMessage.message_id)!], { reacted: true }).then((m) => m[0]!)
          : null,
        read_seq: Math.max(row.member.readSeq, row.member.joinedSeq),
        unread_count: row.unreadCount,
        muted_until: row.member.mutedUntil,
        archived: row.member.archived,
        pinned: row.member.pinned,
        ...(row.chat.encrypted ? { encrypted: true as const } : {}),
      });
      if (out.length === limit) break;
    }
    const fit = fitFromFront(out);
    const chats = out.slice(0, fit);
    const more = fit < out.length || rows.length > limit;
    const last = rows[chats.length - 1];
    return more && last ? { chats, next_cursor: encodeChatCursor(last.member.pinned, last.lastAt, last.chat.id) } : { chats };
  }

  /** The caller's membership, or 403 not_a_member (also for chats that do not exist: no probing). */
  async memberOrForbidden(userId: string, chatId: string): Promise<MemberRecord> {
    const member = await this.access.membership(userId, chatId);
    if (!member) throw new DomainError('not_a_member', 'you are not a member of this chat');
    return member;
  }

  async history(userId: string, chatId: string, q: { after?: number; before?: number; limit?: number }) {
    const member = await this.memberOrForbidden(userId, chatId);
    const limit = q.limit ?? HISTORY_LIMIT_DEFAULT;
    const page = await this.store.history(chatId, { after: q.after, before: q.before, limit, minSeq: member.joinedSeq });
    const all = await this.withStatus(userId, chatId, page);
    // Past the byte budget the page stops early: forward pages keep their oldest
    // messages, backward pages their newest, and next_cursor continues from there.
    const forward = q.after !== undefined;
    const fit = forward ? fitFromFront(all) : fitFromBack(all);
    const messages = forward ? all.slice(0, fit) : all.slice(all.length - fit);
    // Forward paging continues after the last seq; backward paging continues before the first.
    let next_cursor: number | null = null;
    if (page.length === limit || fit < all.length) next_cursor = forward ? messages[messages.length - 1]!.seq : messages[0]!.seq;
    return { messages, next_cursor };
  }

  /** Adds `reactions`, and `status` to the caller's own messages: delivered/read by every other member. */
  async withStatus(userId: string, chatId: string, stored: StoredMessage[], opts: { reacted?: boolean } = {}): Promise<Message[]> {
    const page = opts.reacted ? stored : await withReactions(this.store, stored);
    if (!page.some((m) => m.sender_id === userId)) return page;
    const members = await this.store.getMembers(chatId);
    const others = members.filter((m) => m.userId !== userId);
    const judged = others.length > 0 ? others : members;
    const delivered = Math.min(...judged.map((m) => m.deliveredSeq));
    const read = Math.min(...judged.map((m) => m.readSeq));
    return page.map((m) => {
      if (m.sender_id !== userId) return m;
      const status = read >= m.seq ? 'read' : delivered >= m.seq ? 'delivered' : 'sent';
      return { ...m, status };
    });
  }

  async receipts(userId: string, messageId: string): Promise<{ message_id: string; chat_id: string; receipts: Receipt[] }> {
    const entry = await this.store.getMessage(messageId);
    // Receipts are for messages: a change (edit, delete, reaction) has none of its own.
    const message = entry && isMessage(entry) ? entry : null;
    // A non-member learns nothing, not even that the message exists; nor does a member
    // about messages from before it (re)joined, which its history does not show either.
    const member = message ? await this.store.getMember(message.chat_id, userId) : null;
    if (!message || !member || message.seq <= member.joinedSeq) throw new DomainError('not_found', 'no such message');
    const rows = await this.store.receipts(message);
    return {
      message_id: message.message_id,
      chat_id: message.chat_id,
      receipts: rows.map((r) => ({ user_id: r.userId, delivered_at: r.deliveredAt, read_at: r.readAt })),
    };
  }
}

/** The messages with their reactions (one read for the page), as history, search and last_message show them. */
export async function withReactions(store: Pick<Store, 'reactions'>, page: StoredMessage[]): Promise<StoredMessage[]> {
  const live = page.filter((m) => !m.deleted).map((m) => m.message_id);
  if (live.length === 0) return page;
  const reactions = await store.reactions(live);
  if (reactions.size === 0) return page;
  return page.map((m) => {
    const r = reactions.get(m.message_id);
    return r ? { ...m, reactions: r } : m;
  });
}
