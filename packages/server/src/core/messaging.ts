import { MAX_CIPHERTEXT_CHARS, MAX_CONTENT_CHARS, overChars, parseChatId, type SendMessage, type ServerFrame } from '@switchboard/protocol';
import {
  isMessage,
  type CursorAdvance,
  type LogEntry,
  type AppendRequest,
  type AppendResult,
  type DirectRefusal,
  type MessageRef,
  type Store,
  type StoredMessage,
} from '../engines/store/store.js';
import { FifoCache } from '../util/fifo-cache.js';
import type { Snowflake } from '../util/snowflake.js';
import type { Metrics } from '../util/metrics.js';
import type { ChatAccess, ChatTarget } from './chat-access.js';
import type { Delivery } from './delivery.js';
import { DomainError } from './errors.js';
import type { Media } from './media.js';
import type { E2ee } from './e2ee.js';
import type { MessageChanges } from './message-changes.js';
import type { ReceiptNotifier } from './receipt-notifier.js';

export interface Sender {
  userId: string;
  deviceId: string;
}

export interface MessagingDeps {
  store: Store;
  access: ChatAccess;
  delivery: Delivery;
  receipts: ReceiptNotifier;
  ids: Snowflake;
  metrics: Metrics;
  now: () => number;
  /** How long group delivered-acks are held to be written together (ms). */
  groupAckWindowMs: number;
  /** Checks a send's reply_to and mentions (MessageChanges.references); without it, sends carrying them are refused. */
  references?: MessageChanges['references'];
  /** How long direct-chat acks are held and merged before their cursor write (ms): short, since the sender watches for the tick. */
  directAckWindowMs: number;
  /** Checks and prepares attachments; without it a send with attachments is refused. */
  media?: Pick<Media, 'prepareAttachments'>;
  /** Whether a chat is end-to-end encrypted (core/e2ee.ts); without it no chat is. */
  encryption?: Pick<E2ee, 'isEncryptedGroup'>;
}

type AckSent = Extract<ServerFrame, { type: 'ack_sent' }>;
/** A device's highest acknowledged message of a chat, waiting for its cursor write. */
type HeldAck = { device: Sender; top: MessageRef; at: number };
/** A device's highest ack_read of a group in the window, and the ack_read frames waiting for it to be stored. */
type HeldRead = HeldAck & { waiters: { resolve: () => void; reject: (err: unknown) => void }[] };

/** How many recently committed messages' locations are kept for their acknowledgements. */
const RECENT_REFS = 50_000;

/** The message rules: send, delivered and read acknowledgements. */
export class Messaging {
  /**
   * Where recently committed messages sit (no content): nearly every ack names a
   * message committed moments ago, and this spares a store lookup per ack. Oldest
   * entries go first; a miss just asks the store.
   */
  private readonly recent = new FifoCache<string, MessageRef>(RECENT_REFS);
  /** Group acks waiting for the next write, by device and chat: the highest one each. */
  private readonly heldDelivered = new Map<string, HeldAck>();
  /** Group reads waiting for the next write, by device and chat: the highest one each, and the frames' promises it answers. */
  private readonly heldReads = new Map<string, HeldRead>();
  /** When the held acks are written: the earliest deadline of any held kind. */
  private heldTimer: NodeJS.Timeout | null = null;
  private heldDeadline = Infinity;
  /**
   * Per device, its latest send: once it is queued the next one may be checked and
   * queued, once its ack settled the next ack may go. Without this a repeated send (no
   * delivery to admit) or one whose membership changed answers a tick sooner or later
   * than its neighbours in the same store batch, and an ack overtook an earlier one.
   */
  private readonly lastSend = new Map<string, { queued: Promise<void>; settled: Promise<void> }>();

  constructor(private readonly deps: MessagingDeps) {}

  /** Notes where a message sits: it was committed here, or is being delivered to a socket here (its acks will come here). */
  remember(m: MessageRef | LogEntry): void {
    if (this.recent.has(m.message_id)) return; // a fan-out tells this once per socket
    const change = ('change' in m && m.change === true) || 'action' in m || 'commit' in m;
    this.recent.add(m.message_id, {
      message_id: m.message_id,
      chat_id: m.chat_id,
      seq: m.seq,
      sender_id: m.sender_id,
      ...(change ? { change } : {}),
    });
  }

  private references(userId: string, frame: SendMessage, memberIds: string[]) {
    if (!this.deps.references) throw new DomainError('invalid_reference', 'this server takes no replies or mentions');
    return this.deps.references(userId, frame, memberIds);
  }

  private async locate(messageIds: string[]): Promise<MessageRef[]> {
    const found: MessageRef[] = [];
    const missing: string[] = [];
    for (const id of messageIds) {
      const ref = this.recent.get(id);
      if (ref) found.push(ref);
      else missing.push(id);
    }
    if (missing.length > 0)
      for (const e of await this.deps.store.getMessages(missing)) found.push(!isMessage(e) ? { ...e, change: true } : e);
    return found;
  }

  /**
   * Checks a send and queues its append. Resolves as soon as the append is queued with
   * `ack`, which resolves once the message is durable; live delivery follows without
   * holding the ack. One device's sends are queued, and acknowledged, in the order they
   * came (guarantee 3), whatever the checks before the store (media) or the answers
   * after it (a repeat, a membership change) wait for.
   */
  async send(
    sender: Sender,
    frame: SendMessage,
    onCommitted?: (ack: AckSent) => void,
  ): Promise<{ ack: Promise<AckSent>; queued: boolean }> {
    const deviceId = sender.deviceId;
    const previous = this.lastSend.get(deviceId);
    const queuing = previous ? previous.queued.then(() => this.queue(sender, frame, onCommitted)) : this.queue(sender, frame, onCommitted);
    const ack = queuing.then(async ({ ack: own }) => {
      own.catch(() => {}); // answered below, after the earlier sends' acks
      await previous?.settled;
      return own;
    });
    const entry = { queued: queuing.then(noop, noop), settled: ack.then(noop, noop) };
    this.lastSend.set(deviceId, entry);
    void entry.settled.then(() => {
      if (this.lastSend.get(deviceId) === entry) this.lastSend.delete(deviceId);
    });
    return { ack, queued: (await queuing).queued };
  }

  private async queue(
    sender: Sender,
    frame: SendMessage,
    onCommitted?: (ack: AckSent) => void,
  ): Promise<{ ack: Promise<AckSent>; queued: boolean }> {
    // With attachments the content may be empty (a photo without a caption).
    const files = frame.attachments?.length ? frame.attachments : undefined;
    const ciphertext = frame.ciphertext;
    if (ciphertext !== undefined && ciphertext.length > MAX_CIPHERTEXT_CHARS)
      throw new DomainError('content_too_long', `ciphertext is over ${MAX_CIPHERTEXT_CHARS} characters`);
    if (frame.content.length === 0 && !files && ciphertext === undefined)
      throw new DomainError('invalid_frame', 'content must not be empty');
    // Characters (code points), as PROTOCOL.md counts them: 100,000 emoji fit.
    if (overChars(frame.content, MAX_CONTENT_CHARS))
      throw new DomainError('content_too_long', `content is over ${MAX_CONTENT_CHARS} characters`);
    const target = await this.deps.access.forSend(sender.userId, frame.chat_id);
    // A direct chat's blocks, deleted account and encryption are checked by the store in the
    // append (AppendRequest.directWith): a read here would cost every direct send a read
    // transaction on the event loop. A group's encryption is fixed at its creation (cached).
    const directWith = target.kind === 'direct' ? otherUser(sender.userId, target.chatId) : undefined;
    checkEncryption(frame, directWith !== undefined ? undefined : ((await this.deps.encryption?.isEncryptedGroup(target.chatId)) ?? false));
    const refs =
      frame.reply_to !== undefined || frame.mentions?.length ? await this.references(sender.userId, frame, target.memberIds) : {};
    const messageId = this.deps.ids.next();
    let attachments;
    if (files) {
      if (!this.deps.media) throw new DomainError('invalid_attachment', 'this server takes no attachments');
      // An encrypted send's files are client-encrypted: the server neither reads nor thumbnails them.
      attachments = await this.deps.media.prepareAttachments(sender.userId, files, messageId, { opaque: ciphertext !== undefined });
    }
    const request: AppendRequest = {
      messageId,
      ...(attachments ? { attachments } : {}),
      chatId: target.chatId,
      senderId: sender.userId,
      senderDeviceId: sender.deviceId,
      clientMsgId: frame.client_msg_id,
      content: frame.content,
      ...(ciphertext !== undefined ? { ciphertext } : {}),
      ...refs,
      ...(frame.forwarded ? { forwarded: true } : {}),
      createdAt: this.deps.now(),
      createDirectWith: target.createDirectWith,
      directWith,
      membersVersion: target.membersVersion,
    };
    // queued: the message goes through the fan-out queue, whose room the ack waits for.
    return { ack: this.append(request, target, onCommitted), queued: this.deps.delivery.usesQueue(target.memberIds.length) };
  }

  /**
   * Appends. When the chat's membership changed since the check (another node added or
   * removed someone), the store checked the sender again and stored the message under
   * the new membership: the cached members are stale, and the message goes to the
   * members of the version it was stored under.
   */
  private async append(request: AppendRequest, target: ChatTarget, onCommitted?: (ack: AckSent) => void): Promise<AckSent> {
    const [result] = await this.deps.store.append([request]);
    if (result!.notMember) {
      this.deps.access.invalidate(request.chatId);
      throw new DomainError('not_a_member', 'you are not a member of this chat');
    }
    if (result!.refused) throw directRefusalError(result!.refused);
    const stored = result as Extract<AppendResult, { message: StoredMessage }>;
    const ack = this.committed(stored, onCommitted);
    if (stored.duplicate) return ack;
    // No await before this: the hand-over keeps the chat's commit order (Delivery.inOrder).
    // A large group's fan-out job must be accepted by the (bounded) queue before the
    // ack goes out: when the queue is full, senders wait here instead of piling up jobs.
    await this.deps.delivery.inOrder(request.chatId, async () => {
      let memberIds = target.memberIds;
      if (stored.membersVersion !== undefined && stored.membersVersion !== target.membersVersion) {
        this.deps.access.invalidate(request.chatId);
        memberIds = await this.deps.access.recipients(request.chatId, stored.message.seq, stored.membersVersion);
      }
      const membersVersion = stored.membersVersion ?? target.membersVersion;
      await this.deps.delivery.admit(stored.message, memberIds, { membersVersion });
    });
    return ack;
  }

  private committed({ message, duplicate }: { message: StoredMessage; duplicate: boolean }, onCommitted?: (ack: AckSent) => void): AckSent {
    const ack: AckSent = {
      type: 'ack_sent',
      client_msg_id: message.client_msg_id,
      message_id: message.message_id,
      chat_id: message.chat_id,
      seq: message.seq,
      created_at: message.created_at,
    };
    // Before any delivery, so the sending socket knows its own seq when replies arrive.
    onCommitted?.(ack);
    if (duplicate) {
      void this.redeliver(message);
    } else {
      this.deps.metrics.messagesSent.inc();
      this.remember(message);
    }
    return ack;
  }

  /** A repeated send: deliver again to the members that have not acknowledged it. */
  private async redeliver(message: StoredMessage): Promise<void> {
    // Best effort like any live delivery: the members are owed it by their cursors anyway.
    const members = await this.deps.store.getMembers(message.chat_id).catch(() => []);
    const owed = members.filter((m) => m.deliveredSeq < message.seq || m.userId === message.sender_id).map((m) => m.userId);
    await this.deps.delivery.message(message, owed, { redeliver: true });
  }

  /**
   * ack_delivered: moves the device's cursor in each chat to the highest acknowledged
   * seq. Acks are held for a short window and written together, one write per device
   * and chat however many acks came (a busy chat's member acks every message): groups
   * for the receipt window, whose receipts are coalesced anyway, direct chats for a
   * few tens of milliseconds, since their sender watches for the tick. A held
   * ack lost with the process only means a redelivery, which at-least-once allows; a
   * device's reconnect flushes them first (flushDelivered) so replay never repeats them.
   */
  async ackDelivered(device: Sender, messageIds: string[]): Promise<void> {
    const messages = await this.locate(messageIds);
    const highest = new Map<string, MessageRef>();
    for (const m of messages) if ((highest.get(m.chat_id)?.seq ?? 0) < m.seq) highest.set(m.chat_id, m);
    const at = this.deps.now();
    for (const [chatId, top] of highest) {
      if (!(await this.deps.access.isMember(device.userId, chatId)))
        throw new DomainError('not_a_member', 'you are not a member of this chat');
      const key = `${device.deviceId}\u0000${chatId}`;
      const held = this.heldDelivered.get(key);
      if (!held || held.top.seq < top.seq) this.heldDelivered.set(key, { device, top, at });
      this.flushWithin(kindOf(chatId) === 'direct' ? this.deps.directAckWindowMs : this.deps.groupAckWindowMs);
    }
  }

  private flushWithin(ms: number): void {
    const deadline = this.deps.now() + ms;
    if (this.heldTimer && this.heldDeadline <= deadline) return;
    if (this.heldTimer) clearTimeout(this.heldTimer);
    this.heldDeadline = deadline;
    this.heldTimer = setTimeout(() => void this.flushDelivered(), ms).unref();
  }

  /** At shutdown: writes the acks still held. */
  close(): Promise<void> {
    return this.flushDelivered();
  }

  /**
   * Writes every held ack now (on a timer, before a device's replay, at shutdown): a
   * group's in one store write per chat, whatever the number of members (a 1,024-member
   * group's window is a thousand cursor moves), a direct chat's one by one.
   */
  async flushDelivered(): Promise<void> {
    if (this.heldTimer) clearTimeout(this.heldTimer);
    this.heldTimer = null;
    this.heldDeadline = Infinity;
    const held = [...this.heldDelivered.values()];
    this.heldDelivered.clear();
    const reads = [...this.heldReads.values()];
    this.heldReads.clear();
    const groups = new Map<string, { acks: HeldAck[]; reads: HeldRead[] }>();
    const ofGroup = (chatId: string) => {
      let g = groups.get(chatId);
      if (!g) groups.set(chatId, (g = { acks: [], reads: [] }));
      return g;
    };
    for (const r of reads) ofGroup(r.top.chat_id).reads.push(r);
    const writes: Promise<void>[] = [];
    for (const h of held) {
      if (kindOf(h.top.chat_id) === 'direct') writes.push(this.writeDelivered(h.device, h.top, h.at).catch(() => {}));
      else ofGroup(h.top.chat_id).acks.push(h);
    }
    for (const [chatId, g] of groups) {
      // A read covers delivery (guarantee 6): a device's delivered ack at or below its read goes with the read.
      const readTo = new Map(g.reads.map((r) => [r.device.deviceId, r.top.seq]));
      const acks = g.acks.filter((h) => (readTo.get(h.device.deviceId) ?? 0) < h.top.seq);
      if (acks.length > 0) writes.push(this.writeGroupDelivered(chatId, acks).catch(() => {}));
      if (g.reads.length > 0) writes.push(this.writeGroupReads(chatId, g.reads));
    }
    await Promise.all(writes);
  }

  private async writeDelivered(device: Sender, top: MessageRef, at: number): Promise<void> {
    const advance = await this.deps.store.advanceDelivered(device.deviceId, device.userId, top.chat_id, top.seq, at);
    await this.deps.receipts.advanced(kindOf(top.chat_id), 'delivered', advance, at, top);
  }

  /** One group's held acks: one cursor write for all of them; the receipt notifier folds the advances per window. */
  private async writeGroupDelivered(chatId: string, acks: HeldAck[]): Promise<void> {
    const at = acks.reduce((latest, h) => Math.max(latest, h.at), 0);
    const moves = acks.map((h) => ({ deviceId: h.device.deviceId, userId: h.device.userId, seq: h.top.seq }));
    const advances = await this.deps.store.advanceDeliveredMany(chatId, moves, at);
    await Promise.all(advances.map((advance, i) => this.deps.receipts.advanced('group', 'delivered', advance, acks[i]!.at, acks[i]!.top)));
  }

  /**
   * ack_read: moves the user's read cursor, tells the user's other devices, and the senders.
   * A group's reads are held for the receipt window like its delivered acks and written
   * together, one store write per chat; the promise settles once this one is stored
   * (a ping's pong waits for it: see frames/acks.ts).
   */
  async ackRead(device: Sender, chatId: string, lastReadMessageId: string): Promise<void> {
    if (!(await this.deps.access.isMember(device.userId, chatId)))
      throw new DomainError('not_a_member', 'you are not a member of this chat');
    const [message] = await this.locate([lastReadMessageId]);
    if (!message || message.chat_id !== chatId)
      throw new DomainError('invalid_frame', 'last_read_message_id is not a message of this chat');
    const at = this.deps.now();
    if (kindOf(chatId) === 'group') {
      return new Promise<void>((resolve, reject) => {
        const key = `${device.deviceId}\u0000${chatId}`;
        const held = this.heldReads.get(key);
        if (!held) this.heldReads.set(key, { device, top: message, at, waiters: [{ resolve, reject }] });
        else {
          if (held.top.seq < message.seq) Object.assign(held, { top: message, at });
          held.waiters.push({ resolve, reject });
        }
        this.flushWithin(this.deps.groupAckWindowMs);
      });
    }
    const moved = await this.deps.store.advanceRead(device.deviceId, device.userId, chatId, message.seq, at);
    await this.readMoved(device, message, moved, at);
  }

  /** One group's held reads: one cursor write for all of them, then each reader's read_sync and receipts. */
  private async writeGroupReads(chatId: string, reads: HeldRead[]): Promise<void> {
    const at = reads.reduce((latest, r) => Math.max(latest, r.at), 0);
    const moves = reads.map((r) => ({ deviceId: r.device.deviceId, userId: r.device.userId, seq: r.top.seq }));
    let results: { read: CursorAdvance; delivered: CursorAdvance }[];
    try {
      results = await this.deps.store.advanceReadMany(chatId, moves, at);
    } catch (err) {
      for (const r of reads) for (const w of r.waiters) w.reject(err);
      return;
    }
    await Promise.all(
      reads.map(async (r, i) => {
        try {
          await this.readMoved(r.device, r.top, results[i]!, r.at);
          for (const w of r.waiters) w.resolve();
        } catch (err) {
          for (const w of r.waiters) w.reject(err);
        }
      }),
    );
  }

  /** After a read cursor moved: the senders' delivered and read receipts, the reader's other devices. */
  private async readMoved(device: Sender, message: MessageRef, moved: { read: CursorAdvance; delivered: CursorAdvance }, at: number) {
    const { read, delivered } = moved;
    const kind = kindOf(message.chat_id);
    await this.deps.receipts.advanced(kind, 'delivered', delivered, at, message);
    if (read.to > read.from) {
      await this.deps.delivery.toUsers(
        [device.userId],
        { type: 'read_sync', chat_id: message.chat_id, read_seq: read.to },
        { exceptDevice: device.deviceId },
      );
      await this.deps.receipts.advanced(kind, 'read', read, at, message);
    }
  }
}

function noop(): void {}

function kindOf(chatId: string): 'direct' | 'group' {
  return parseChatId(chatId)?.kind ?? 'direct';
}

/**
 * docs/e2ee.md: an encrypted chat takes ciphertext only, with nothing beside it that
 * the server would read (replies, mentions, file keys and names travel inside it);
 * ciphertext goes to encrypted chats only. Attachments may go beside it: media ids of
 * client-encrypted uploads, so that the server's access checks, delete for everyone and
 * retention cover their bytes (Media.prepareAttachments, opaque).
 */
function checkEncryption(frame: SendMessage, encrypted: boolean | undefined): void {
  // undefined: the store checks the chat's flag (AppendRequest.directWith); the shape is checked here.
  if (encrypted === undefined && frame.ciphertext === undefined) return;
  if (frame.ciphertext === undefined) {
    if (encrypted) throw new DomainError('encryption_required', 'this chat is end-to-end encrypted: send ciphertext');
    return;
  }
  if (encrypted === false) throw new DomainError('not_encrypted', 'this chat is not end-to-end encrypted');
  if (frame.content !== '' || frame.reply_to !== undefined || frame.mentions || frame.forwarded !== undefined)
    throw new DomainError('encryption_required', 'an encrypted send carries only ciphertext, content "" and attachments');
}

/** The other user of a direct chat (the sender itself in notes to self). */
function otherUser(userId: string, chatId: string): string {
  const parsed = parseChatId(chatId);
  if (parsed?.kind !== 'direct') throw new Error(`not a direct chat: ${chatId}`);
  const [a, b] = parsed.userIds;
  return userId === a ? b : a;
}

/** The answer to a send the store refused under AppendRequest.directWith. */
function directRefusalError(why: DirectRefusal): DomainError {
  switch (why) {
    // As for a direct chat with a user that does not exist: the chat stays readable, nobody is there to receive.
    case 'deleted':
      return new DomainError('chat_not_found', 'this account was deleted');
    case 'blocked':
      return new DomainError('blocked', 'this user blocked you');
    case 'encryption_required':
      return new DomainError('encryption_required', 'this chat is end-to-end encrypted: send ciphertext');
    case 'not_encrypted':
      return new DomainError('not_encrypted', 'this chat is not end-to-end encrypted');
  }
}
