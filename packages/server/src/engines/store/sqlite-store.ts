import path from 'node:path';
import Database from 'better-sqlite3';
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
  Role,
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
import { SqliteMediaIndex } from './sqlite-media.js';
import { SqliteAdminStore } from './sqlite-admin.js';
import { SqlitePeople } from './sqlite-people.js';
import { SqliteE2ee } from './sqlite-e2ee.js';
import { SqliteIdentities } from './sqlite-identities.js';
import { SqliteWebhookStore } from './sqlite-webhook-outbox.js';
import type { WebhookEventType } from './webhook-outbox.js';
import { sqliteLifecycleReads } from './sqlite-lifecycle.js';
import { sqliteMigrations } from './sqlite-migrations.js';
import { AUTOCHECKPOINT_PAGES, SqliteCheckpointer } from './sqlite-checkpointer.js';
import { SqliteWriter } from './sqlite-writer.js';
import { prepareSearchFile } from './sqlite-search-file.js';
import { SqliteSearchIndex, type SearchLog } from './sqlite-search-index.js';
import { DIRECT_STATE_SQL } from './sqlite-writes.js';
import { privateDir, privateFile, tightenFiles } from './private-files.js';
import { decodePushTarget, type PushTarget, type PushTargetRecord } from './push-targets.js';

type Row = Record<string, any>;

/**
 * How often at most applied search changes are dropped (ms): a background write each time,
 * so one per many indexer passes. Dropping them through the writer rather than from the
 * indexer's thread keeps the store's file to one writer; keeping them until the search
 * file's changes_upto has passed them (committed there with synchronous=FULL) means a crash
 * of either side never loses one that is not applied.
 */
const SEARCH_CHANGES_DROP_MS = 1000;

const consoleLog: SearchLog = {
  warn: (obj, msg) => console.warn(msg, obj),
  error: (obj, msg) => console.error(msg, obj),
};

/** Chats named in one search statement. */
const SEARCH_CHATS_PER_QUERY = 200;

/** The search index's file, beside the store's (sqlite-search-file.ts). */
export const SEARCH_FILE = 'search.db';

const userOrNull = (r: Row | undefined): UserRecord | null => (r ? toUser(r as UserRow) : null);
const chatOrNull = (r: Row | undefined): ChatRecord | null => (r ? toChat(r as ChatRow) : null);
/** A message row (or none) in the protocol's shape. */
const optionalMessage = (r: unknown): StoredMessage | null => (r ? toMessage(r) : null);
const optionalEntry = (r: unknown): LogEntry | null => (r ? toEntry(r) : null);
const memberOrNull = (r: Row | undefined): MemberRecord | null => (r ? toMember(r as MemberRow) : null);

/**
 * The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a commit
 * is on disk before append() resolves. Writes go to the writer thread (sqlite-writer.ts),
 * which commits them in batches (group commit: every write that arrived while the
 * previous commit ran shares the next transaction) beside the event loop; a failing
 * write fails alone. Reads run here, at once, on this thread's own connection, against
 * committed data.
 */
/** Retention's entries per slice: what a send sharing the slice's commit waits for (about 40 µs each). */
const RETENTION_SLICE = 16;

export class SqliteStore implements Store {
  /** The reading connection (it also applies migrations at start-up, before the writer opens). */
  private readonly db: Database.Database;
  private readonly writer: SqliteWriter;
  private readonly stmts;
  private readonly searchIndex: SqliteSearchIndex;
  /** Search changes applied by the indexer (its latest report), and those dropped from the store. */
  private searchChangesApplied = 0;
  private searchChangesDropped = 0;
  private dropTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly checkpointer: SqliteCheckpointer;
  private closed = false;
  readonly media: SqliteMediaIndex;
  readonly admin: SqliteAdminStore;
  readonly people: SqlitePeople;
  readonly identities: SqliteIdentities;
  readonly webhooks: SqliteWebhookStore;
  readonly e2ee: SqliteE2ee;
  private readonly lifecycle: ReturnType<typeof sqliteLifecycleReads>;

  /** `log` hears the search indexer's failures (the console's when none is given). */
  constructor(dataDir: string, log: SearchLog = consoleLog) {
    privateDir(dataDir);
    const file = path.join(dataDir, 'switchboard.db');
    privateFile(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    tightenFiles([`${file}-wal`, `${file}-shm`]);
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    // The search index's own file (sqlite-search-file.ts), attached so that search joins it with messages and members.
    const searchFile = path.join(dataDir, SEARCH_FILE);
    prepareSearchFile(searchFile, this.db);
    this.db.prepare('ATTACH DATABASE ? AS search').run(searchFile);
    // From here on this connection only reads: every write goes through the writer thread (or the search indexer's).
    this.db.pragma('query_only = ON');
    this.stmts = this.prepare();
    this.lifecycle = sqliteLifecycleReads(this.db);
    this.writer = new SqliteWriter(file);
    this.searchIndex = new SqliteSearchIndex(
      searchFile,
      file,
      (upto) => this.searchChangesAppliedUpto(upto),
      log,
      () => {
        // A new file in the old one's place: this connection lets go of the old one (search reads the new one).
        this.db.exec('DETACH DATABASE search');
        try {
          prepareSearchFile(searchFile, this.db, true);
        } finally {
          this.db.prepare('ATTACH DATABASE ? AS search').run(searchFile);
        }
      },
    );
    this.checkpointer = new SqliteCheckpointer(
      file,
      () => this.writer.autocheckpoint(AUTOCHECKPOINT_PAGES),
      () => this.writer.restartWal(),
    );
    this.media = new SqliteMediaIndex(this.db, this.writer);
    this.webhooks = new SqliteWebhookStore(this.db, this.writer);
    const hooked = (type: WebhookEventType) => this.webhooks.recording.has(type);
    this.admin = new SqliteAdminStore(this.db, this.writer, hooked);
    this.people = new SqlitePeople(this.db, this.writer);
    this.identities = new SqliteIdentities(this.db, this.writer, hooked);
    this.e2ee = new SqliteE2ee(this.db, this.writer);
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < sqliteMigrations.length; v++) {
      this.db.transaction(() => {
        this.db.exec(sqliteMigrations[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  private prepare() {
    const db = this.db;
    return {
      // A deleted account is no user any more (its row stays for the ids its erased messages carry).
      userById: db.prepare('SELECT * FROM users WHERE id = ? AND deleted_at IS NULL'),
      userByName: db.prepare('SELECT * FROM users WHERE username = ?'),
      deviceByToken: db.prepare(
        `SELECT d.id, d.user_id, d.name, d.created_at, d.last_active_at, u.bot FROM devices d JOIN users u ON u.id = d.user_id
         WHERE d.token_hash = ? AND d.revoked_at IS NULL AND u.suspended = 0 AND u.deleted_at IS NULL`,
      ),
      liveDevices: db.prepare(
        'SELECT id, user_id, name, created_at, last_active_at FROM devices WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, id LIMIT ?',
      ),
      chatById: db.prepare('SELECT * FROM chats WHERE id = ?'),
      member: db.prepare('SELECT * FROM chat_members WHERE chat_id = ? AND user_id = ?'),
      members: db.prepare('SELECT * FROM chat_members WHERE chat_id = ? ORDER BY joined_at, user_id'),
      // Pinned chats first (PROTOCOL.md "Chat settings"), then the most recent.
      listChats: db.prepare(
        `SELECT c.*, cm.role, cm.joined_seq, cm.joined_at, cm.delivered_seq, cm.read_seq, cm.user_id, cm.muted_until, cm.archived, cm.pinned,
           c.msg_count - cm.read_msg_count - cm.own_after_read AS unread
         FROM chat_members cm JOIN chats c ON c.id = cm.chat_id
         WHERE cm.user_id = @user AND (@at IS NULL OR cm.pinned < @pinned
           OR (cm.pinned = @pinned AND (c.last_at < @at OR (c.last_at = @at AND c.id > @id))))
         ORDER BY cm.pinned DESC, c.last_at DESC, c.id LIMIT @limit`,
      ),
      shareAChat: db.prepare(
        'SELECT 1 FROM chat_members a JOIN chat_members b ON a.chat_id = b.chat_id WHERE a.user_id = ? AND b.user_id = ? LIMIT 1',
      ),
      directState: db.prepare(DIRECT_STATE_SQL),
      messageById: db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE id = ?`),
      lastMessage: db.prepare(
        `SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = ? AND seq > ? AND kind = 'message' ORDER BY seq DESC LIMIT 1`,
      ),
      historyAfter: db.prepare(
        `SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = ? AND seq > ? AND seq < ? AND kind = 'message' ORDER BY seq ASC LIMIT ?`,
      ),
      historyBefore: db.prepare(
        `SELECT * FROM (SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = ? AND seq > ? AND seq < ? AND kind = 'message'
           ORDER BY seq DESC LIMIT ?) ORDER BY seq ASC`,
      ),
      range: db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = ? AND seq > ? AND seq <= ? ORDER BY seq ASC LIMIT ?`),
      pendingChats: db.prepare(
        `SELECT c.id AS chat_id, MAX(cm.joined_seq, COALESCE(dc.delivered_seq, 0)) AS after_seq, c.last_seq
         FROM chat_members cm
         JOIN chats c ON c.id = cm.chat_id
         LEFT JOIN device_cursors dc ON dc.device_id = ? AND dc.chat_id = cm.chat_id
         WHERE cm.user_id = ? AND c.last_seq > MAX(cm.joined_seq, COALESCE(dc.delivered_seq, 0))
         ORDER BY c.last_at ASC`,
      ),
      latestBySender: db.prepare(
        `SELECT ${MESSAGE_COLS} FROM messages WHERE rowid IN (
           SELECT rowid FROM (SELECT rowid, sender_id, MAX(seq) FROM messages
             WHERE chat_id = ? AND seq > ? AND seq <= ? AND sender_id != ? AND kind = 'message' GROUP BY sender_id))`,
      ),
      deviceCursor: db.prepare('SELECT delivered_seq FROM device_cursors WHERE device_id = ? AND chat_id = ?'),
      // Counted by SQLite over the chat's rows: no row objects for a 1,024-member group's every window.
      receiptCounts: db.prepare(
        `SELECT COUNT(*) AS members, COALESCE(SUM(delivered_seq >= @seq), 0) AS delivered, COALESCE(SUM(read_seq >= @seq), 0) AS read
         FROM chat_members WHERE chat_id = @chat AND user_id != @sender AND joined_seq < @seq`,
      ),
      firstMark: db.prepare(
        'SELECT at FROM receipt_marks WHERE chat_id = ? AND user_id = ? AND kind = ? AND seq >= ? ORDER BY seq ASC LIMIT 1',
      ),
      memberChats: db.prepare('SELECT chat_id FROM chat_members WHERE user_id = ?'),
      // The MATCH names the chats (see migration 7): only their entries are looked at. An
      // entry whose message changed since the index last looked (search_changes past its
      // changes_upto: an edit's old words, an erased message whose rowid was handed out
      // again) is not trusted.
      search: db.prepare(
        `SELECT m.rowid AS _rowid, ${M_MESSAGE_COLS} FROM search.messages_fts f
         JOIN messages m ON m.rowid = f.rowid
         JOIN chat_members cm ON cm.chat_id = m.chat_id AND cm.user_id = ? AND m.seq > cm.joined_seq
         WHERE f.messages_fts MATCH ? AND m.kind = 'message' AND m.deleted = 0
           AND f.rowid NOT IN (SELECT msg_rowid FROM search_changes
             WHERE seq > (SELECT changes_upto FROM search.search_progress WHERE id = 1) AND free = 0)
         ORDER BY f.rowid DESC LIMIT ?`,
      ),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.dropTimer !== undefined) clearTimeout(this.dropTimer);
    this.dropTimer = undefined;
    // First: it reads the store's file. What it has not indexed yet it takes at the next start.
    await this.searchIndex.close();
    await this.writer.close();
    // The reading connection first: the checkpointer closes a descriptor of its own on the
    // file, and closing any descriptor drops every POSIX lock this process holds on it.
    this.db.close();
    await this.checkpointer.close();
  }

  /*
   * Search indexing is not part of an append's commit, nor of any commit on this file: the
   * search indexer thread (sqlite-search-index.ts) keeps the index in a file of its own,
   * told after each write that adds, edits or erases messages, and search() has it catch
   * up before it reads, so a search sees every message acknowledged before it.
   */

  /** The indexer has applied search changes up to `upto`: they are dropped, SEARCH_CHANGES_DROP_MS at most after. */
  private searchChangesAppliedUpto(upto: number): void {
    this.searchChangesApplied = Math.max(this.searchChangesApplied, upto);
    if (this.closed || this.dropTimer !== undefined || this.searchChangesApplied <= this.searchChangesDropped) return;
    this.dropTimer = setTimeout(() => {
      this.dropTimer = undefined;
      const upto = this.searchChangesApplied;
      this.writer.write('dropSearchChanges', upto).then(
        () => (this.searchChangesDropped = Math.max(this.searchChangesDropped, upto)),
        () => this.searchChangesAppliedUpto(upto),
      );
    }, SEARCH_CHANGES_DROP_MS);
    this.dropTimer.unref();
  }

  async createUser(user: Omit<UserRecord, 'lastSeen'>): Promise<UserRecord | 'username_taken'> {
    return this.writer.write('createUser', user, this.webhooks.recording.has('user.created'));
  }
  async getUser(id: string) {
    return userOrNull(this.stmts.userById.get(id) as Row | undefined);
  }
  async getUserByUsername(username: string) {
    return userOrNull(this.stmts.userByName.get(username) as Row | undefined);
  }
  async missingUsers(ids: string[]): Promise<string[]> {
    return ids.filter((id) => !this.stmts.userById.get(id));
  }
  async setLastSeen(userId: string, at: number): Promise<void> {
    await this.writer.write('setLastSeen', userId, at);
  }
  async setPasswordHash(userId: string, from: string, to: string): Promise<void> {
    await this.writer.write('setPasswordHash', userId, from, to);
  }

  createDevice(d: DeviceRecord & { tokenHash: string }): Promise<boolean> {
    return this.writer.write('createDevice', d);
  }
  async deviceByTokenHash(tokenHash: string): Promise<(DeviceRecord & { lastActiveAt: number | null; permanent?: boolean }) | null> {
    const r = this.stmts.deviceByToken.get(tokenHash) as Row | undefined;
    if (!r) return null;
    const d = { id: r.id, userId: r.user_id, name: r.name, createdAt: r.created_at, lastActiveAt: r.last_active_at ?? null };
    return r.bot ? { ...d, permanent: true } : d;
  }
  async revokeDevice(deviceId: string, at: number): Promise<void> {
    await this.writer.write('revokeDevice', deviceId, at);
  }
  async listDevices(userId: string, limit: number): Promise<(DeviceRecord & { lastActiveAt: number | null })[]> {
    return (this.stmts.liveDevices.all(userId, limit) as Row[]).map((r) => ({
      id: r.id,
      userId: r.user_id,
      name: r.name,
      createdAt: r.created_at,
      lastActiveAt: r.last_active_at ?? null,
    }));
  }
  async revokeUserDevice(userId: string, deviceId: string, at: number): Promise<boolean> {
    return this.writer.write('revokeUserDevice', userId, deviceId, at);
  }
  async touchDevice(deviceId: string, at: number): Promise<void> {
    await this.writer.write('touchDevice', deviceId, at);
  }

  async getChat(chatId: string) {
    return chatOrNull(this.stmts.chatById.get(chatId) as Row | undefined);
  }
  async getMember(chatId: string, userId: string) {
    return memberOrNull(this.stmts.member.get(chatId, userId) as Row | undefined);
  }
  async getMembers(chatId: string) {
    return (this.stmts.members.all(chatId) as MemberRow[]).map(toMember);
  }
  async getMembership(chatId: string): Promise<Membership | null> {
    // One read transaction: both reads see the same commit of the writer thread.
    return this.db.transaction((): Membership | null => {
      const chat = this.stmts.chatById.get(chatId) as Row | undefined;
      return chat ? { version: chat.members_version, members: (this.stmts.members.all(chatId) as MemberRow[]).map(toMember) } : null;
    })();
  }
  async listChats(userId: string, page?: ChatListPage): Promise<ChatListRow[]> {
    const after = page?.after;
    const params = {
      user: userId,
      at: after?.lastAt ?? null,
      pinned: after?.pinned ? 1 : 0,
      id: after?.chatId ?? null,
      limit: page?.limit ?? -1,
    };
    // One read transaction, so each chat's last message matches its row. LIMIT -1: no limit.
    // Unread counts are counters kept by the writes (sqlite-migrations.ts, 14): others' messages above the read position.
    return this.db.transaction(() =>
      (this.stmts.listChats.all(params) as Row[]).map((r) => ({
        chat: toChat(r as ChatRow),
        lastAt: r.last_at as number,
        member: toMember(r as MemberRow),
        lastMessage: r.last_seq > r.joined_seq ? optionalMessage(this.stmts.lastMessage.get(r.id, r.joined_seq)) : null,
        unreadCount: Math.max(0, r.unread as number),
      })),
    )();
  }
  async shareAChat(a: string, b: string): Promise<boolean> {
    return this.stmts.shareAChat.get(a, b) !== undefined;
  }
  async directState(chatId: string, userId: string, otherId: string): Promise<DirectState> {
    const r = this.stmts.directState.get({ chat: chatId, user: userId, other: otherId }) as Row;
    return { otherDeleted: r.deleted === 1, blocked: r.blocked === 1, encrypted: r.encrypted === 1 };
  }

  async append(requests: AppendRequest[]): Promise<AppendResult[]> {
    try {
      return await Promise.all(requests.map((req) => this.writer.write('append', req, this.webhooks.recording.has('message.created'))));
    } finally {
      // Once committed (those that were, even beside a failed one): a pass asked before the commit might run before it.
      this.searchIndex.poke();
    }
  }

  async getMessage(messageId: string) {
    return optionalEntry(this.stmts.messageById.get(messageId));
  }
  async getMessages(messageIds: string[]) {
    const out: LogEntry[] = [];
    for (const id of new Set(messageIds)) {
      const m = optionalEntry(this.stmts.messageById.get(id));
      if (m) out.push(m);
    }
    return out;
  }
  async history(chatId: string, opts: { after?: number; before?: number; limit: number; minSeq: number }) {
    const upper = opts.before ?? Number.MAX_SAFE_INTEGER;
    if (opts.after !== undefined) {
      return (this.stmts.historyAfter.all(chatId, Math.max(opts.after, opts.minSeq), upper, opts.limit) as unknown[]).map(toMessage);
    }
    return (this.stmts.historyBefore.all(chatId, opts.minSeq, upper, opts.limit) as unknown[]).map(toMessage);
  }
  async range(chatId: string, afterSeq: number, uptoSeq: number, limit: number) {
    return (this.stmts.range.all(chatId, afterSeq, uptoSeq, limit) as unknown[]).map(toEntry);
  }

  // ---- message lifecycle (sqlite-lifecycle.ts) ----

  /**
   * In slices of RETENTION_SLICE entries, all queued at once: the writer thread takes one
   * along in each background commit it makes anyway (sqlite-writes.ts RIDING_OPS), so
   * consecutive background commits each carry a slice. A batch of 50 in a transaction of
   * its own was a commit and an fsync that the next sends waited behind (send p99 tripled
   * in `npm run bench -- retention`). Each slice erases the oldest entries left when its
   * commit runs.
   */
  async expireMessages(before: number, limit: number): Promise<ExpiredBatch> {
    const sizes: number[] = [];
    for (let left = limit; left > 0; left -= RETENTION_SLICE) sizes.push(Math.min(RETENTION_SLICE, left));
    const slices = await Promise.allSettled(sizes.map((n) => this.writer.write('expireMessages', before, n)));
    const total: ExpiredBatch = { erased: 0, erasedMedia: [], more: false, workMs: 0 };
    let failure: unknown = null;
    for (const slice of slices) {
      if (slice.status === 'rejected') {
        failure ??= slice.reason;
        continue;
      }
      const batch = slice.value;
      total.erased += batch.erased;
      total.erasedMedia.push(...batch.erasedMedia);
      total.workMs! += batch.workMs ?? 0;
    }
    // Slices that committed stand, and their media must still go: a failure fails the call
    // only when nothing was erased (the next pass meets it again).
    if (failure !== null && total.erased === 0) throw failure;
    // Their search entries leave on the indexer's thread (migration 20): soon, even on a quiet server.
    if (total.erased > 0) this.searchIndex.poke();
    total.more = failure !== null || total.erased === limit;
    return total;
  }

  async applyChange(request: ChangeRequest): Promise<ChangeResult> {
    const result = await this.writer.write('applyChange', request, this.webhooks.recording.has('message.updated'));
    // An edit's or a delete's index entry changes on the indexer's thread (sqlite-lifecycle.ts).
    if (request.action === 'delete' || request.action === 'edit') this.searchIndex.poke();
    return result;
  }
  async reactions(messageIds: string[]): Promise<Map<string, ReactionSummary[]>> {
    return this.lifecycle.reactions(messageIds);
  }
  async setChatSettings(userId: string, chatId: string, patch: ChatSettingsPatch, maxPinned: number) {
    return this.writer.write('setChatSettings', userId, chatId, patch, maxPinned);
  }
  async mutedMembers(chatId: string, userIds: string[], at: number): Promise<string[]> {
    return this.lifecycle.mutedMembers(chatId, userIds, at);
  }
  async deviceCursor(deviceId: string, chatId: string): Promise<number> {
    return ((this.stmts.deviceCursor.get(deviceId, chatId) as Row | undefined)?.delivered_seq as number | undefined) ?? 0;
  }
  async pendingChats(deviceId: string, userId: string): Promise<PendingChat[]> {
    return (this.stmts.pendingChats.all(deviceId, userId) as Row[]).map((r) => ({
      chatId: r.chat_id,
      afterSeq: r.after_seq,
      lastSeq: r.last_seq,
    }));
  }
  async latestBySender(chatId: string, afterSeq: number, uptoSeq: number, exceptUser: string) {
    return (this.stmts.latestBySender.all(chatId, afterSeq, uptoSeq, exceptUser) as unknown[]).map(toMessage);
  }

  async advanceDelivered(deviceId: string, userId: string, chatId: string, seq: number, at: number): Promise<CursorAdvance> {
    return this.writer.write('advanceDelivered', deviceId, userId, chatId, seq, at);
  }

  /** In writes of MANY_MOVES each: the writer thread commits background writes a few hundred moves at a time, so sends are not held behind a group's whole window. */
  async advanceDeliveredMany(chatId: string, moves: DeliveredMove[], at: number): Promise<CursorAdvance[]> {
    const parts = await Promise.all(chunks(moves, MANY_MOVES).map((part) => this.writer.write('advanceDeliveredMany', chatId, part, at)));
    return parts.flat();
  }

  async advanceRead(deviceId: string, userId: string, chatId: string, seq: number, at: number) {
    return this.writer.write('advanceRead', deviceId, userId, chatId, seq, at);
  }

  async advanceReadMany(chatId: string, moves: DeliveredMove[], at: number) {
    const parts = await Promise.all(chunks(moves, MANY_MOVES).map((part) => this.writer.write('advanceReadMany', chatId, part, at)));
    return parts.flat();
  }

  async receipts(message: StoredMessage): Promise<ReceiptRow[]> {
    const members = (this.stmts.members.all(message.chat_id) as Row[]).filter(
      (r) => r.user_id !== message.sender_id && r.joined_seq < message.seq,
    );
    const markAt = (userId: string, kind: number): number | null =>
      ((this.stmts.firstMark.get(message.chat_id, userId, kind, message.seq) as Row | undefined)?.at as number | undefined) ?? null;
    return members.map((r) => ({
      userId: r.user_id,
      deliveredAt: r.delivered_seq >= message.seq ? markAt(r.user_id, 0) : null,
      readAt: r.read_seq >= message.seq ? markAt(r.user_id, 1) : null,
    }));
  }

  async receiptCounts(chatId: string, messages: Pick<MessageRef, 'seq' | 'sender_id'>[]): Promise<ReceiptCounts[]> {
    return messages.map(({ seq, sender_id }) => {
      const r = this.stmts.receiptCounts.get({ seq, chat: chatId, sender: sender_id }) as Row;
      return { delivered: r.delivered as number, read: r.read as number, members: r.members as number };
    });
  }

  async createGroup(g: {
    chatId: string;
    name: string;
    createdBy: string;
    createdAt: number;
    members: { userId: string; role: Role }[];
    encrypted?: boolean;
  }) {
    await this.writer.write('createGroup', g, this.webhooks.recording.has('group.updated'));
  }
  async addMembers(
    chatId: string,
    actorId: string,
    userIds: string[],
    at: number,
    maxMembers: number,
  ): Promise<{ added: string[] } | MembershipRefusal> {
    return this.writer.write('addMembers', chatId, actorId, userIds, at, maxMembers, this.webhooks.recording.has('group.updated'));
  }
  async removeMember(chatId: string, actorId: string, userId: string): Promise<'removed' | MembershipRefusal> {
    return this.writer.write('removeMember', chatId, actorId, userId, this.webhooks.recording.has('group.updated'), Date.now());
  }
  async renameGroup(chatId: string, name: string): Promise<void> {
    await this.writer.write('renameGroup', chatId, name, this.webhooks.recording.has('group.updated'), Date.now());
  }

  /**
   * Searches the caller's chats a set at a time (SEARCH_CHATS_PER_QUERY per statement,
   * each with the answer's LIMIT), yielding to the event loop between sets: better-sqlite3
   * runs a statement synchronously, so this bounds how long one search holds the loop
   * to one set's work, and the whole search's cost to the caller's own chats.
   */
  async search(userId: string, terms: string[], opts: { chatId?: string; limit: number }) {
    if (terms.length === 0) return [];
    // Quoted prefix terms: FTS5 syntax cannot come in through the words themselves.
    await this.searchIndex.catchUp();
    const words = terms.map((t) => `"${t.replaceAll('"', '')}"*`).join(' ');
    const chats = opts.chatId ? [opts.chatId] : (this.stmts.memberChats.all(userId) as Row[]).map((r) => r.chat_id as string);
    let found: (StoredMessage & { _rowid: number })[] = [];
    for (let i = 0; i < chats.length; i += SEARCH_CHATS_PER_QUERY) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      // Chat ids are letters, digits and ':' (parseChatId), so each is one quoted token.
      const set = chats
        .slice(i, i + SEARCH_CHATS_PER_QUERY)
        .map((c) => `"${c.replaceAll(':', 'x').replaceAll('"', '')}"`)
        .join(' OR ');
      const rows = this.stmts.search.all(userId, `chat : (${set}) AND content : (${words})`, opts.limit) as (StoredMessage & {
        _rowid: number;
      })[];
      found = found
        .concat(rows)
        .sort((a, b) => b._rowid - a._rowid)
        .slice(0, opts.limit);
    }
    return found.map(({ _rowid, ...m }) => toMessage(m));
  }

  // ---- push targets ----

  /** Push statements, prepared on first use and kept (pushTargets runs for every delivered message). */
  private readonly pushStmts = new Map<string, Database.Statement>();
  private pushStmt(sql: string): Database.Statement {
    let stmt = this.pushStmts.get(sql);
    if (!stmt) this.pushStmts.set(sql, (stmt = this.db.prepare(sql)));
    return stmt;
  }

  async setPushTarget(deviceId: string, userId: string, target: PushTarget): Promise<void> {
    await this.writer.write('setPushTarget', deviceId, userId, target);
  }
  async deletePushTarget(deviceId: string, only?: PushTarget): Promise<void> {
    await this.writer.write('deletePushTarget', deviceId, only);
  }
  async pushTargets(userIds: string[]): Promise<PushTargetRecord[]> {
    if (userIds.length === 0) return [];
    const rows = this.pushStmt(
      `SELECT p.device_id, p.user_id, p.provider, p.data FROM push_targets p JOIN devices d ON d.id = p.device_id
         WHERE d.revoked_at IS NULL AND p.user_id IN (SELECT value FROM json_each(?))`,
    ).all(JSON.stringify(userIds)) as { device_id: string; user_id: string; provider: string; data: string }[];
    return toPushTargets(rows);
  }
}

function toPushTargets(rows: { device_id: string; user_id: string; provider: string; data: string }[]): PushTargetRecord[] {
  const out: PushTargetRecord[] = [];
  for (const r of rows) {
    const target = decodePushTarget(r.provider, r.data);
    if (target) out.push({ deviceId: r.device_id, userId: r.user_id, target });
  }
  return out;
}

/** Cursor moves per write of advanceDeliveredMany / advanceReadMany. */
const MANY_MOVES = 128;

function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}
