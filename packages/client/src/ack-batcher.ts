/** ack_delivered ids per frame. */
const MAX_IDS_PER_ACK = 1000;

/**
 * Least time between two ack_delivered flushes (ms). Delivery receipts are cursors
 * (guarantee 6): under a stream of messages one frame per window carries them all, instead
 * of one frame per socket event; after a quiet spell the first one still goes at once.
 */
export const ACK_WINDOW_MS = 100;

/** A queued id, with the chat and seq it has when known (only those can be covered by a read). */
interface Queued {
  id: string;
  chatId: string | undefined;
  seq: number;
  /** Covered by an ack_read since it was queued: it does not go. */
  dropped: boolean;
}

/**
 * Collects the message ids to acknowledge and sends them as few ack_delivered frames as
 * possible: one timer turn gathers everything that arrived together (a replay arrives as
 * many socket events), at most one flush per ACK_WINDOW_MS, then frames of up to
 * MAX_IDS_PER_ACK ids go out.
 *
 * An ack_read is a cursor that covers delivery too (guarantee 6: the server moves the
 * reading device's delivered cursor with its read cursor), so `coveredByRead` drops the
 * queued ids of that chat at or below the read message's seq: a message received and read
 * in one turn costs one frame, not two.
 */
export class AckBatcher {
  private queue: Queued[] = [];
  /** The queued entries of each chat, in arrival order (those added with a chat and seq). */
  private byChat = new Map<string, Queued[]>();
  /** Entries in `queue` not dropped. */
  private live = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastFlush = -Infinity;

  constructor(
    private readonly send: (frame: { type: 'ack_delivered'; message_ids: string[] }) => void,
    private readonly windowMs = ACK_WINDOW_MS,
  ) {}

  /**
   * Queues an id for ack_delivered. With its chat and seq, a read of that chat at or past
   * the seq can cover it (coveredByRead); without, it always goes.
   */
  add(messageId: string, chatId?: string, seq?: number): void {
    const entry: Queued = { id: messageId, chatId, seq: seq ?? Infinity, dropped: false };
    this.queue.push(entry);
    this.live++;
    if (chatId !== undefined && seq !== undefined) {
      const list = this.byChat.get(chatId);
      if (list) list.push(entry);
      else this.byChat.set(chatId, [entry]);
    }
    // A timer, not a microtask: the socket events of one burst all land before it fires.
    this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.lastFlush + this.windowMs - Date.now()));
  }

  /** The seq a queued id of this chat was added with, or undefined (not queued, or queued without one). */
  seqOf(chatId: string, messageId: string): number | undefined {
    const list = this.byChat.get(chatId);
    if (!list) return undefined;
    // The id read is most often the latest that arrived.
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.id === messageId) return list[i]!.seq;
    return undefined;
  }

  /**
   * An ack_read of `chatId` up to the message with this seq went out: the ids of that chat
   * queued with a seq at or below it need no ack_delivered. Ids of other chats, later seqs,
   * and ids queued without a chat and seq stay.
   */
  coveredByRead(chatId: string, seq: number): void {
    const list = this.byChat.get(chatId);
    if (!list) return;
    const kept: Queued[] = [];
    for (const e of list) {
      if (e.seq <= seq) {
        e.dropped = true;
        this.live--;
      } else kept.push(e);
    }
    if (kept.length > 0) this.byChat.set(chatId, kept);
    else this.byChat.delete(chatId);
    // Nothing left to send: no flush is due (and the window is not used up).
    if (this.live === 0) this.clear();
  }

  /** Ids queued and not covered by a read. */
  get size(): number {
    return this.live;
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const queue = this.queue;
    const ids: string[] = [];
    for (const e of queue) if (!e.dropped) ids.push(e.id);
    this.reset();
    if (ids.length > 0) this.lastFlush = Date.now();
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_ACK)
      this.send({ type: 'ack_delivered', message_ids: ids.slice(i, i + MAX_IDS_PER_ACK) });
  }

  /** Drops what is queued (the socket is gone; the server replays what was not acknowledged). */
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.reset();
  }

  private reset(): void {
    this.queue = [];
    this.byChat = new Map();
    this.live = 0;
  }
}
