import type { ReportView } from '@switchboard/protocol';
import type { DeviceRecord, UserRecord } from './store.js';

/*
 * The store's operator side (PROTOCOL.md "Operators", and reports from "People"):
 * SqliteAdminStore and PostgresAdminStore, one contract (test/admin.test.ts runs both
 * through a real server).
 */

export interface AdminUserRecord {
  id: string;
  username: string;
  displayName: string;
  createdAt: number;
  suspended: boolean;
  bot: boolean;
}

export type ReportReason = 'spam' | 'abuse' | 'other';

export interface ReportRecord {
  id: string;
  reporterId: string;
  userId: string;
  messageId: string | null;
  reason: ReportReason;
  note: string | null;
  createdAt: number;
}

/** A report as the API shows it: the operator's listing and the `report.created` webhook event. */
export function reportData(r: ReportRecord): ReportView {
  return {
    report_id: r.id,
    reporter_id: r.reporterId,
    user_id: r.userId,
    message_id: r.messageId,
    reason: r.reason,
    note: r.note,
    created_at: r.createdAt,
  };
}

/** Where a report listing resumes: after this (created_at, id). */
export interface ReportCursor {
  createdAt: number;
  id: string;
}

/** A deleted account's username: ':' is no username character, so it frees the name and can never be taken. */
export const deletedUsername = (userId: string): string => `deleted:${userId}`;

/** What a bot's password_hash holds: no scrypt hash, so no password ever verifies. */
export const BOT_PASSWORD_HASH = 'bot';

export interface AdminStore {
  /** Accounts (not deleted) by username, ascending: those starting with `prefix`, after `after`, at most `limit`. */
  listUsers(opts: { prefix: string; after: string; limit: number }): Promise<AdminUserRecord[]>;
  /**
   * Suspends (and revokes every live session of) or unsuspends the user. Answers the
   * sessions it ended (their sockets are the caller's to close); null: no such user.
   */
  setSuspended(userId: string, suspended: boolean, at: number): Promise<string[] | null>;
  /** A bot user and its one session, together. */
  createBot(
    user: Omit<UserRecord, 'lastSeen' | 'passwordHash' | 'bot' | 'suspended'>,
    device: DeviceRecord & { tokenHash: string },
  ): Promise<UserRecord | 'username_taken'>;
  /**
   * A new token for a bot (its old sessions end: a bot has one token at a time). Answers
   * the sessions it ended; 'not_found' for a user that is no bot (or deleted), 'suspended'
   * while the bot is suspended (nothing changes).
   */
  newBotSession(userId: string, device: DeviceRecord & { tokenHash: string }, at: number): Promise<string[] | 'not_found' | 'suspended'>;
  /**
   * Deletes the account: marks it deleted (getUser no longer finds it), frees its username,
   * ends its sessions and push targets. Answers the sessions it ended ([] when it was
   * already deleted: callers go on erasing); null: no such user, ever.
   */
  deleteUser(userId: string, at: number): Promise<string[] | null>;
  /** True when the user was deleted by an operator. */
  isDeleted(userId: string): Promise<boolean>;
  /** At most `limit` messages the user sent that are not deleted yet (a deleted account's erasure works through them). */
  undeletedMessages(userId: string, limit: number): Promise<{ messageId: string; chatId: string }[]>;
  createReport(report: ReportRecord): Promise<void>;
  /** Reports oldest first, after the cursor, at most `limit`. */
  listReports(opts: { after?: ReportCursor; limit: number }): Promise<ReportRecord[]>;
}

type Row = Record<string, any>;

export const toAdminUser = (r: Row): AdminUserRecord => ({
  id: r.id,
  username: r.username,
  displayName: r.display_name,
  createdAt: Number(r.created_at),
  suspended: Boolean(r.suspended),
  bot: Boolean(r.bot),
});

export const toReport = (r: Row): ReportRecord => ({
  id: r.id,
  reporterId: r.reporter_id,
  userId: r.user_id,
  messageId: r.message_id ?? null,
  reason: r.reason,
  note: r.note ?? null,
  createdAt: Number(r.created_at),
});

/** A prefix's length as both stores' substr() counts it: in code points. */
export const prefixChars = (prefix: string): number => [...prefix].length;
