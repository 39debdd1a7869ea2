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
    // What the search indexer must take out again (migration 20): a row with the words as they
    // are before the change, no FTS work here. Run before the change itself.
    noteSearchChange: db.prepare(
      `INSERT INTO search_changes (msg_rowid, content, chat) SELECT rowid, content, replace(chat_id, ':', 'x') FROM messages WHERE rowid = ?`,
    ),
    noteSearchChanges: db.prepare(
      `INSERT INTO search_changes (msg_rowid, content, chat) SELECT rowid, content, replace(chat_id, ':', 'x') FROM messages
       WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY rowid`,
    ),
    noteRowidsFree: db.prepare('INSERT INTO search_changes (msg_rowid, free) VALUES (?, 1)'),
    maxRowid: db.prepare('SELECT COALESCE(MAX(rowid), 0) AS r FROM messages'),
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
    oldest: db.prepare(
      'SELECT rowid, id, chat_id, seq, kind, sender_id, deleted, created_at, attachments IS NOT NULL AS files FROM messages ORDER BY rowid LIMIT ?',
    ),
    // Set-based forms of erase() for a batch of expired messages (ids as a JSON array): what
    // retention runs when no webhook event waits in the outbox (the common case).
    eraseEditsIn: db.prepare(`UPDATE messages SET content = '' WHERE target_id IN (SELECT value FROM json_each(?)) AND kind = 'edit'`),
    eraseReactsIn: db.prepare(`UPDATE messages SET emoji = '' WHERE target_id IN (SELECT value FROM json_each(?)) AND kind = 'react'`),
    dropReactionsIn: db.prepare('DELETE FROM reactions WHERE message_id IN (SELECT value FROM json_each(?))'),
    emptyPreviewsIn: db.prepare(`UPDATE messages SET reply_preview = '' WHERE reply_to_id IN (SELECT value FROM json_each(?))`),
    dropEntriesIn: db.prepare('DELETE FROM messages WHERE rowid IN (SELECT value FROM json_each(?))'),
    dropEntry: db.prepare('DELETE FROM messages WHERE rowid = ?'),
    dropRefsOf: db.prepare('DELETE FROM media_refs WHERE message_id = ?'),
    // Unread counters (migration 14) of members whose read position is below what retention
    // left of the chat (expireMessages): the chat's message count before its first row left
    // (a message row counts itself), or the chat's count when none is left.
    firstLeft: db.prepare(`SELECT seq, msg_ord - (kind = 'message') AS before FROM messages WHERE chat_id = ? ORDER BY seq LIMIT 1`),
    chatCount: db.prepare('SELECT msg_count, last_seq FROM chats WHERE id = ?'),
    membersBelow: db.prepare(
      'SELECT user_id, MAX(read_seq, joined_seq) AS pos, own_after_read FROM chat_members WHERE chat_id = ? AND MAX(read_seq, joined_seq) < ?',
    ),
    setUnread: db.prepare('UPDATE chat_members SET read_msg_count = ?, own_after_read = ? WHERE chat_id = ? AND user_id = ?'),
  };

  /** Erases a deleted message's text, attachments, mentions, reactions, previews quoting it and index entry; answers the media to delete. */
  const erase = (target: Row): string[] => {
    const id = target.id as string;
    // The index entry leaves on the search indexer's thread (migration 20): an FTS5 write here
    // would flush, and merge, inside this commit. Search already skips a deleted message.
    s.noteSearchChange.run(target.rowid);
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
    return eraseMedia(id);
  };

  /** An erased message's media, unless another stored message or an avatar still uses it; answers the media to delete. */
  const eraseMedia = (id: string): string[] => {
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

  /**
   * Unread counters (migration 14) after retention erased `rows` (each chat's erased rows
   * are the start of its log: retention goes in commit order). A member whose read position
   * is below what is left has read everything before it (read_msg_count), and of their own
   * messages above the position, those erased no longer count (own_after_read): worked
   * out from the erased rows, not by counting what is left (a chat may hold millions).
   */
  const recountExpired = (rows: Row[]): void => {
    const own = new Map<string, Map<string, number[]>>();
    for (const r of rows) {
      let senders = own.get(r.chat_id as string);
      if (!senders) own.set(r.chat_id as string, (senders = new Map()));
      if (r.kind !== 'message') continue;
      const seqs = senders.get(r.sender_id as string) ?? [];
      seqs.push(r.seq as number);
      senders.set(r.sender_id as string, seqs);
    }
    for (const [chatId, senders] of own) {
      const first = s.firstLeft.get(chatId) as Row | undefined;
      const chat = first ? undefined : (s.chatCount.get(chatId) as Row | undefined);
      const before = first ? (first.before as number) : ((chat?.msg_count as number | undefined) ?? 0);
      const firstSeq = first ? (first.seq as number) : ((chat?.last_seq as number | undefined) ?? 0) + 1;
      for (const m of s.membersBelow.all(chatId, firstSeq) as Row[]) {
        const above = (senders.get(m.user_id as string) ?? []).filter((seq) => seq > (m.pos as number)).length;
        s.setUnread.run(before, Math.max(0, (m.own_after_read as number) - above), chatId, m.user_id);
      }
    }
  };

  return {
    /**
     * Retention (RETENTION_DAYS): erases up to `limit` of the oldest log entries created
     * before `before`, each message as by delete for everyone (erase above: text, media,
     * mentions, reactions, quotes, index entry), then removes the rows, so history starts
     * after them. A background op: one small transaction per call. `more`: a full batch was
     * old, so more may be waiting.
     */
    expireMessages(before: number, limit: number): ExpiredBatch {
      const started = performance.now();
      const rows: Row[] = [];
      for (const row of s.oldest.all(limit) as Row[]) {
        if ((row.created_at as number) >= before) break;
        rows.push(row);
      }
      const erasedMedia: string[] = [];
      const live = rows.filter((r) => r.kind === 'message' && r.deleted === 0);
      if (s.outboxHasRows.get()) {
        // Webhook events waiting to go carry the messages: the full erase rewrites them one by one.
        for (const row of live) erasedMedia.push(...erase(row));
      } else if (live.length > 0) {
        // The same erase as above, a statement per kind of row instead of per message:
        // a batch is one short transaction that sends queue behind.
        for (const row of live) if (row.files === 1) erasedMedia.push(...eraseMedia(row.id as string));
        // As erase() does: the index entries leave on the search indexer's thread.
        s.noteSearchChanges.run(JSON.stringify(live.map((r) => r.rowid as number)));
        const ids = JSON.stringify(live.map((r) => r.id as string));
        s.eraseEditsIn.run(ids);
        s.eraseReactsIn.run(ids);
        s.dropReactionsIn.run(ids);
        s.emptyPreviewsIn.run(ids);
      }
      s.dropEntriesIn.run(JSON.stringify(rows.map((r) => r.rowid as number)));
      for (const row of rows) if (row.files === 1) s.dropRefsOf.run(row.id);
      recountExpired(rows);
      const erased = rows.length;
      // With the newest rows gone (everything had expired), SQLite hands out their rowids
      // again: the search indexer must count what comes there as not indexed yet.
      if (erased > 0) {
        const top = (s.maxRowid.get() as Row).r as number;
        if ((rows[rows.length - 1]!.rowid as number) > top) s.noteRowidsFree.run(top);
      }
      // A full batch was old: more may be waiting.
      const more = erased === limit;
      return { erased, erasedMedia, more, workMs: performance.now() - started };
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
        // Its old words leave the index and the new ones come in on the search indexer's thread.
        s.noteSearchChange.run(t.rowid);
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
