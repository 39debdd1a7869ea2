import type Database from 'better-sqlite3';
import type { ChatSettingsView, ReactionSummary } from '@switchboard/protocol';
import { changeRefusal } from './change-rules.js';
import { MESSAGE_COLS, summarizeReactions, toEntry, toMessage, type ReactionRow } from './rows.js';
import { idPattern, MESSAGE_EVENT_TYPES } from './webhook-outbox.js';
import type { ChangeRequest, ChangeResult, ChatSettingsPatch, ExpiredBatch, Role } from './store.js';

/*
 * The embedded store's message lifecycle (PROTOCOL.md "Message lifecycle"): edits, deletes
 * and reactions appended to the chat's log and applied to their target in the same write,
 * and the per-member chat settings. Write ops run on the writer thread (sqlite-writes.ts
 * merges them into its ops); reads run on the store's reading connection.
 */

type Row = Record<string, any>;

export function sqliteLifecycleOps(db: Database.Database) {
  const s = {
    existing: db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = ? AND sender_id = ? AND client_msg_id = ?`),
    chat: db.prepare('SELECT kind, members_version FROM chats WHERE id = ?'),
    member: db.prepare('SELECT role, joined_seq, muted_until, archived, pinned FROM chat_members WHERE chat_id = ? AND user_id = ?'),
    target: db.prepare('SELECT rowid, chat_id, kind, seq, sender_id, created_at, deleted, content FROM messages WHERE id = ?'),
    // A change takes the next seq but leaves last_at: an edit or a reaction does not move a chat up the list.
    // It is no message either: the chat's message count stays, and the row keeps it (msg_ord).
    bumpSeq: db.prepare('UPDATE chats SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq, msg_count'),
    insertChange: db.prepare(
      `INSERT INTO messages (id, chat_id, seq, sender_id, sender_device_id, client_msg_id, content, created_at, kind, target_id, emoji,
         msg_ord) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    edit: db.prepare('UPDATE messages SET content = ?, edited_at = ? WHERE id = ?'),
    searchProgress: db.prepare('SELECT last_rowid FROM search_progress WHERE id = 1'),
    // The index is contentless: an entry is removed by naming exactly what was indexed.
    ftsDelete: db.prepare(`INSERT INTO messages_fts (messages_fts, rowid, content, chat) VALUES ('delete', ?, ?, ?)`),
    ftsInsert: db.prepare('INSERT INTO messages_fts (rowid, content, chat) VALUES (?, ?, ?)'),
    erase: db.prepare(
      `UPDATE messages SET content = '', attachments = NULL, mentions = NULL, reply_to_id = NULL, reply_sender_id = NULL,
         reply_preview = NULL, forwarded = 0, edited_at = NULL, deleted = 1, ciphertext = NULL WHERE id = ?`,
    ),
    eraseEdits: db.prepare(`UPDATE messages SET content = '' WHERE target_id = ? AND kind = 'edit'`),
    eraseReacts: db.prepare(`UPDATE messages SET emoji = '' WHERE target_id = ? AND kind = 'react'`),
    dropReactions: db.prepare('DELETE FROM reactions WHERE message_id = ?'),
    emptyPreviews: db.prepare(`UPDATE messages SET reply_preview = '' WHERE reply_to_id = ?`),
    refsOf: db.prepare('SELECT media_id FROM media_refs WHERE message_id = ?'),
    otherRefs: db.prepare(
      'SELECT 1 FROM media_refs r JOIN messages g ON g.id = r.message_id WHERE r.media_id = ? AND r.message_id != ? AND g.deleted = 0 LIMIT 1',
    ),
    isAvatar: db.prepare('SELECT 1 FROM users WHERE avatar_media_id = ? LIMIT 1'),
    thumbsOf: db.prepare('SELECT id FROM media WHERE parent_id = ?'),
    deleteMedia: db.prepare('DELETE FROM media WHERE id = ?'),
    deleteRefs: db.prepare('DELETE FROM media_refs WHERE media_id = ?'),
    dropRef: db.prepare('DELETE FROM media_refs WHERE media_id = ? AND message_id = ?'),
    // Undelivered webhook events carry a Message as it was: an erased one's are rewritten
    // (its own events to the erased message, replies quoting it to an empty preview).
    erased: db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE id = ?`),
    outboxHasRows: db.prepare('SELECT 1 FROM webhook_outbox LIMIT 1'),
    outboxErase: db.prepare(
      `UPDATE webhook_outbox SET data = ? WHERE type IN ${MESSAGE_EVENT_TYPES} AND data LIKE ? ESCAPE '\\'
         AND json_extract(data, '$.message_id') = ?`,
    ),
    outboxPreviews: db.prepare(
      `UPDATE webhook_outbox SET data = json_set(data, '$.reply_to.preview', '') WHERE type IN ${MESSAGE_EVENT_TYPES}
         AND data LIKE ? ESCAPE '\\' AND json_extract(data, '$.reply_to.message_id') = ?`,
    ),
    react: db.prepare(
      `INSERT INTO reactions (message_id, user_id, emoji, at) VALUES (?, ?, ?, ?)
       ON CONFLICT (message_id, user_id) DO UPDATE SET emoji = excluded.emoji, at = excluded.at`,
    ),
    unreact: db.prepare('DELETE FROM reactions WHERE message_id = ? AND user_id = ?'),
    pinnedCount: db.prepare('SELECT COUNT(*) AS n FROM chat_members WHERE user_id = ? AND pinned = 1'),
    setSettings: db.prepare('UPDATE chat_members SET muted_until = ?, archived = ?, pinned = ? WHERE chat_id = ? AND user_id = ?'),
    // Retention walks the log in rowid (commit) order, which is created_at order but for a few ms.
    oldest: db.prepare('SELECT rowid, id, chat_id, kind, content, deleted, created_at FROM messages ORDER BY rowid LIMIT ?'),
    dropEntry: db.prepare('DELETE FROM messages WHERE rowid = ?'),
    dropRefsOf: db.prepare('DELETE FROM media_refs WHERE message_id = ?'),
    maxRowid: db.prepare('SELECT COALESCE(MAX(rowid), 0) AS r FROM messages'),
    setSearchProgress: db.prepare('UPDATE search_progress SET last_rowid = ? WHERE id = 1'),
    // Unread counters (migration 14) of members whose read position is below what retention
    // left of the chat: the expired messages are not unread any more. The count before the
    // first row left (a message row counts itself), or the chat's count when none is left;
    // their own messages among those left.
    recountExpired: db.prepare(
      `UPDATE chat_members SET
         read_msg_count = COALESCE(
           (SELECT m.msg_ord - (m.kind = 'message') FROM messages m WHERE m.chat_id = @chat ORDER BY m.seq LIMIT 1),
           (SELECT msg_count FROM chats WHERE id = @chat)),
         own_after_read = (SELECT COUNT(*) FROM messages m WHERE m.chat_id = @chat AND m.sender_id = chat_members.user_id AND m.kind = 'message')
       WHERE chat_id = @chat AND MAX(read_seq, joined_seq) <
         COALESCE((SELECT MIN(seq) FROM messages WHERE chat_id = @chat), (SELECT last_seq + 1 FROM chats WHERE id = @chat))`,
    ),
  };

  /** Erases a deleted message's text, attachments, mentions, reactions, previews quoting it and index entry; answers the media to delete. */
  const erase = (target: Row): string[] => {
    const id = target.id as string;
    if ((target.rowid as number) <= ((s.searchProgress.get() as Row).last_rowid as number)) {
      s.ftsDelete.run(target.rowid, target.content, chatToken(target.chat_id));
    }
    s.erase.run(id);
    s.eraseEdits.run(id);
    s.eraseReacts.run(id);
    s.dropReactions.run(id);
    s.emptyPreviews.run(id);
    if (s.outboxHasRows.get()) {
      const pattern = idPattern(id);
      s.outboxErase.run(JSON.stringify(toMessage(s.erased.get(id))), pattern, id);
      s.outboxPreviews.run(pattern, id);
    }
    const gone: string[] = [];
    for (const { media_id } of s.refsOf.all(id) as Row[]) {
      // Media another stored message still carries, or that is someone's current avatar,
      // stays (its bytes are theirs too); this message just no longer grants access to it.
      if (s.otherRefs.get(media_id, id) || s.isAvatar.get(media_id)) {
        s.dropRef.run(media_id, id);
        continue;
      }
      for (const t of s.thumbsOf.all(media_id) as Row[]) {
        s.deleteMedia.run(t.id);
        gone.push(t.id as string);
      }
      s.deleteMedia.run(media_id);
      s.deleteRefs.run(media_id);
      gone.push(media_id as string);
    }
    return gone;
  };

  return {
    /**
     * Retention (RETENTION_DAYS): erases up to `limit` of the oldest log entries created
     * before `before`, each message as by delete for everyone (erase above: text, media,
     * mentions, reactions, quotes, index entry), then removes the rows, so history starts
     * after them. A background op: one small transaction per call. `more`: a full batch was
     * old, so more may be waiting.
     */
    expireMessages(before: number, limit: number): ExpiredBatch & { searchProgress?: number } {
      const erasedMedia: string[] = [];
      let erased = 0;
      let more = true;
      const chats = new Set<string>();
      for (const row of s.oldest.all(limit) as Row[]) {
        if ((row.created_at as number) >= before) {
          more = false;
          break;
        }
        if (row.kind === 'message' && row.deleted === 0) erasedMedia.push(...erase(row));
        s.dropEntry.run(row.rowid);
        s.dropRefsOf.run(row.id);
        chats.add(row.chat_id as string);
        erased++;
      }
      for (const chatId of chats) s.recountExpired.run({ chat: chatId });
      if (erased < limit) more = false;
      // With the newest rows gone (everything had expired), SQLite hands out their rowids
      // again: the search progress comes down with them, or new messages would count as
      // indexed and never be.
      const top = (s.maxRowid.get() as Row).r as number;
      if (erased > 0 && ((s.searchProgress.get() as Row).last_rowid as number) > top) {
        s.setSearchProgress.run(top);
        return { erased, erasedMedia, more, searchProgress: top };
      }
      return { erased, erasedMedia, more };
    },

    applyChange(req: ChangeRequest): ChangeResult {
      const existing = s.existing.get(req.chatId, req.senderId, req.clientMsgId);
      if (existing) return { entry: toEntry(existing), duplicate: true, erasedMedia: [] };
      const chat = s.chat.get(req.chatId) as Row | undefined;
      // A direct chat without a message yet has nothing to change.
      if (!chat) return { refused: 'invalid_reference' };
      const member = chat ? (s.member.get(req.chatId, req.senderId) as Row | undefined) : undefined;
      const target = s.target.get(req.targetId) as Row | undefined;
      const refusal = changeRefusal(
        req,
        chat?.kind === 'group' ? 'group' : 'direct',
        member ? { role: member.role as Role, joinedSeq: member.joined_seq as number } : null,
        target
          ? {
              chatId: target.chat_id,
              kind: target.kind,
              seq: target.seq,
              senderId: target.sender_id,
              createdAt: target.created_at,
              deleted: target.deleted === 1,
            }
          : null,
      );
      if (refusal) return { refused: refusal };
      const bumped = s.bumpSeq.get(req.chatId) as Row;
      const seq = bumped.last_seq as number;
      const content = req.action === 'edit' ? (req.content ?? '') : '';
      const emoji = req.action === 'react' ? (req.emoji ?? '') : null;
      s.insertChange.run(
        req.messageId,
        req.chatId,
        seq,
        req.senderId,
        req.senderDeviceId,
        req.clientMsgId,
        content,
        req.createdAt,
        req.action,
        req.targetId,
        emoji,
        bumped.msg_count,
      );
      let erasedMedia: string[] = [];
      const t: Row = { ...target!, id: req.targetId };
      if (req.action === 'edit') {
        if ((t.rowid as number) <= ((s.searchProgress.get() as Row).last_rowid as number)) {
          const chatTok = chatToken(t.chat_id);
          s.ftsDelete.run(t.rowid, t.content, chatTok);
          s.ftsInsert.run(t.rowid, content, chatTok);
        }
        s.edit.run(content, req.createdAt, req.targetId);
      } else if (req.action === 'delete') {
        erasedMedia = erase(t);
      } else if (emoji) {
        s.react.run(req.targetId, req.senderId, emoji, req.createdAt);
      } else {
        s.unreact.run(req.targetId, req.senderId);
      }
      const entry = toEntry(s.existing.get(req.chatId, req.senderId, req.clientMsgId));
      return { entry, duplicate: false, erasedMedia, membersVersion: chat!.members_version as number };
    },

    setChatSettings(
      userId: string,
      chatId: string,
      patch: ChatSettingsPatch,
      maxPinned: number,
    ): ChatSettingsView | 'not_a_member' | 'too_many_pinned' {
      const m = s.member.get(chatId, userId) as Row | undefined;
      if (!m) return 'not_a_member';
      const view: ChatSettingsView = {
        chat_id: chatId,
        muted_until: patch.mutedUntil === undefined ? ((m.muted_until as number | null) ?? null) : patch.mutedUntil,
        archived: patch.archived ?? m.archived === 1,
        pinned: patch.pinned ?? m.pinned === 1,
      };
      // The single writer serializes every settings change: the count cannot move under this check.
      if (view.pinned && m.pinned !== 1 && ((s.pinnedCount.get(userId) as Row).n as number) >= maxPinned) return 'too_many_pinned';
      s.setSettings.run(view.muted_until, view.archived ? 1 : 0, view.pinned ? 1 : 0, chatId, userId);
      return view;
    },
  };
}

/** The search index's chat column: the chat id as one token (sqlite-migrations.ts, 7). */
export function chatToken(chatId: string): string {
  return chatId.replaceAll(':', 'x');
}

/** Reads of the lifecycle on the store's reading connection. */
export function sqliteLifecycleReads(db: Database.Database) {
  const reactions = db.prepare(
    'SELECT message_id, user_id, emoji FROM reactions WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY at, user_id',
  );
  const muted = db.prepare(
    'SELECT user_id FROM chat_members WHERE chat_id = ? AND muted_until > ? AND user_id IN (SELECT value FROM json_each(?))',
  );
  return {
    reactions(messageIds: string[]): Map<string, ReactionSummary[]> {
      if (messageIds.length === 0) return new Map();
      return summarizeReactions(reactions.all(JSON.stringify(messageIds)) as ReactionRow[]);
    },
    mutedMembers(chatId: string, userIds: string[], at: number): string[] {
      if (userIds.length === 0) return [];
      return (muted.all(chatId, at, JSON.stringify(userIds)) as Row[]).map((r) => r.user_id as string);
    },
  };
}
