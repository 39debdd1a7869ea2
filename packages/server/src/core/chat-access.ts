import { parseChatId } from '@switchboard/protocol';
import type { Store } from '../engines/store/store.js';
import { FrameError } from './errors.js';

export interface ChatTarget {
  chatId: string;
  kind: 'direct' | 'group';
  /** Current members' user ids. */
  memberIds: string[];
  /** For a direct chat that has no message yet: create it on first append. */
  createDirectWith?: string[];
}

/**
 * Answers "may this user use this chat, and who is in it". Member lists are cached
 * (a send needs them every time); group changes call invalidate().
 */
export class ChatAccess {
  /** Per chat: the member ids in order (for delivery) and as a set (for the check on every frame). */
  private readonly members = new Map<string, { ids: string[]; set: Set<string> }>();
  private static readonly MAX_CACHED = 50_000;

  constructor(private readonly store: Store) {}

  invalidate(chatId: string): void {
    this.members.delete(chatId);
  }

  async memberIds(chatId: string): Promise<string[]> {
    return (await this.entry(chatId)).ids;
  }

  private async entry(chatId: string): Promise<{ ids: string[]; set: Set<string> }> {
    const cached = this.members.get(chatId);
    if (cached) return cached;
    const ids = (await this.store.getMembers(chatId)).map((m) => m.userId);
    const entry = { ids, set: new Set(ids) };
    if (ids.length === 0) return entry; // a chat not created yet (a first dm) must not be cached as empty
    if (this.members.size >= ChatAccess.MAX_CACHED) this.members.delete(this.members.keys().next().value!);
    this.members.set(chatId, entry);
    return entry;
  }

  /** The chat a user may send to, or a FrameError (chat_not_found / not_a_member). */
  async forSend(userId: string, chatId: string): Promise<ChatTarget> {
    const parsed = parseChatId(chatId);
    if (!parsed) throw new FrameError('chat_not_found', `no such chat: ${chatId.slice(0, 80)}`);
    if (parsed.kind === 'direct') {
      const [a, b] = parsed.userIds;
      if (userId !== a && userId !== b) throw new FrameError('not_a_member', 'you are not a member of this chat');
      const cached = this.members.get(chatId);
      if (cached) return { chatId, kind: 'direct', memberIds: cached.ids };
      const chat = await this.store.getChat(chatId);
      if (chat) return { chatId, kind: 'direct', memberIds: await this.memberIds(chatId) };
      const other = userId === a ? b : a;
      if ((await this.store.missingUsers([other])).length > 0) throw new FrameError('chat_not_found', 'no such user');
      const memberIds = a === b ? [a] : [a, b];
      return { chatId, kind: 'direct', memberIds, createDirectWith: memberIds };
    }
    const { ids: memberIds, set } = await this.entry(chatId);
    if (memberIds.length === 0) {
      throw new FrameError((await this.store.getChat(chatId)) ? 'not_a_member' : 'chat_not_found', 'no such chat');
    }
    if (!set.has(userId)) throw new FrameError('not_a_member', 'you are not a member of this chat');
    return { chatId, kind: 'group', memberIds };
  }

  /** True when the user is a current member of the chat. */
  async isMember(userId: string, chatId: string): Promise<boolean> {
    const parsed = parseChatId(chatId);
    if (!parsed) return false;
    if (parsed.kind === 'direct' && !parsed.userIds.includes(userId)) return false;
    return (await this.entry(chatId)).set.has(userId);
  }
}
