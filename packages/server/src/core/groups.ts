import { MAX_GROUP_MEMBERS, groupChatId, type GroupView, type ServerFrame } from '@switchboard/protocol';
import type { MemberRecord, MembershipRefusal, Store } from '../engines/store/store.js';
import type { Snowflake } from '../util/snowflake.js';
import type { ChatAccess } from './chat-access.js';
import type { Delivery } from './delivery.js';
import { DomainError } from './errors.js';

/** A refusal from the store as the HTTP answer. */
function refusal(outcome: MembershipRefusal, forbidden: string): DomainError {
  switch (outcome) {
    case 'forbidden':
      return new DomainError('forbidden', forbidden);
    case 'too_large':
      return new DomainError('group_too_large', `a group has at most ${MAX_GROUP_MEMBERS} members`);
    default:
      return new DomainError('not_found', 'no such group');
  }
}

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

  async create(creatorId: string, input: { name: string; member_ids: string[]; encrypted?: boolean | undefined }): Promise<GroupView> {
    const { store, ids, now } = this.deps;
    const memberIds = [...new Set([creatorId, ...input.member_ids])];
    if (memberIds.length > MAX_GROUP_MEMBERS) throw new DomainError('group_too_large', `a group has at most ${MAX_GROUP_MEMBERS} members`);
    await this.requireUsers(memberIds);
    await this.refuseBlockers(creatorId, memberIds);
    const groupId = ids.next();
    const chatId = groupChatId(groupId);
    await store.createGroup({
      chatId,
      name: input.name,
      createdBy: creatorId,
      createdAt: now(),
      members: memberIds.map((userId) => ({ userId, role: userId === creatorId ? 'admin' : 'member' })),
      ...(input.encrypted ? { encrypted: true } : {}),
    });
    const view = await this.view(groupId);
    await this.announce(view, 'created', memberIds, memberIds);
    return view;
  }

  /** The group as its members see it; 404 for everyone else (no probing). */
  async get(userId: string, groupId: string): Promise<GroupView> {
    await this.memberOrNotFound(userId, groupId);
    return this.view(groupId);
  }

  async addMembers(actorId: string, groupId: string, userIds: string[]): Promise<GroupView> {
    const wanted = [...new Set(userIds)];
    await this.memberOrNotFound(actorId, groupId);
    // More distinct ids than a group holds can never fit: answered before looking them up.
    if (wanted.length > MAX_GROUP_MEMBERS) throw new DomainError('group_too_large', `a group has at most ${MAX_GROUP_MEMBERS} members`);
    await this.requireUsers(wanted);
    await this.refuseBlockers(actorId, wanted);
    const chatId = groupChatId(groupId);
    // Checked and applied in the store's transaction, under the chat's lock: admins adding
    // at once on different nodes can never push the group past the cap.
    const outcome = await this.deps.store.addMembers(chatId, actorId, wanted, this.deps.now(), MAX_GROUP_MEMBERS);
    if (typeof outcome === 'string') throw refusal(outcome, 'only admins can add members');
    if (outcome.added.length > 0) await this.membershipChanged(chatId);
    const view = await this.view(groupId);
    if (outcome.added.length > 0)
      await this.announce(
        view,
        'member_added',
        outcome.added,
        view.members.map((m) => m.user_id),
      );
    return view;
  }

  /** An admin removes anyone; a member removes itself (leaves). The last admin leaving promotes the oldest member. */
  async removeMember(actorId: string, groupId: string, userId: string): Promise<void> {
    const chatId = groupChatId(groupId);
    const outcome = await this.deps.store.removeMember(chatId, actorId, userId);
    if (outcome === 'not_a_member') throw new DomainError('not_found', 'that user is not a member');
    if (outcome !== 'removed') throw refusal(outcome, 'only admins can remove other members');
    await this.membershipChanged(chatId, [userId]);
    const view = await this.view(groupId);
    // The removed user hears of its removal too; after this it receives nothing from the group.
    await this.announce(view, 'member_removed', [userId], [...view.members.map((m) => m.user_id), userId]);
  }

  async rename(actorId: string, groupId: string, name: string): Promise<GroupView> {
    const actor = await this.memberOrNotFound(actorId, groupId);
    if (actor.role !== 'admin') throw new DomainError('forbidden', 'only admins can rename the group');
    await this.deps.store.renameGroup(groupChatId(groupId), name);
    const view = await this.view(groupId);
    await this.announce(
      view,
      'renamed',
      [],
      view.members.map((m) => m.user_id),
    );
    return view;
  }

  /** The caller's membership of the group; 404 for everyone else (the protocol's answer for groups: no probing). */
  private async memberOrNotFound(userId: string, groupId: string): Promise<MemberRecord> {
    const member = await this.deps.access.membership(userId, groupChatId(groupId));
    if (!member) throw new DomainError('not_found', 'no such group');
    return member;
  }

  /** Every node and fan-out worker forgets its copy of the members before the change is answered. */
  private async membershipChanged(chatId: string, removed?: string[]): Promise<void> {
    this.deps.access.invalidate(chatId);
    await this.deps.delivery.membershipChanged(chatId, removed);
  }

  /** PROTOCOL.md "Blocking": a user cannot add someone who blocked it to a group (403 forbidden). */
  private async refuseBlockers(actorId: string, userIds: string[]): Promise<void> {
    const blockers = await this.deps.store.people.blockersAmong(
      actorId,
      userIds.filter((id) => id !== actorId),
    );
    if (blockers.length > 0) throw new DomainError('forbidden', 'a user you are adding blocked you', { user_ids: blockers });
  }

  private async requireUsers(userIds: string[]): Promise<void> {
    const missing = await this.deps.store.missingUsers(userIds);
    if (missing.length > 0) throw new DomainError('not_found', `unknown users: ${missing.slice(0, 20).join(', ')}`, { user_ids: missing });
  }

  private async view(groupId: string): Promise<GroupView> {
    const chatId = groupChatId(groupId);
    const chat = await this.deps.store.getChat(chatId);
    if (!chat || chat.kind !== 'group') throw new DomainError('not_found', 'no such group');
    const members = await this.deps.store.getMembers(chatId);
    return {
      group_id: groupId,
      chat_id: chatId,
      name: chat.name ?? '',
      members: members.map((m) => ({ user_id: m.userId, role: m.role })),
      created_at: chat.createdAt,
      ...(chat.encrypted ? { encrypted: true as const } : {}),
    };
  }

  private announce(view: GroupView, event: GroupEvent, userIds: string[], to: string[]): Promise<void> {
    return this.deps.delivery.toUsers(to, {
      type: 'group_update',
      group_id: view.group_id,
      chat_id: view.chat_id,
      event,
      user_ids: userIds,
      name: view.name,
    });
  }
}
