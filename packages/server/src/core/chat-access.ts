import { parseChatId } from '@switchboard/protocol';
import type { MemberRecord, Store } from '../engines/store/store.js';
import { DomainError } from './errors.js';

/** How long a cached member list is used at most (ms). */
const CACHE_TTL_MS = 30_000;
/** A list read this recently is trusted when a user is missing from it (ms). */
const RECHECK_MS = 1_000;

export interface ChatTarget {
  chatId: string;
  kind: 'direct' | 'group';
  /** Current members' user ids. */
  memberIds: string[];
  /** Group chats: the membership version these members belong to; the append commits only against it. */
  membersVersion?: number;
  /** For a direct chat that has no message yet: create it on first append. */
  createDirectWith?: string[];
}

/** One chat's members as of one version. */
interface Members {
  version: number;
  /** When it was read (ms): entries are read again after CACHE_TTL_MS, whatever was heard. */
  readAt: number;
  ids: string[];
  set: Set<string>;
  /** Per member: messages above this seq are theirs. */
  joinedSeq: Map<string, number>;
}

/**
 * Answers "may this user use this chat, and who is in it". Member lists are cached per
 * node (a send needs them every time), stamped with the chat's membership version:
 * - a send is appended only if the chat still has that version when it takes its seq
 *   (the store checks it under the chat's lock), so a stale cache can never let a
 *   removed member send, and the members the message is delivered to are exactly the
 *   members at its commit;
 * - a user missing from a cached list is looked up again before being refused, so a
 *   member just added through another node is never turned away;
 * - every membership change is broadcast (invalidate()) so typing and acks, which are
 *   not appended, follow it too; a node whose bus connection dropped forgets everything;
 *   a read that was under way when its chat was invalidated is not cached; and no entry
 *   is used for longer than CACHE_TTL_MS, which bounds the cost of a broadcast that
 *   never arrived.
 */
export class ChatAccess {
  private readonly members = new Map<string, Members>();
  /** Bumped by every invalidation: a read started before one must not be cached. */
  private generation = 0;
  private readonly invalidatedAt = new Map<string, number>();
  private allInvalidatedAt = 0;
  private static readonly MAX_CACHED = 50_000;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** Drops the cached members of a chat (its membership changed). */
  invalidate(chatId: string): void {
    this.members.delete(chatId);
    this.invalidatedAt.set(chatId, ++this.generation);
    if (this.invalidatedAt.size > ChatAccess.MAX_CACHED) this.invalidatedAt.delete(this.invalidatedAt.keys().next().value!);
  }

  /** Drops every cached member list (changes may have been missed). */
  invalidateAll(): void {
    this.members.clear();
    this.invalidatedAt.clear();
    this.allInvalidatedAt = ++this.generation;
  }

  async memberIds(chatId: string): Promise<string[]> {
    return (await this.entry(chatId)).ids;
  }

  /**
   * Who gets message `seq` of a chat whose membership was at `version` when it committed:
   * the members who had joined before it. A cached list older than that version is read
   * again; a newer one is filtered by joined seq (a member added since is not owed it).
   */
  async recipients(chatId: string, seq: number, version: number | undefined): Promise<string[]> {
    let entry = await this.entry(chatId);
    if (version !== undefined && entry.version < version) entry = await this.entry(chatId, true);
    return entry.ids.filter((id) => (entry.joinedSeq.get(id) ?? 0) < seq);
  }

  private async entry(chatId: string, fresh = false): Promise<Members> {
    const cached = fresh ? undefined : this.members.get(chatId);
    if (cached && this.now() - cached.readAt < CACHE_TTL_MS) return cached;
    const started = this.generation;
    const readAt = this.now();
    const membership = await this.store.getMembership(chatId);
    const list = membership?.members ?? [];
    const ids = list.map((m) => m.userId);
    const entry: Members = {
      version: membership?.version ?? 0,
      readAt,
      ids,
      set: new Set(ids),
      joinedSeq: new Map(list.map((m) => [m.userId, m.joinedSeq])),
    };
    if (ids.length === 0) return entry; // a chat not created yet (a first dm) must not be cached as empty
    // Invalidated while the read was under way: the answer may predate the change.
    if ((this.invalidatedAt.get(chatId) ?? 0) > started || this.allInvalidatedAt > started) return entry;
    if (!this.members.has(chatId) && this.members.size >= ChatAccess.MAX_CACHED) this.members.delete(this.members.keys().next().value!);
    this.members.set(chatId, entry);
    return entry;
  }

  /**
   * The members of a group, re-read when the user is not among the cached ones (a member
   * just added elsewhere whose broadcast has not arrived) — at most once per RECHECK_MS
   * per chat, so a non-member's frames cannot turn into a store read each.
   */
  private async groupEntry(chatId: string, userId: string): Promise<Members> {
    const entry = await this.entry(chatId);
    if (entry.set.has(userId) || this.now() - entry.readAt < RECHECK_MS) return entry;
    return this.entry(chatId, true);
  }

  /** The chat a user may send to, or a DomainError (chat_not_found / not_a_member). */
  async forSend(userId: string, chatId: string): Promise<ChatTarget> {
    const parsed = parseChatId(chatId);
    if (!parsed) throw new DomainError('chat_not_found', `no such chat: ${chatId.slice(0, 80)}`);
    if (parsed.kind === 'direct') {
      const [a, b] = parsed.userIds;
      if (userId !== a && userId !== b) throw new DomainError('not_a_member', 'you are not a member of this chat');
      const cached = this.members.get(chatId);
      if (cached) return { chatId, kind: 'direct', memberIds: cached.ids };
      const chat = await this.store.getChat(chatId);
      if (chat) return { chatId, kind: 'direct', memberIds: await this.memberIds(chatId) };
      const other = userId === a ? b : a;
      if ((await this.store.missingUsers([other])).length > 0) throw new DomainError('chat_not_found', 'no such user');
      const memberIds = a === b ? [a] : [a, b];
      return { chatId, kind: 'direct', memberIds, createDirectWith: memberIds };
    }
    const entry = await this.groupEntry(chatId, userId);
    if (entry.ids.length === 0) {
      throw new DomainError((await this.store.getChat(chatId)) ? 'not_a_member' : 'chat_not_found', 'no such chat');
    }
    if (!entry.set.has(userId)) throw new DomainError('not_a_member', 'you are not a member of this chat');
    return { chatId, kind: 'group', memberIds: entry.ids, membersVersion: entry.version };
  }

  /**
   * The user's membership of a chat read fresh from the store (REST reads: history,
   * receipts, group views), or null. A direct chat exists implicitly: before its first
   * message either of its two users is a member of an empty chat, as long as the other
   * user exists. Callers turn null into their endpoint's answer (403 or 404).
   */
  async membership(userId: string, chatId: string): Promise<MemberRecord | null> {
    const parsed = parseChatId(chatId);
    if (!parsed) return null;
    const member = await this.store.getMember(chatId, userId);
    if (member || parsed.kind !== 'direct' || !parsed.userIds.includes(userId)) return member;
    if (await this.store.getChat(chatId)) return null;
    const other = parsed.userIds[0] === userId ? parsed.userIds[1] : parsed.userIds[0];
    if ((await this.store.missingUsers([other])).length > 0) return null;
    return {
      userId,
      role: 'member',
      joinedSeq: 0,
      joinedAt: 0,
      deliveredSeq: 0,
      readSeq: 0,
      mutedUntil: null,
      archived: false,
      pinned: false,
    };
  }

  /**
   * A direct chat's state as a send (or an edit, a reaction) must see it, read from the store
   * every time in one indexed probe (Store.directState), never cached, so that a block, a
   * deletion or the chat's first MLS commit holds on every node at once:
   * - `refusal`: what the other user's state refuses: a user the other one blocked
   *   (PROTOCOL.md "Blocking": `blocked`), and anyone writing to an account an operator
   *   deleted (`chat_not_found`, as for a direct chat with a user that does not exist: the
   *   chat stays readable, but nobody is there to receive);
   * - `encrypted`: whether the chat is end-to-end encrypted (either side may start its MLS
   *   group on any node).
   * Callers decide the order in which the two are answered.
   */
  async inDirect(userId: string, chatId: string): Promise<{ encrypted: boolean; refusal?: DomainError }> {
    const parsed = parseChatId(chatId);
    if (parsed?.kind !== 'direct') return { encrypted: false };
    const [a, b] = parsed.userIds;
    const other = userId === a ? b : a;
    const state = await this.store.directState(chatId, userId, other);
    if (other === userId) return { encrypted: state.encrypted }; // notes to self
    if (state.otherDeleted) return { encrypted: state.encrypted, refusal: new DomainError('chat_not_found', 'this account was deleted') };
    if (state.blocked) return { encrypted: state.encrypted, refusal: new DomainError('blocked', 'this user blocked you') };
    return { encrypted: state.encrypted };
  }

  /** Of `userIds`, those who blocked `userId` or whom it blocked: they see none of its typing or presence. */
  async withoutBlocks(userId: string, userIds: string[]): Promise<string[]> {
    if (userIds.length === 0) return userIds;
    const relations = await this.store.people.blockRelations(userId);
    if (relations.length === 0) return userIds;
    const skip = new Set(relations);
    return userIds.filter((id) => !skip.has(id));
  }

  /** True when the user is a current member of the chat. */
  async isMember(userId: string, chatId: string): Promise<boolean> {
    const parsed = parseChatId(chatId);
    if (!parsed) return false;
    if (parsed.kind === 'direct') return parsed.userIds.includes(userId) && (await this.entry(chatId)).set.has(userId);
    return (await this.groupEntry(chatId, userId)).set.has(userId);
  }
}
