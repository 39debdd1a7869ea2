import type { CursorAdvance, Store, StoredMessage } from '../engines/store/store.js';
import type { Delivery } from './delivery.js';
import type { Logger } from '../util/logger.js';

type Status = 'delivered' | 'read';

interface Pending {
  kind: 'direct' | 'group';
  status: Status;
  advance: CursorAdvance;
  at: number;
}

/**
 * Turns cursor advances into status_update frames for the senders whose messages the
 * advance covers: one frame per sender, for that sender's latest covered message.
 * In groups, advances are coalesced per (chat, member, status) over a short window,
 * so a burst of messages costs a member's senders a few frames, not one per message.
 */
export class ReceiptNotifier {
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: { store: Store; delivery: Delivery; log: Logger; groupWindowMs: number },
  ) {}

  /**
   * `top`, when given, is the message at `advance.to` (the one acknowledged): in a direct
   * chat, if someone else sent it, it is that sender's latest covered message, and the
   * store need not be asked.
   */
  async advanced(kind: 'direct' | 'group', status: Status, advance: CursorAdvance, at: number, top?: StoredMessage): Promise<void> {
    if (advance.to <= advance.from) return;
    if (kind === 'direct') {
      if (top && top.seq === advance.to && top.sender_id !== advance.userId) return this.send([top], status, advance, at);
      return this.notify({ kind, status, advance, at });
    }
    const key = `${advance.chatId}\u0000${advance.userId}\u0000${status}`;
    const prev = this.pending.get(key);
    this.pending.set(key, prev ? { ...prev, advance: { ...advance, from: Math.min(prev.advance.from, advance.from) }, at } : { kind, status, advance, at });
    this.timer ??= setTimeout(() => void this.flush(), this.deps.groupWindowMs).unref();
  }

  async flush(): Promise<void> {
    this.timer = null;
    const batch = [...this.pending.values()];
    this.pending.clear();
    await Promise.all(batch.map((p) => this.notify(p)));
  }

  private async notify({ status, advance, at }: Pending): Promise<void> {
    try {
      const latest = await this.deps.store.latestBySender(advance.chatId, advance.from, advance.to, advance.userId);
      await this.send(latest, status, advance, at);
    } catch (err) {
      this.deps.log.warn({ err, chat_id: advance.chatId }, 'status_update failed');
    }
  }

  private async send(latest: StoredMessage[], status: Status, advance: CursorAdvance, at: number): Promise<void> {
    await Promise.all(
      latest.map((m) =>
        this.deps.delivery.toUsers([m.sender_id], {
          type: 'status_update',
          message_id: m.message_id,
          chat_id: m.chat_id,
          seq: m.seq,
          status,
          user_id: advance.userId,
          at,
        }),
      ),
    );
  }

  close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    return this.flush();
  }
}
