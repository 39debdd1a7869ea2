import type { UserView } from '@switchboard/client';
import { AppBase } from './base.js';

/*
 * People (PROTOCOL.md "People"): the users the app has met, their names and typing; one's own
 * profile; finding users by username prefix; contacts, blocks and reports.
 */

const TYPING_TTL_MS = 6000;

export abstract class PeopleState extends AppBase {
  protected pendingUsers = new Set<string>();
  private lastTypingSent = 0;
  private pauseTimer: ReturnType<typeof setTimeout> | undefined;
  ensureUser(id: string): void {
    this.ensureUsers([id]);
  }

  protected ensureUsers(ids: string[]): void {
    for (const id of new Set(ids)) {
      if (this.users.has(id) || this.pendingUsers.has(id) || !this.client) continue;
      this.pendingUsers.add(id);
      this.client.getUser(id).then(
        (u) => {
          this.pendingUsers.delete(id);
          this.users.set(id, u);
          const c = this.conv;
          if (c && c.peerId === id && !c.title) c.title = u.display_name;
          this.changed();
        },
        () => this.pendingUsers.delete(id),
      );
    }
  }

  nameOf(id: string): string {
    if (id === this.userId) return 'You';
    return this.users.get(id)?.display_name ?? '…';
  }

  protected async userNamed(username: string): Promise<UserView> {
    const name = username.trim().replace(/^@/, '').toLowerCase();
    if (!name) throw new Error('Enter a username.');
    const user = await this.client!.findUser(name);
    if (!user) throw new Error(`There is no user named “${name}”.`);
    this.users.set(user.user_id, user);
    return user;
  }

  /** A typing frame: shown until it is paused or TYPING_TTL_MS pass. */
  protected onTyping(chatId: string, userId: string, state: 'composing' | 'paused'): void {
    if (userId === this.userId) return;
    let m = this.typing.get(chatId);
    if (!m) this.typing.set(chatId, (m = new Map()));
    if (state === 'composing') m.set(userId, Date.now() + TYPING_TTL_MS);
    else m.delete(userId);
    this.ensureUser(userId);
    this.changed();
  }

  typingIn(chatId: string): string[] {
    const m = this.typing.get(chatId);
    if (!m) return [];
    const now = Date.now();
    return [...m].filter(([, until]) => until > now).map(([id]) => id);
  }

  protected expireTyping(): void {
    const now = Date.now();
    let any = false;
    for (const m of this.typing.values())
      for (const [id, until] of m)
        if (until <= now) {
          m.delete(id);
          any = true;
        }
    if (any) this.changed();
  }

  composing(): void {
    const conv = this.conv;
    if (!conv || !this.client) return;
    const now = Date.now();
    if (now - this.lastTypingSent > 3000) {
      this.client.typing(conv.chatId, 'composing');
      this.lastTypingSent = now;
    }
    clearTimeout(this.pauseTimer);
    this.pauseTimer = setTimeout(() => this.stopTyping(), 4000);
  }

  protected stopTyping(): void {
    clearTimeout(this.pauseTimer);
    if (this.lastTypingSent && this.conv) this.client?.typing(this.conv.chatId, 'paused');
    this.lastTypingSent = 0;
  }
}
