import type { ServerFrame } from '@switchboard/protocol';
import type { CursorAdvance, MessageRef, ReceiptCounts, Store } from '../engines/store/store.js';
import type { Delivery } from './delivery.js';
import type { Logger } from '../util/logger.js';

type Status = 'delivered' | 'read';
type StatusUpdate = Extract<ServerFrame, { type: 'status_update' }>;

/** The latest a direct status frame goes, counted from the acknowledgement it answers (ms). */
const DIRECT_HOLD_LIMIT_MS = 800;
/**
 * The latest it reaches the sender's socket: on a ?batch=1 socket it may wait there for the
 * next frame to that socket to ride with, until this long after the acknowledgement (ms;
 * guarantee 6 allows a second, the rest is for the way there).
 */
const DIRECT_RIDE_LIMIT_MS = 850;

/**
 * Turns cursor advances into status_update frames for the senders whose messages the
 * advance covers, for each sender's latest covered message.
 *
 * Direct chats (guarantee 6: status_updates are cursors, may be held up to a second, and
 * read covers delivered): a recipient's advances are held for `directWindowMs` from the
 * first, then only the latest of each status goes, the delivered one not at all when the
 * read one covers it. A stream of messages costs its sender a few status frames a second,
 * not one or two per message, and a message read within the window (the chat is open)
 * costs one frame, not two (issue 23).
 *
 * Groups: advances are coalesced over a short window (per chat, member and status):
 * a member's burst of acks becomes one frame per window. In a large group (more
 * members than `shareAbove`) the members that reached the same message of a sender in
 * the window also share ONE frame: `user_id` is the first of them and `user_ids` lists
 * all (an addition to the protocol's frame). So a burst costs a sender a few frames
 * per message per second whatever the group's size, never one per member per message.
 * Every group frame carries delivered_count, read_count and member_count.
 */
/** A direct chat's advances held for the rest of a window: the merged range, the latest time, the top message when known. */
interface Held {
  advance: CursorAdvance;
  at: number;
  top?: MessageRef;
}

/** A direct chat recipient (chat and user) inside its window; what arrived since the window opened. */
interface DirectWindow {
  timer: NodeJS.Timeout;
  delivered?: Held;
  read?: Held;
}

export class ReceiptNotifier {
  private readonly pending = new Map<string, { status: Status; advance: CursorAdvance }>();
  private timer: NodeJS.Timeout | null = null;
  private readonly direct = new Map<string, DirectWindow>();

  constructor(
    private readonly deps: {
      store: Store;
      delivery: Delivery;
      log: Logger;
      groupWindowMs: number;
      /** How long a direct chat's status frames after the first are held and folded (at most 1,000: guarantee 6). */
      directWindowMs: number;
      /** Groups with more members than this share status frames between members. */
      shareAbove: number;
      membersOf: (chatId: string) => Promise<string[]>;
      now: () => number;
    },
  ) {}

  /**
   * `top`, when given, is the message at `advance.to` (the one acknowledged): in a direct
   * chat, if someone else sent it, it is that sender's latest covered message, and the
   * store need not be asked.
   */
  async advanced(kind: 'direct' | 'group', status: Status, advance: CursorAdvance, at: number, top?: MessageRef): Promise<void> {
    if (advance.to <= advance.from) return;
    if (kind === 'group') {
      const key = `${advance.chatId}\u0000${advance.userId}\u0000${status}`;
      const prev = this.pending.get(key);
      this.pending.set(key, { status, advance: prev ? { ...advance, from: Math.min(prev.advance.from, advance.from) } : advance });
      this.timer ??= setTimeout(() => void this.flush(), this.deps.groupWindowMs).unref();
      return;
    }
    const key = `${advance.chatId}\u0000${advance.userId}`;
    let window = this.direct.get(key);
    if (!window) {
      // Never past DIRECT_HOLD_LIMIT_MS after the acknowledgement itself (`at`): its cursor
      // write may have queued behind sends, and guarantee 6 allows a second in all.
      const hold = Math.max(0, Math.min(this.deps.directWindowMs, at + DIRECT_HOLD_LIMIT_MS - this.deps.now()));
      window = { timer: setTimeout(() => void this.releaseDirect(key), hold).unref() };
      this.direct.set(key, window);
    }
    window[status] = merge(window[status], { advance, at, top });
  }

  /** A direct window ended: the latest of each status goes, delivered only if read does not cover it. */
  private async releaseDirect(key: string): Promise<void> {
    const window = this.direct.get(key);
    if (!window) return;
    this.direct.delete(key);
    clearTimeout(window.timer);
    const { delivered, read } = window;
    if (delivered && !(read && read.advance.to >= delivered.advance.to)) await this.sendDirect('delivered', delivered);
    if (read) await this.sendDirect('read', read);
  }

  private async sendDirect(status: Status, { advance, at, top }: Held): Promise<void> {
    try {
      const latest =
        top && !top.change && top.seq === advance.to && top.sender_id !== advance.userId
          ? [top]
          : await this.deps.store.latestBySender(advance.chatId, advance.from, advance.to, advance.userId);
      // The time left is sent as a duration, not a deadline: the sender's node may keep
      // another clock.
      const rideMs = Math.max(0, at + DIRECT_RIDE_LIMIT_MS - this.deps.now());
      await Promise.all(latest.map((m) => this.send(frame(m, status, advance.userId, [advance.userId], at), rideMs)));
    } catch (err) {
      this.deps.log.warn({ err, chat_id: advance.chatId }, 'status_update failed');
    }
  }

  /** Sends the group frames of the window that just ended. */
  async flush(): Promise<void> {
    this.timer = null;
    const batch = [...this.pending.values()];
    this.pending.clear();
    const at = this.deps.now();
    // Members of one burst mostly share (from, to): ask the store once per distinct range.
    const ranges = new Map<string, Promise<MessageRef[]>>();
    const shared = new Map<string, { ref: MessageRef; status: Status; userIds: string[] }>();
    const memberSets = new Map<string, Promise<Set<string>>>();
    try {
      for (const { status, advance } of batch) {
        let membersNow = memberSets.get(advance.chatId);
        if (!membersNow) memberSets.set(advance.chatId, (membersNow = this.deps.membersOf(advance.chatId).then((m) => new Set(m))));
        const members = await membersNow;
        // Small groups: one frame per member (user_id is that member); large: shared frames.
        const share = members.size > this.deps.shareAbove;
        const rangeKey = `${advance.chatId}\u0000${advance.from}\u0000${advance.to}`;
        let latest = ranges.get(rangeKey);
        if (!latest) ranges.set(rangeKey, (latest = this.deps.store.latestBySender(advance.chatId, advance.from, advance.to, '')));
        for (const ref of await latest) {
          if (ref.sender_id === advance.userId) continue; // nobody is told about reading their own message
          if (!members.has(ref.sender_id)) continue; // a sender removed since learns nothing of the group (guarantee 8)
          const key = share ? `${ref.message_id}\u0000${status}` : `${ref.message_id}\u0000${status}\u0000${advance.userId}`;
          const entry = shared.get(key);
          if (entry) entry.userIds.push(advance.userId);
          else shared.set(key, { ref, status, userIds: [advance.userId] });
        }
      }
      const counts = await this.countsOf([...shared.values()].map((e) => e.ref));
      await Promise.all(
        [...shared.values()].map((e) => this.send(frame(e.ref, e.status, e.userIds[0]!, e.userIds, at, counts.get(e.ref.message_id)))),
      );
    } catch (err) {
      this.deps.log.warn({ err }, 'group status_update failed');
    }
  }

  /**
   * Group frames carry how many recipients have each message (guarantee 6), counted when
   * the window ends, so a sender can apply its own rule ("delivered once half have it").
   * One read of each chat's members per window, whatever the number of frames.
   */
  private async countsOf(refs: MessageRef[]): Promise<Map<string, ReceiptCounts>> {
    const byChat = new Map<string, Map<string, MessageRef>>();
    for (const ref of refs) {
      let m = byChat.get(ref.chat_id);
      if (!m) byChat.set(ref.chat_id, (m = new Map()));
      m.set(ref.message_id, ref);
    }
    const out = new Map<string, ReceiptCounts>();
    await Promise.all(
      [...byChat].map(async ([chatId, m]) => {
        const list = [...m.values()];
        const counts = await this.deps.store.receiptCounts(chatId, list);
        list.forEach((ref, i) => out.set(ref.message_id, counts[i]!));
      }),
    );
    return out;
  }

  /** To the sender's devices; `rideMs`: how long it may wait there for another frame (Delivery.toUsers). */
  private send({ to, update }: { to: string; update: StatusUpdate }, rideMs?: number): Promise<void> {
    return this.deps.delivery.toUsers([to], update, rideMs ? { rideMs } : {});
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await Promise.all([...this.direct.keys()].map((key) => this.releaseDirect(key)));
    await this.flush();
  }
}

function frame(
  ref: MessageRef,
  status: Status,
  userId: string,
  userIds: string[],
  at: number,
  counts?: ReceiptCounts,
): { to: string; update: StatusUpdate } {
  const update: StatusUpdate = {
    type: 'status_update',
    message_id: ref.message_id,
    chat_id: ref.chat_id,
    seq: ref.seq,
    status,
    user_id: userId,
    at,
  };
  // Groups name every member the frame speaks for; a direct chat has only the one.
  if (ref.chat_id.startsWith('g:')) update.user_ids = userIds;
  if (counts) {
    update.delivered_count = counts.delivered;
    update.read_count = counts.read;
    update.member_count = counts.members;
  }
  return { to: ref.sender_id, update };
}

/** Two advances of one cursor as one: the whole range, the later time, the top of the higher end. */
function merge(prev: Held | undefined, next: Held): Held {
  if (!prev) return next;
  const higher = next.advance.to >= prev.advance.to ? next : prev;
  return {
    advance: { ...higher.advance, from: Math.min(prev.advance.from, next.advance.from) },
    at: Math.max(prev.at, next.at),
    top: higher.top,
  };
}
