import { CloseCode, parseChatId, type AdminUserView, type ReportView } from '@switchboard/protocol';
import { reportData, type AdminUserRecord, type ReportCursor, type ReportRecord } from '../engines/store/admin-store.js';
import type { Store } from '../engines/store/store.js';
import type { Logger } from '../util/logger.js';
import type { Snowflake } from '../util/snowflake.js';
import type { Delivery } from './delivery.js';
import { DomainError } from './errors.js';
import type { Groups } from './groups.js';
import type { MessageChanges } from './message-changes.js';
import { hashToken, newToken } from './passwords.js';

export interface OperatorsDeps {
  store: Store;
  ids: Snowflake;
  now: () => number;
  delivery: Pick<Delivery, 'closeDevice'>;
  groups: Pick<Groups, 'removeMember'>;
  changes: Pick<MessageChanges, 'operatorDelete'>;
  log: Logger;
}

/** A deleted account's messages are erased this many at a time (one read, then one delete each), so memory stays bounded. */
export const ERASE_BATCH = 100;

/** Opaque page cursors: base64url JSON, checked when read back (a bad one is a 400, never a store error). */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
export function decodeCursor<T>(raw: string, valid: (v: unknown) => v is T): T {
  try {
    const v: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (valid(v)) return v;
  } catch {
    /* answered below */
  }
  throw new DomainError('invalid_request', 'after: not a cursor this server gave');
}

const isUserCursor = (v: unknown): v is { u: string } => typeof (v as { u?: unknown })?.u === 'string';
const isReportCursor = (v: unknown): v is { t: number; i: string } =>
  typeof (v as { t?: unknown })?.t === 'number' && typeof (v as { i?: unknown })?.i === 'string';

const adminUserView = (u: AdminUserRecord): AdminUserView => ({
  user_id: u.id,
  username: u.username,
  display_name: u.displayName,
  created_at: u.createdAt,
  suspended: u.suspended,
});

export const reportView = (r: ReportRecord): ReportView => reportData(r);

/**
 * The operator's calls (PROTOCOL.md "Operators"): the gateway checked ADMIN_TOKEN before
 * any of these runs.
 */
export class Operators {
  constructor(private readonly deps: OperatorsDeps) {}

  async users(q: { prefix: string; after?: string; limit: number }): Promise<{ users: AdminUserView[]; next_cursor: string | null }> {
    const after = q.after ? decodeCursor(q.after, isUserCursor).u : '';
    const rows = await this.deps.store.admin.listUsers({ prefix: q.prefix, after, limit: q.limit + 1 });
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return { users: page.map(adminUserView), next_cursor: rows.length > q.limit && last ? encodeCursor({ u: last.username }) : null };
  }

  async reports(q: { after?: string; limit: number }): Promise<{ reports: ReportView[]; next_cursor: string | null }> {
    const c = q.after ? decodeCursor(q.after, isReportCursor) : undefined;
    const after: ReportCursor | undefined = c ? { createdAt: c.t, id: c.i } : undefined;
    const rows = await this.deps.store.admin.listReports({ after, limit: q.limit + 1 });
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      reports: page.map(reportView),
      next_cursor: rows.length > q.limit && last ? encodeCursor({ t: last.createdAt, i: last.id }) : null,
    };
  }

  /**
   * Suspension ends every session of the user (so its tokens stay dead after an unsuspend:
   * it logs in again) and closes their sockets on every node with 4100; while suspended,
   * the store refuses its tokens too, so a login racing the suspension gets nothing.
   */
  async suspend(userId: string): Promise<void> {
    const ended = await this.deps.store.admin.setSuspended(userId, true, this.deps.now());
    if (ended === null) throw new DomainError('not_found', 'no such user');
    await this.closeAll(userId, ended, 'account suspended');
  }

  async unsuspend(userId: string): Promise<void> {
    if ((await this.deps.store.admin.setSuspended(userId, false, this.deps.now())) === null)
      throw new DomainError('not_found', 'no such user');
  }

  /**
   * Deletes the account: its sessions (and push targets) end at once, it leaves every group
   * (members get group_update member_removed), and every message it sent is erased as by
   * delete for everyone, ERASE_BATCH at a time, each with its message_update. The username
   * is free again. A repeat (e.g. after a crash half way) finishes the erasure.
   */
  async deleteUser(userId: string): Promise<void> {
    const { store, log } = this.deps;
    const ended = await store.admin.deleteUser(userId, this.deps.now());
    if (ended === null) throw new DomainError('not_found', 'no such user');
    await this.closeAll(userId, ended, 'account deleted');
    for (const row of await store.listChats(userId)) {
      const parsed = parseChatId(row.chat.id);
      if (row.chat.kind !== 'group' || parsed?.kind !== 'group') continue;
      await this.deps.groups.removeMember(userId, parsed.groupId, userId).catch((err: unknown) => {
        if (!(err instanceof DomainError && err.code === 'not_found')) throw err;
      });
    }
    const tried = new Set<string>();
    for (;;) {
      const batch = await store.admin.undeletedMessages(userId, ERASE_BATCH);
      if (batch.length === 0) break;
      let progressed = false;
      for (const m of batch) {
        // A message met again after a delete that said "done" would only loop: count it once.
        if (tried.has(m.messageId)) continue;
        tried.add(m.messageId);
        progressed = (await this.deps.changes.operatorDelete(m.messageId)) || progressed;
      }
      if (!progressed) {
        // Nothing would change on another pass: stop rather than spin (logged for the operator).
        log.error({ user_id: userId, left: batch.length }, 'erasing a deleted account stopped: messages could not be deleted');
        break;
      }
    }
  }

  async deleteMessage(messageId: string): Promise<void> {
    if (!(await this.deps.changes.operatorDelete(messageId))) throw new DomainError('not_found', 'no such message');
  }

  /** A bot user and its token, which neither idles out nor counts against the device cap (it never logs in). */
  async createBot(input: { username: string; display_name?: string }): Promise<{ user_id: string; token: string }> {
    const { ids, now } = this.deps;
    const userId = ids.next();
    const token = newToken();
    const created = await this.deps.store.admin.createBot(
      { id: userId, username: input.username, displayName: input.display_name ?? input.username, createdAt: now() },
      { id: ids.next(), userId, name: 'bot', createdAt: now(), tokenHash: hashToken(token) },
    );
    if (created === 'username_taken') throw new DomainError('username_taken', 'that username is taken');
    return { user_id: userId, token };
  }

  /**
   * A new token for a bot, which ends its old one (sockets closed with 4100): how a bot
   * comes back after a suspension (which ended its token, as anyone's), or how a leaked
   * token is replaced. Refused while the bot is suspended; 404 for anyone who is no bot.
   */
  async newBotToken(userId: string): Promise<{ user_id: string; token: string }> {
    const { ids, now } = this.deps;
    const token = newToken();
    const out = await this.deps.store.admin.newBotSession(
      userId,
      { id: ids.next(), userId, name: 'bot', createdAt: now(), tokenHash: hashToken(token) },
      now(),
    );
    if (out === 'not_found') throw new DomainError('not_found', 'no such bot');
    if (out === 'suspended') throw new DomainError('suspended', 'this bot is suspended: unsuspend it first');
    await this.closeAll(userId, out, 'bot token replaced');
    return { user_id: userId, token };
  }

  private async closeAll(userId: string, deviceIds: string[], reason: string): Promise<void> {
    for (const id of deviceIds) {
      await this.deps.delivery
        .closeDevice(userId, id, CloseCode.sessionRevoked, reason)
        .catch((err: unknown) => this.deps.log.warn({ err, device_id: id }, 'closing an ended session failed'));
    }
  }
}
