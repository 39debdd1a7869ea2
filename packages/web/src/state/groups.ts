import { directChatId, type UserView } from '@switchboard/client';
import { ConversationState } from './conversation.js';

/* Starting chats ("New chat", "New group") and a group's administration ("Group info"). */

export abstract class GroupsState extends ConversationState {
  startChat(username: string): Promise<void> {
    return this.task(async () => {
      const user = await this.userNamed(username);
      this.panel = null;
      await this.openChat(directChatId(this.userId, user.user_id), { title: user.display_name });
    });
  }

  /** Opens the direct chat with a user found by "New chat" or in the contacts. */
  openDirect(user: UserView): Promise<void> {
    return this.task(async () => {
      this.users.set(user.user_id, user);
      this.panel = null;
      await this.openChat(directChatId(this.userId, user.user_id), { title: user.display_name });
    });
  }

  createGroup(name: string, members: string): Promise<void> {
    return this.task(async () => {
      if (!name.trim()) throw new Error('Give the group a name.');
      const names = members.split(/[\s,]+/).filter(Boolean);
      const users = await Promise.all(names.map((n) => this.userNamed(n)));
      const group = await this.client!.createGroup(
        name.trim(),
        users.map((u) => u.user_id),
      );
      this.panel = null;
      this.scheduleRefresh(0);
      await this.openChat(group.chat_id, { title: group.name });
    });
  }

  addMember(username: string): Promise<void> {
    return this.task(async () => {
      const conv = this.conv;
      if (!conv?.group) return;
      const user = await this.userNamed(username);
      conv.group = await this.client!.addMembers(conv.group.group_id, [user.user_id]);
    });
  }

  removeMember(userId: string): Promise<void> {
    return this.task(async () => {
      const conv = this.conv;
      if (!conv?.group) return;
      await this.client!.removeMember(conv.group.group_id, userId);
      await this.loadGroup(conv);
    });
  }

  renameGroup(name: string): Promise<void> {
    return this.task(async () => {
      const conv = this.conv;
      if (!conv?.group || !name.trim()) return;
      conv.group = await this.client!.renameGroup(conv.group.group_id, name.trim());
      conv.title = conv.group.name;
      const chat = this.chat(conv.chatId);
      if (chat) chat.title = conv.group.name;
    });
  }

  leaveGroup(): Promise<void> {
    return this.task(async () => {
      const conv = this.conv;
      if (!conv?.group) return;
      await this.client!.removeMember(conv.group.group_id, this.userId);
      this.chats = this.chats.filter((c) => c.chat_id !== conv.chatId);
      this.panel = null;
      this.closeChat();
      this.scheduleRefresh(0);
    });
  }
}
