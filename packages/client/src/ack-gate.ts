/**
 * Holds back ack_delivered for log entries that a holder (E2ee) must process before this
 * device may say it holds them: an MLS commit or ciphertext acknowledged on arrival and
 * lost to a crash before it was processed would never be replayed, and the device could
 * never decrypt that chat again. An ack is a cursor (it covers every earlier entry of the
 * chat), so once an entry of a chat is held, the entries after it wait behind it and go
 * out in arrival order as the head is released.
 */
export class AckGate {
  private readonly queues = new Map<string, { id: string; seq: number; released: boolean }[]>();

  /** `ack`: acknowledge this entry now (its chat and seq go along, so that a read can cover it: AckBatcher). */
  constructor(private readonly ack: (messageId: string, chatId: string, seq: number) => void) {}

  /**
   * A log entry arrived. `fresh`: not a duplicate; `hold`: the holder will release it.
   * A duplicate is acknowledged at once unless entries of its chat are still held (then it
   * is one of them, or an earlier one the release will cover).
   */
  arrived(chatId: string, messageId: string, seq: number, fresh: boolean, hold: boolean): void {
    const queue = this.queues.get(chatId);
    if (!fresh) {
      if (!queue) this.ack(messageId, chatId, seq);
      return;
    }
    if (!hold && !queue) {
      this.ack(messageId, chatId, seq);
      return;
    }
    const entry = { id: messageId, seq, released: !hold };
    if (queue) queue.push(entry);
    else this.queues.set(chatId, [entry]);
  }

  /** The holder is done with this entry (processed, saved, or found useless): acknowledges it and what waited behind it. */
  release(chatId: string, messageId: string): void {
    const queue = this.queues.get(chatId);
    if (!queue) return;
    const entry = queue.find((e) => e.id === messageId);
    if (entry) entry.released = true;
    while (queue.length > 0 && queue[0]!.released) {
      const e = queue.shift()!;
      this.ack(e.id, chatId, e.seq);
    }
    if (queue.length === 0) this.queues.delete(chatId);
  }

  /** Entries still held, across chats. */
  get size(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }
}
