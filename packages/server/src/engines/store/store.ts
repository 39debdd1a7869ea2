import type { Attachment, Message } from '@switchboard/protocol';
import type { PushTarget, PushTargetRecord } from './push-targets.js';
import type { MediaIndex } from './media-index.js';

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

/** Where a message sits, without its content: what acknowledgements and receipts need. */
export type MessageRef = Pick<StoredMessage, 'message_id' | 'chat_id' | 'seq' | 'sender_id'>;

export interface UserRecord {
  id: string;
  username: string;
  displayName: string;
  passwordHash: string;
  createdAt: number;
  lastSeen: number | null;
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
  /** For a direct chat that may not exist yet: its members, so the first append creates it. */
  createDirectWith?: string[];
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
  };
}

export type AppendResult =
  /** membersVersion: the chat's membership version the message was stored under (group appends that carried one). */
  | { message: StoredMessage; duplicate: boolean; membersVersion?: number; notMember?: undefined }
  /** The sender was removed from the chat before the append: nothing was stored. */
  | { notMember: true; message?: undefined; duplicate?: undefined; membersVersion?: undefined };

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
  after?: { lastAt: number; chatId: string };
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

export interface Store {
  close(): Promise<void>;

  /** Uploaded files and which messages carried them ("media" migration). */
  readonly media: MediaIndex;

  createUser(user: Omit<UserRecord, 'lastSeen'>): Promise<UserRecord | 'username_taken'>;
  getUser(id: string): Promise<UserRecord | null>;
  getUserByUsername(username: string): Promise<UserRecord | null>;
  /** The ids among those given that do not exist. */
  missingUsers(ids: string[]): Promise<string[]>;
  setLastSeen(userId: string, at: number): Promise<void>;
  /** Replaces the user's password hash if it is still `from` (a rehash at a higher cost must not undo another change). */
  setPasswordHash(userId: string, from: string, to: string): Promise<void>;

  /** Creates a device session; it is owed only messages committed after this call. */
  createDevice(device: DeviceRecord & { tokenHash: string }): Promise<void>;
  /** The live device of a token, with when it was last recorded active (null: not since creation). */
  deviceByTokenHash(tokenHash: string): Promise<(DeviceRecord & { lastActiveAt: number | null }) | null>;
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
   * The user's chats, most recent first (last_at descending, then chat id). A page: at
   * most `limit` rows, starting after the row `after` names (keyset paging); no page: all.
   */
  listChats(userId: string, page?: ChatListPage): Promise<ChatListRow[]>;
  /** True when the two users share at least one chat. */
  shareAChat(a: string, b: string): Promise<boolean>;

  append(requests: AppendRequest[]): Promise<AppendResult[]>;
  getMessage(messageId: string): Promise<StoredMessage | null>;
  getMessages(messageIds: string[]): Promise<StoredMessage[]>;
  /** Ascending by seq; `after` pages forward, otherwise the latest `limit` below `before`. */
  history(chatId: string, opts: { after?: number; before?: number; limit: number; minSeq: number }): Promise<StoredMessage[]>;
  /** Messages of a chat with afterSeq < seq <= uptoSeq, ascending, at most limit. */
  range(chatId: string, afterSeq: number, uptoSeq: number, limit: number): Promise<StoredMessage[]>;
  /** The device's delivered cursor in a chat (0 when it has none). */
  deviceCursor(deviceId: string, chatId: string): Promise<number>;
  /** Chats in which the device is owed messages (above max(device cursor, joined seq)). */
  pendingChats(deviceId: string, userId: string): Promise<PendingChat[]>;
  /** The latest message of each sender other than `exceptUser` in (afterSeq, uptoSeq]. */
  latestBySender(chatId: string, afterSeq: number, uptoSeq: number, exceptUser: string): Promise<StoredMessage[]>;

  advanceDelivered(deviceId: string, userId: string, chatId: string, seq: number, at: number): Promise<CursorAdvance>;
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

  createGroup(group: {
    chatId: string;
    name: string;
    createdBy: string;
    createdAt: number;
    members: { userId: string; role: Role }[];
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
