import { BLOCKED_MAX, CONTACTS_MAX, directChatId, type UpdateProfileBody, type UserView } from '@switchboard/protocol';
import { MEMBERS_TOPIC, type Bus } from '../engines/bus/bus.js';
import type { ProfilePatch } from '../engines/store/people.js';
import type { Store } from '../engines/store/store.js';
import { userView } from './accounts.js';
import { DomainError } from './errors.js';
import type { Media } from './media.js';

export interface PeopleDeps {
  store: Store;
  /** Checks and thumbnails avatars; absent: avatars are refused. */
  media?: Media;
  bus: Bus;
  now: () => number;
}

/**
 * PROTOCOL.md "People": profiles, prefix search, contacts and blocks. Blocks are enforced
 * where the rules bite (ChatAccess.inDirect for sends, presence, typing, groups), all
 * reading the store, so a block holds on every node as soon as its PUT answered.
 */
export class People {
  constructor(private readonly deps: PeopleDeps) {}

  async updateProfile(userId: string, body: UpdateProfileBody): Promise<UserView> {
    const patch: ProfilePatch = {};
    if (body.display_name !== undefined) patch.displayName = body.display_name;
    if (body.about !== undefined) patch.about = body.about;
    if (body.avatar_media_id === null) patch.avatar = null;
    else if (body.avatar_media_id !== undefined) {
      if (!this.deps.media) throw new DomainError('invalid_request', 'this server keeps no media');
      patch.avatar = await this.deps.media.avatar(userId, body.avatar_media_id);
    }
    const user = await this.deps.store.people.setProfile(userId, patch);
    if (user === 'media_gone') throw new DomainError('invalid_request', 'avatar_media_id: that media was erased');
    if (!user) throw new DomainError('not_found');
    return userView(user);
  }

  async search(prefix: string, limit: number): Promise<UserView[]> {
    return (await this.deps.store.people.usersByPrefix(prefix, limit)).map(userView);
  }

  async addContact(userId: string, contactId: string): Promise<void> {
    const out = await this.deps.store.people.addContact(userId, contactId, this.deps.now(), CONTACTS_MAX);
    if (out === 'no_such_user') throw new DomainError('not_found', 'no such user');
    if (out === 'too_many') throw new DomainError('too_many_contacts', `at most ${CONTACTS_MAX} contacts`);
  }

  removeContact(userId: string, contactId: string): Promise<void> {
    return this.deps.store.people.removeContact(userId, contactId);
  }

  async contacts(userId: string): Promise<UserView[]> {
    return (await this.deps.store.people.contacts(userId)).map(userView);
  }

  async block(userId: string, blockedId: string): Promise<void> {
    if (blockedId === userId) throw new DomainError('invalid_request', 'you cannot block yourself');
    const out = await this.deps.store.people.block(userId, blockedId, this.deps.now(), BLOCKED_MAX);
    if (out === 'no_such_user') throw new DomainError('not_found', 'no such user');
    if (out === 'too_many') throw new DomainError('too_many_blocked', `at most ${BLOCKED_MAX} blocked users`);
    await this.announce(userId, blockedId);
  }

  async unblock(userId: string, blockedId: string): Promise<void> {
    await this.deps.store.people.unblock(userId, blockedId);
    await this.announce(userId, blockedId);
  }

  blocked(userId: string): Promise<string[]> {
    return this.deps.store.people.blocked(userId);
  }

  /**
   * Every node re-checks the presence watches between the two (as when members leave a
   * chat): after a block each sees the other offline with no last_seen, at once.
   */
  private async announce(a: string, b: string): Promise<void> {
    await this.deps.bus.publish([MEMBERS_TOPIC], { kind: 'members-changed', chatId: directChatId(a, b), removed: [a, b] });
  }
}
