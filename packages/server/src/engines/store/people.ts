import type { AvatarView } from '@switchboard/protocol';
import type { UserRecord } from './store.js';

/*
 * The store's people part (PROTOCOL.md "People"): profile fields on users, each user's
 * contact list and block list. Implementations: sqlite-people.ts, postgres-people.ts.
 * Blocks are read from the store on every check (never cached on a node), so a block
 * holds on every node as soon as the PUT that made it has answered.
 */

export interface ProfilePatch {
  displayName?: string;
  about?: string;
  /** null clears the avatar. */
  avatar?: AvatarView | null;
}

export type ListChange = 'ok' | 'no_such_user' | 'too_many';

export interface PeopleStore {
  /**
   * Changes the user's profile; answers the user as it now is (null: no such user). A new
   * avatar (and its thumbnail) is marked attached so the orphan sweep keeps it; the
   * avatar it replaces is marked unattached again when no message carries it, so the
   * sweep takes it in time. 'media_gone' (nothing changed): the new avatar's media was
   * erased meanwhile (a delete for everyone of the last message carrying it).
   */
  setProfile(userId: string, patch: ProfilePatch): Promise<UserRecord | null | 'media_gone'>;
  /** Users whose username starts with `prefix`, in username order, at most `limit` (a range on the username index). */
  usersByPrefix(prefix: string, limit: number): Promise<UserRecord[]>;
  /** Adds `contactId` to the user's contacts (a repeat is ok), never past `max`. */
  addContact(userId: string, contactId: string, at: number, max: number): Promise<ListChange>;
  removeContact(userId: string, contactId: string): Promise<void>;
  /** The user's contacts, in username order. */
  contacts(userId: string): Promise<UserRecord[]>;
  /** `userId` blocks `blockedId` (a repeat is ok), never past `max`. */
  block(userId: string, blockedId: string, at: number, max: number): Promise<ListChange>;
  unblock(userId: string, blockedId: string): Promise<void>;
  /** Whom the user blocked, oldest block first. */
  blocked(userId: string): Promise<string[]>;
  /** True when `blocker` blocked `blocked`. */
  isBlocked(blocker: string, blocked: string): Promise<boolean>;
  /** The users `userId` blocked or was blocked by: who must not see its typing or presence. */
  blockRelations(userId: string): Promise<string[]>;
  /** Of `candidates`, those who blocked `userId`. */
  blockersAmong(userId: string, candidates: string[]): Promise<string[]>;
  /** True when the media (an original) is some user's current avatar. */
  isAvatar(mediaId: string): Promise<boolean>;
}
