import type Database from 'better-sqlite3';
import type { SqliteWriter } from './sqlite-writer.js';
import type { UserRecord } from './store.js';
import type { ExternalIdentities } from './identities.js';
import { toUser, type UserRow } from './rows.js';
import type { WebhookEventType } from './webhook-outbox.js';

const USER_OF = `SELECT u.* FROM external_identities e JOIN users u ON u.id = e.user_id WHERE e.issuer = ? AND e.subject = ?`;

/** The writer thread's side (sqlite-writes.ts): the check and both inserts in one transaction of the single writer. */
export function sqliteIdentityOps(db: Database.Database) {
  const userOf = db.prepare(USER_OF);
  const userByName = db.prepare('SELECT 1 FROM users WHERE username = ?');
  const insertUser = db.prepare('INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)');
  const insertIdentity = db.prepare('INSERT INTO external_identities (issuer, subject, user_id, created_at) VALUES (?, ?, ?, ?)');
  return {
    createExternalUser(user: Omit<UserRecord, 'lastSeen'>, issuer: string, subject: string): UserRecord | 'username_taken' {
      const existing = userOf.get(issuer, subject) as UserRow | undefined;
      if (existing) return toUser(existing);
      if (userByName.get(user.username)) return 'username_taken';
      insertUser.run(user.id, user.username, user.displayName, user.passwordHash, user.createdAt);
      insertIdentity.run(issuer, subject, user.id, user.createdAt);
      return { ...user, lastSeen: null };
    },
  };
}

export class SqliteIdentities implements ExternalIdentities {
  private readonly userOfStmt;

  constructor(
    db: Database.Database,
    private readonly writer: SqliteWriter,
    private readonly hooked: (type: WebhookEventType) => boolean = () => false,
  ) {
    this.userOfStmt = db.prepare(USER_OF);
  }

  async userOf(issuer: string, subject: string): Promise<UserRecord | null> {
    const r = this.userOfStmt.get(issuer, subject) as UserRow | undefined;
    return r ? toUser(r) : null;
  }

  create(user: Omit<UserRecord, 'lastSeen'>, issuer: string, subject: string): Promise<UserRecord | 'username_taken'> {
    return this.writer.write('createExternalUser', user, issuer, subject, this.hooked('user.created'));
  }
}
