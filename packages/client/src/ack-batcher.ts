/** ack_delivered ids per frame. */
const MAX_IDS_PER_ACK = 1000;

/**
 * Collects the message ids to acknowledge and sends them as few ack_delivered frames as
 * possible: one timer turn gathers everything that arrived together (a replay arrives as
 * many socket events), then frames of up to MAX_IDS_PER_ACK ids go out.
 */
export class AckBatcher {
  private queue: string[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly send: (frame: { type: 'ack_delivered'; message_ids: string[] }) => void) {}

  add(messageId: string): void {
    this.queue.push(messageId);
    // A timer, not a microtask: the socket events of one burst all land before it fires.
    this.timer ??= setTimeout(() => this.flush(), 0);
  }

  flush(): void {
    this.timer = undefined;
    const ids = this.queue;
    this.queue = [];
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
