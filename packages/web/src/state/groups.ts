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

  /** A new group; `encrypted`: end-to-end (the server group, then the MLS group with every member's devices, docs/e2ee.md). */
  createGroup(name: string, members: string, encrypted = false): Promise<void> {
    return this.task(async () => {
      if (!name.trim()) throw new Error('Give the group a name.');
      if (encrypted) await this.cryptoReady;
      const e2ee = this.e2ee;
      if (encrypted && !e2ee) throw new Error(this.cryptoUnavailable ?? 'Encryption is not running in this tab.');
      const names = members.split(/[\s,]+/).filter(Boolean);
      const users = await Promise.all(names.map((n) => this.userNamed(n)));
      const ids = users.map((u) => u.user_id);
      const group =
        e2ee && encrypted ? await e2ee.createEncryptedGroup(name.trim(), ids) : await this.client!.createGroup(name.trim(), ids);
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
      if (conv.group.encrypted) {
        // On the server, then an MLS Add of each of their devices.
        if (!this.e2ee) throw new Error(this.cryptoUnavailable ?? 'Encryption is not running in this tab.');
        await this.e2ee.addMembers(conv.chatId, [user.user_id]);
        await this.loadGroup(conv);
      } else conv.group = await this.client!.addMembers(conv.group.group_id, [user.user_id]);
    });
  }

  removeMember(userId: string): Promise<void> {
    return this.task(async () => {
      const conv = this.conv;
      if (!conv?.group) return;
      // Encrypted: also an MLS Remove of their leaves, so the next epoch's keys are unknown to them.
      if (conv.group.encrypted && this.e2ee?.hasGroup(conv.chatId)) await this.e2ee.removeMember(conv.chatId, userId);
      else await this.client!.removeMember(conv.group.group_id, userId);
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
