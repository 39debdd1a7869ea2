import {
  MAX_CONTENT_CHARS,
  MAX_CLIENT_MSG_ID_CHARS,
  REPLY_PREVIEW_CHARS,
  overChars,
  type ChangeFrame,
  type ReplyRef,
  type SendMessage,
  type ServerFrame,
} from '@switchboard/protocol';
import type { MediaStore } from '../engines/media-store/media-store.js';
import { previewOf } from '../engines/store/change-rules.js';
import { isMessage, type ChangeRefusal, type ChangeRequest, type LogEntry, type Store } from '../engines/store/store.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import type { Snowflake } from '../util/snowflake.js';
import type { E2ee } from './e2ee.js';
import type { ChatAccess } from './chat-access.js';
import type { Delivery } from './delivery.js';
import { DomainError } from './errors.js';
import type { Sender } from './messaging.js';

type AckSent = Extract<ServerFrame, { type: 'ack_sent' }>;

export interface MessageChangesDeps {
  store: Store;
  access: ChatAccess;
  delivery: Delivery;
  ids: Snowflake;
  metrics: Metrics;
  log: Logger;
  now: () => number;
  /** Where media bytes live: a delete for everyone removes them. */
  files: Pick<MediaStore, 'delete'>;
  /** EDIT_WINDOW_S / DELETE_WINDOW_S, in ms. */
  editWindowMs: number;
  deleteWindowMs: number;
  /** Notes where a committed entry sits, for the acks that will name it (Messaging.remember). */
  remember: (e: LogEntry) => void;
  /** Whether a chat is end-to-end encrypted (core/e2ee.ts). */
  encryption?: Pick<E2ee, 'isEncryptedGroup'>;
}

/**
 * The client_msg_id prefix of an operator's delete: longer than any client_msg_id a client
 * may send (128 characters), so no entry of the sender's own can stand in for it (a repeat
 * is found by (chat, sender, client_msg_id) before any rule is judged).
 */
const OPERATOR_KEY = 'operator-delete:'.padEnd(MAX_CLIENT_MSG_ID_CHARS + 1, '~');

const REFUSALS: Record<ChangeRefusal, string> = {
  not_a_member: 'you are not a member of this chat',
  invalid_reference: 'message_id is not a message of this chat that you can see',
  forbidden: 'you may not change this message (not yours, deleted, or its time window has passed)',
};

/**
 * Edits, deletes for everyone and reactions (PROTOCOL.md "Message lifecycle"): each is an
 * entry of the chat's log, appended by the store with the next seq after it judged the
 * change (change-rules.ts) under the chat's lock, and delivered like a message
 * (message_update: same devices, same order, replayed from the same cursors).
 */
export class MessageChanges {
  constructor(private readonly deps: MessageChangesDeps) {}

  /**
   * Appends one change; resolves with its ack once durable (and delivery admitted). A
   * repeat (same client_msg_id) answers the first one's ack and delivers it again.
   */
  async change(sender: Sender, frame: ChangeFrame, onCommitted?: (ack: AckSent) => void): Promise<AckSent> {
    if (frame.type === 'edit_message') {
      if (frame.content.length === 0) throw new DomainError('invalid_frame', 'content must not be empty');
      if (overChars(frame.content, MAX_CONTENT_CHARS))
        throw new DomainError('content_too_long', `content is over ${MAX_CONTENT_CHARS} characters`);
    }
    // Membership as for a send (a removed member is refused here, and again by the store under the lock).
    const target = await this.deps.access.forSend(sender.userId, frame.chat_id);
    // Encrypted chats: edits and reactions travel inside the ciphertext; a delete still erases it here.
    // A blocked user (or one writing to a deleted account) may still delete its own messages in the direct chat, not edit them or react.
    if (frame.type !== 'delete_message') {
      const direct = target.kind === 'direct' ? await this.deps.access.inDirect(sender.userId, target.chatId) : undefined;
      const encrypted = direct ? direct.encrypted : await this.deps.encryption?.isEncryptedGroup(target.chatId);
      if (encrypted)
        throw new DomainError('encryption_required', 'this chat is end-to-end encrypted: edits and reactions go inside the ciphertext');
      if (direct?.refusal) throw direct.refusal;
    }
    const request: ChangeRequest = {
      messageId: this.deps.ids.next(),
      chatId: frame.chat_id,
      senderId: sender.userId,
      senderDeviceId: sender.deviceId,
      clientMsgId: frame.client_msg_id,
      createdAt: this.deps.now(),
      targetId: frame.message_id,
      action: frame.type === 'edit_message' ? 'edit' : frame.type === 'delete_message' ? 'delete' : 'react',
      ...(frame.type === 'edit_message' ? { content: frame.content } : {}),
      ...(frame.type === 'react' ? { emoji: frame.emoji } : {}),
      editWindowMs: this.deps.editWindowMs,
      deleteWindowMs: this.deps.deleteWindowMs,
    };
    const result = await this.deps.store.applyChange(request);
    if (result.refused) {
      if (result.refused === 'not_a_member') this.deps.access.invalidate(frame.chat_id);
      throw new DomainError(result.refused, REFUSALS[result.refused]);
    }
    const { entry, duplicate } = result;
    // After the commit (the message no longer names them) and before the ack, so that an
    // acknowledged delete has erased the bytes too. A failure leaves bytes no record
    // points at: logged, and the delete still stands.
    const erasing =
      result.erasedMedia.length > 0
        ? this.deps.files
            .delete(result.erasedMedia)
            .catch((err: unknown) => this.deps.log.warn({ err, media_ids: result.erasedMedia }, 'erasing media bytes failed'))
        : undefined;
    const ack: AckSent = {
      type: 'ack_sent',
      client_msg_id: entry.client_msg_id,
      message_id: entry.message_id,
      chat_id: entry.chat_id,
      seq: entry.seq,
      created_at: entry.created_at,
    };
    onCommitted?.(ack);
    if (duplicate) {
      void this.redeliver(entry);
      await erasing;
      return ack;
    }
    this.deps.remember(entry);
    // Called before any await since the commit: the chat's entries reach delivery in commit order.
    const delivered = this.deps.delivery.inOrder(entry.chat_id, async () => {
      const memberIds = await this.deps.access.recipients(entry.chat_id, entry.seq, result.membersVersion);
      await this.deps.delivery.admit(entry, memberIds, { membersVersion: result.membersVersion });
    });
    // Together: a hand-over that fails must not wait, unhandled, for the erasure.
    await Promise.all([erasing, delivered]);
    return ack;
  }

  /**
   * Delete for everyone by the operator (DELETE /v1/admin/messages, a deleted account):
   * appended as the sender's own delete (sender_id: the message's sender, client_msg_id
   * OPERATOR_KEY + ID, so a repeat stores nothing twice), erased and delivered as any
   * delete. False: no such message; an already deleted one is done (true).
   */
  async operatorDelete(messageId: string): Promise<boolean> {
    const target = await this.deps.store.getMessage(messageId);
    if (!target || !isMessage(target)) return false;
    if (target.deleted) return true;
    const result = await this.deps.store.applyChange({
      messageId: this.deps.ids.next(),
      chatId: target.chat_id,
      senderId: target.sender_id,
      senderDeviceId: 'operator',
      clientMsgId: OPERATOR_KEY + messageId,
      createdAt: this.deps.now(),
      targetId: messageId,
      action: 'delete',
      editWindowMs: this.deps.editWindowMs,
      deleteWindowMs: this.deps.deleteWindowMs,
      byOperator: true,
    });
    // Refused: deleted meanwhile (forbidden) by someone else: done all the same.
    if (result.refused) return result.refused === 'forbidden';
    if (result.erasedMedia.length > 0) {
      this.deps.files
        .delete(result.erasedMedia)
        .catch((err: unknown) => this.deps.log.warn({ err, media_ids: result.erasedMedia }, 'erasing media bytes failed'));
    }
    if (result.duplicate) return true;
    const { entry } = result;
    this.deps.remember(entry);
    await this.deps.delivery.inOrder(entry.chat_id, async () => {
      const memberIds = await this.deps.access.recipients(entry.chat_id, entry.seq, result.membersVersion);
      await this.deps.delivery.admit(entry, memberIds, { membersVersion: result.membersVersion });
    });
    return true;
  }

  private async redeliver(entry: LogEntry): Promise<void> {
    const members = await this.deps.store.getMembers(entry.chat_id).catch(() => []);
    const owed = members.filter((m) => m.deliveredSeq < entry.seq || m.userId === entry.sender_id).map((m) => m.userId);
    await this.deps.delivery.message(entry, owed, { redeliver: true });
  }

  /**
   * A send's reply_to and mentions, checked: the quoted message must be a message of the
   * chat the sender can see (invalid_reference otherwise), each mentioned user a member.
   */
  async references(
    userId: string,
    frame: Pick<SendMessage, 'chat_id' | 'reply_to' | 'mentions'>,
    memberIds: string[],
  ): Promise<{ replyTo?: ReplyRef; mentions?: string[] }> {
    const out: { replyTo?: ReplyRef; mentions?: string[] } = {};
    if (frame.reply_to !== undefined) {
      const quoted = await this.deps.store.getMessage(frame.reply_to);
      const member = quoted && isMessage(quoted) ? await this.deps.access.membership(userId, frame.chat_id) : null;
      if (!quoted || !isMessage(quoted) || !member || quoted.chat_id !== frame.chat_id || quoted.seq <= member.joinedSeq)
        throw new DomainError('invalid_reference', 'reply_to is not a message of this chat that you can see');
      out.replyTo = { message_id: quoted.message_id, sender_id: quoted.sender_id, preview: previewOf(quoted.content, REPLY_PREVIEW_CHARS) };
    }
    if (frame.mentions?.length) {
      const members = new Set(memberIds);
      const mentions = [...new Set(frame.mentions)];
      const stranger = mentions.find((id) => !members.has(id));
      if (stranger !== undefined)
        throw new DomainError('invalid_reference', `mentions: ${stranger.slice(0, 64)} is not a member of this chat`);
      out.mentions = mentions;
    }
    return out;
  }
}
