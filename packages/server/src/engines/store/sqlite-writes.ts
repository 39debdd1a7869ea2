import type Database from 'better-sqlite3';
import type {
  AppendRequest,
  AppendResult,
  CursorAdvance,
  DeliveredMove,
  DeviceRecord,
  MembershipRefusal,
  Role,
  UserRecord,
} from './store.js';
import { directRefusal, storedMessage } from './store.js';
import { MESSAGE_COLS, attachmentsColumn, mentionsColumn, toMessage } from './rows.js';
import { sqliteLifecycleOps } from './sqlite-lifecycle.js';
import { sqliteAdminOps } from './sqlite-admin.js';
import { sqlitePeopleOps } from './sqlite-people.js';
import { sqliteIdentityOps } from './sqlite-identities.js';
import { sqliteE2eeOps } from './sqlite-e2ee.js';
import { encodePushTarget, type PushTarget } from './push-targets.js';
import { toMediaRecord, type MediaInfo, type MediaRecord, type MediaRow } from './media-index.js';
import { sqliteWebhookWrites, userData } from './sqlite-webhook-outbox.js';

/*
 * Every write of the embedded store, as named operations on plain data. They run on the
 * writer thread (sqlite-writer-worker.ts), which owns the only write connection; the
 * store on the event loop sends them there in batches and reads on its own connection.
 * Arguments and answers cross a thread, so they are structured-clonable: no closures,
 * no class instances.
 */

type Row = Record<string, any>;

/** Some stored message carries media m. */
const STORED = 'EXISTS (SELECT 1 FROM media_refs r JOIN messages g ON g.id = r.message_id WHERE r.media_id = m.id)';

/** Store.directState and AppendRequest.directWith, for parameters @chat, @user and @other. */
export const DIRECT_STATE_SQL = `SELECT EXISTS (SELECT 1 FROM users WHERE id = @other AND deleted_at IS NOT NULL) AS deleted,
  EXISTS (SELECT 1 FROM blocks WHERE user_id = @other AND blocked_id = @user) AS blocked,
  COALESCE((SELECT encrypted FROM chats WHERE id = @chat), 0) AS encrypted`;

export function sqliteWriteOps(db: Database.Database) {
  const s = {
    insertUser: db.prepare('INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)'),
    userByName: db.prepare('SELECT 1 FROM users WHERE username = ?'),
    setLastSeen: db.prepare('UPDATE users SET last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE id = ?'),
    setPasswordHash: db.prepare('UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?'),
    activeUser: db.prepare('SELECT 1 FROM users WHERE id = ? AND suspended = 0 AND deleted_at IS NULL'),
    insertDevice: db.prepare('INSERT INTO devices (id, user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)'),
    // A new device is owed only what comes after it: start its cursors at each chat's end.
    initDeviceCursors: db.prepare(
      `INSERT INTO device_cursors (device_id, chat_id, delivered_seq)
       SELECT ?, c.id, c.last_seq FROM chat_members cm JOIN chats c ON c.id = cm.chat_id WHERE cm.user_id = ?`,
    ),
    revokeDevice: db.prepare('UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    revokeUserDevice: db.prepare('UPDATE devices SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL'),
    touchDevice: db.prepare('UPDATE devices SET last_active_at = ? WHERE id = ? AND COALESCE(last_active_at, 0) < ?'),
    chatById: db.prepare('SELECT * FROM chats WHERE id = ?'),
    insertChat: db.prepare('INSERT INTO chats (id, kind, name, created_by, created_at, last_seq, last_at) VALUES (?, ?, ?, ?, ?, 0, ?)'),
    member: db.prepare('SELECT * FROM chat_members WHERE chat_id = ? AND user_id = ?'),
    members: db.prepare('SELECT * FROM chat_members WHERE chat_id = ? ORDER BY joined_at, user_id'),
    insertMember: db.prepare(
      `INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq, read_msg_count)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id, user_id) DO NOTHING`,
    ),
    deleteMember: db.prepare('DELETE FROM chat_members WHERE chat_id = ? AND user_id = ?'),
    setRole: db.prepare('UPDATE chat_members SET role = ? WHERE chat_id = ? AND user_id = ?'),
    bumpMembersVersion: db.prepare('UPDATE chats SET members_version = members_version + 1 WHERE id = ?'),
    memberCount: db.prepare('SELECT COUNT(*) AS n FROM chat_members WHERE chat_id = ?'),
    renameChat: db.prepare('UPDATE chats SET name = ? WHERE id = ?'),
    setEncrypted: db.prepare('UPDATE chats SET encrypted = 1 WHERE id = ?'),
    existing: db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = ? AND sender_id = ? AND client_msg_id = ?`),
    bumpSeq: db.prepare(
      'UPDATE chats SET last_seq = last_seq + 1, msg_count = msg_count + 1, last_at = ? WHERE id = ? RETURNING last_seq, msg_count',
    ),
    insertMessage: db.prepare(
      `INSERT INTO messages (id, chat_id, seq, sender_id, sender_device_id, client_msg_id, content, created_at, attachments,
         reply_to_id, reply_sender_id, reply_preview, mentions, forwarded, msg_ord, ciphertext) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // The new message is above the sender's read position (a read position is a stored seq, or joined_seq).
    countOwn: db.prepare('UPDATE chat_members SET own_after_read = own_after_read + 1, last_own_seq = ? WHERE chat_id = ? AND user_id = ?'),
    quotedDeleted: db.prepare('SELECT deleted FROM messages WHERE id = ?'),
    // AppendRequest.directWith, read on the writer (whose page cache no other connection's commit empties).
    directState: db.prepare(DIRECT_STATE_SQL),
    upsertDeviceCursor: db.prepare(
      `INSERT INTO device_cursors (device_id, chat_id, delivered_seq) VALUES (?, ?, ?)
       ON CONFLICT (device_id, chat_id) DO UPDATE SET delivered_seq = MAX(delivered_seq, excluded.delivered_seq)`,
    ),
    setMemberDelivered: db.prepare('UPDATE chat_members SET delivered_seq = ? WHERE chat_id = ? AND user_id = ?'),
    setMemberRead: db.prepare(
      'UPDATE chat_members SET read_seq = ?, read_msg_count = ?, own_after_read = ? WHERE chat_id = ? AND user_id = ?',
    ),
    // The chat's message count at a seq: the row at it (seqs have no gaps), or the last before it.
    msgCountAt: db.prepare('SELECT msg_ord FROM messages WHERE chat_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1'),
    ownBetween: db.prepare(
      `SELECT COUNT(*) AS n FROM messages WHERE chat_id = ? AND seq > ? AND seq <= ? AND sender_id = ? AND kind = 'message'`,
    ),
    insertMark: db.prepare('INSERT OR IGNORE INTO receipt_marks (chat_id, user_id, kind, seq, at) VALUES (?, ?, ?, ?, ?)'),
    dropSearchChanges: db.prepare('DELETE FROM search_changes WHERE seq <= ?'),
    setPushTarget: db.prepare(
      `INSERT INTO push_targets (device_id, user_id, provider, data) SELECT id, user_id, ?, ? FROM devices
         WHERE id = ? AND user_id = ? AND revoked_at IS NULL
         ON CONFLICT (device_id) DO UPDATE SET provider = excluded.provider, data = excluded.data`,
    ),
    deletePushTargets: db.prepare('DELETE FROM push_targets WHERE device_id = ?'),
    deletePushTarget: db.prepare('DELETE FROM push_targets WHERE device_id = ? AND provider = ? AND data = ?'),
    insertMedia: db.prepare(
      `INSERT INTO media (id, owner_id, content_type, size, filename, created_at, parent_id, attached, info)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    setMediaInfo: db.prepare('UPDATE media SET info = ? WHERE id = ?'),
    mediaRef: db.prepare('INSERT OR IGNORE INTO media_refs (media_id, message_id) VALUES (?, ?)'),
    // SET reads the row as it was: an original a stored message already carries (attached, not pending) stays settled.
    markAttached: db.prepare(
      `UPDATE media SET attached = 1,
         pending_since = CASE WHEN id = @id AND (attached = 0 OR pending_since IS NOT NULL) THEN MAX(COALESCE(pending_since, @at), @at)
           ELSE pending_since END
       WHERE id = @id OR parent_id = @id`,
    ),
    mediaExists: db.prepare('SELECT 1 FROM media WHERE id = ?'),
    settleMedia: db.prepare(
      `UPDATE media SET pending_since = NULL WHERE id IN (
         SELECT id FROM media m WHERE pending_since < ? AND parent_id IS NULL AND ${STORED} ORDER BY pending_since LIMIT ?)`,
    ),
    orphans: db.prepare('SELECT * FROM media WHERE attached = 0 AND created_at < ? AND parent_id IS NULL ORDER BY created_at LIMIT ?'),
    unsent: db.prepare(
      `SELECT * FROM media m WHERE pending_since < @before AND created_at < @before AND parent_id IS NULL AND NOT ${STORED}
       ORDER BY pending_since LIMIT @limit`,
    ),
    thumbsOf: db.prepare('SELECT * FROM media WHERE parent_id = ?'),
    deleteMedia: db.prepare('DELETE FROM media WHERE id = ?'),
    deleteMediaRefs: db.prepare('DELETE FROM media_refs WHERE media_id = ?'),
  };

  const moveDelivered = (deviceId: string, userId: string, chatId: string, seq: number, at: number): CursorAdvance => {
    s.upsertDeviceCursor.run(deviceId, chatId, seq);
    const m = s.member.get(chatId, userId) as Row | undefined;
    const from = (m?.delivered_seq as number | undefined) ?? 0;
    if (!m || seq <= from) return { chatId, userId, from, to: from };
    s.setMemberDelivered.run(seq, chatId, userId);
    s.insertMark.run(chatId, userId, 0, seq, at);
    return { chatId, userId, from, to: seq };
  };

  const moveRead = (
    deviceId: string,
    userId: string,
    chatId: string,
    seq: number,
    at: number,
  ): { delivered: CursorAdvance; read: CursorAdvance } => {
    const delivered = moveDelivered(deviceId, userId, chatId, seq, at);
    const m = s.member.get(chatId, userId) as Row | undefined;
    const from = (m?.read_seq as number | undefined) ?? 0;
    if (!m || seq <= from) return { delivered, read: { chatId, userId, from, to: from } };
    s.setMemberRead.run(seq, ...unreadAt(m, seq), chatId, userId);
    s.insertMark.run(chatId, userId, 1, seq, at);
    return { delivered, read: { chatId, userId, from, to: seq } };
  };

  /**
   * A member's unread counters once their read cursor moves to seq (sqlite-migrations.ts, 14):
   * the chat's message count at the new position, and their own messages still above it.
   * Counting own messages passed over is needed only when some lie above the old position
   * and the new one stops short of the latest: each is counted once, when the cursor passes it.
   */
  const unreadAt = (m: Row, seq: number): [readMsgCount: number, ownAfterRead: number] => {
    const from = Math.max(m.read_seq as number, m.joined_seq as number);
    const to = Math.max(seq, m.joined_seq as number);
    const count = ((s.msgCountAt.get(m.chat_id, to) as Row | undefined)?.msg_ord as number | undefined) ?? 0;
    const own = m.own_after_read as number;
    if (own === 0 || to >= (m.last_own_seq as number)) return [count, 0];
    return [count, Math.max(0, own - ((s.ownBetween.get(m.chat_id, from, to, m.user_id) as Row).n as number))];
  };

  // Writes that cause a webhook event take `hook` (the store's recording set has the type) and record it in their transaction.
  const hooks = sqliteWebhookWrites(db);
  const lifecycle = sqliteLifecycleOps(db);
  const identities = sqliteIdentityOps(db);
  const admin = sqliteAdminOps(db);

  return {
    ...lifecycle,
    ...hooks.ops,
    ...admin,
    ...sqlitePeopleOps(db),
    ...identities,
    // Users made by a first sign-in from the host app, or by an operator as bots, are users like any other: user.created.
    createExternalUser(
      user: Omit<UserRecord, 'lastSeen'>,
      issuer: string,
      subject: string,
      hook = false,
    ): ReturnType<typeof identities.createExternalUser> {
      const made = identities.createExternalUser(user, issuer, subject);
      if (hook && made !== 'username_taken' && made.id === user.id) hooks.record('user.created', userData(made), made.createdAt);
      return made;
    },
    adminCreateBot(...args: [...Parameters<typeof admin.adminCreateBot>, boolean?]): ReturnType<typeof admin.adminCreateBot> {
      const [user, device, hook] = args;
      const made = admin.adminCreateBot(user, device);
      if (hook && made !== 'username_taken') hooks.record('user.created', userData(made), made.createdAt);
      return made;
    },
    ...sqliteE2eeOps(db),
    applyChange(req: Parameters<typeof lifecycle.applyChange>[0], hook = false): ReturnType<typeof lifecycle.applyChange> {
      const result = lifecycle.applyChange(req);
      if (hook && result.entry && !result.duplicate) hooks.recordMessage('message.updated', req.targetId, req.createdAt);
      return result;
    },
    createUser(user: Omit<UserRecord, 'lastSeen'>, hook = false): UserRecord | 'username_taken' {
      if (s.userByName.get(user.username)) return 'username_taken';
      s.insertUser.run(user.id, user.username, user.displayName, user.passwordHash, user.createdAt);
      if (hook) hooks.record('user.created', userData(user), user.createdAt);
      return { ...user, lastSeen: null };
    },
    setLastSeen(userId: string, at: number): void {
      s.setLastSeen.run(at, userId);
    },
    setPasswordHash(userId: string, from: string, to: string): void {
      s.setPasswordHash.run(to, userId, from);
    },
    createDevice(d: DeviceRecord & { tokenHash: string }): boolean {
      // One writer: a suspension is either before this (refused here) or after (it ends this session).
      if (!s.activeUser.get(d.userId)) return false;
      s.insertDevice.run(d.id, d.userId, d.name, d.tokenHash, d.createdAt);
      s.initDeviceCursors.run(d.id, d.userId);
      return true;
    },
    revokeDevice(deviceId: string, at: number): void {
      s.revokeDevice.run(at, deviceId);
      s.deletePushTargets.run(deviceId);
    },
    revokeUserDevice(userId: string, deviceId: string, at: number): boolean {
      if (s.revokeUserDevice.run(at, deviceId, userId).changes !== 1) return false;
      // A revoked session's push credentials go with it, as on logout.
      s.deletePushTargets.run(deviceId);
      return true;
    },
    touchDevice(deviceId: string, at: number): void {
      s.touchDevice.run(at, deviceId, at);
    },

    append(req: AppendRequest, hook = false): AppendResult {
      const existing = s.existing.get(req.chatId, req.senderId, req.clientMsgId);
      if (existing) return { message: toMessage(existing), duplicate: true };
      if (req.directWith !== undefined) {
        const r = s.directState.get({ chat: req.chatId, user: req.senderId, other: req.directWith }) as Row;
        const refused = directRefusal({ otherDeleted: r.deleted === 1, blocked: r.blocked === 1, encrypted: r.encrypted === 1 }, req);
        if (refused) return { refused };
      }
      if (req.createDirectWith && !s.chatById.get(req.chatId)) {
        s.insertChat.run(req.chatId, 'direct', null, req.senderId, req.createdAt, req.createdAt);
        for (const userId of new Set(req.createDirectWith)) s.insertMember.run(req.chatId, userId, 'member', 0, req.createdAt, 0, 0, 0);
      }
      let membersVersion: number | undefined;
      if (req.membersVersion !== undefined) {
        // The single writer serializes this with every membership change: check it now.
        const chat = s.chatById.get(req.chatId) as Row | undefined;
        membersVersion = chat?.members_version as number | undefined;
        if (chat && membersVersion !== req.membersVersion && !s.member.get(req.chatId, req.senderId)) return { notMember: true };
      }
      const bumped = s.bumpSeq.get(req.createdAt, req.chatId) as Row | undefined;
      if (!bumped) throw new Error(`chat ${req.chatId} does not exist`);
      const seq = bumped.last_seq as number;
      s.countOwn.run(seq, req.chatId, req.senderId);
      // A quote of a message deleted since core read it shows no preview (the delete emptied the others).
      const reply =
        req.replyTo && (s.quotedDeleted.get(req.replyTo.message_id) as Row | undefined)?.deleted === 1
          ? { ...req.replyTo, preview: '' }
          : req.replyTo;
      s.insertMessage.run(
        req.messageId,
        req.chatId,
        seq,
        req.senderId,
        req.senderDeviceId,
        req.clientMsgId,
        req.content,
        req.createdAt,
        attachmentsColumn(req.attachments),
        reply?.message_id ?? null,
        reply?.sender_id ?? null,
        reply?.preview ?? null,
        mentionsColumn(req.mentions),
        req.forwarded ? 1 : 0,
        bumped.msg_count,
        req.ciphertext ?? null,
      );
      if (hook) hooks.recordMessage('message.created', req.messageId, req.createdAt, `mc_${req.messageId}`);
      return { duplicate: false, message: storedMessage(reply ? { ...req, replyTo: reply } : req, seq), membersVersion };
    },

    advanceDelivered: moveDelivered,
    advanceDeliveredMany(chatId: string, moves: DeliveredMove[], at: number): CursorAdvance[] {
      return moves.map((m) => moveDelivered(m.deviceId, m.userId, chatId, m.seq, at));
    },
    advanceRead: moveRead,
    advanceReadMany(chatId: string, moves: DeliveredMove[], at: number): { delivered: CursorAdvance; read: CursorAdvance }[] {
      return moves.map((m) => moveRead(m.deviceId, m.userId, chatId, m.seq, at));
    },

    createGroup(
      g: {
        chatId: string;
        name: string;
        createdBy: string;
        createdAt: number;
        members: { userId: string; role: Role }[];
        encrypted?: boolean;
      },
      hook = false,
    ): void {
      s.insertChat.run(g.chatId, 'group', g.name, g.createdBy, g.createdAt, g.createdAt);
      if (g.encrypted) s.setEncrypted.run(g.chatId);
      for (const m of g.members) s.insertMember.run(g.chatId, m.userId, m.role, 0, g.createdAt, 0, 0, 0);
      if (hook) hooks.recordGroup(g.chatId, g.createdAt);
    },
    // Checked and applied in one write: the single writer serializes every change.
    addMembers(
      chatId: string,
      actorId: string,
      userIds: string[],
      at: number,
      maxMembers: number,
      hook = false,
    ): { added: string[] } | MembershipRefusal {
      const chat = s.chatById.get(chatId) as Row | undefined;
      const actor = s.member.get(chatId, actorId) as Row | undefined;
      if (!chat || !actor) return 'no_such_group';
      if (actor.role !== 'admin') return 'forbidden';
      const fresh = [...new Set(userIds)].filter((id) => !s.member.get(chatId, id));
      const count = (s.memberCount.get(chatId) as Row).n as number;
      if (count + fresh.length > maxMembers) return 'too_large';
      for (const userId of fresh) {
        // A member added now is owed only what is sent after joining.
        s.insertMember.run(chatId, userId, 'member', chat.last_seq, at, chat.last_seq, chat.last_seq, chat.msg_count);
      }
      if (fresh.length > 0) s.bumpMembersVersion.run(chatId);
      if (hook && fresh.length > 0) hooks.recordGroup(chatId, at);
      return { added: fresh };
    },
    removeMember(chatId: string, actorId: string, userId: string, hook = false, at = 0): 'removed' | MembershipRefusal {
      const actor = s.member.get(chatId, actorId) as Row | undefined;
      if (!actor) return 'no_such_group';
      if (actorId !== userId && actor.role !== 'admin') return 'forbidden';
      if (s.deleteMember.run(chatId, userId).changes === 0) return 'not_a_member';
      const rest = s.members.all(chatId) as Row[];
      // Members come oldest first: the oldest becomes admin when none is left.
      if (rest.length > 0 && !rest.some((m) => m.role === 'admin')) s.setRole.run('admin', chatId, rest[0]!.user_id);
      s.bumpMembersVersion.run(chatId);
      if (hook) hooks.recordGroup(chatId, at);
      return 'removed';
    },
    renameGroup(chatId: string, name: string, hook = false, at = 0): void {
      s.renameChat.run(name, chatId);
      if (hook) hooks.recordGroup(chatId, at);
    },

    /** Search changes the search file has applied (sqlite-search-file.ts): the indexer never reads them again. */
    dropSearchChanges(upto: number): void {
      s.dropSearchChanges.run(upto);
    },

    setPushTarget(deviceId: string, userId: string, target: PushTarget): void {
      const { provider, data } = encodePushTarget(target);
      s.setPushTarget.run(provider, data, deviceId, userId);
    },
    deletePushTarget(deviceId: string, only?: PushTarget): void {
      if (!only) {
        s.deletePushTargets.run(deviceId);
        return;
      }
      const { provider, data } = encodePushTarget(only);
      s.deletePushTarget.run(deviceId, provider, data);
    },

    createMedia(m: MediaRecord): void {
      s.insertMedia.run(
        m.id,
        m.ownerId,
        m.contentType,
        m.size,
        m.filename,
        m.createdAt,
        m.parentId,
        m.attached ? 1 : 0,
        m.info ? JSON.stringify(m.info) : null,
      );
    },
    setMediaInfo(id: string, info: MediaInfo): void {
      s.setMediaInfo.run(JSON.stringify(info), id);
    },
    attachMedia(mediaIds: string[], messageId: string, at: number): number {
      let found = 0;
      for (const id of new Set(mediaIds)) {
        if (!s.mediaExists.get(id)) continue;
        found++;
        s.mediaRef.run(id, messageId);
        s.markAttached.run({ id, at });
      }
      return found;
    },
    settleMedia(before: number, limit: number): number {
      return s.settleMedia.run(before, limit).changes;
    },
    /** The writer is the only one: what is read here is what is deleted (see media-index.ts takeOrphans). */
    takeMediaOrphans(before: number, limit: number): MediaRecord[] {
      const never = s.orphans.all(before, limit) as MediaRow[];
      const unsent = limit > never.length ? (s.unsent.all({ before, limit: limit - never.length }) as MediaRow[]) : [];
      const taken: MediaRecord[] = [];
      for (const row of [...never, ...unsent]) {
        for (const r of [row, ...(s.thumbsOf.all(row.id) as MediaRow[])]) {
          s.deleteMedia.run(r.id);
          taken.push(toMediaRecord(r));
        }
        s.deleteMediaRefs.run(row.id);
      }
      return taken;
    },
  };
}

export type SqliteWriteOps = ReturnType<typeof sqliteWriteOps>;
export type SqliteWriteName = keyof SqliteWriteOps;

/** One write as it crosses to the writer thread. */
/**
 * Writes nobody waits on in order to be answered (receipt cursors, activity times, dropping
 * applied search changes): the writer thread commits them in a lane of their own, only when no
 * other write waits: a large group's members acknowledge a message together, and a
 * thousand cursor moves in one transaction would otherwise hold the next send's commit
 * (and so its ack_sent) for tens of milliseconds. A cursor move is never about a message
 * that is not committed yet, so taking it after later sends changes nothing it answers.
 */
export const BACKGROUND_OPS: ReadonlySet<SqliteWriteName> = new Set([
  'advanceDelivered',
  'advanceDeliveredMany',
  'advanceRead',
  'advanceReadMany',
  'touchDevice',
  'setLastSeen',
  'dropSearchChanges',
  'expireMessages',
]);

/**
 * Background writes that ride along in the next background commit that happens anyway (the
 * writer thread adds one to the next commit of cursor moves, activity times and the like),
 * rather than taking a commit and an fsync of their own: retention's erasures. Each is a
 * small slice (SqliteStore.expireMessages); a send's commit never carries one, so sends
 * wait for a slice only when they arrive while one commits.
 */
export const RIDING_OPS: ReadonlySet<SqliteWriteName> = new Set(['expireMessages']);

export interface SqliteWriteCall {
  op: SqliteWriteName;
  args: unknown[];
}

/** What one write came to: its answer, or the message of what it threw. */
export type SqliteWriteOutcome = { ok: true; value: unknown } | { ok: false; error: { message: string; code?: string } };

/**
 * One transaction for the whole batch. Writes rarely fail, so the batch first runs
 * without savepoints; if one throws, that attempt is rolled back and the batch runs
 * again with each write in its own savepoint, so the failure fails only itself.
 * BEGIN IMMEDIATE: the write lock is taken first, waiting (busy_timeout) while a RESTART
 * checkpoint holds it; a deferred transaction that had read first would instead fail at
 * once with SQLITE_BUSY when the checkpoint had moved the WAL under its snapshot.
 */
export function commitWrites(db: Database.Database, ops: SqliteWriteOps, calls: SqliteWriteCall[]): SqliteWriteOutcome[] {
  const run = (c: SqliteWriteCall) => (ops[c.op] as (...a: unknown[]) => unknown)(...c.args);
  try {
    return db.transaction(() => calls.map((c): SqliteWriteOutcome => ({ ok: true, value: run(c) }))).immediate();
  } catch {
    return db
      .transaction(() =>
        calls.map((c): SqliteWriteOutcome => {
          try {
            return { ok: true, value: db.transaction(() => run(c))() };
          } catch (err) {
            const e = err as { message?: string; code?: string };
            return { ok: false, error: { message: String(e?.message ?? err), code: e?.code } };
          }
        }),
      )
      .immediate();
  }
}
