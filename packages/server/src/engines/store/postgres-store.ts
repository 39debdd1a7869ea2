import type pg from 'pg';
import type { ReactionSummary } from '@switchboard/protocol';
import type {
  AppendRequest,
  AppendResult,
  ChangeRequest,
  ExpiredBatch,
  ChangeResult,
  ChatListPage,
  ChatSettingsPatch,
  LogEntry,
  ChatListRow,
  ChatRecord,
  CursorAdvance,
  DeliveredMove,
  DirectState,
  DeviceRecord,
  MemberRecord,
  Membership,
  MembershipRefusal,
  PendingChat,
  ReceiptCounts,
  ReceiptRow,
  MessageRef,
  Store,
  StoredMessage,
  UserRecord,
} from './store.js';
import {
  M_MESSAGE_COLS,
  MESSAGE_COLS,
  toChat,
  toEntry,
  toMember,
  toMessage,
  toUser,
  type ChatRow,
  type MemberRow,
  type UserRow,
} from './rows.js';
import { PostgresMediaIndex } from './postgres-media.js';
import { PostgresAdminStore } from './postgres-admin.js';
import { PostgresPeople } from './postgres-people.js';
import { PostgresE2ee } from './postgres-e2ee.js';
import { PostgresIdentities } from './postgres-identities.js';
import { applyChangePg, expireMessagesPg, mutedMembersPg, reactionsPg, setChatSettingsPg } from './postgres-lifecycle.js';
import { migratePostgres } from './postgres-migrations.js';
import { PostgresWebhookStore, recordEventPg, recordGroupPg, recordMessagePg } from './postgres-webhook-outbox.js';
import { userData } from './sqlite-webhook-outbox.js';
import { decodePushTarget, encodePushTarget, type PushTarget, type PushTargetRecord } from './push-targets.js';
import { openPools, READ_STATEMENT_TIMEOUT_MS } from './postgres-pools.js';
import { PgGroupCommit, type CommitStats, type LockKey, type Tx } from './postgres-group-commit.js';
import { PgAppends } from './postgres-appends.js';
import { PgCursors } from './postgres-cursors.js';
import { addMembersPg, createGroupPg, getMembershipPg, listChatsPg, removeMemberPg, type NewGroup } from './postgres-chats.js';

/**
 * LIKE patterns (one per lexeme the parser makes of the terms, $5) that a text, lowercased,
 * must match to hold words starting with them: a lexeme of the 'simple' configuration is a
 * lowercased token of the text, so it is a substring of the lowercased text, and the terms
 * are parsed as to_tsquery parses them ("snake_case" is "snake" then "case"). They let a
 * search skip to_tsvector for most rows; no lexeme at all leaves the tsquery to decide.
 */
const CONTAINS_LEXEMES = `SELECT COALESCE(array_agg('%' || replace(replace(replace(l, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'), '{}')
  FROM unnest($5::text[]) t, unnest(tsvector_to_array(to_tsvector('simple', t))) l`;

/** A tsquery in which every term must match a word by prefix. Terms arrive as letters and digits; quoting still keeps tsquery syntax out. */
export function prefixQuery(terms: string[]): string {
  return terms.map((t) => `'${t.replace(/['\\]/g, '')}':*`).join(' & ');
}

/**
 * The cluster-mode store: PostgreSQL, shared by every node.
 *
 * The hot writes are batched per node into set-based statements (arrays and UNNEST,
 * prepared once per connection), one round trip per batch:
 * - Appends: every send queued while the previous batch committed goes into one
 *   statement that skips duplicates, locks the chats' rows in id order (so two nodes'
 *   batches cannot deadlock), checks each chat's membership version, takes a run of
 *   seqs per chat from last_seq and inserts the messages. Seqs stay gap-free and
 *   strictly increasing per chat: last_seq moves under the row lock, and a rolled-back
 *   statement rolls its bump back too. append() resolves after the commit, which is
 *   durable (synchronous_commit on). Batches start at most every APPEND_INTERVAL_MS.
 * - Cursor moves (delivered and read acks): coalesced per device and per member, then
 *   one statement, on a pool whose sessions commit with synchronous_commit off: a
 *   cursor lost in a crash only means a message is delivered again, which the
 *   at-least-once contract allows. Batches start at most every CURSOR_INTERVAL_MS.
 * If a batch statement fails, it is tried once more when the failure is a race
 * (deadlock, serialization, a duplicate committed meanwhile on another node), and
 * otherwise each item is run alone, so one bad item fails only itself.
 *
 * Everything else (accounts, devices, membership changes) is rare and goes through a
 * general group commit: queued writes run in one transaction, sorted by LockKey; if
 * any fails, the batch re-runs with each write in its own savepoint.
 *
 * Where each part lives: postgres-pools.ts (connections), postgres-group-commit.ts,
 * postgres-appends.ts and postgres-cursors.ts (the batches; their statements in
 * postgres-batches.ts), postgres-chats.ts (the chat list and membership changes),
 * postgres-lifecycle.ts (edits, deletes, reactions, chat settings); this class holds
 * them together with accounts, devices, reads and push targets.
 *
 * Membership: every change locks the chat's row, applies its checks (admin, size cap,
 * last admin) with statements issued after the lock (so they see every change committed
 * before it) and bumps members_version. The append statement compares that version, read
 * under the same lock, with the one the node checked the sender against: the check and
 * the seq are one atomic step, whichever node changed the membership.
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  /** Transactions committed and writes in them, for metrics and benchmarks. */
  readonly commitStats: CommitStats = { commits: 0, writes: 0, isolatedRetries: 0, skippedLocks: 0 };
  /** The rarer writes (accounts, devices, membership): any statements, one transaction per batch. */
  private readonly writes: PgGroupCommit;
  private readonly appends: PgAppends;
  private readonly cursors: PgCursors;
  private readonly endPools: () => Promise<void>;
  readonly media: PostgresMediaIndex;
  readonly admin: PostgresAdminStore;
  readonly people: PostgresPeople;
  readonly identities: PostgresIdentities;
  readonly webhooks: PostgresWebhookStore;
  readonly e2ee: PostgresE2ee;

  constructor(connectionString: string) {
    const { pool, appendPool, cursorPool } = openPools(connectionString);
    this.pool = pool;
    this.endPools = async () => void (await Promise.all([pool.end(), appendPool.end(), cursorPool.end()]));
    this.media = new PostgresMediaIndex(this.pool);
    this.admin = new PostgresAdminStore(this.pool);
    this.people = new PostgresPeople(this.pool);
    this.identities = new PostgresIdentities(this.pool);
    this.webhooks = new PostgresWebhookStore(this.pool);
    this.writes = new PgGroupCommit(pool, this.commitStats);
    this.appends = new PgAppends(appendPool, pool, this.webhooks, this.commitStats);
    this.cursors = new PgCursors(cursorPool);
    this.e2ee = new PostgresE2ee(this.pool, (chatId, run) => this.write(['chat', chatId, 0, ''], run));
  }

  /** Connects and brings the schema up to date. */
  static async open(connectionString: string): Promise<PostgresStore> {
    const store = new PostgresStore(connectionString);
    try {
      const client = await store.pool.connect();
      try {
        await client.query('SET statement_timeout = 0');
        await migratePostgres(client);
        await client.query(`SET statement_timeout = ${READ_STATEMENT_TIMEOUT_MS}`);
      } finally {
        client.release();
      }
    } catch (err) {
      await store.endPools();
      throw err;
    }
    return store;
  }

  async close(): Promise<void> {
    await Promise.all([this.appends.drain(), this.cursors.drain(), this.writes.drain()]);
    await this.endPools();
  }

  /** Queues a write for the next batch transaction (postgres-group-commit.ts). */
  private write<T>(key: LockKey, run: (tx: Tx) => Promise<T>): Promise<T> {
    return this.writes.write(key, run);
  }

  // ---- users and devices ----

  async createUser(user: Omit<UserRecord, 'lastSeen'>): Promise<UserRecord | 'username_taken'> {
    return this.write(['user', user.id, 0, ''], async (tx) => {
      const { rowCount } = await tx.query(
        `INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (username) DO NOTHING`,
        [user.id, user.username, user.displayName, user.passwordHash, user.createdAt],
      );
      if (rowCount === 0) return 'username_taken' as const;
      if (this.webhooks.recording.has('user.created')) await recordEventPg(tx, 'user.created', userData(user), user.createdAt);
      return { ...user, lastSeen: null };
    });
  }

  async getUser(id: string): Promise<UserRecord | null> {
    // A deleted account is no user any more (its row stays for the ids its erased messages carry).
    const { rows } = await this.pool.query<UserRow>('SELECT * FROM users WHERE id = $1 AND deleted_at IS NULL', [id]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  async getUserByUsername(username: string): Promise<UserRecord | null> {
    const { rows } = await this.pool.query<UserRow>('SELECT * FROM users WHERE username = $1', [username]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  async missingUsers(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query<{ id: string }>('SELECT id FROM users WHERE id = ANY($1::text[]) AND deleted_at IS NULL', [ids]);
    const found = new Set(rows.map((r) => r.id));
    return ids.filter((id) => !found.has(id));
  }

  async setLastSeen(userId: string, at: number): Promise<void> {
    await this.write(['user', userId, 0, ''], (tx) =>
      tx.query('UPDATE users SET last_seen = GREATEST(COALESCE(last_seen, 0), $1) WHERE id = $2', [at, userId]),
    );
  }

  async setPasswordHash(userId: string, from: string, to: string): Promise<void> {
    await this.write(['user', userId, 0, ''], (tx) =>
      tx.query('UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3', [to, userId, from]),
    );
  }

  async createDevice(d: DeviceRecord & { tokenHash: string }): Promise<boolean> {
    return this.write(['device', d.id, 0, ''], async (tx) => {
      // FOR SHARE: a suspension (which takes the user's row FOR UPDATE, then ends the
      // sessions in a later statement) either commits first, and this sees it, or waits
      // for this commit and then ends this session too.
      const { rowCount } = await tx.query(
        `INSERT INTO devices (id, user_id, name, token_hash, created_at)
         SELECT $1, u.id, $3, $4, $5 FROM (SELECT id FROM users WHERE id = $2 AND NOT suspended AND deleted_at IS NULL FOR SHARE) u`,
        [d.id, d.userId, d.name, d.tokenHash, d.createdAt],
      );
      if (rowCount !== 1) return false;
      // A new device is owed only what comes after it: start its cursors at each chat's end.
      await tx.query(
        `INSERT INTO device_cursors (device_id, chat_id, delivered_seq)
         SELECT $1, c.id, c.last_seq FROM chat_members cm JOIN chats c ON c.id = cm.chat_id WHERE cm.user_id = $2`,
        [d.id, d.userId],
      );
      return true;
    });
  }

  async deviceByTokenHash(tokenHash: string): Promise<(DeviceRecord & { lastActiveAt: number | null; permanent?: boolean }) | null> {
    const { rows } = await this.pool.query<{
      id: string;
      user_id: string;
      name: string;
      created_at: number;
      last_active_at: number | null;
      bot: boolean;
    }>(
      `SELECT d.id, d.user_id, d.name, d.created_at, d.last_active_at, u.bot FROM devices d JOIN users u ON u.id = d.user_id
       WHERE d.token_hash = $1 AND d.revoked_at IS NULL AND NOT u.suspended AND u.deleted_at IS NULL`,
      [tokenHash],
    );
    const r = rows[0];
    if (!r) return null;
    const d = { id: r.id, userId: r.user_id, name: r.name, createdAt: r.created_at, lastActiveAt: r.last_active_at };
    return r.bot ? { ...d, permanent: true } : d;
  }

  async revokeDevice(deviceId: string, at: number): Promise<void> {
    await this.write(['device', deviceId, 0, ''], async (tx) => {
      await tx.query('UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, deviceId]);
      await tx.query('DELETE FROM push_targets WHERE device_id = $1', [deviceId]);
    });
  }

  async listDevices(userId: string, limit: number): Promise<(DeviceRecord & { lastActiveAt: number | null })[]> {
    const { rows } = await this.pool.query<{
      id: string;
      user_id: string;
      name: string;
      created_at: number;
      last_active_at: number | null;
    }>(
      'SELECT id, user_id, name, created_at, last_active_at FROM devices WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id LIMIT $2',
      [userId, limit],
    );
    return rows.map((r) => ({ id: r.id, userId: r.user_id, name: r.name, createdAt: r.created_at, lastActiveAt: r.last_active_at }));
  }

  async revokeUserDevice(userId: string, deviceId: string, at: number): Promise<boolean> {
    return this.write(['device', deviceId, 0, ''], async (tx) => {
      const { rowCount } = await tx.query('UPDATE devices SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL', [
        at,
        deviceId,
        userId,
      ]);
      // A revoked session's push credentials go with it, as on logout.
      if (rowCount === 1) await tx.query('DELETE FROM push_targets WHERE device_id = $1', [deviceId]);
      return rowCount === 1;
    });
  }

  async touchDevice(deviceId: string, at: number): Promise<void> {
    await this.write(['device', deviceId, 0, ''], (tx) =>
      tx.query('UPDATE devices SET last_active_at = $1 WHERE id = $2 AND COALESCE(last_active_at, 0) < $1', [at, deviceId]),
    );
  }

  // ---- chats and members ----

  async getChat(chatId: string): Promise<ChatRecord | null> {
    const { rows } = await this.pool.query<ChatRow>('SELECT * FROM chats WHERE id = $1', [chatId]);
    return rows[0] ? toChat(rows[0]) : null;
  }

  async getMember(chatId: string, userId: string): Promise<MemberRecord | null> {
    const { rows } = await this.pool.query<MemberRow>('SELECT * FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, userId]);
    return rows[0] ? toMember(rows[0]) : null;
  }

  async getMembers(chatId: string): Promise<MemberRecord[]> {
    const { rows } = await this.pool.query<MemberRow>('SELECT * FROM chat_members WHERE chat_id = $1 ORDER BY joined_at, user_id', [
      chatId,
    ]);
    return rows.map(toMember);
  }
  async listChats(userId: string, page?: ChatListPage): Promise<ChatListRow[]> {
    return listChatsPg(this.pool, userId, page);
  }

  async shareAChat(a: string, b: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'SELECT 1 FROM chat_members x JOIN chat_members y ON x.chat_id = y.chat_id WHERE x.user_id = $1 AND y.user_id = $2 LIMIT 1',
      [a, b],
    );
    return (rowCount ?? 0) > 0;
  }
  async directState(chatId: string, userId: string, otherId: string): Promise<DirectState> {
    const { rows } = await this.pool.query<{ deleted: boolean; blocked: boolean; encrypted: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM users WHERE id = $3 AND deleted_at IS NOT NULL) AS deleted,
         EXISTS (SELECT 1 FROM blocks WHERE user_id = $3 AND blocked_id = $2) AS blocked,
         COALESCE((SELECT encrypted FROM chats WHERE id = $1), false) AS encrypted`,
      [chatId, userId, otherId],
    );
    const r = rows[0]!;
    return { otherDeleted: r.deleted === true, blocked: r.blocked === true, encrypted: r.encrypted === true };
  }
  async createGroup(g: NewGroup) {
    const hook = this.webhooks.recording.has('group.updated');
    await this.write(['chat', g.chatId, 0, ''], (tx) => createGroupPg(tx, g, hook));
  }

  async getMembership(chatId: string): Promise<Membership | null> {
    return getMembershipPg(this.pool, chatId);
  }

  async addMembers(chatId: string, actorId: string, userIds: string[], at: number, maxMembers: number) {
    const unique = [...new Set(userIds)];
    return this.write(['chat', chatId, 0, ''], (tx): Promise<{ added: string[] } | MembershipRefusal> =>
      addMembersPg(tx, chatId, actorId, unique, at, maxMembers, this.webhooks.recording.has('group.updated')),
    );
  }

  async removeMember(chatId: string, actorId: string, userId: string) {
    return this.write(['chat', chatId, 0, ''], (tx) =>
      removeMemberPg(tx, chatId, actorId, userId, this.webhooks.recording.has('group.updated')),
    );
  }

  async renameGroup(chatId: string, name: string): Promise<void> {
    await this.write(['chat', chatId, 0, ''], async (tx) => {
      await tx.query('UPDATE chats SET name = $1 WHERE id = $2', [name, chatId]);
      if (this.webhooks.recording.has('group.updated')) await recordGroupPg(tx, chatId, Date.now());
    });
  }

  // ---- messages ----
  async append(requests: AppendRequest[]): Promise<AppendResult[]> {
    return this.appends.append(requests);
  }

  async getMessage(messageId: string): Promise<LogEntry | null> {
    return (await this.getMessages([messageId]))[0] ?? null;
  }

  async getMessages(messageIds: string[]): Promise<LogEntry[]> {
    const ids = [...new Set(messageIds)];
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query(`SELECT ${M_MESSAGE_COLS} FROM messages m WHERE m.id = ANY($1::text[])`, [ids]);
    const byId = new Map(rows.map(toEntry).map((m) => [m.message_id, m]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async history(chatId: string, opts: { after?: number; before?: number; limit: number; minSeq: number }): Promise<StoredMessage[]> {
    const upper = opts.before ?? Number.MAX_SAFE_INTEGER;
    if (opts.after !== undefined) {
      return this.messages(
        `SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = $1 AND seq > $2 AND seq < $3 AND kind = 'message' ORDER BY seq ASC LIMIT $4`,
        [chatId, Math.max(opts.after, opts.minSeq), upper, opts.limit],
      );
    }
    return this.messages(
      `SELECT * FROM (SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = $1 AND seq > $2 AND seq < $3 AND kind = 'message'
         ORDER BY seq DESC LIMIT $4) page ORDER BY seq ASC`,
      [chatId, opts.minSeq, upper, opts.limit],
    );
  }

  async range(chatId: string, afterSeq: number, uptoSeq: number, limit: number): Promise<LogEntry[]> {
    const { rows } = await this.pool.query(
      `SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq ASC LIMIT $4`,
      [chatId, afterSeq, uptoSeq, limit],
    );
    return rows.map(toEntry);
  }

  // ---- message lifecycle (postgres-lifecycle.ts) ----

  async applyChange(request: ChangeRequest): Promise<ChangeResult> {
    return this.write(['chat', request.chatId, 0, ''], async (tx) => {
      const result = await applyChangePg(tx, request);
      if (result.entry && !result.duplicate && this.webhooks.recording.has('message.updated'))
        await recordMessagePg(tx, 'message.updated', request.targetId, request.createdAt);
      return result;
    });
  }

  /**
   * Retention's batch, in a transaction of its own on the shared pool (not the group
   * commit's): its row locks are on old messages no send touches.
   */
  async expireMessages(before: number, limit: number): Promise<ExpiredBatch | null> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const out = await expireMessagesPg(client, before, limit);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      // A connection whose ROLLBACK failed goes out of the pool rather than back with a transaction open.
      await client.query('ROLLBACK').catch((e: unknown) => (broken = e instanceof Error ? e : new Error(String(e))));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async reactions(messageIds: string[]): Promise<Map<string, ReactionSummary[]>> {
    return reactionsPg(this.pool, messageIds);
  }

  async setChatSettings(userId: string, chatId: string, patch: ChatSettingsPatch, maxPinned: number) {
    return this.write(['user', userId, 0, ''], (tx) => setChatSettingsPg(tx, userId, chatId, patch, maxPinned));
  }

  async mutedMembers(chatId: string, userIds: string[], at: number): Promise<string[]> {
    return mutedMembersPg(this.pool, chatId, userIds, at);
  }

  async latestBySender(chatId: string, afterSeq: number, uptoSeq: number, exceptUser: string): Promise<StoredMessage[]> {
    return this.messages(
      `SELECT * FROM (
         SELECT DISTINCT ON (sender_id) ${MESSAGE_COLS} FROM messages
         WHERE chat_id = $1 AND seq > $2 AND seq <= $3 AND sender_id <> $4 AND kind = 'message' ORDER BY sender_id, seq DESC) latest
       ORDER BY seq ASC`,
      [chatId, afterSeq, uptoSeq, exceptUser],
    );
  }

  async deviceCursor(deviceId: string, chatId: string): Promise<number> {
    // The greater of its device_cursors row and its member row's, when it rides there (postgres-batches.ts CURSOR_SQL).
    const { rows } = await this.pool.query<{ delivered_seq: number }>(
      `SELECT GREATEST(
         (SELECT delivered_seq FROM device_cursors WHERE device_id = $1 AND chat_id = $2),
         (SELECT cm.cursor_device_seq FROM devices d JOIN chat_members cm ON cm.chat_id = $2 AND cm.user_id = d.user_id
          WHERE d.id = $1 AND cm.cursor_device = $1)) AS delivered_seq`,
      [deviceId, chatId],
    );
    return rows[0]?.delivered_seq ?? 0;
  }

  async pendingChats(deviceId: string, userId: string): Promise<PendingChat[]> {
    const { rows } = await this.pool.query<{ chat_id: string; after_seq: number; last_seq: number }>(
      `SELECT chat_id, after_seq, last_seq FROM (
         SELECT c.id AS chat_id, GREATEST(cm.joined_seq, dc.delivered_seq, CASE WHEN cm.cursor_device = $1 THEN cm.cursor_device_seq END) AS after_seq,
           c.last_seq, c.last_at
         FROM chat_members cm
         JOIN chats c ON c.id = cm.chat_id
         LEFT JOIN device_cursors dc ON dc.device_id = $1 AND dc.chat_id = cm.chat_id
         WHERE cm.user_id = $2) owed
       WHERE last_seq > after_seq ORDER BY last_at ASC, chat_id`,
      [deviceId, userId],
    );
    return rows.map((r) => ({ chatId: r.chat_id, afterSeq: r.after_seq, lastSeq: r.last_seq }));
  }

  private async messages(text: string, values: unknown[]): Promise<StoredMessage[]> {
    return (await this.pool.query<StoredMessage>(text, values)).rows.map(toMessage);
  }

  // ---- cursors and receipts ----
  async advanceDelivered(deviceId: string, userId: string, chatId: string, seq: number, at: number): Promise<CursorAdvance> {
    return this.cursors.advanceDelivered(deviceId, userId, chatId, seq, at);
  }

  /** Each move joins the cursor batcher, which writes them in one statement anyway. */
  async advanceDeliveredMany(chatId: string, moves: DeliveredMove[], at: number): Promise<CursorAdvance[]> {
    return Promise.all(moves.map((m) => this.cursors.advanceDelivered(m.deviceId, m.userId, chatId, m.seq, at)));
  }

  async advanceRead(deviceId: string, userId: string, chatId: string, seq: number, at: number) {
    return this.cursors.advanceRead(deviceId, userId, chatId, seq, at);
  }

  async advanceReadMany(chatId: string, moves: DeliveredMove[], at: number) {
    return Promise.all(moves.map((m) => this.cursors.advanceRead(m.deviceId, m.userId, chatId, m.seq, at)));
  }

  async receipts(message: StoredMessage): Promise<ReceiptRow[]> {
    // The first mark at or above the message's seq: marks only move forward, so it is in
    // the earliest place holding any: a receipt_marks row (one mark, or a list of them
    // keyed by its last), else the member row's list not yet moved there (migration 16).
    // A delivery noted by a read at the same moment has only the read mark (CURSOR_SQL), and
    // delivery never comes after reading: delivered is the earlier of the two first marks.
    const inList = (list: string) =>
      `(SELECT ${list}[2 * i] FROM generate_series(1, cardinality(${list}) / 2) i WHERE ${list}[2 * i - 1] >= $2 ORDER BY i LIMIT 1)`;
    const firstMark = (kind: number, pending: string) =>
      `COALESCE((SELECT CASE WHEN r.marks IS NULL THEN r.at ELSE ${inList('r.marks')} END
        FROM receipt_marks r WHERE r.chat_id = cm.chat_id AND r.user_id = cm.user_id AND r.kind = ${kind} AND r.seq >= $2
        ORDER BY r.seq ASC LIMIT 1), ${inList(`cm.${pending}`)})`;
    const { rows } = await this.pool.query<{ user_id: string; delivered_at: number | null; read_at: number | null }>(
      `SELECT cm.user_id,
         CASE WHEN cm.delivered_seq >= $2 THEN LEAST(${firstMark(0, 'delivered_marks')}, ${firstMark(1, 'read_marks')}) END AS delivered_at,
         CASE WHEN cm.read_seq >= $2 THEN ${firstMark(1, 'read_marks')} END AS read_at
       FROM chat_members cm
       WHERE cm.chat_id = $1 AND cm.user_id <> $3 AND cm.joined_seq < $2
       ORDER BY cm.joined_at, cm.user_id`,
      [message.chat_id, message.seq, message.sender_id],
    );
    return rows.map((r) => ({ userId: r.user_id, deliveredAt: r.delivered_at, readAt: r.read_at }));
  }

  async receiptCounts(chatId: string, messages: Pick<MessageRef, 'seq' | 'sender_id'>[]): Promise<ReceiptCounts[]> {
    if (messages.length === 0) return [];
    // One pass over the chat's member rows (its primary-key range) for all the messages.
    const { rows } = await this.pool.query<{ i: number; delivered: string; read: string; members: string }>(
      `SELECT m.i, count(cm.user_id) AS members,
         count(cm.user_id) FILTER (WHERE cm.delivered_seq >= m.seq) AS delivered,
         count(cm.user_id) FILTER (WHERE cm.read_seq >= m.seq) AS read
       FROM unnest($2::bigint[], $3::text[]) WITH ORDINALITY AS m(seq, sender_id, i)
       LEFT JOIN chat_members cm ON cm.chat_id = $1 AND cm.user_id <> m.sender_id AND cm.joined_seq < m.seq
       GROUP BY m.i ORDER BY m.i`,
      [chatId, messages.map((m) => m.seq), messages.map((m) => m.sender_id)],
    );
    return rows.map((r) => ({ delivered: Number(r.delivered), read: Number(r.read), members: Number(r.members) }));
  }

  // ---- search ----

  async search(userId: string, terms: string[], opts: { chatId?: string; limit: number }): Promise<StoredMessage[]> {
    if (terms.length === 0) return [];
    // The tsquery text is a parameter, never SQL; prefixQuery keeps it to quoted prefix terms.
    // Chat by chat (LATERAL): each of the caller's chats is searched through its own
    // (chat_id, seq) index range, newest first, at most `limit` rows each, so the cost
    // follows the caller's chats, never every user's matches (and the read pool's
    // statement_timeout bounds it). The tsvector is computed here, not stored with every
    // message (migration 20): a row is parsed only when its lowercased text holds every
    // lexeme of the terms, which the cheap LIKE ALL checks first (the planner runs the
    // costlier qual last).
    return this.messages(
      `SELECT hit.* FROM chat_members cm
       CROSS JOIN LATERAL (
         SELECT ${M_MESSAGE_COLS} FROM messages m
         WHERE m.chat_id = cm.chat_id AND m.seq > cm.joined_seq AND m.kind = 'message'
           AND lower(m.content) LIKE ALL ((${CONTAINS_LEXEMES})::text[])
           AND to_tsvector('simple', m.content) @@ to_tsquery('simple', $2)
         ORDER BY m.seq DESC LIMIT $4) hit
       WHERE cm.user_id = $1 AND ($3::text IS NULL OR cm.chat_id = $3)
       ORDER BY hit.created_at DESC, hit.chat_id, hit.seq DESC LIMIT $4`,
      [userId, prefixQuery(terms), opts.chatId ?? null, opts.limit, terms],
    );
  }

  // ---- push targets ----

  async setPushTarget(deviceId: string, userId: string, target: PushTarget): Promise<void> {
    const { provider, data } = encodePushTarget(target);
    await this.write(['device', deviceId, 0, ''], (tx) =>
      tx.query(
        `INSERT INTO push_targets (device_id, user_id, provider, data) SELECT id, user_id, $3, $4 FROM devices
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
         ON CONFLICT (device_id) DO UPDATE SET provider = EXCLUDED.provider, data = EXCLUDED.data`,
        [deviceId, userId, provider, data],
      ),
    );
  }

  async deletePushTarget(deviceId: string, only?: PushTarget): Promise<void> {
    const enc = only ? encodePushTarget(only) : null;
    await this.write(['device', deviceId, 0, ''], (tx) =>
      enc
        ? tx.query('DELETE FROM push_targets WHERE device_id = $1 AND provider = $2 AND data = $3', [deviceId, enc.provider, enc.data])
        : tx.query('DELETE FROM push_targets WHERE device_id = $1', [deviceId]),
    );
  }

  async pushTargets(userIds: string[]): Promise<PushTargetRecord[]> {
    if (userIds.length === 0) return [];
    const { rows } = await this.pool.query<{ device_id: string; user_id: string; provider: string; data: string }>(
      `SELECT p.device_id, p.user_id, p.provider, p.data FROM push_targets p JOIN devices d ON d.id = p.device_id
       WHERE d.revoked_at IS NULL AND p.user_id = ANY($1::text[])`,
      [userIds],
    );
    const out: PushTargetRecord[] = [];
    for (const r of rows) {
      const target = decodePushTarget(r.provider, r.data);
      if (target) out.push({ deviceId: r.device_id, userId: r.user_id, target });
    }
    return out;
  }
}
