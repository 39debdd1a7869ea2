import type { PoolClient } from 'pg';
import type { ChatSettingsView, ReactionSummary } from '@switchboard/protocol';
import { changeRefusal } from './change-rules.js';
import { M_MESSAGE_COLS, summarizeReactions, toEntry, toMessage, type ReactionRow } from './rows.js';
import { idPattern, MESSAGE_EVENT_TYPES } from './webhook-outbox.js';
import type { ChangeRequest, ChangeResult, ChatSettingsPatch, ExpiredBatch, Role } from './store.js';

/*
 * The cluster store's message lifecycle (PROTOCOL.md "Message lifecycle"), kept out of
 * postgres-store.ts: an edit, delete or reaction appended to the chat's log and applied to
 * its target in one transaction under the chat's row lock (the lock appends take too, so
 * seqs stay gap-free and a change is judged against the target as it is then), and the
 * per-member chat settings. Search reads content itself (PostgresStore.search), so an edit
 * or an erasure is searched as it is now.
 */

type Tx = Pick<PoolClient, 'query'>;

interface TargetRow {
  chat_id: string;
  kind: string;
  seq: number;
  sender_id: string;
  created_at: number;
  deleted: boolean;
}

/** One change, run inside a write transaction of PostgresStore. */
export async function applyChangePg(tx: Tx, req: ChangeRequest): Promise<ChangeResult> {
  const existing = async () =>
    (
      await tx.query(`SELECT ${M_MESSAGE_COLS} FROM messages m WHERE m.chat_id = $1 AND m.sender_id = $2 AND m.client_msg_id = $3`, [
        req.chatId,
        req.senderId,
        req.clientMsgId,
      ])
    ).rows[0] as unknown;
  const { rows: chats } = await tx.query<{
    kind: 'direct' | 'group';
    last_seq: number;
    members_version: number;
    msg_count: number;
    creator_count: number;
  }>('SELECT kind, last_seq, members_version, msg_count, creator_count FROM chats WHERE id = $1 FOR UPDATE', [req.chatId]);
  const repeat = await existing();
  if (repeat) return { entry: toEntry(repeat), duplicate: true, erasedMedia: [] };
  const chat = chats[0];
  // A direct chat without a message yet has nothing to change.
  if (!chat) return { refused: 'invalid_reference' };
  const { rows: members } = chat
    ? await tx.query<{ role: Role; joined_seq: number }>('SELECT role, joined_seq FROM chat_members WHERE chat_id = $1 AND user_id = $2', [
        req.chatId,
        req.senderId,
      ])
    : { rows: [] };
  const { rows: targets } = await tx.query<TargetRow>(
    'SELECT m.chat_id, m.kind, m.seq, m.sender_id, m.created_at, m.deleted FROM messages m WHERE m.id = $1',
    [req.targetId],
  );
  const member = members[0];
  const target = targets[0];
  const refusal = changeRefusal(
    req,
    chat?.kind ?? 'direct',
    member ? { role: member.role, joinedSeq: member.joined_seq } : null,
    target
      ? {
          chatId: target.chat_id,
          kind: target.kind,
          seq: target.seq,
          senderId: target.sender_id,
          createdAt: target.created_at,
          deleted: target.deleted,
        }
      : null,
  );
  if (refusal) return { refused: refusal };
  const seq = chat!.last_seq + 1;
  const content = req.action === 'edit' ? (req.content ?? '') : '';
  const emoji = req.action === 'react' ? (req.emoji ?? '') : null;
  // A change takes the next seq but leaves last_at: an edit or a reaction does not move a chat up the list.
  // It is no message either: the chat's message counts stay, and the row keeps them (msg_ord, creator_ord).
  await tx.query(
    `WITH bumped AS (UPDATE chats SET last_seq = $3 WHERE id = $2)
     INSERT INTO messages (id, chat_id, seq, sender_id, sender_device_id, client_msg_id, content, created_at, kind, target_id, emoji, msg_ord,
       creator_ord)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [
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
      chat!.msg_count,
      chat!.kind === 'direct' ? chat!.creator_count : null,
    ],
  );
  let erasedMedia: string[] = [];
  const at = { chat: req.chatId, seq: target!.seq };
  if (req.action === 'edit') {
    await tx.query('UPDATE messages SET content = $3, edited_at = $4 WHERE chat_id = $1 AND seq = $2', [
      at.chat,
      at.seq,
      content,
      req.createdAt,
    ]);
  } else if (req.action === 'delete') {
    erasedMedia = await erase(tx, [{ chatId: req.chatId, seq: target!.seq, id: req.targetId }]);
  } else if (emoji) {
    await tx.query(
      `INSERT INTO reactions (message_id, user_id, emoji, at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (message_id, user_id) DO UPDATE SET emoji = excluded.emoji, at = excluded.at`,
      [req.targetId, req.senderId, emoji, req.createdAt],
    );
  } else {
    await tx.query('DELETE FROM reactions WHERE message_id = $1 AND user_id = $2', [req.targetId, req.senderId]);
  }
  return { entry: toEntry(await existing()), duplicate: false, erasedMedia, membersVersion: chat!.members_version };
}

/** A message to erase, where it sits. */
interface EraseTarget {
  chatId: string;
  seq: number;
  id: string;
}

/**
 * Erases messages as by delete for everyone: text, attachments, mentions, reactions, edits'
 * text and previews quoting them; answers the media to delete. Set-based, so retention
 * erases a batch in the same few statements a single delete takes.
 */
async function erase(tx: Tx, targets: EraseTarget[]): Promise<string[]> {
  if (targets.length === 0) return [];
  const chats = targets.map((t) => t.chatId);
  const ids = targets.map((t) => t.id);
  await tx.query(
    `UPDATE messages m SET content = '', attachments = NULL, mentions = NULL, reply_to_id = NULL, reply_sender_id = NULL,
       reply_preview = NULL, forwarded = false, edited_at = NULL, deleted = true, ciphertext = NULL
     FROM unnest($1::text[], $2::bigint[]) AS t(chat_id, seq) WHERE m.chat_id = t.chat_id AND m.seq = t.seq`,
    [chats, targets.map((t) => t.seq)],
  );
  await tx.query(
    `UPDATE messages m SET content = '', emoji = CASE WHEN m.kind = 'react' THEN '' ELSE m.emoji END
     FROM unnest($1::text[], $2::text[]) AS t(chat_id, id)
     WHERE m.chat_id = t.chat_id AND m.target_id = t.id AND m.kind IN ('edit', 'react')`,
    [chats, ids],
  );
  await tx.query('DELETE FROM reactions WHERE message_id = ANY($1::text[])', [ids]);
  await tx.query(
    `UPDATE messages m SET reply_preview = '' FROM unnest($1::text[], $2::text[]) AS t(chat_id, id)
     WHERE m.chat_id = t.chat_id AND m.reply_to_id = t.id`,
    [chats, ids],
  );
  if ((await tx.query('SELECT 1 FROM webhook_outbox LIMIT 1')).rowCount !== 0)
    for (const t of targets) await eraseFromOutbox(tx, t.chatId, t.seq, t.id);
  // The media rows first, locked: setting one as an avatar (which locks its row too) either
  // committed before, and is seen below, or waits and then finds the media gone.
  await tx.query(
    'SELECT 1 FROM media WHERE id IN (SELECT media_id FROM media_refs WHERE message_id = ANY($1::text[])) ORDER BY id FOR UPDATE',
    [ids],
  );
  // Media another stored message still carries, or that is someone's current avatar, stays
  // (its bytes are theirs too); these messages' references go either way.
  const { rows } = await tx.query<{ id: string }>(
    `WITH mine AS (
       SELECT DISTINCT r.media_id FROM media_refs r WHERE r.message_id = ANY($1::text[])
         AND NOT EXISTS (
           SELECT 1 FROM media_refs o JOIN messages g ON g.id = o.message_id
           WHERE o.media_id = r.media_id AND NOT (o.message_id = ANY($1::text[])) AND NOT g.deleted)
         AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar_media_id = r.media_id)
     ), gone AS (
       DELETE FROM media WHERE id IN (SELECT media_id FROM mine) OR parent_id IN (SELECT media_id FROM mine) RETURNING id
     ), refs AS (
       DELETE FROM media_refs WHERE media_id IN (SELECT media_id FROM mine) OR message_id = ANY($1::text[])
     )
     SELECT id FROM gone`,
    [ids],
  );
  return rows.map((r) => r.id);
}

/** The turn of retention in a cluster: one node erases at a time (a transaction-level advisory lock, per schema). */
const RETENTION_LOCK = `SELECT pg_try_advisory_xact_lock(hashtext('switchboard-retention:' || current_schema())) AS got`;

/**
 * Retention (RETENTION_DAYS), inside one transaction: takes the cluster's turn (null when
 * another node has it), erases up to `limit` of the oldest log entries created before
 * `before` (messages as by delete for everyone, by erase above) and removes them from the
 * log. Found by messages_created (PostgreSQL migration 12).
 */
export async function expireMessagesPg(tx: Tx, before: number, limit: number): Promise<ExpiredBatch | null> {
  if (!(await tx.query<{ got: boolean }>(RETENTION_LOCK)).rows[0]?.got) return null;
  const { rows } = await tx.query<{ chat_id: string; seq: number; id: string; kind: string; deleted: boolean; sender_id: string }>(
    'SELECT chat_id, seq, id, kind, deleted, sender_id FROM messages WHERE created_at < $1 ORDER BY created_at LIMIT $2',
    [before, limit],
  );
  if (rows.length === 0) return { erased: 0, erasedMedia: [], more: false };
  const live = rows.filter((r) => r.kind === 'message' && !r.deleted).map((r) => ({ chatId: r.chat_id, seq: r.seq, id: r.id }));
  const erasedMedia = await erase(tx, live);
  const ids = rows.map((r) => r.id);
  await tx.query(
    `DELETE FROM messages m USING unnest($1::text[], $2::bigint[]) AS t(chat_id, seq) WHERE m.chat_id = t.chat_id AND m.seq = t.seq`,
    [rows.map((r) => r.chat_id), rows.map((r) => r.seq)],
  );
  await tx.query('DELETE FROM media_refs WHERE message_id = ANY($1::text[])', [ids]);
  // Unread counters of members whose read position is below what is left of the chat: the
  // expired messages are not unread any more (the count before the first row left, a message
  // row counting itself, or the chat's count when none is left; of their own messages above
  // their position, those erased now no longer count: worked out from the erased rows, not by
  // counting what is left, which a chat may hold millions of). The chats are locked first, in
  // id order as appends lock them, so an append's own-message count cannot slip in between.
  const chats = [...new Set(rows.map((r) => r.chat_id))].sort();
  const own = rows.filter((r) => r.kind === 'message');
  await tx.query('SELECT 1 FROM chats WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [chats]);
  await tx.query(
    `UPDATE chat_members cm SET
       -- Both counts from the first row left, or the chat's when none is (a direct chat's count
       -- of its creator's messages, migration 18; a group's rows have none: its count, 0, stays).
       (read_msg_count, read_creator_count) = (
         SELECT COALESCE(f.msg_ord, c.msg_count), COALESCE(f.creator_ord, c.creator_count)
         FROM chats c LEFT JOIN LATERAL (
           SELECT m.msg_ord - CASE WHEN m.kind = 'message' THEN 1 ELSE 0 END AS msg_ord,
             m.creator_ord - CASE WHEN m.kind = 'message' AND m.sender_id = c.created_by THEN 1 ELSE 0 END AS creator_ord
           FROM messages m WHERE m.chat_id = cm.chat_id ORDER BY m.seq LIMIT 1) f ON true
         WHERE c.id = cm.chat_id),
       own_after_read = GREATEST(0, cm.own_after_read - (
         SELECT count(*) FROM unnest($2::text[], $3::text[], $4::bigint[]) AS e(chat_id, sender_id, seq)
         WHERE e.chat_id = cm.chat_id AND e.sender_id = cm.user_id AND e.seq > GREATEST(cm.read_seq, cm.joined_seq)))
     WHERE cm.chat_id = ANY($1::text[]) AND GREATEST(cm.read_seq, cm.joined_seq) <
       COALESCE((SELECT min(m.seq) FROM messages m WHERE m.chat_id = cm.chat_id), (SELECT c.last_seq + 1 FROM chats c WHERE c.id = cm.chat_id))`,
    [chats, own.map((r) => r.chat_id), own.map((r) => r.sender_id), own.map((r) => r.seq)],
  );
  return { erased: rows.length, erasedMedia, more: rows.length === limit };
}

/**
 * Undelivered webhook events carry a Message as it was: an erased message's own events now
 * carry the erased message, and replies quoting it an empty preview. The outbox holds only
 * what is not delivered yet (usually nothing: the caller skips this then); the LIKE filter spares parsing the rest.
 */
async function eraseFromOutbox(tx: Tx, chatId: string, seq: number, messageId: string): Promise<void> {
  const { rows } = await tx.query(`SELECT ${M_MESSAGE_COLS} FROM messages m WHERE m.chat_id = $1 AND m.seq = $2`, [chatId, seq]);
  const pattern = idPattern(messageId);
  await tx.query(
    `UPDATE webhook_outbox SET data = $3 WHERE type IN ${MESSAGE_EVENT_TYPES} AND data LIKE $2 AND (data::jsonb)->>'message_id' = $1`,
    [messageId, pattern, JSON.stringify(toMessage(rows[0]))],
  );
  await tx.query(
    `UPDATE webhook_outbox SET data = jsonb_set(data::jsonb, '{reply_to,preview}', '""')::text
     WHERE type IN ${MESSAGE_EVENT_TYPES} AND data LIKE $2 AND (data::jsonb)->'reply_to'->>'message_id' = $1`,
    [messageId, pattern],
  );
}

/** PATCH settings for one member; the user's row is locked so concurrent pins (any node) count each other. */
export async function setChatSettingsPg(
  tx: Tx,
  userId: string,
  chatId: string,
  patch: ChatSettingsPatch,
  maxPinned: number,
): Promise<ChatSettingsView | 'not_a_member' | 'too_many_pinned'> {
  await tx.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [userId]);
  const { rows } = await tx.query<{ muted_until: number | null; archived: boolean; pinned: boolean }>(
    'SELECT muted_until, archived, pinned FROM chat_members WHERE chat_id = $1 AND user_id = $2',
    [chatId, userId],
  );
  const m = rows[0];
  if (!m) return 'not_a_member';
  const view: ChatSettingsView = {
    chat_id: chatId,
    muted_until: patch.mutedUntil === undefined ? m.muted_until : patch.mutedUntil,
    archived: patch.archived ?? m.archived,
    pinned: patch.pinned ?? m.pinned,
  };
  if (view.pinned && !m.pinned) {
    const { rows: count } = await tx.query<{ n: number }>('SELECT count(*) AS n FROM chat_members WHERE user_id = $1 AND pinned', [userId]);
    if (Number(count[0]!.n) >= maxPinned) return 'too_many_pinned';
  }
  await tx.query('UPDATE chat_members SET muted_until = $3, archived = $4, pinned = $5 WHERE chat_id = $1 AND user_id = $2', [
    chatId,
    userId,
    view.muted_until,
    view.archived,
    view.pinned,
  ]);
  return view;
}

export async function reactionsPg(db: Tx, messageIds: string[]): Promise<Map<string, ReactionSummary[]>> {
  if (messageIds.length === 0) return new Map();
  const { rows } = await db.query<ReactionRow>(
    'SELECT message_id, user_id, emoji FROM reactions WHERE message_id = ANY($1::text[]) ORDER BY at, user_id',
    [messageIds],
  );
  return summarizeReactions(rows);
}

export async function mutedMembersPg(db: Tx, chatId: string, userIds: string[], at: number): Promise<string[]> {
  if (userIds.length === 0) return [];
  const { rows } = await db.query<{ user_id: string }>(
    'SELECT user_id FROM chat_members WHERE chat_id = $1 AND muted_until > $2 AND user_id = ANY($3::text[])',
    [chatId, at, userIds],
  );
  return rows.map((r) => r.user_id);
}
