import type pg from 'pg';
import type { ChatListPage, ChatListRow, Membership, MembershipRefusal, Role, StoredMessage } from './store.js';
import { MESSAGE_COLS, toChat, toMember, toMessage, type ChatRow, type MemberRow } from './rows.js';
import { recordGroupPg } from './postgres-webhook-outbox.js';
import type { Tx } from './postgres-group-commit.js';

/*
 * The cluster store's chat list and group membership (moved out of postgres-store.ts).
 * Every membership change locks the chat's row, applies its checks (admin, size cap, last
 * admin) with statements issued after the lock (so they see every change committed before
 * it) and bumps members_version. The append statement compares that version, read under
 * the same lock, with the one the node checked the sender against: the check and the seq
 * are one atomic step, whichever node changed the membership. The writes run inside a
 * transaction of PostgresStore's group commit; `hook` records the group.updated event.
 */

interface ChatListQueryRow extends ChatRow, MemberRow {
  last_at: number;
  unread: number;
  last_message: StoredMessage | null;
}

export async function listChatsPg(pool: pg.Pool, userId: string, page?: ChatListPage): Promise<ChatListRow[]> {
  const { rows } = await pool.query<ChatListQueryRow>(
    `SELECT c.*, cm.user_id, cm.role, cm.joined_seq, cm.joined_at, cm.delivered_seq, cm.read_seq, cm.muted_until, cm.archived, cm.pinned,
       (SELECT row_to_json(lm) FROM (
          SELECT ${MESSAGE_COLS} FROM messages m
          WHERE m.chat_id = c.id AND m.seq > cm.joined_seq AND m.kind = 'message' ORDER BY m.seq DESC LIMIT 1) lm) AS last_message,
       CASE WHEN c.kind = 'group' THEN c.msg_count - cm.read_msg_count - cm.own_after_read
         WHEN cm.user_id = c.created_by THEN c.msg_count - c.creator_count - (cm.read_msg_count - cm.read_creator_count)
         ELSE c.creator_count - cm.read_creator_count END AS unread
     FROM chat_members cm JOIN chats c ON c.id = cm.chat_id
     WHERE cm.user_id = $1 AND ($2::bigint IS NULL OR cm.pinned < $5
       OR (cm.pinned = $5 AND (c.last_at < $2 OR (c.last_at = $2 AND c.id > $3))))
     ORDER BY cm.pinned DESC, c.last_at DESC, c.id LIMIT $4`,
    [userId, page?.after?.lastAt ?? null, page?.after?.chatId ?? null, page?.limit ?? null, page?.after?.pinned ?? false],
  );
  // row_to_json renders bigint columns as JSON numbers, so last_message arrives typed.
  return rows.map((r) => ({
    chat: toChat(r),
    lastAt: r.last_at,
    member: toMember(r),
    lastMessage: r.last_message && toMessage(r.last_message),
    // Others' messages above the read position, from the counters the writes keep (postgres-migrations.ts:
    // in a group, all messages less the member's own; in a direct chat, the other member's, migration 18).
    unreadCount: Math.max(0, r.unread),
  }));
}

export async function getMembershipPg(pool: pg.Pool, chatId: string): Promise<Membership | null> {
  // One statement, one snapshot: the version and the members always belong together.
  const { rows } = await pool.query<MemberRow & { members_version: number; member: string | null }>(
    `SELECT c.members_version, cm.user_id AS member, cm.* FROM chats c LEFT JOIN chat_members cm ON cm.chat_id = c.id
     WHERE c.id = $1 ORDER BY cm.joined_at, cm.user_id`,
    [chatId],
  );
  if (rows.length === 0) return null;
  return { version: rows[0]!.members_version, members: rows.filter((r) => r.member !== null).map(toMember) };
}

export interface NewGroup {
  chatId: string;
  name: string;
  createdBy: string;
  createdAt: number;
  members: { userId: string; role: Role }[];
  /** End-to-end encrypted (docs/e2ee.md). */
  encrypted?: boolean;
}

export async function createGroupPg(tx: Tx, g: NewGroup, hook: boolean): Promise<void> {
  await tx.query(
    `WITH chat AS (
       INSERT INTO chats (id, kind, name, created_by, created_at, last_seq, last_at, encrypted)
       VALUES ($1, 'group', $2, $3, $4, 0, $4, $7) RETURNING id)
     INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq)
     SELECT chat.id, m.user_id, m.role, 0, $4, 0, 0 FROM chat, unnest($5::text[], $6::text[]) AS m(user_id, role)
     ON CONFLICT (chat_id, user_id) DO NOTHING`,
    [g.chatId, g.name, g.createdBy, g.createdAt, g.members.map((m) => m.userId), g.members.map((m) => m.role), g.encrypted === true],
  );
  if (hook) await recordGroupPg(tx, g.chatId, g.createdAt);
}

/** Locks the chat's row; the statements after it see every change committed before the lock. */
async function lockChat(tx: Tx, chatId: string): Promise<{ last_seq: number; msg_count: number } | null> {
  const { rows } = await tx.query<{ last_seq: number; msg_count: number }>(
    'SELECT last_seq, msg_count FROM chats WHERE id = $1 FOR UPDATE',
    [chatId],
  );
  return rows[0] ?? null;
}

async function roleOf(tx: Tx, chatId: string, userId: string): Promise<Role | null> {
  const { rows } = await tx.query<{ role: Role }>('SELECT role FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, userId]);
  return rows[0]?.role ?? null;
}

export async function addMembersPg(
  tx: Tx,
  chatId: string,
  actorId: string,
  unique: string[],
  at: number,
  maxMembers: number,
  hook: boolean,
): Promise<{ added: string[] } | MembershipRefusal> {
  const chat = await lockChat(tx, chatId);
  const role = chat && (await roleOf(tx, chatId, actorId));
  if (!chat || !role) return 'no_such_group';
  if (role !== 'admin') return 'forbidden';
  const { rows: present } = await tx.query<{ user_id: string }>('SELECT user_id FROM chat_members WHERE chat_id = $1', [chatId]);
  const have = new Set(present.map((r) => r.user_id));
  const fresh = unique.filter((id) => !have.has(id));
  if (have.size + fresh.length > maxMembers) return 'too_large';
  if (fresh.length === 0) return { added: [] };
  // A member added now is owed only what is sent after joining.
  await tx.query(
    `WITH added AS (
       INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq, read_msg_count)
       SELECT $1, u, 'member', $2, $3, $2, $2, $5 FROM unnest($4::text[]) AS u)
     UPDATE chats SET members_version = members_version + 1 WHERE id = $1`,
    [chatId, chat.last_seq, at, fresh, chat.msg_count],
  );
  if (hook) await recordGroupPg(tx, chatId, at);
  return { added: fresh };
}

export async function removeMemberPg(
  tx: Tx,
  chatId: string,
  actorId: string,
  userId: string,
  hook: boolean,
): Promise<'removed' | MembershipRefusal> {
  const chat = await lockChat(tx, chatId);
  const role = chat && (await roleOf(tx, chatId, actorId));
  if (!chat || !role) return 'no_such_group';
  if (actorId !== userId && role !== 'admin') return 'forbidden';
  const { rowCount } = await tx.query('DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, userId]);
  if ((rowCount ?? 0) === 0) return 'not_a_member';
  // With no admin left, the oldest member becomes one: under the chat's lock, so two
  // admins leaving at once see each other's leave and the group keeps an admin.
  await tx.query(
    `WITH promoted AS (
       UPDATE chat_members SET role = 'admin'
       WHERE chat_id = $1 AND NOT EXISTS (SELECT 1 FROM chat_members WHERE chat_id = $1 AND role = 'admin')
         AND user_id = (SELECT user_id FROM chat_members WHERE chat_id = $1 ORDER BY joined_at, user_id LIMIT 1))
     UPDATE chats SET members_version = members_version + 1 WHERE id = $1`,
    [chatId],
  );
  if (hook) await recordGroupPg(tx, chatId, Date.now());
  return 'removed';
}
