import type { Attachment, AvatarView, LifecycleAction, ReactionSummary } from '@switchboard/protocol';
import type { ChatKind, ChatRecord, LogEntry, MemberRecord, Role, StoredMessage, StoredUpdate, UserRecord } from './store.js';

/*
 * What both stores share about their tables: the column names are the same in SQLite and
 * PostgreSQL, so the rows they read have one shape and one mapping to records.
 */

/** A stored message's columns, named as the protocol's Message fields. */
export const MESSAGE_COLS =
  'id AS message_id, chat_id, seq, sender_id, sender_device_id, client_msg_id, content, created_at, attachments, ' +
  'kind, target_id, emoji, reply_to_id, reply_sender_id, reply_preview, mentions, forwarded, edited_at, deleted, ciphertext, epoch';
/** The same, qualified with the table alias `m`. */
export const M_MESSAGE_COLS = MESSAGE_COLS.replace(/(^|, )(\w+)/g, '$1m.$2');

export interface UserRow {
  id: string;
  username: string;
  display_name: string;
  password_hash: string;
  created_at: number;
  last_seen: number | null;
  /** Operators (migration 10): 0/1 in SQLite, booleans in PostgreSQL. */
  suspended?: number | boolean;
  bot?: number | boolean;
  /** Added by the "people" migration. */
  about?: string | null;
  /** JSON of the AvatarView, or null. */
  avatar?: string | null;
}
export interface ChatRow {
  id: string;
  kind: ChatKind;
  name: string | null;
  created_by: string | null;
  created_at: number;
  last_seq: number;
  members_version: number;
  /** The e2ee migration: 0/1 in SQLite, booleans in PostgreSQL. */
  encrypted?: number | boolean;
}
export interface MemberRow {
  user_id: string;
  role: Role;
  joined_seq: number;
  joined_at: number;
  delivered_seq: number;
  read_seq: number;
  muted_until: number | null;
  archived: number | boolean;
  pinned: number | boolean;
}

export const toUser = (r: UserRow): UserRecord => ({
  id: r.id,
  username: r.username,
  displayName: r.display_name,
  passwordHash: r.password_hash,
  createdAt: r.created_at,
  lastSeen: r.last_seen,
  ...(r.suspended ? { suspended: true } : {}),
  ...(r.bot ? { bot: true } : {}),
  about: r.about ?? '',
  avatar: r.avatar ? (JSON.parse(r.avatar) as AvatarView) : null,
});
export const toChat = (r: ChatRow): ChatRecord => ({
  id: r.id,
  kind: r.kind,
  name: r.name,
  createdBy: r.created_by,
  createdAt: r.created_at,
  lastSeq: r.last_seq,
  membersVersion: r.members_version,
  encrypted: r.encrypted === true || r.encrypted === 1,
});
export const toMember = (r: MemberRow): MemberRecord => ({
  userId: r.user_id,
  role: r.role,
  joinedSeq: r.joined_seq,
  joinedAt: r.joined_at,
  deliveredSeq: r.delivered_seq,
  readSeq: r.read_seq,
  mutedUntil: r.muted_until ?? null,
  archived: r.archived === true || r.archived === 1,
  pinned: r.pinned === true || r.pinned === 1,
});

/** A log row as read with MESSAGE_COLS (SQLite answers 0/1 for booleans, PostgreSQL true/false). */
interface LogRow {
  message_id: string;
  chat_id: string;
  seq: number;
  sender_id: string;
  sender_device_id: string;
  client_msg_id: string;
  content: string;
  created_at: number;
  attachments?: Attachment[] | string | null;
  kind?: string;
  target_id?: string | null;
  emoji?: string | null;
  reply_to_id?: string | null;
  reply_sender_id?: string | null;
  reply_preview?: string | null;
  mentions?: string[] | string | null;
  forwarded?: boolean | number | null;
  edited_at?: number | null;
  deleted?: boolean | number | null;
  ciphertext?: string | null;
  epoch?: number | string | null;
}

const truthy = (v: boolean | number | null | undefined) => v === true || v === 1;

/**
 * A log row → the protocol's shape: a message (as it is now: fields present only when they
 * apply, JSON columns parsed) or a change (a message_update's fields).
 */
export function toEntry(row: unknown): LogEntry {
  const r = row as LogRow;
  const base = {
    message_id: r.message_id,
    chat_id: r.chat_id,
    seq: Number(r.seq),
    sender_id: r.sender_id,
    sender_device_id: r.sender_device_id,
    client_msg_id: r.client_msg_id,
  };
  if (r.kind === 'mls_commit') {
    return { ...base, created_at: Number(r.created_at), epoch: Number(r.epoch), commit: r.ciphertext ?? '' };
  }
  if (r.kind && r.kind !== 'message') {
    const update: StoredUpdate = {
      ...base,
      created_at: Number(r.created_at),
      target_message_id: r.target_id ?? '',
      action: r.kind as LifecycleAction,
    };
    if (r.kind === 'edit') update.content = r.content;
    if (r.kind === 'react') update.emoji = r.emoji ?? '';
    return update;
  }
  const m: StoredMessage = { ...base, content: r.content, created_at: Number(r.created_at) };
  if (truthy(r.deleted)) return { ...m, content: '', deleted: true };
  if (r.ciphertext) m.ciphertext = r.ciphertext;
  if (r.attachments !== null && r.attachments !== undefined) {
    m.attachments = typeof r.attachments === 'string' ? (JSON.parse(r.attachments) as Attachment[]) : r.attachments;
  }
  if (r.reply_to_id) m.reply_to = { message_id: r.reply_to_id, sender_id: r.reply_sender_id ?? '', preview: r.reply_preview ?? '' };
  if (r.mentions !== null && r.mentions !== undefined) {
    m.mentions = typeof r.mentions === 'string' ? (JSON.parse(r.mentions) as string[]) : r.mentions;
  }
  if (truthy(r.forwarded)) m.forwarded = true;
  if (r.edited_at !== null && r.edited_at !== undefined) m.edited_at = Number(r.edited_at);
  return m;
}

/** A message as webhooks carry it: an encrypted one without its ciphertext (docs/e2ee.md). */
export function webhookMessage(m: StoredMessage): StoredMessage {
  if (m.ciphertext === undefined) return m;
  const copy = { ...m };
  delete copy.ciphertext;
  return copy;
}

/** A row known to be a message (history, search, last_message: they read messages only). */
export function toMessage(row: unknown): StoredMessage {
  return toEntry(row) as StoredMessage;
}

/** What the mentions column holds for an append. */
export function mentionsColumn(mentions: string[] | undefined): string | null {
  return mentions && mentions.length > 0 ? JSON.stringify(mentions) : null;
}

/** What the attachments column holds for an append. */
export function attachmentsColumn(attachments: Attachment[] | undefined): string | null {
  return attachments && attachments.length > 0 ? JSON.stringify(attachments) : null;
}

export interface ReactionRow {
  message_id: string;
  user_id: string;
  emoji: string;
}

/** Reaction rows (oldest first) → per message, one entry per emoji in the order it was first chosen. */
export function summarizeReactions(rows: ReactionRow[]): Map<string, ReactionSummary[]> {
  const out = new Map<string, ReactionSummary[]>();
  for (const r of rows) {
    let list = out.get(r.message_id);
    if (!list) out.set(r.message_id, (list = []));
    let entry = list.find((e) => e.emoji === r.emoji);
    if (!entry) list.push((entry = { emoji: r.emoji, count: 0, user_ids: [] }));
    entry.count++;
    entry.user_ids.push(r.user_id);
  }
  return out;
}
