import type Database from 'better-sqlite3';
import type { SqliteWriter } from './sqlite-writer.js';
import type { ListChange, PeopleStore, ProfilePatch } from './people.js';
import { toUser, type UserRow } from './rows.js';
import type { UserRecord } from './store.js';

/*
 * SqliteStore's people part: reads on the store's connection, writes as named operations
 * on the writer thread (sqlitePeopleOps, spread into sqlite-writes.ts), like media.
 */

/** The end of a prefix's range: every string that starts with `prefix` sorts below it (byte / code point order). */
export const prefixEnd = (prefix: string): string => `${prefix}\u{10FFFF}`;

/** The writer thread's people operations (each runs in its own transaction). */
export function sqlitePeopleOps(db: Database.Database) {
  const s = {
    user: db.prepare('SELECT * FROM users WHERE id = ?'),
    exists: db.prepare('SELECT 1 FROM users WHERE id = ?'),
    setName: db.prepare('UPDATE users SET display_name = ? WHERE id = ?'),
    setAbout: db.prepare('UPDATE users SET about = ? WHERE id = ?'),
    mediaExists: db.prepare('SELECT 1 FROM media WHERE id = ?'),
    setAvatar: db.prepare('UPDATE users SET avatar = ?, avatar_media_id = ? WHERE id = ?'),
    keepMedia: db.prepare('UPDATE media SET attached = 1, pending_since = NULL WHERE id = ? OR parent_id = ?'),
    // The old avatar goes back to the sweep unless a message carries it (attach keeps those).
    releaseMedia: db.prepare(
      `UPDATE media SET attached = 0 WHERE id = ? AND NOT EXISTS (SELECT 1 FROM media_refs WHERE media_id = ?)
         AND NOT EXISTS (SELECT 1 FROM users WHERE avatar_media_id = ?)`,
    ),
    countContacts: db.prepare('SELECT count(*) AS n FROM contacts WHERE user_id = ?'),
    hasContact: db.prepare('SELECT 1 FROM contacts WHERE user_id = ? AND contact_id = ?'),
    addContact: db.prepare('INSERT INTO contacts (user_id, contact_id, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
    removeContact: db.prepare('DELETE FROM contacts WHERE user_id = ? AND contact_id = ?'),
    countBlocks: db.prepare('SELECT count(*) AS n FROM blocks WHERE user_id = ?'),
    hasBlock: db.prepare('SELECT 1 FROM blocks WHERE user_id = ? AND blocked_id = ?'),
    addBlock: db.prepare('INSERT INTO blocks (user_id, blocked_id, blocked_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
    removeBlock: db.prepare('DELETE FROM blocks WHERE user_id = ? AND blocked_id = ?'),
  };
  const addTo = (
    has: Database.Statement,
    count: Database.Statement,
    add: Database.Statement,
    userId: string,
    otherId: string,
    at: number,
    max: number,
  ): ListChange => {
    if (!s.exists.get(otherId)) return 'no_such_user';
    if (has.get(userId, otherId)) return 'ok';
    if ((count.get(userId) as { n: number }).n >= max) return 'too_many';
    add.run(userId, otherId, at);
    return 'ok';
  };
  return {
    setProfile(userId: string, patch: ProfilePatch): UserRecord | null | 'media_gone' {
      const before = s.user.get(userId) as UserRow | undefined;
      if (!before) return null;
      // Checked by core before, but a delete for everyone may have erased it since (one writer: not after this).
      if (patch.avatar && !s.mediaExists.get(patch.avatar.media_id)) return 'media_gone';
      if (patch.displayName !== undefined) s.setName.run(patch.displayName, userId);
      if (patch.about !== undefined) s.setAbout.run(patch.about, userId);
      if (patch.avatar !== undefined) {
        const id = patch.avatar?.media_id ?? null;
        s.setAvatar.run(patch.avatar ? JSON.stringify(patch.avatar) : null, id, userId);
        if (id) s.keepMedia.run(id, id);
        const old = toUser(before).avatar?.media_id;
        if (old && old !== id) s.releaseMedia.run(old, old, old);
      }
      return toUser(s.user.get(userId) as UserRow);
    },
    addContact(userId: string, contactId: string, at: number, max: number): ListChange {
      return addTo(s.hasContact, s.countContacts, s.addContact, userId, contactId, at, max);
    },
    removeContact(userId: string, contactId: string): void {
      s.removeContact.run(userId, contactId);
    },
    block(userId: string, blockedId: string, at: number, max: number): ListChange {
      return addTo(s.hasBlock, s.countBlocks, s.addBlock, userId, blockedId, at, max);
    },
    unblock(userId: string, blockedId: string): void {
      s.removeBlock.run(userId, blockedId);
    },
  };
}

export class SqlitePeople implements PeopleStore {
  private readonly s;

  constructor(
    db: Database.Database,
    private readonly writer: SqliteWriter,
  ) {
    this.s = {
      byPrefix: db.prepare('SELECT * FROM users WHERE username >= ? AND username < ? AND deleted_at IS NULL ORDER BY username LIMIT ?'),
      contacts: db.prepare('SELECT u.* FROM contacts c JOIN users u ON u.id = c.contact_id WHERE c.user_id = ? ORDER BY u.username'),
      blocked: db.prepare('SELECT blocked_id FROM blocks WHERE user_id = ? ORDER BY blocked_at, blocked_id'),
      isBlocked: db.prepare('SELECT 1 FROM blocks WHERE user_id = ? AND blocked_id = ?'),
      relations: db.prepare('SELECT blocked_id AS id FROM blocks WHERE user_id = ? UNION SELECT user_id FROM blocks WHERE blocked_id = ?'),
      blockers: db.prepare('SELECT user_id FROM blocks WHERE blocked_id = ?'),
      isAvatar: db.prepare('SELECT 1 FROM users WHERE avatar_media_id = ? LIMIT 1'),
    };
  }

  setProfile(userId: string, patch: ProfilePatch): Promise<UserRecord | null | 'media_gone'> {
    return this.writer.write('setProfile', userId, patch);
  }

  async usersByPrefix(prefix: string, limit: number): Promise<UserRecord[]> {
    return (this.s.byPrefix.all(prefix, prefixEnd(prefix), limit) as UserRow[]).map(toUser);
  }

  addContact(userId: string, contactId: string, at: number, max: number): Promise<ListChange> {
    return this.writer.write('addContact', userId, contactId, at, max);
  }

  async removeContact(userId: string, contactId: string): Promise<void> {
    await this.writer.write('removeContact', userId, contactId);
  }

  async contacts(userId: string): Promise<UserRecord[]> {
    return (this.s.contacts.all(userId) as UserRow[]).map(toUser);
  }

  block(userId: string, blockedId: string, at: number, max: number): Promise<ListChange> {
    return this.writer.write('block', userId, blockedId, at, max);
  }

  async unblock(userId: string, blockedId: string): Promise<void> {
    await this.writer.write('unblock', userId, blockedId);
  }

  async blocked(userId: string): Promise<string[]> {
    return (this.s.blocked.all(userId) as { blocked_id: string }[]).map((r) => r.blocked_id);
  }

  async isBlocked(blocker: string, blocked: string): Promise<boolean> {
    return this.s.isBlocked.get(blocker, blocked) !== undefined;
  }

  async blockRelations(userId: string): Promise<string[]> {
    return (this.s.relations.all(userId, userId) as { id: string }[]).map((r) => r.id);
  }

  async blockersAmong(userId: string, candidates: string[]): Promise<string[]> {
    if (candidates.length === 0) return [];
    const wanted = new Set(candidates);
    return (this.s.blockers.all(userId) as { user_id: string }[]).map((r) => r.user_id).filter((id) => wanted.has(id));
  }

  async isAvatar(mediaId: string): Promise<boolean> {
    return this.s.isAvatar.get(mediaId) !== undefined;
  }
}
