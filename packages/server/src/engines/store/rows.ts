import type { Attachment } from '@switchboard/protocol';
import type { ChatKind, ChatRecord, MemberRecord, Role, StoredMessage, UserRecord } from './store.js';

/*
 * What both stores share about their tables: the column names are the same in SQLite and
 * PostgreSQL, so the rows they read have one shape and one mapping to records.
 */

/** A stored message's columns, named as the protocol's Message fields. */
export const MESSAGE_COLS = 'id AS message_id, chat_id, seq, sender_id, sender_device_id, client_msg_id, content, created_at, attachments';
/** The same, qualified with the table alias `m`. */
export const M_MESSAGE_COLS = MESSAGE_COLS.replace(/(^|, )(\w+)/g, '$1m.$2');

export interface UserRow {
  id: string;
  username: string;
  display_name: string;
  password_hash: string;
  created_at: number;
  last_seen: number | null;
}
export interface ChatRow {
  id: string;
  kind: ChatKind;
  name: string | null;
  created_by: string | null;
  created_at: number;
  last_seq: number;
  members_version: number;
}
export interface MemberRow {
  user_id: string;
  role: Role;
  joined_seq: number;
  joined_at: number;
  delivered_seq: number;
  read_seq: number;
}

export const toUser = (r: UserRow): UserRecord => ({
  id: r.id,
  username: r.username,
  displayName: r.display_name,
  passwordHash: r.password_hash,
  createdAt: r.created_at,
  lastSeen: r.last_seen,
});
export const toChat = (r: ChatRow): ChatRecord => ({
  id: r.id,
  kind: r.kind,
  name: r.name,
  createdBy: r.created_by,
  createdAt: r.created_at,
  lastSeq: r.last_seq,
  membersVersion: r.members_version,
});
export const toMember = (r: MemberRow): MemberRecord => ({
  userId: r.user_id,
  role: r.role,
  joinedSeq: r.joined_seq,
  joinedAt: r.joined_at,
  deliveredSeq: r.delivered_seq,
  readSeq: r.read_seq,
});

/**
 * A message row as read with MESSAGE_COLS → the protocol's shape: `attachments` (a JSON
 * text column, "media" migration) parsed, and left out when the message has none.
 */
export function toMessage(row: unknown): StoredMessage {
  const r = row as StoredMessage & { attachments?: Attachment[] | string | null };
  if (r.attachments === null || r.attachments === undefined) {
    delete r.attachments;
  } else if (typeof r.attachments === 'string') {
    r.attachments = JSON.parse(r.attachments) as Attachment[];
  }
  return r;
}

/** What the attachments column holds for an append. */
export function attachmentsColumn(attachments: Attachment[] | undefined): string | null {
  return attachments && attachments.length > 0 ? JSON.stringify(attachments) : null;
}
