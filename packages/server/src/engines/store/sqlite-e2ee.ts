import type Database from 'better-sqlite3';
import type { ClaimResult, KeyPackageCounts, MemberDevice, MlsWelcome } from '@switchboard/protocol';
import type { SqliteWriter } from './sqlite-writer.js';
import type { CommitRequest, CommitResult, E2eeStore, MlsChatRecord } from './e2ee-store.js';
import { MESSAGE_COLS, toEntry } from './rows.js';
import type { StoredCommit } from './store.js';

/*
 * SqliteStore's e2ee part (docs/e2ee.md): reads on the store's connection, writes as named
 * operations on the writer thread (spread into sqlite-writes.ts). The single writer
 * serializes every write, so the epoch check and the claim need no lock of their own.
 */

type Row = Record<string, any>;

/** The welcomes a device is owed, oldest first (both stores read them with this). */
export const WELCOMES_SQL = `SELECT w.id AS welcome_id, w.chat_id, w.epoch, w.data AS welcome, w.created_at
  FROM mls_welcome_devices d JOIN mls_welcomes w ON w.id = d.welcome_id WHERE d.device_id = ? ORDER BY w.created_at, w.id`;

export const toWelcome = (r: Row): MlsWelcome => ({
  welcome_id: r.welcome_id,
  chat_id: r.chat_id,
  epoch: Number(r.epoch),
  welcome: r.welcome,
  created_at: Number(r.created_at),
});

export function sqliteE2eeOps(db: Database.Database) {
  const s = {
    count: db.prepare('SELECT COUNT(*) AS n FROM mls_key_packages WHERE device_id = ? AND last_resort = 0'),
    hasLastResort: db.prepare('SELECT 1 FROM mls_key_packages WHERE device_id = ? AND last_resort = 1'),
    insert: db.prepare('INSERT INTO mls_key_packages (device_id, user_id, data, last_resort, created_at) VALUES (?, ?, ?, ?, ?)'),
    dropLastResort: db.prepare('DELETE FROM mls_key_packages WHERE device_id = ? AND last_resort = 1'),
    liveDevices: db.prepare(
      `SELECT d.user_id, d.id AS device_id FROM devices d JOIN users u ON u.id = d.user_id
       WHERE d.user_id = ? AND d.revoked_at IS NULL AND u.deleted_at IS NULL ORDER BY d.id`,
    ),
    oldest: db.prepare('SELECT id, data FROM mls_key_packages WHERE device_id = ? AND last_resort = 0 ORDER BY id LIMIT 1'),
    lastResort: db.prepare('SELECT id, data FROM mls_key_packages WHERE device_id = ? AND last_resort = 1 ORDER BY id DESC LIMIT 1'),
    take: db.prepare('DELETE FROM mls_key_packages WHERE id = ?'),
    existing: db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = ? AND sender_id = ? AND client_msg_id = ?`),
    chat: db.prepare('SELECT * FROM chats WHERE id = ?'),
    insertChat: db.prepare(
      `INSERT INTO chats (id, kind, name, created_by, created_at, last_seq, last_at) VALUES (?, 'direct', NULL, ?, ?, 0, ?)`,
    ),
    insertMember: db.prepare(
      `INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq)
       VALUES (?, ?, 'member', 0, ?, 0, 0) ON CONFLICT (chat_id, user_id) DO NOTHING`,
    ),
    member: db.prepare('SELECT 1 FROM chat_members WHERE chat_id = ? AND user_id = ?'),
    memberDevice: db.prepare(
      `SELECT 1 FROM devices d JOIN chat_members cm ON cm.user_id = d.user_id AND cm.chat_id = ?
       WHERE d.id = ? AND d.revoked_at IS NULL`,
    ),
    bump: db.prepare(
      `UPDATE chats SET last_seq = last_seq + 1, last_at = ?, mls_epoch = mls_epoch + 1, encrypted = 1, mls_group_info = ?
       WHERE id = ? RETURNING last_seq, mls_epoch, msg_count`,
    ),
    insertCommit: db.prepare(
      // msg_ord: the chat's message count as of this row, like a change row (unread counts; a commit is never unread).
      `INSERT INTO messages (id, chat_id, seq, sender_id, sender_device_id, client_msg_id, content, created_at, kind, ciphertext, epoch, msg_ord)
       VALUES (?, ?, ?, ?, ?, ?, '', ?, 'mls_commit', ?, ?, ?)`,
    ),
    insertWelcome: db.prepare('INSERT INTO mls_welcomes (id, chat_id, epoch, data, created_at) VALUES (?, ?, ?, ?, ?)'),
    insertWelcomeDevice: db.prepare('INSERT OR IGNORE INTO mls_welcome_devices (device_id, welcome_id) VALUES (?, ?)'),
    ackWelcome: db.prepare('DELETE FROM mls_welcome_devices WHERE device_id = ? AND welcome_id = ?'),
    welcomeLeft: db.prepare('SELECT 1 FROM mls_welcome_devices WHERE welcome_id = ? LIMIT 1'),
    dropWelcome: db.prepare('DELETE FROM mls_welcomes WHERE id = ?'),
  };
  const counts = (deviceId: string): KeyPackageCounts => ({
    available: (s.count.get(deviceId) as Row).n as number,
    last_resort: s.hasLastResort.get(deviceId) !== undefined,
  });
  return {
    addKeyPackages(
      deviceId: string,
      userId: string,
      packages: string[],
      lastResort: string | undefined,
      at: number,
      max: number,
    ): KeyPackageCounts | 'too_many' {
      if (counts(deviceId).available + packages.length > max) return 'too_many';
      for (const p of packages) s.insert.run(deviceId, userId, p, 0, at);
      if (lastResort !== undefined) {
        s.dropLastResort.run(deviceId);
        s.insert.run(deviceId, userId, lastResort, 1, at);
      }
      return counts(deviceId);
    },
    claimKeyPackages(userIds: string[], exceptDevice: string): ClaimResult {
      const out: ClaimResult = { key_packages: [], missing: [] };
      for (const userId of new Set(userIds)) {
        for (const d of s.liveDevices.all(userId) as MemberDevice[]) {
          if (d.device_id === exceptDevice) continue;
          const one = s.oldest.get(d.device_id) as Row | undefined;
          if (one) {
            s.take.run(one.id);
            out.key_packages.push({ ...d, key_package: one.data, last_resort: false });
            continue;
          }
          const last = s.lastResort.get(d.device_id) as Row | undefined;
          if (last) out.key_packages.push({ ...d, key_package: last.data, last_resort: true });
          else out.missing.push(d);
        }
      }
      return out;
    },
    appendCommit(req: CommitRequest): CommitResult {
      const existing = s.existing.get(req.chatId, req.senderId, req.clientMsgId) as Row | undefined;
      if (existing) {
        const entry = toEntry(existing) as StoredCommit;
        if (existing.kind !== 'mls_commit') return { refused: 'not_encrypted' };
        return { entry, duplicate: true, epoch: entry.epoch + 1 };
      }
      let chat = s.chat.get(req.chatId) as Row | undefined;
      if (!chat && req.createDirectWith && req.epoch === 0) {
        s.insertChat.run(req.chatId, req.senderId, req.createdAt, req.createdAt);
        for (const userId of new Set(req.createDirectWith)) s.insertMember.run(req.chatId, userId, req.createdAt);
        chat = s.chat.get(req.chatId) as Row;
      }
      if (!chat) return { refused: 'no_chat' };
      if (!s.member.get(req.chatId, req.senderId)) return { refused: 'not_a_member' };
      if (chat.kind === 'group' && chat.encrypted !== 1) return { refused: 'not_encrypted' };
      if (chat.mls_epoch !== req.epoch) return { stale: chat.mls_epoch as number };
      for (const w of req.welcomes)
        for (const deviceId of w.deviceIds) if (!s.memberDevice.get(req.chatId, deviceId)) return { refused: 'unknown_device' };
      const bumped = s.bump.get(req.createdAt, req.groupInfo, req.chatId) as Row;
      const seq = bumped.last_seq as number;
      s.insertCommit.run(
        req.messageId,
        req.chatId,
        seq,
        req.senderId,
        req.senderDeviceId,
        req.clientMsgId,
        req.createdAt,
        req.commit,
        req.epoch,
        bumped.msg_count as number,
      );
      for (const w of req.welcomes) {
        s.insertWelcome.run(w.welcomeId, req.chatId, req.epoch + 1, w.data, req.createdAt);
        for (const deviceId of w.deviceIds) s.insertWelcomeDevice.run(deviceId, w.welcomeId);
      }
      const entry: StoredCommit = {
        message_id: req.messageId,
        chat_id: req.chatId,
        seq,
        sender_id: req.senderId,
        sender_device_id: req.senderDeviceId,
        client_msg_id: req.clientMsgId,
        created_at: req.createdAt,
        epoch: req.epoch,
        commit: req.commit,
      };
      return { entry, duplicate: false, epoch: bumped.mls_epoch as number };
    },
    ackWelcome(deviceId: string, welcomeId: string): boolean {
      if (s.ackWelcome.run(deviceId, welcomeId).changes === 0) return false;
      // Stored once for every device it names: gone with the last acknowledgement.
      if (!s.welcomeLeft.get(welcomeId)) s.dropWelcome.run(welcomeId);
      return true;
    },
  };
}

export class SqliteE2ee implements E2eeStore {
  private readonly s;

  constructor(
    db: Database.Database,
    private readonly writer: SqliteWriter,
  ) {
    this.s = {
      count: db.prepare('SELECT COUNT(*) AS n FROM mls_key_packages WHERE device_id = ? AND last_resort = 0'),
      hasLastResort: db.prepare('SELECT 1 FROM mls_key_packages WHERE device_id = ? AND last_resort = 1'),
      liveDevices: db.prepare(
        `SELECT d.user_id, d.id AS device_id FROM devices d JOIN users u ON u.id = d.user_id
         WHERE d.user_id = ? AND d.revoked_at IS NULL AND u.deleted_at IS NULL ORDER BY d.id`,
      ),
      chat: db.prepare('SELECT encrypted, mls_epoch, mls_group_info FROM chats WHERE id = ?'),
      welcomes: db.prepare(WELCOMES_SQL),
    };
  }

  addKeyPackages(deviceId: string, userId: string, packages: string[], lastResort: string | undefined, at: number, max: number) {
    return this.writer.write('addKeyPackages', deviceId, userId, packages, lastResort, at, max);
  }

  async keyPackageCounts(deviceId: string): Promise<KeyPackageCounts> {
    return {
      available: (this.s.count.get(deviceId) as Row).n as number,
      last_resort: this.s.hasLastResort.get(deviceId) !== undefined,
    };
  }

  claimKeyPackages(userIds: string[], exceptDevice: string): Promise<ClaimResult> {
    return this.writer.write('claimKeyPackages', userIds, exceptDevice);
  }

  async liveDevices(userIds: string[]): Promise<MemberDevice[]> {
    return [...new Set(userIds)].sort().flatMap((u) => this.s.liveDevices.all(u) as MemberDevice[]);
  }

  async chat(chatId: string): Promise<MlsChatRecord | null> {
    const r = this.s.chat.get(chatId) as Row | undefined;
    return r
      ? { encrypted: r.encrypted === 1, epoch: r.mls_epoch as number, groupInfo: (r.mls_group_info as string | null) ?? null }
      : null;
  }

  appendCommit(request: CommitRequest): Promise<CommitResult> {
    return this.writer.write('appendCommit', request);
  }

  async welcomes(deviceId: string): Promise<MlsWelcome[]> {
    return (this.s.welcomes.all(deviceId) as Row[]).map(toWelcome);
  }

  ackWelcome(deviceId: string, welcomeId: string): Promise<boolean> {
    return this.writer.write('ackWelcome', deviceId, welcomeId);
  }
}
