/** ack_delivered ids per frame. */
const MAX_IDS_PER_ACK = 1000;

/**
 * Least time between two ack_delivered flushes (ms). Delivery receipts are cursors
 * (guarantee 6): under a stream of messages one frame per window carries them all, instead
 * of one frame per socket event; after a quiet spell the first one still goes at once.
 */
export const ACK_WINDOW_MS = 100;

/**
 * Collects the message ids to acknowledge and sends them as few ack_delivered frames as
 * possible: one timer turn gathers everything that arrived together (a replay arrives as
 * many socket events), at most one flush per ACK_WINDOW_MS, then frames of up to
 * MAX_IDS_PER_ACK ids go out.
 */
export class AckBatcher {
  private queue: string[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastFlush = -Infinity;

  constructor(
    private readonly send: (frame: { type: 'ack_delivered'; message_ids: string[] }) => void,
    private readonly windowMs = ACK_WINDOW_MS,
  ) {}

  add(messageId: string): void {
    this.queue.push(messageId);
    // A timer, not a microtask: the socket events of one burst all land before it fires.
    this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.lastFlush + this.windowMs - Date.now()));
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const ids = this.queue;
    this.queue = [];
    if (ids.length > 0) this.lastFlush = Date.now();
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_ACK)
      this.send({ type: 'ack_delivered', message_ids: ids.slice(i, i + MAX_IDS_PER_ACK) });
  }

  /** Drops what is queued (the socket is gone; the server replays what was not acknowledged). */
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
  }
}
