import type { WebhookEventType } from './webhook-outbox.js';
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import {
  BOT_PASSWORD_HASH,
  reportData,
  deletedUsername,
  prefixChars,
  toAdminUser,
  toReport,
  type AdminStore,
  type AdminUserRecord,
  type ReportCursor,
  type ReportRecord,
} from './admin-store.js';
import type { SqliteWriter } from './sqlite-writer.js';
import type { DeviceRecord, UserRecord } from './store.js';

type Row = Record<string, any>;

/** The operator's writes, run on the writer thread (merged into sqlite-writes.ts ops). */
export function sqliteAdminOps(db: Database.Database) {
  const s = {
    user: db.prepare('SELECT id, deleted_at FROM users WHERE id = ?'),
    bot: db.prepare('SELECT suspended FROM users WHERE id = ? AND bot = 1 AND deleted_at IS NULL'),
    userByName: db.prepare('SELECT 1 FROM users WHERE username = ?'),
    setSuspended: db.prepare('UPDATE users SET suspended = ? WHERE id = ?'),
    liveDevices: db.prepare('SELECT id FROM devices WHERE user_id = ? AND revoked_at IS NULL'),
    revokeAll: db.prepare('UPDATE devices SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL'),
    dropPushTargets: db.prepare('DELETE FROM push_targets WHERE user_id = ?'),
    // The profile goes with the account (PROTOCOL.md "Operators": the account is gone); the row stays for message ids.
    markDeleted: db.prepare(
      "UPDATE users SET deleted_at = ?, username = ?, suspended = 0, display_name = '', about = '', avatar = NULL, avatar_media_id = NULL, password_hash = '!' WHERE id = ?",
    ),
    // A deleted account's host-app identity signs in to nothing: the next sign-in makes a new user.
    dropIdentities: db.prepare('DELETE FROM external_identities WHERE user_id = ?'),
    insertBot: db.prepare('INSERT INTO users (id, username, display_name, password_hash, created_at, bot) VALUES (?, ?, ?, ?, ?, 1)'),
    insertDevice: db.prepare('INSERT INTO devices (id, user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)'),
    // A bot's new device is owed only what comes after it, like any new session.
    initCursors: db.prepare(
      `INSERT INTO device_cursors (device_id, chat_id, delivered_seq)
       SELECT ?, c.id, c.last_seq FROM chat_members cm JOIN chats c ON c.id = cm.chat_id WHERE cm.user_id = ?`,
    ),
    insertReport: db.prepare(
      'INSERT INTO reports (id, reporter_id, user_id, message_id, reason, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    // report.created for every webhook that wants it, in the report's transaction (reports are rare: no recording check).
    reportEvent: db.prepare(
      `INSERT INTO webhook_outbox (event_id, webhook_id, type, created_at, data, next_at)
       SELECT ?, id, 'report.created', ?, ?, ? FROM webhooks WHERE events LIKE '%,report.created,%'`,
    ),
  };
  const endSessions = (userId: string, at: number): string[] => {
    const ids = (s.liveDevices.all(userId) as Row[]).map((r) => r.id as string);
    s.revokeAll.run(at, userId);
    s.dropPushTargets.run(userId);
    return ids;
  };
  return {
    adminSetSuspended(userId: string, suspended: boolean, at: number): string[] | null {
      const u = s.user.get(userId) as Row | undefined;
      if (!u || u.deleted_at !== null) return null;
      s.setSuspended.run(suspended ? 1 : 0, userId);
      return suspended ? endSessions(userId, at) : [];
    },
    adminCreateBot(
      user: Omit<UserRecord, 'lastSeen' | 'passwordHash' | 'bot' | 'suspended'>,
      d: DeviceRecord & { tokenHash: string },
    ): UserRecord | 'username_taken' {
      if (s.userByName.get(user.username)) return 'username_taken';
      s.insertBot.run(user.id, user.username, user.displayName, BOT_PASSWORD_HASH, user.createdAt);
      // A new user is in no chat: no device cursors to start.
      s.insertDevice.run(d.id, d.userId, d.name, d.tokenHash, d.createdAt);
      return { ...user, passwordHash: BOT_PASSWORD_HASH, lastSeen: null, bot: true };
    },
    adminNewBotSession(userId: string, d: DeviceRecord & { tokenHash: string }, at: number): string[] | 'not_found' | 'suspended' {
      const bot = s.bot.get(userId) as Row | undefined;
      if (!bot) return 'not_found';
      if (bot.suspended) return 'suspended';
      const ended = endSessions(userId, at);
      s.insertDevice.run(d.id, userId, d.name, d.tokenHash, d.createdAt);
      s.initCursors.run(d.id, userId);
      return ended;
    },
    adminDeleteUser(userId: string, at: number): string[] | null {
      const u = s.user.get(userId) as Row | undefined;
      if (!u) return null;
      if (u.deleted_at !== null) return [];
      s.markDeleted.run(at, deletedUsername(userId), userId);
      s.dropIdentities.run(userId);
      return endSessions(userId, at);
    },
    adminCreateReport(r: ReportRecord): void {
      db.transaction(() => {
        s.insertReport.run(r.id, r.reporterId, r.userId, r.messageId, r.reason, r.note, r.createdAt);
        s.reportEvent.run(randomUUID(), r.createdAt, JSON.stringify(reportData(r)), r.createdAt);
      })();
    },
  };
}

/** SqliteStore's admin side: reads on the store's reading connection, writes on its writer thread. */
export class SqliteAdminStore implements AdminStore {
  private readonly s;

  constructor(
    db: Database.Database,
    private readonly writer: SqliteWriter,
    private readonly hooked: (type: WebhookEventType) => boolean = () => false,
  ) {
    this.s = {
      users: db.prepare(
        `SELECT id, username, display_name, created_at, suspended, bot FROM users
         WHERE deleted_at IS NULL AND substr(username, 1, ?) = ? AND username > ? ORDER BY username LIMIT ?`,
      ),
      deleted: db.prepare('SELECT 1 FROM users WHERE id = ? AND deleted_at IS NOT NULL'),
      undeleted: db.prepare(
        `SELECT id, chat_id FROM messages WHERE sender_id = ? AND kind = 'message' AND deleted = 0 ORDER BY sender_id, id LIMIT ?`,
      ),
      reports: db.prepare('SELECT * FROM reports WHERE (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?'),
    };
  }

  async listUsers(o: { prefix: string; after: string; limit: number }): Promise<AdminUserRecord[]> {
    return (this.s.users.all(prefixChars(o.prefix), o.prefix, o.after, o.limit) as Row[]).map(toAdminUser);
  }
  setSuspended(userId: string, suspended: boolean, at: number): Promise<string[] | null> {
    return this.writer.write('adminSetSuspended', userId, suspended, at);
  }
  createBot(
    user: Omit<UserRecord, 'lastSeen' | 'passwordHash' | 'bot' | 'suspended'>,
    device: DeviceRecord & { tokenHash: string },
  ): Promise<UserRecord | 'username_taken'> {
    return this.writer.write('adminCreateBot', user, device, this.hooked('user.created'));
  }
  newBotSession(userId: string, device: DeviceRecord & { tokenHash: string }, at: number): Promise<string[] | 'not_found' | 'suspended'> {
    return this.writer.write('adminNewBotSession', userId, device, at);
  }
  deleteUser(userId: string, at: number): Promise<string[] | null> {
    return this.writer.write('adminDeleteUser', userId, at);
  }
  async isDeleted(userId: string): Promise<boolean> {
    return this.s.deleted.get(userId) !== undefined;
  }
  async undeletedMessages(userId: string, limit: number): Promise<{ messageId: string; chatId: string }[]> {
    return (this.s.undeleted.all(userId, limit) as Row[]).map((r) => ({ messageId: r.id, chatId: r.chat_id }));
  }
  async createReport(report: ReportRecord): Promise<void> {
    await this.writer.write('adminCreateReport', report);
  }
  async listReports(o: { after?: ReportCursor; limit: number }): Promise<ReportRecord[]> {
    return (this.s.reports.all(o.after?.createdAt ?? -1, o.after?.id ?? '', o.limit) as Row[]).map(toReport);
  }
}
