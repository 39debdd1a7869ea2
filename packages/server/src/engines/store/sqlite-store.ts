import path from 'node:path';
import Database from 'better-sqlite3';
import type {
  AppendRequest,
  AppendResult,
  ChatListPage,
  ChatListRow,
  ChatRecord,
  CursorAdvance,
  DeviceRecord,
  MemberRecord,
  Membership,
  MembershipRefusal,
  PendingChat,
  ReceiptRow,
  Role,
  Store,
  StoredMessage,
  UserRecord,
} from './store.js';
import { storedMessage } from './store.js';
import {
  M_MESSAGE_COLS,
  MESSAGE_COLS,
  attachmentsColumn,
  toChat,
  toMember,
  toMessage,
  toUser,
  type ChatRow,
  type MemberRow,
  type UserRow,
} from './rows.js';
import { SqliteMediaIndex } from './sqlite-media.js';
import { sqliteMigrations } from './sqlite-migrations.js';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';
import { privateDir, privateFile, tightenFiles } from './private-files.js';
import { decodePushTarget, encodePushTarget, type PushTarget, type PushTargetRecord } from './push-targets.js';

type Row = Record<string, any>;

/** How soon after an append its message is indexed for search (ms). */
const SEARCH_INDEX_DELAY_MS = 200;

/** Chats named in one search statement. */
const SEARCH_CHATS_PER_QUERY = 200;

const userOrNull = (r: Row | undefined): UserRecord | null => (r ? toUser(r as UserRow) : null);
const chatOrNull = (r: Row | undefined): ChatRecord | null => (r ? toChat(r as ChatRow) : null);
/** A message row (or none) in the protocol's shape. */
const optionalMessage = (r: unknown): StoredMessage | null => (r ? toMessage(r) : null);
const memberOrNull = (r: Row | undefined): MemberRecord | null => (r ? toMember(r as MemberRow) : null);

interface QueuedWrite {
  run: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a commit
 * is on disk before append() resolves. Writes are queued and committed together once
 * per event-loop turn (group commit): every send that arrived while the previous
 * fsync ran shares the next transaction. A failing write fails alone (see commitBatch). Reads run at once against committed data.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private queue: QueuedWrite[] = [];
  private flushScheduled = false;
  private readonly stmts;
  /** Highest messages.rowid in the search index (search_progress), and whether an indexing write is due. */
  private indexedRowid = 0;
  private indexTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly checkpointer: SqliteCheckpointer;
  readonly media: SqliteMediaIndex;

  constructor(dataDir: string) {
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
    this.stmts = this.prepare();
    this.indexedRowid = (this.stmts.searchProgress.get() as Row).last_rowid as number;
    this.scheduleIndexing();
    this.checkpointer = new SqliteCheckpointer(this.db, file);
    this.media = new SqliteMediaIndex(this.db, (run) => this.write(run));
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
      insertUser: db.prepare('INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)'),
      userById: db.prepare('SELECT * FROM users WHERE id = ?'),
      userByName: db.prepare('SELECT * FROM users WHERE username = ?'),
      setLastSeen: db.prepare('UPDATE users SET last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE id = ?'),
      insertDevice: db.prepare('INSERT INTO devices (id, user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)'),
      // A new device is owed only what comes after it: start its cursors at each chat's end.
      initDeviceCursors: db.prepare(
        `INSERT INTO device_cursors (device_id, chat_id, delivered_seq)
         SELECT ?, c.id, c.last_seq FROM chat_members cm JOIN chats c ON c.id = cm.chat_id WHERE cm.user_id = ?`,
      ),
      deviceByToken: db.prepare('SELECT id, user_id, name, created_at FROM devices WHERE token_hash = ? AND revoked_at IS NULL'),
      revokeDevice: db.prepare('UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      liveDevices: db.prepare(
        'SELECT id, user_id, name, created_at, last_active_at FROM devices WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, id',
      ),
      revokeUserDevice: db.prepare('UPDATE devices SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL'),
      touchDevice: db.prepare('UPDATE devices SET last_active_at = ? WHERE id = ? AND COALESCE(last_active_at, 0) < ?'),
      chatById: db.prepare('SELECT * FROM chats WHERE id = ?'),
      insertChat: db.prepare('INSERT INTO chats (id, kind, name, created_by, created_at, last_seq, last_at) VALUES (?, ?, ?, ?, ?, 0, ?)'),
      member: db.prepare('SELECT * FROM chat_members WHERE chat_id = ? AND user_id = ?'),
      members: db.prepare('SELECT * FROM chat_members WHERE chat_id = ? ORDER BY joined_at, user_id'),
      insertMember: db.prepare(
        `INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id, user_id) DO NOTHING`,
      ),
      deleteMember: db.prepare('DELETE FROM chat_members WHERE chat_id = ? AND user_id = ?'),
      setRole: db.prepare('UPDATE chat_members SET role = ? WHERE chat_id = ? AND user_id = ?'),
      bumpMembersVersion: db.prepare('UPDATE chats SET members_version = members_version + 1 WHERE id = ?'),
      memberCount: db.prepare('SELECT COUNT(*) AS n FROM chat_members WHERE chat_id = ?'),
      renameChat: db.prepare('UPDATE chats SET name = ? WHERE id = ?'),
      listChats: db.prepare(
        `SELECT c.*, cm.role, cm.joined_seq, cm.joined_at, cm.delivered_seq, cm.read_seq, cm.user_id
         FROM chat_members cm JOIN chats c ON c.id = cm.chat_id
         WHERE cm.user_id = ? AND (? IS NULL OR c.last_at < ? OR (c.last_at = ? AND c.id > ?))
         ORDER BY c.last_at DESC, c.id LIMIT ?`,
      ),
      unread: db.prepare('SELECT COUNT(*) AS n FROM messages WHERE chat_id = ? AND seq > ? AND sender_id != ?'),
      shareAChat: db.prepare(
        'SELECT 1 FROM chat_members a JOIN chat_members b ON a.chat_id = b.chat_id WHERE a.user_id = ? AND b.user_id = ? LIMIT 1',
      ),
      existing: db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = ? AND sender_id = ? AND client_msg_id = ?`),
      bumpSeq: db.prepare('UPDATE chats SET last_seq = last_seq + 1, last_at = ? WHERE id = ? RETURNING last_seq'),
      insertMessage: db.prepare(
        'INSERT INTO messages (id, chat_id, seq, sender_id, sender_device_id, client_msg_id, content, created_at, attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      messageById: db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE id = ?`),
      lastMessage: db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = ? ORDER BY seq DESC LIMIT 1`),
      historyAfter: db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = ? AND seq > ? AND seq < ? ORDER BY seq ASC LIMIT ?`),
      historyBefore: db.prepare(
        `SELECT * FROM (SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = ? AND seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?) ORDER BY seq ASC`,
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
             WHERE chat_id = ? AND seq > ? AND seq <= ? AND sender_id != ? GROUP BY sender_id))`,
      ),
      deviceCursor: db.prepare('SELECT delivered_seq FROM device_cursors WHERE device_id = ? AND chat_id = ?'),
      upsertDeviceCursor: db.prepare(
        `INSERT INTO device_cursors (device_id, chat_id, delivered_seq) VALUES (?, ?, ?)
         ON CONFLICT (device_id, chat_id) DO UPDATE SET delivered_seq = MAX(delivered_seq, excluded.delivered_seq)`,
      ),
      setMemberDelivered: db.prepare('UPDATE chat_members SET delivered_seq = ? WHERE chat_id = ? AND user_id = ?'),
      setMemberRead: db.prepare('UPDATE chat_members SET read_seq = ? WHERE chat_id = ? AND user_id = ?'),
      insertMark: db.prepare('INSERT OR IGNORE INTO receipt_marks (chat_id, user_id, kind, seq, at) VALUES (?, ?, ?, ?, ?)'),
      firstMark: db.prepare(
        'SELECT at FROM receipt_marks WHERE chat_id = ? AND user_id = ? AND kind = ? AND seq >= ? ORDER BY seq ASC LIMIT 1',
      ),
      searchProgress: db.prepare('SELECT last_rowid FROM search_progress WHERE id = 1'),
      setSearchProgress: db.prepare('UPDATE search_progress SET last_rowid = ? WHERE id = 1'),
      maxRowid: db.prepare('SELECT COALESCE(MAX(rowid), 0) AS r FROM messages'),
      indexForSearch: db.prepare(
        `INSERT INTO messages_fts (rowid, content, chat) SELECT rowid, content, replace(chat_id, ':', 'x') FROM messages
         WHERE rowid > ? AND rowid <= ? ORDER BY rowid`,
      ),
      memberChats: db.prepare('SELECT chat_id FROM chat_members WHERE user_id = ?'),
      // The MATCH names the chats (see migration 3): only their entries are looked at.
      search: db.prepare(
        `SELECT m.rowid AS _rowid, ${M_MESSAGE_COLS} FROM messages_fts f
         JOIN messages m ON m.rowid = f.rowid
         JOIN chat_members cm ON cm.chat_id = m.chat_id AND cm.user_id = ? AND m.seq > cm.joined_seq
         WHERE messages_fts MATCH ?
         ORDER BY f.rowid DESC LIMIT ?`,
      ),
    };
  }

  /** Queues a write for the next group commit. */
  private write<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    let outcomes: { ok: boolean; value: unknown }[];
    try {
      outcomes = this.commitBatch(batch);
    } catch (err) {
      // The commit itself failed: nothing in this batch is durable.
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const o = outcomes[i]!;
      if (o.ok) w.resolve(o.value);
      else w.reject(o.value);
    });
  }

  /**
   * One transaction for the whole batch. Writes rarely fail, so the batch first runs
   * without savepoints; if one throws, that attempt is rolled back and the batch runs
   * again with each write in its own savepoint, so the failure fails only itself.
   */
  private commitBatch(batch: QueuedWrite[]): { ok: boolean; value: unknown }[] {
    try {
      return this.db.transaction(() => batch.map((w) => ({ ok: true, value: w.run() })))();
    } catch {
      return this.db.transaction(() =>
        batch.map((w) => {
          try {
            return { ok: true, value: this.db.transaction(w.run)() };
          } catch (err) {
            return { ok: false, value: err };
          }
        }),
      )();
    }
  }

  async close(): Promise<void> {
    if (this.indexTimer !== undefined) clearTimeout(this.indexTimer);
    this.indexTimer = undefined;
    void this.write(() => this.indexForSearch());
    this.flush();
    await this.checkpointer.close();
    this.db.close();
  }

  /*
   * Search indexing is not part of an append's commit (an FTS5 insert per message made
   * every acknowledgement wait for it): messages are indexed in bulk by a write that joins
   * the group commit SEARCH_INDEX_DELAY_MS after an append, and by search() before it
   * reads, so a search always sees every message acknowledged before it. Progress is a
   * row committed with the index rows, so a crash leaves nothing unindexed for good.
   */
  private scheduleIndexing(): void {
    this.indexTimer ??= setTimeout(() => {
      this.indexTimer = undefined;
      this.write(() => this.indexForSearch()).then(
        (upto) => (this.indexedRowid = Math.max(this.indexedRowid, upto)),
        () => this.scheduleIndexing(),
      );
    }, SEARCH_INDEX_DELAY_MS);
  }

  /** Indexes every message not yet in the index; answers the rowid indexed up to (known only once committed). */
  private indexForSearch(): number {
    const from = (this.stmts.searchProgress.get() as Row).last_rowid as number;
    const upto = (this.stmts.maxRowid.get() as Row).r as number;
    if (upto <= from) return from;
    this.stmts.indexForSearch.run(from, upto);
    this.stmts.setSearchProgress.run(upto);
    return upto;
  }

  async createUser(user: Omit<UserRecord, 'lastSeen'>): Promise<UserRecord | 'username_taken'> {
    return this.write(() => {
      if (this.stmts.userByName.get(user.username)) return 'username_taken' as const;
      this.stmts.insertUser.run(user.id, user.username, user.displayName, user.passwordHash, user.createdAt);
      return { ...user, lastSeen: null };
    });
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
    await this.write(() => this.stmts.setLastSeen.run(at, userId));
  }

  async createDevice(d: DeviceRecord & { tokenHash: string }): Promise<void> {
    await this.write(() => {
      this.stmts.insertDevice.run(d.id, d.userId, d.name, d.tokenHash, d.createdAt);
      this.stmts.initDeviceCursors.run(d.id, d.userId);
    });
  }
  async deviceByTokenHash(tokenHash: string): Promise<DeviceRecord | null> {
    const r = this.stmts.deviceByToken.get(tokenHash) as Row | undefined;
    return r ? { id: r.id, userId: r.user_id, name: r.name, createdAt: r.created_at } : null;
  }
  async revokeDevice(deviceId: string, at: number): Promise<void> {
    await this.write(() => {
      this.stmts.revokeDevice.run(at, deviceId);
      this.pushStmt('DELETE FROM push_targets WHERE device_id = ?').run(deviceId);
    });
  }
  async listDevices(userId: string): Promise<(DeviceRecord & { lastActiveAt: number | null })[]> {
    return (this.stmts.liveDevices.all(userId) as Row[]).map((r) => ({
      id: r.id,
      userId: r.user_id,
      name: r.name,
      createdAt: r.created_at,
      lastActiveAt: r.last_active_at ?? null,
    }));
  }
  async revokeUserDevice(userId: string, deviceId: string, at: number): Promise<boolean> {
    return this.write(() => {
      if (this.stmts.revokeUserDevice.run(at, deviceId, userId).changes !== 1) return false;
      // A revoked session's push credentials go with it, as on logout.
      this.pushStmt('DELETE FROM push_targets WHERE device_id = ?').run(deviceId);
      return true;
    });
  }
  async touchDevice(deviceId: string, at: number): Promise<void> {
    await this.write(() => this.stmts.touchDevice.run(at, deviceId, at));
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
    // One thread, no write in between: the two reads see the same state.
    const chat = this.stmts.chatById.get(chatId) as Row | undefined;
    return chat ? { version: chat.members_version, members: await this.getMembers(chatId) } : null;
  }
  async listChats(userId: string, page?: ChatListPage): Promise<ChatListRow[]> {
    const at = page?.after?.lastAt ?? null;
    const id = page?.after?.chatId ?? null;
    // LIMIT -1: no limit.
    return (this.stmts.listChats.all(userId, at, at, at, id, page?.limit ?? -1) as Row[]).map((r) => ({
      chat: toChat(r as ChatRow),
      lastAt: r.last_at as number,
      member: toMember(r as MemberRow),
      lastMessage: r.last_seq > r.joined_seq ? optionalMessage(this.stmts.lastMessage.get(r.id)) : null,
      unreadCount: (this.stmts.unread.get(r.id, Math.max(r.read_seq, r.joined_seq), userId) as Row).n,
    }));
  }
  async shareAChat(a: string, b: string): Promise<boolean> {
    return this.stmts.shareAChat.get(a, b) !== undefined;
  }

  async append(requests: AppendRequest[]): Promise<AppendResult[]> {
    const results = Promise.all(requests.map((req) => this.write(() => this.appendOne(req))));
    this.scheduleIndexing();
    return results;
  }

  private appendOne(req: AppendRequest): AppendResult {
    const existing = optionalMessage(this.stmts.existing.get(req.chatId, req.senderId, req.clientMsgId));
    if (existing) return { message: existing, duplicate: true };
    if (req.createDirectWith && !this.stmts.chatById.get(req.chatId)) {
      this.stmts.insertChat.run(req.chatId, 'direct', null, req.senderId, req.createdAt, req.createdAt);
      for (const userId of new Set(req.createDirectWith)) {
        this.stmts.insertMember.run(req.chatId, userId, 'member', 0, req.createdAt, 0, 0);
      }
    }
    let membersVersion: number | undefined;
    if (req.membersVersion !== undefined) {
      // The single writer serializes this with every membership change: check it now.
      const chat = this.stmts.chatById.get(req.chatId) as Row | undefined;
      membersVersion = chat?.members_version as number | undefined;
      if (chat && membersVersion !== req.membersVersion && !this.stmts.member.get(req.chatId, req.senderId)) return { notMember: true };
    }
    const bumped = this.stmts.bumpSeq.get(req.createdAt, req.chatId) as Row | undefined;
    if (!bumped) throw new Error(`chat ${req.chatId} does not exist`);
    const seq = bumped.last_seq as number;
    this.stmts.insertMessage.run(
      req.messageId,
      req.chatId,
      seq,
      req.senderId,
      req.senderDeviceId,
      req.clientMsgId,
      req.content,
      req.createdAt,
      attachmentsColumn(req.attachments),
    );
    return { duplicate: false, message: storedMessage(req, seq), membersVersion };
  }

  async getMessage(messageId: string) {
    return optionalMessage(this.stmts.messageById.get(messageId));
  }
  async getMessages(messageIds: string[]) {
    const out: StoredMessage[] = [];
    for (const id of new Set(messageIds)) {
      const m = optionalMessage(this.stmts.messageById.get(id));
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
    return (this.stmts.range.all(chatId, afterSeq, uptoSeq, limit) as unknown[]).map(toMessage);
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

  private moveDelivered(deviceId: string, userId: string, chatId: string, seq: number, at: number): CursorAdvance {
    this.stmts.upsertDeviceCursor.run(deviceId, chatId, seq);
    const m = this.stmts.member.get(chatId, userId) as Row | undefined;
    const from = (m?.delivered_seq as number | undefined) ?? 0;
    if (!m || seq <= from) return { chatId, userId, from, to: from };
    this.stmts.setMemberDelivered.run(seq, chatId, userId);
    this.stmts.insertMark.run(chatId, userId, 0, seq, at);
    return { chatId, userId, from, to: seq };
  }

  async advanceDelivered(deviceId: string, userId: string, chatId: string, seq: number, at: number): Promise<CursorAdvance> {
    return this.write(() => this.moveDelivered(deviceId, userId, chatId, seq, at));
  }

  async advanceRead(deviceId: string, userId: string, chatId: string, seq: number, at: number) {
    return this.write(() => {
      const delivered = this.moveDelivered(deviceId, userId, chatId, seq, at);
      const m = this.stmts.member.get(chatId, userId) as Row | undefined;
      const from = (m?.read_seq as number | undefined) ?? 0;
      if (!m || seq <= from) return { delivered, read: { chatId, userId, from, to: from } };
      this.stmts.setMemberRead.run(seq, chatId, userId);
      this.stmts.insertMark.run(chatId, userId, 1, seq, at);
      return { delivered, read: { chatId, userId, from, to: seq } };
    });
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

  async createGroup(g: { chatId: string; name: string; createdBy: string; createdAt: number; members: { userId: string; role: Role }[] }) {
    await this.write(() => {
      this.stmts.insertChat.run(g.chatId, 'group', g.name, g.createdBy, g.createdAt, g.createdAt);
      for (const m of g.members) this.stmts.insertMember.run(g.chatId, m.userId, m.role, 0, g.createdAt, 0, 0);
    });
  }
  async addMembers(
    chatId: string,
    actorId: string,
    userIds: string[],
    at: number,
    maxMembers: number,
  ): Promise<{ added: string[] } | MembershipRefusal> {
    // Checked and applied in one write: the single writer serializes every change.
    return this.write(() => {
      const chat = this.stmts.chatById.get(chatId) as Row | undefined;
      const actor = this.stmts.member.get(chatId, actorId) as Row | undefined;
      if (!chat || !actor) return 'no_such_group' as const;
      if (actor.role !== 'admin') return 'forbidden' as const;
      const fresh = [...new Set(userIds)].filter((id) => !this.stmts.member.get(chatId, id));
      const count = (this.stmts.memberCount.get(chatId) as Row).n as number;
      if (count + fresh.length > maxMembers) return 'too_large' as const;
      for (const userId of fresh) {
        // A member added now is owed only what is sent after joining.
        this.stmts.insertMember.run(chatId, userId, 'member', chat.last_seq, at, chat.last_seq, chat.last_seq);
      }
      if (fresh.length > 0) this.stmts.bumpMembersVersion.run(chatId);
      return { added: fresh };
    });
  }
  async removeMember(chatId: string, actorId: string, userId: string): Promise<'removed' | MembershipRefusal> {
    return this.write(() => {
      const actor = this.stmts.member.get(chatId, actorId) as Row | undefined;
      if (!actor) return 'no_such_group' as const;
      if (actorId !== userId && actor.role !== 'admin') return 'forbidden' as const;
      if (this.stmts.deleteMember.run(chatId, userId).changes === 0) return 'not_a_member' as const;
      const rest = this.stmts.members.all(chatId) as Row[];
      // Members come oldest first: the oldest becomes admin when none is left.
      if (rest.length > 0 && !rest.some((m) => m.role === 'admin')) this.stmts.setRole.run('admin', chatId, rest[0]!.user_id);
      this.stmts.bumpMembersVersion.run(chatId);
      return 'removed' as const;
    });
  }
  async renameGroup(chatId: string, name: string): Promise<void> {
    await this.write(() => this.stmts.renameChat.run(name, chatId));
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
    if ((this.stmts.maxRowid.get() as Row).r > this.indexedRowid) {
      this.indexedRowid = Math.max(this.indexedRowid, await this.write(() => this.indexForSearch()));
    }
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
    const { provider, data } = encodePushTarget(target);
    await this.write(() =>
      this.pushStmt(
        `INSERT INTO push_targets (device_id, user_id, provider, data) SELECT id, user_id, ?, ? FROM devices
           WHERE id = ? AND user_id = ? AND revoked_at IS NULL
           ON CONFLICT (device_id) DO UPDATE SET provider = excluded.provider, data = excluded.data`,
      ).run(provider, data, deviceId, userId),
    );
  }
  async deletePushTarget(deviceId: string, only?: PushTarget): Promise<void> {
    await this.write(() => {
      if (!only) return this.pushStmt('DELETE FROM push_targets WHERE device_id = ?').run(deviceId);
      const { provider, data } = encodePushTarget(only);
      return this.pushStmt('DELETE FROM push_targets WHERE device_id = ? AND provider = ? AND data = ?').run(deviceId, provider, data);
    });
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
