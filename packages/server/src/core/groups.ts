import { MAX_GROUP_MEMBERS, groupChatId, type GroupView, type ServerFrame } from '@switchboard/protocol';
import type { MemberRecord, Store } from '../engines/store/store.js';
import type { Snowflake } from '../util/snowflake.js';
import type { ChatAccess } from './chat-access.js';
import type { Delivery } from './delivery.js';
import { ApiError } from './errors.js';

type GroupEvent = Extract<ServerFrame, { type: 'group_update' }>['event'];

export interface GroupsDeps {
  store: Store;
  access: ChatAccess;
  delivery: Delivery;
  ids: Snowflake;
  now: () => number;
}

/** Group chats: creation, membership and roles, rename; every change is announced as group_update. */
export class Groups {
  constructor(private readonly deps: GroupsDeps) {}

  async create(creatorId: string, input: { name: string; member_ids: string[] }): Promise<GroupView> {
    const { store, ids, now } = this.deps;
    const memberIds = [...new Set([creatorId, ...input.member_ids])];
    if (memberIds.length > MAX_GROUP_MEMBERS) throw new ApiError(422, 'group_too_large', `a group has at most ${MAX_GROUP_MEMBERS} members`);
    await this.requireUsers(memberIds);
    const groupId = ids.next();
    const chatId = groupChatId(groupId);
    await store.createGroup({
      chatId,
      name: input.name,
      createdBy: creatorId,
      createdAt: now(),
      members: memberIds.map((userId) => ({ userId, role: userId === creatorId ? 'admin' : 'member' })),
    });
    this.deps.access.invalidate(chatId);
    const view = await this.view(groupId);
    await this.announce(view, 'created', memberIds, memberIds);
    return view;
  }

  /** The group as its members see it; 404 for everyone else (no probing). */
  async get(userId: string, groupId: string): Promise<GroupView> {
    await this.requireMember(userId, groupId);
    return this.view(groupId);
  }

  async addMembers(actorId: string, groupId: string, userIds: string[]): Promise<GroupView> {
    const actor = await this.requireMember(actorId, groupId);
    if (actor.role !== 'admin') throw new ApiError(403, 'forbidden', 'only admins can add members');
    const wanted = [...new Set(userIds)];
    await this.requireUsers(wanted);
    const chatId = groupChatId(groupId);
    const current = await this.deps.store.getMembers(chatId);
    const fresh = wanted.filter((id) => !current.some((m) => m.userId === id));
    if (current.length + fresh.length > MAX_GROUP_MEMBERS) throw new ApiError(422, 'group_too_large', `a group has at most ${MAX_GROUP_MEMBERS} members`);
    const added = await this.deps.store.addMembers(chatId, fresh, this.deps.now());
    this.deps.access.invalidate(chatId);
    const view = await this.view(groupId);
    if (added.length > 0) await this.announce(view, 'member_added', added, view.members.map((m) => m.user_id));
    return view;
  }

  /** An admin removes anyone; a member removes itself (leaves). The last admin leaving promotes the oldest member. */
  async removeMember(actorId: string, groupId: string, userId: string): Promise<void> {
    const actor = await this.requireMember(actorId, groupId);
    if (actorId !== userId && actor.role !== 'admin') throw new ApiError(403, 'forbidden', 'only admins can remove other members');
    const chatId = groupChatId(groupId);
    const before = await this.deps.store.getMembers(chatId);
    if (!before.some((m) => m.userId === userId)) throw new ApiError(404, 'not_found', 'that user is not a member');
    await this.deps.store.removeMember(chatId, userId);
    const after = before.filter((m) => m.userId !== userId);
    if (after.length > 0 && !after.some((m) => m.role === 'admin')) {
      await this.deps.store.setRole(chatId, after[0]!.userId, 'admin'); // members come oldest first
    }
    this.deps.access.invalidate(chatId);
    const view = await this.view(groupId);
    // The removed user hears of its removal too; after this it receives nothing from the group.
    await this.announce(view, 'member_removed', [userId], [...after.map((m) => m.userId), userId]);
  }

  async rename(actorId: string, groupId: string, name: string): Promise<GroupView> {
    const actor = await this.requireMember(actorId, groupId);
    if (actor.role !== 'admin') throw new ApiError(403, 'forbidden', 'only admins can rename the group');
    await this.deps.store.renameGroup(groupChatId(groupId), name);
    const view = await this.view(groupId);
    await this.announce(view, 'renamed', [], view.members.map((m) => m.user_id));
    return view;
  }

  private async requireMember(userId: string, groupId: string): Promise<MemberRecord> {
    const member = await this.deps.store.getMember(groupChatId(groupId), userId);
    if (!member) throw new ApiError(404, 'not_found', 'no such group');
    return member;
  }

  private async requireUsers(userIds: string[]): Promise<void> {
    const missing = await this.deps.store.missingUsers(userIds);
    if (missing.length > 0) throw new ApiError(404, 'not_found', `unknown users: ${missing.slice(0, 20).join(', ')}`, { user_ids: missing });
  }

  private async view(groupId: string): Promise<GroupView> {
    const chatId = groupChatId(groupId);
    const chat = await this.deps.store.getChat(chatId);
    if (!chat || chat.kind !== 'group') throw new ApiError(404, 'not_found', 'no such group');
    const members = await this.deps.store.getMembers(chatId);
    return {
      group_id: groupId,
      chat_id: chatId,
      name: chat.name ?? '',
      members: members.map((m) => ({ user_id: m.userId, role: m.role })),
      created_at: chat.createdAt,
    };
  }

  private announce(view: GroupView, event: GroupEvent, userIds: string[], to: string[]): Promise<void> {
    return this.deps.delivery.toUsers(to, { type: 'group_update', group_id: view.group_id, chat_id: view.chat_id, event, user_ids: userIds, name: view.name });
  }
}
