import { HISTORY_LIMIT_DEFAULT, parseChatId, type ChatSummary, type Message, type Receipt } from '@switchboard/protocol';
import type { MemberRecord, Store, StoredMessage } from '../engines/store/store.js';
import { ApiError } from './errors.js';

/** Read-side views of chats: the chat list, history with ticks, receipts. */
export class Chats {
  constructor(private readonly store: Store) {}

  async list(userId: string): Promise<ChatSummary[]> {
    const rows = await this.store.listChats(userId);
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
        last_message: row.lastMessage ? await this.withStatus(userId, row.chat.id, [row.lastMessage]).then((m) => m[0]!) : null,
        read_seq: Math.max(row.member.readSeq, row.member.joinedSeq),
        unread_count: row.unreadCount,
      });
    }
    return out;
  }

  /** The caller's membership, or 403 not_a_member (also for chats that do not exist: no probing). */
  async memberOrForbidden(userId: string, chatId: string): Promise<MemberRecord> {
    const parsed = parseChatId(chatId);
    const member = parsed ? await this.store.getMember(chatId, userId) : null;
    if (member) return member;
    // A direct chat exists implicitly: before its first message it is empty, not forbidden.
    if (parsed?.kind === 'direct' && parsed.userIds.includes(userId) && !(await this.store.getChat(chatId))) {
      const other = parsed.userIds[0] === userId ? parsed.userIds[1] : parsed.userIds[0];
      if ((await this.store.missingUsers([other])).length === 0) {
        return { userId, role: 'member', joinedSeq: 0, joinedAt: 0, deliveredSeq: 0, readSeq: 0 };
      }
    }
    throw new ApiError(403, 'not_a_member', 'you are not a member of this chat');
  }

  async history(userId: string, chatId: string, q: { after?: number; before?: number; limit?: number }) {
    const member = await this.memberOrForbidden(userId, chatId);
    const limit = q.limit ?? HISTORY_LIMIT_DEFAULT;
    const page = await this.store.history(chatId, { after: q.after, before: q.before, limit, minSeq: member.joinedSeq });
    const messages = await this.withStatus(userId, chatId, page);
    // Forward paging continues after the last seq; backward paging continues before the first.
    let next_cursor: number | null = null;
    if (page.length === limit) next_cursor = q.after !== undefined ? page[page.length - 1]!.seq : page[0]!.seq;
    return { messages, next_cursor };
  }

  /** Adds `status` to the caller's own messages: delivered/read by every other member. */
  async withStatus(userId: string, chatId: string, page: StoredMessage[]): Promise<Message[]> {
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
    const message = await this.store.getMessage(messageId);
    // A non-member learns nothing, not even that the message exists; nor does a member
    // about messages from before it (re)joined, which its history does not show either.
    const member = message ? await this.store.getMember(message.chat_id, userId) : null;
    if (!message || !member || message.seq <= member.joinedSeq) throw new ApiError(404, 'not_found', 'no such message');
    const rows = await this.store.receipts(message);
    return {
      message_id: message.message_id,
      chat_id: message.chat_id,
      receipts: rows.map((r) => ({ user_id: r.userId, delivered_at: r.deliveredAt, read_at: r.readAt })),
    };
  }
}
