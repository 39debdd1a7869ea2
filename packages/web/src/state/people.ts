import type { ReportReason, UserView } from '@switchboard/client';
import { AppBase } from './base.js';
import { uploadFile } from './upload.js';

/*
 * People (PROTOCOL.md "People"): the users the app has met, their names and typing; one's own
 * profile; finding users by username prefix; contacts, blocks and reports.
 */

const TYPING_TTL_MS = 6000;
/** The server's shortest prefix (USER_PREFIX_MIN): shorter, nothing is asked. */
const PREFIX_MIN = 3;
/** What an avatar may be (the server checks the bytes too). */
export const AVATAR_TYPES = ['image/jpeg', 'image/png', 'image/webp'];

/** What "Report" is about: a user, or one of their messages. */
export interface ReportTarget {
  userId: string;
  messageId?: string;
}

export abstract class PeopleState extends AppBase {
  protected pendingUsers = new Set<string>();
  private lastTypingSent = 0;
  private pauseTimer: ReturnType<typeof setTimeout> | undefined;
  /** "New chat": users whose username starts with peopleQuery (null: no query yet). */
  peopleResults: UserView[] | null = null;
  peopleQuery = '';
  private peopleSeq = 0;
  /** The contact list, kept on the server (null until loaded). */
  contacts: UserView[] | null = null;
  /** Users this user blocked. */
  blocked = new Set<string>();
  /** The open "Report" form's subject. */
  reportTarget: ReportTarget | null = null;
  profileBusy = false;
  profileError: string | null = null;

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

  /** Fetches a user again (their name or avatar may have changed since), keeping the old view meanwhile. */
  protected refreshUser(id: string): void {
    const client = this.client;
    if (!client || this.pendingUsers.has(id)) return;
    if (!this.users.has(id)) return this.ensureUser(id);
    client.getUser(id).then(
      (u) => {
        this.users.set(id, u);
        this.changed();
      },
      () => {},
    );
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

  // ---- one's own profile ----

  /** Display name and about; an empty about clears it. */
  async saveProfile(displayName: string, about: string): Promise<boolean> {
    const name = displayName.trim();
    if (!name) {
      this.profileError = 'Enter a display name.';
      this.changed();
      return false;
    }
    return this.profileTask(() => this.client!.updateProfile({ displayName: name, about: about.trim() }));
  }

  /** Uploads an image and makes it the avatar (the server thumbnails it). */
  async setAvatar(file: File): Promise<boolean> {
    if (!AVATAR_TYPES.includes(file.type)) {
      this.profileError = 'An avatar is a JPEG, PNG or WebP image.';
      this.changed();
      return false;
    }
    const token = this.session?.token;
    if (!token) return false;
    return this.profileTask(async () => {
      const att = await uploadFile(this.baseUrl, token, file, () => {});
      return this.client!.updateProfile({ avatarMediaId: att.media_id });
    });
  }

  removeAvatar(): Promise<boolean> {
    return this.profileTask(() => this.client!.updateProfile({ avatarMediaId: null }));
  }

  private async profileTask(run: () => Promise<UserView>): Promise<boolean> {
    this.profileBusy = true;
    this.profileError = null;
    this.changed();
    try {
      const me = await run();
      this.profileSaves++;
      this.me = me;
      this.users.set(me.user_id, me);
      return true;
    } catch (err) {
      this.onRequestError(err, (m) => (this.profileError = m));
      return false;
    } finally {
      this.profileBusy = false;
      this.changed();
    }
  }

  // ---- finding people ----

  /** Users whose username starts with `prefix` (PROTOCOL.md: at least 3 characters); answers older than the latest query are dropped. */
  async findPeople(prefix: string): Promise<void> {
    const q = prefix.trim().replace(/^@/, '').toLowerCase();
    this.peopleQuery = q;
    const mine = ++this.peopleSeq;
    if ([...q].length < PREFIX_MIN || !this.client) {
      this.peopleResults = null;
      this.changed();
      return;
    }
    try {
      const users = await this.client.searchUsers(q, { limit: 10 });
      if (mine !== this.peopleSeq) return;
      for (const u of users) this.users.set(u.user_id, u);
      this.peopleResults = users.filter((u) => u.user_id !== this.userId);
    } catch (err) {
      if (mine === this.peopleSeq) this.onRequestError(err, (m) => (this.panelError = m));
    }
    this.changed();
  }

  // ---- contacts ----

  async loadContacts(): Promise<void> {
    try {
      const list = await this.client!.contacts();
      for (const u of list) this.users.set(u.user_id, u);
      this.contacts = list;
    } catch (err) {
      this.onRequestError(err, (m) => (this.panelError = m));
    }
    this.changed();
  }

  isContact(userId: string): boolean {
    return !!this.contacts?.some((u) => u.user_id === userId);
  }

  addContact(userId: string): Promise<void> {
    return this.task(async () => {
      await this.client!.addContact(userId);
      await this.loadContacts();
    });
  }

  removeContact(userId: string): Promise<void> {
    return this.task(async () => {
      await this.client!.removeContact(userId);
      await this.loadContacts();
    });
  }

  // ---- blocking, reporting ----

  protected async loadBlocked(): Promise<void> {
    try {
      this.blocked = new Set(await this.client!.listBlocked());
      this.changed();
    } catch (err) {
      this.onRequestError(err);
    }
  }

  /** Blocks or unblocks; the server then refuses the blocked user's messages in the direct chat. */
  setBlocked(userId: string, block: boolean): Promise<void> {
    return this.task(async () => {
      if (block) await this.client!.block(userId);
      else await this.client!.unblock(userId);
      const next = new Set(this.blocked);
      if (block) next.add(userId);
      else next.delete(userId);
      this.blocked = next;
    });
  }

  /** Opens the "Report" form about a user (or one of their messages). */
  startReport(target: ReportTarget): void {
    this.reportTarget = target;
    this.panelError = null;
    this.changed();
  }

  cancelReport(): void {
    this.reportTarget = null;
    this.changed();
  }

  sendReport(reason: ReportReason, note: string): Promise<void> {
    return this.task(async () => {
      const t = this.reportTarget;
      if (!t) return;
      const text = note.trim();
      await this.client!.report({
        user_id: t.userId,
        reason,
        ...(t.messageId ? { message_id: t.messageId } : {}),
        ...(text ? { note: text } : {}),
      });
      this.reportTarget = null;
      this.notice = 'Report sent to the operator of this server.';
    });
  }
}
