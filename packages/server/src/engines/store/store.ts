import type {
  Attachment,
  AvatarView,
  ServerFrame,
  ChatSettingsView,
  LifecycleAction,
  Message,
  MessageUpdate,
  MlsCommitEntry,
  ReactionSummary,
  ReplyRef,
} from '@switchboard/protocol';
import type { PushTarget, PushTargetRecord } from './push-targets.js';
import type { MediaIndex } from './media-index.js';
import type { AdminStore } from './admin-store.js';
import type { PeopleStore } from './people.js';
import type { ExternalIdentities } from './identities.js';
import type { WebhookStore } from './webhook-outbox.js';
import type { E2eeStore } from './e2ee-store.js';

/*
 * The store seam: everything durable. Implementations: SqliteStore (embedded) and
 * PostgresStore (cluster mode); both run the same contract suite (store.contract.ts).
 *
 * Guarantees every implementation gives:
 * - append() resolves only once the messages are durable (survive a process crash);
 *   sends that arrive together may share one transaction (group commit).
 * - seq is assigned at commit, per chat, strictly increasing and gap-free.
 * - (chat_id, sender_id, client_msg_id) is unique: a repeated append returns the
 *   original message with duplicate=true.
 * - Cursors (delivered per device and per member, read per member) only move forward.
 * - Membership is the store's truth, whatever the number of nodes: changes are checked
 *   (admin, size cap, last admin) and applied atomically, each bumping the chat's
 *   membersVersion; an append carrying a membersVersion is checked against the chat's
 *   version when it takes its seq, and against the members again if that changed.
 */

export type StoredMessage = Omit<Message, 'status'>;

/** An edit, delete or reaction: an entry of the chat's log with its own seq (PROTOCOL.md "Message lifecycle"). */
export type StoredUpdate = MessageUpdate;

/** An accepted MLS commit of an encrypted chat (docs/e2ee.md): a log entry, but no message. */
export type StoredCommit = MlsCommitEntry;

/** One entry of a chat's log: a message (as it is now), a change to an earlier one, or an MLS commit. */
export type LogEntry = StoredMessage | StoredUpdate | StoredCommit;

export function isUpdate(e: LogEntry): e is StoredUpdate {
  return (e as StoredUpdate).action !== undefined;
}

export function isCommit(e: LogEntry): e is StoredCommit {
  return (e as StoredCommit).commit !== undefined;
}

/** A message (not a change, not a commit): what history, ticks, pushes and references name. */
export function isMessage(e: LogEntry): e is StoredMessage {
  return !isUpdate(e) && !isCommit(e);
}

/** The frame that carries a log entry to a device: new_message, message_update for a change, mls_commit. */
export function entryFrame(e: LogEntry): ServerFrame {
  if (isUpdate(e)) return { type: 'message_update', ...e };
  if (isCommit(e)) return { type: 'mls_commit', ...e };
  return { type: 'new_message', ...e };
}

/** Where a message sits, without its content: what acknowledgements and receipts need. */
export type MessageRef = Pick<StoredMessage, 'message_id' | 'chat_id' | 'seq' | 'sender_id'> & {
  /** An edit, delete or reaction: acknowledging it moves cursors, but ticks name messages only. */
  change?: boolean;
};

export interface UserRecord {
  id: string;
  username: string;
  displayName: string;
  passwordHash: string;
  createdAt: number;
  lastSeen: number | null;
  /** Suspended by an operator: no logins, no tokens (PROTOCOL.md "Operators"). */
  suspended?: boolean;
  /** A bot (POST /v1/admin/bots): no password, a token that never idles out. */
  bot?: boolean;
  /** PATCH /v1/users/me ("people" migration): '' and null until set. */
  about?: string;
  avatar?: AvatarView | null;
}

export interface DeviceRecord {
  id: string;
  userId: string;
  name: string;
  createdAt: number;
}

export type ChatKind = 'direct' | 'group';

export interface ChatRecord {
  id: string;
  kind: ChatKind;
  name: string | null;
  createdBy: string | null;
  createdAt: number;
  lastSeq: number;
  /** Bumped by every membership change, in the same transaction (see AppendRequest.membersVersion). */
  membersVersion: number;
  /** End-to-end encrypted (docs/e2ee.md): for good once set. */
  encrypted?: boolean;
}

export type Role = 'admin' | 'member';

export interface MemberRecord {
  userId: string;
  role: Role;
  /** Messages with seq above this are visible and owed to the member. */
  joinedSeq: number;
  joinedAt: number;
  /** Highest seq any device of the member acknowledged. */
  deliveredSeq: number;
  readSeq: number;
  /** The member's own chat settings (PATCH /v1/chats/{chat_id}/settings). */
  mutedUntil: number | null;
  archived: boolean;
  pinned: boolean;
}

export interface AppendRequest {
  messageId: string;
  chatId: string;
  senderId: string;
  senderDeviceId: string;
  clientMsgId: string;
  content: string;
  createdAt: number;
  /** Checked by core/media.ts before the append; stored with the message. */
  attachments?: Attachment[];
  /** Checked by core (a visible message of the chat); the store empties the preview if the quoted message is deleted. */
  replyTo?: ReplyRef;
  /** Checked by core: members of the chat, without repeats. */
  mentions?: string[];
  forwarded?: boolean;
  /** An encrypted message's MLS ciphertext (base64); content is then ''. */
  ciphertext?: string;
  /** For a direct chat that may not exist yet: its members, so the first append creates it. */
  createDirectWith?: string[];
  /**
   * Direct chats: the other user (the sender itself in notes to self). The store refuses
   * the append (`refused`, nothing stored) when that user's account was deleted (`deleted`)
   * or blocked the sender (`blocked`), and when the request does not match the chat's
   * encryption (`encryption_required`: no ciphertext for an encrypted chat; `not_encrypted`:
   * ciphertext for a plain one). SQLite checks in the append's own transaction, PostgreSQL
   * in the append statement (and, for a chat's first message, once more before creating
   * the chat: a block racing a send may land either side of it).
   * A repeat of a stored send is answered as a duplicate before any of this.
   */
  directWith?: string;
  /**
   * The chat's membersVersion the sender's membership was checked against. If the chat
   * has another version when the append takes its seq (checked under the same lock), the
   * store checks the sender's membership again itself: still a member, the message is
   * stored (in its place among the caller's other sends) and the result names the new
   * version; no longer a member, nothing is stored (`notMember`).
   * Undefined: no check (direct chats, whose members never change).
   */
  membersVersion?: number;
}

/** The message an append stores, at the seq it was given. */
export function storedMessage(req: AppendRequest, seq: number): StoredMessage {
  return {
    message_id: req.messageId,
    chat_id: req.chatId,
    seq,
    sender_id: req.senderId,
    sender_device_id: req.senderDeviceId,
    client_msg_id: req.clientMsgId,
    content: req.content,
    created_at: req.createdAt,
    ...(req.attachments?.length ? { attachments: req.attachments } : {}),
    ...(req.replyTo ? { reply_to: req.replyTo } : {}),
    ...(req.mentions?.length ? { mentions: req.mentions } : {}),
    ...(req.forwarded ? { forwarded: true as const } : {}),
    ...(req.ciphertext ? { ciphertext: req.ciphertext } : {}),
  };
}

/**
 * An edit, delete or reaction to append to the chat's log. The store checks it under the
 * chat's lock (changeRefusal in change-rules.ts), with the target as it is at that moment,
 * so two changes racing (an edit and a delete) are judged one after the other.
 */
export interface ChangeRequest {
  messageId: string;
  chatId: string;
  senderId: string;
  senderDeviceId: string;
  clientMsgId: string;
  createdAt: number;
  targetId: string;
  action: LifecycleAction;
  /** edit: the new text. */
  content?: string;
  /** react: the emoji, "" to take one's reaction back. */
  emoji?: string;
  editWindowMs: number;
  deleteWindowMs: number;
  /**
   * A delete by the operator (DELETE /v1/admin/messages, a deleted account): allowed at any
   * time, whoever senderId is now in the chat; senderId is the message's own sender.
   */
  byOperator?: boolean;
}

export type ChangeRefusal = 'not_a_member' | 'invalid_reference' | 'forbidden';

export type ChangeResult =
  /**
   * Stored (or a repeat of an earlier entry with the same client_msg_id: duplicate). A
   * delete answers the media that no stored message carries any more: the caller
   * deletes their bytes from the media store after the commit.
   */
  | { entry: LogEntry; duplicate: boolean; erasedMedia: string[]; membersVersion?: number; refused?: undefined }
  /** Refused: nothing was stored. */
  | { refused: ChangeRefusal; entry?: undefined };

/** One batch of retention's erasure (Store.expireMessages). */
export interface ExpiredBatch {
  /** Log entries removed (messages and changes). */
  erased: number;
  /** Media no remaining message carries and no user has as avatar: the caller deletes their bytes after the commit. */
  erasedMedia: string[];
  /** The batch was full of old entries: more may be waiting. */
  more: boolean;
  /**
   * The store's own time on the batch (ms), when that is not the time the call took: the
   * embedded store's slices wait for a commit to ride (RIDING_OPS), and that wait is not load.
   */
  workMs?: number;
}

/** PATCH /v1/chats/{chat_id}/settings: fields left out are kept. */
export interface ChatSettingsPatch {
  mutedUntil?: number | null;
  archived?: boolean;
  pinned?: boolean;
}

export type AppendResult =
  /** membersVersion: the chat's membership version the message was stored under (group appends that carried one). */
  | { message: StoredMessage; duplicate: boolean; membersVersion?: number; notMember?: undefined; refused?: undefined }
  /** The sender was removed from the chat before the append: nothing was stored. */
  | { notMember: true; message?: undefined; duplicate?: undefined; membersVersion?: undefined; refused?: undefined }
  /** AppendRequest.directWith's checks refused it: nothing was stored. */
  | { refused: DirectRefusal; notMember?: undefined; message?: undefined; duplicate?: undefined; membersVersion?: undefined };

/** Why a direct chat's append was refused (AppendRequest.directWith). */
export type DirectRefusal = 'deleted' | 'blocked' | 'encryption_required' | 'not_encrypted';

/** AppendRequest.directWith's rule, on the state Store.directState reads. */
export function directRefusal(
  state: DirectState,
  req: Pick<AppendRequest, 'senderId' | 'directWith' | 'ciphertext'>,
): DirectRefusal | undefined {
  if (req.directWith !== req.senderId) {
    if (state.otherDeleted) return 'deleted';
    if (state.blocked) return 'blocked';
  }
  if (state.encrypted && req.ciphertext === undefined) return 'encryption_required';
  if (!state.encrypted && req.ciphertext !== undefined) return 'not_encrypted';
  return undefined;
}

/** A chat's members as of one version: what the membership check and delivery both use. */
export interface Membership {
  version: number;
  members: MemberRecord[];
}

/** Membership changes are checked and applied inside the store's transaction, under the chat's lock. */
export type MembershipRefusal = 'no_such_group' | 'forbidden' | 'too_large' | 'not_a_member';

export interface ChatListRow {
  chat: ChatRecord;
  /** When the chat last had a message (or was created): the list's order, and its page cursor. */
  lastAt: number;
  member: MemberRecord;
  lastMessage: StoredMessage | null;
  unreadCount: number;
}

export interface ChatListPage {
  limit: number;
  after?: { pinned: boolean; lastAt: number; chatId: string };
}

/** A device's cursor to move to `seq` (advanceDeliveredMany, advanceReadMany). */
export interface DeliveredMove {
  deviceId: string;
  userId: string;
  seq: number;
}

export interface CursorAdvance {
  chatId: string;
  userId: string;
  /** The member-level cursor before and after; equal when this call did not move it. */
  from: number;
  to: number;
}

export interface PendingChat {
  chatId: string;
  /** Replay messages with seq above this. */
  afterSeq: number;
  lastSeq: number;
}

export interface ReceiptRow {
  userId: string;
  deliveredAt: number | null;
  readAt: number | null;
}

/** How many of a message's recipients (members but the sender, there when it was sent) got and read it. */
export interface ReceiptCounts {
  delivered: number;
  read: number;
  members: number;
}

/** Store.directState's answer. */
export interface DirectState {
  otherDeleted: boolean;
  blocked: boolean;
  encrypted: boolean;
}

export interface Store {
  close(): Promise<void>;

  /** Uploaded files and which messages carried them ("media" migration). */
  readonly media: MediaIndex;
  /** Operators' reads and writes: users, suspension, bots, deleted accounts, reports (admin-store.ts). */
  readonly admin: AdminStore;
  /** Profiles, contacts and blocks ("people" migration; people.ts). */
  readonly people: PeopleStore;
  /** Users of the host app, by (issuer, subject) ("external identities" migration). */
  readonly identities: ExternalIdentities;
  /** Webhooks and the outbox of their events (webhook-outbox.ts); the writes below record events in their own transaction. */
  readonly webhooks: WebhookStore;
  /** The MLS Delivery Service's data: key packages, commits, welcomes, group infos (e2ee-store.ts). */
  readonly e2ee: E2eeStore;

  createUser(user: Omit<UserRecord, 'lastSeen'>): Promise<UserRecord | 'username_taken'>;
  getUser(id: string): Promise<UserRecord | null>;
  getUserByUsername(username: string): Promise<UserRecord | null>;
  /** The ids among those given that do not exist. */
  missingUsers(ids: string[]): Promise<string[]>;
  setLastSeen(userId: string, at: number): Promise<void>;
  /** Replaces the user's password hash if it is still `from` (a rehash at a higher cost must not undo another change). */
  setPasswordHash(userId: string, from: string, to: string): Promise<void>;

  /**
   * Creates a device session; it is owed only messages committed after this call. False
   * (nothing created) when its user is suspended or deleted at that moment: judged in the
   * write itself, so a login racing a suspension either sees it or is ended by it.
   */
  createDevice(device: DeviceRecord & { tokenHash: string }): Promise<boolean>;
  /**
   * The live device of a token, with when it was last recorded active (null: not since creation);
   * null too when its user is suspended or deleted. `permanent`: a bot's, exempt from idle expiry.
   */
  deviceByTokenHash(tokenHash: string): Promise<(DeviceRecord & { lastActiveAt: number | null; permanent?: boolean }) | null>;
  revokeDevice(deviceId: string, at: number): Promise<void>;
  /** The user's live (not revoked) devices, oldest first, at most `limit`; lastActiveAt null: not recorded since creation. */
  listDevices(userId: string, limit: number): Promise<(DeviceRecord & { lastActiveAt: number | null })[]>;
  /** Revokes the device if it is the user's and live; false otherwise (nothing changed). */
  revokeUserDevice(userId: string, deviceId: string, at: number): Promise<boolean>;
  /** Records that the device was active at `at` (never moves back). Callers throttle it: it is a write. */
  touchDevice(deviceId: string, at: number): Promise<void>;

  getChat(chatId: string): Promise<ChatRecord | null>;
  getMember(chatId: string, userId: string): Promise<MemberRecord | null>;
  getMembers(chatId: string): Promise<MemberRecord[]>;
  /** The chat's members and the version they belong to, read together; null for no such chat. */
  getMembership(chatId: string): Promise<Membership | null>;
  /**
   * The user's chats, pinned ones first, then most recent first (last_at descending, then chat id). A page: at
   * most `limit` rows, starting after the row `after` names (keyset paging); no page: all.
   */
  listChats(userId: string, page?: ChatListPage): Promise<ChatListRow[]>;
  /** True when the two users share at least one chat. */
  shareAChat(a: string, b: string): Promise<boolean>;
  /**
   * What a send to a direct chat must check, read in one probe (one read transaction, one
   * round trip) because every direct send needs all three: whether `otherId`'s account was
   * deleted, whether `otherId` blocked `userId`, and whether the chat is end-to-end encrypted
   * (false for a chat not created yet).
   */
  directState(chatId: string, userId: string, otherId: string): Promise<DirectState>;

  append(requests: AppendRequest[]): Promise<AppendResult[]>;
  /** Log entries by id: messages as they are now, and changes. */
  getMessage(messageId: string): Promise<LogEntry | null>;
  getMessages(messageIds: string[]): Promise<LogEntry[]>;
  /** Messages only (no changes), as they are now; ascending by seq; `after` pages forward, otherwise the latest `limit` below `before`. */
  history(chatId: string, opts: { after?: number; before?: number; limit: number; minSeq: number }): Promise<StoredMessage[]>;
  /** The chat's log (messages as they are now, and changes) with afterSeq < seq <= uptoSeq, ascending, at most limit. */
  range(chatId: string, afterSeq: number, uptoSeq: number, limit: number): Promise<LogEntry[]>;
  /** Appends an edit, delete or reaction (see ChangeRequest), applying it to its target in the same transaction. */
  applyChange(request: ChangeRequest): Promise<ChangeResult>;
  /**
   * Retention (RETENTION_DAYS): erases up to `limit` of the oldest log entries created before
   * `before` (messages as by delete for everyone, without a message_update) and removes them
   * from the log, in one small transaction. In a cluster one node erases at a time: null
   * when another node holds the turn.
   */
  expireMessages(before: number, limit: number): Promise<ExpiredBatch | null>;
  /** The reactions to these messages, per message id (messages without any are left out). */
  reactions(messageIds: string[]): Promise<Map<string, ReactionSummary[]>>;
  /**
   * Changes the member's settings of a chat; never more than maxPinned chats pinned per
   * user, however many nodes change them at once.
   */
  setChatSettings(
    userId: string,
    chatId: string,
    patch: ChatSettingsPatch,
    maxPinned: number,
  ): Promise<ChatSettingsView | 'not_a_member' | 'too_many_pinned'>;
  /** Of these users, those who muted the chat until after `at`. */
  mutedMembers(chatId: string, userIds: string[], at: number): Promise<string[]>;
  /** The device's delivered cursor in a chat (0 when it has none). */
  deviceCursor(deviceId: string, chatId: string): Promise<number>;
  /** Chats in which the device is owed messages (above max(device cursor, joined seq)). */
  pendingChats(deviceId: string, userId: string): Promise<PendingChat[]>;
  /** The latest message of each sender other than `exceptUser` in (afterSeq, uptoSeq]. */
  latestBySender(chatId: string, afterSeq: number, uptoSeq: number, exceptUser: string): Promise<StoredMessage[]>;

  advanceDelivered(deviceId: string, userId: string, chatId: string, seq: number, at: number): Promise<CursorAdvance>;
  /**
   * advanceDelivered for many devices of one chat at once (a large group's acks of one
   * receipt window): one write, the advances in the order of `moves`.
   */
  advanceDeliveredMany(chatId: string, moves: DeliveredMove[], at: number): Promise<CursorAdvance[]>;
  /** advanceRead for many devices of one chat at once (a large group's reads of one receipt window): one write, answers in the order of `moves`. */
  advanceReadMany(chatId: string, moves: DeliveredMove[], at: number): Promise<{ read: CursorAdvance; delivered: CursorAdvance }[]>;
  /** Moves the read cursor (and the delivered cursors with it: what was read was delivered). */
  advanceRead(
    deviceId: string,
    userId: string,
    chatId: string,
    seq: number,
    at: number,
  ): Promise<{ read: CursorAdvance; delivered: CursorAdvance }>;
  /** Per recipient (every member but the sender): when the message was delivered and read. */
  receipts(message: StoredMessage): Promise<ReceiptRow[]>;
  /** ReceiptCounts of each of these messages of one chat, in their order: one read of the chat's members. */
  receiptCounts(chatId: string, messages: Pick<MessageRef, 'seq' | 'sender_id'>[]): Promise<ReceiptCounts[]>;

  createGroup(group: {
    chatId: string;
    name: string;
    createdBy: string;
    createdAt: number;
    members: { userId: string; role: Role }[];
    /** An end-to-end encrypted group (docs/e2ee.md). */
    encrypted?: boolean;
  }): Promise<void>;
  /**
   * The actor (an admin) adds users, all in one transaction under the chat's lock: never
   * past maxMembers, however many nodes add at once. Answers the ids actually added.
   * A refusal names why: the actor is no member (no_such_group), not an admin, or the
   * group would grow past maxMembers.
   */
  addMembers(
    chatId: string,
    actorId: string,
    userIds: string[],
    at: number,
    maxMembers: number,
  ): Promise<{ added: string[] } | MembershipRefusal>;
  /**
   * An admin removes anyone, a member removes itself. If no admin is left, the oldest
   * remaining member becomes one, in the same transaction, so concurrent leaves can never
   * leave a group without an admin. not_a_member: the target is not in the group.
   */
  removeMember(chatId: string, actorId: string, userId: string): Promise<'removed' | MembershipRefusal>;
  renameGroup(chatId: string, name: string): Promise<void>;

  /**
   * Full-text search in the user's chats (messages above the member's joined seq),
   * newest first. `terms` are words of letters and digits only; every term must match
   * a word of the message by prefix.
   */
  search(userId: string, terms: string[], opts: { chatId?: string; limit: number }): Promise<StoredMessage[]>;

  // ---- push targets (push-targets.ts): one per device; revokeDevice removes it too ----
  /** Stores the device's push target, replacing its earlier one. */
  setPushTarget(deviceId: string, userId: string, target: PushTarget): Promise<void>;
  /** Removes the device's target; with `only`, only if the device's target is still that one. */
  deletePushTarget(deviceId: string, only?: PushTarget): Promise<void>;
  /** The targets of these users' live devices. */
  pushTargets(userIds: string[]): Promise<PushTargetRecord[]>;
}
