/**
 * Drops messages this client has already seen.
 *
 * Why a per-chat high-water seq and not a set of recent message ids: the protocol
 * guarantees that `seq` is assigned at commit, strictly increasing and gap-free within a
 * chat, and that each device receives a chat's messages in seq order (guarantee 3).
 * Redelivery (guarantee 4: at-least-once) replays from the device's delivered cursor, so
 * a duplicate always has a seq at or below the highest seq already received for that
 * chat. One number per chat is therefore exact and bounded by the number of chats,
 * while an LRU set of ids is bounded only by its size, and a replay of something older
 * than the window (for example a large offline backlog delivered twice) would slip through it.
 *
 * Gaps are fine (this device does not receive its own sends, so its view of a chat has
 * holes); only messages at or below the mark are dropped. Acknowledged own sends
 * (`ack_sent`) must not move the mark, because a message from someone else with a lower
 * seq may still be on its way.
 */
export class SeqDeduper {
  private highest = new Map<string, number>();

  /** Records the message; returns false when it is a duplicate. */
  accept(chatId: string, seq: number): boolean {
    const prev = this.highest.get(chatId);
    if (prev !== undefined && seq <= prev) return false;
    this.highest.set(chatId, seq);
    return true;
  }

  /** Highest seq received in a chat, or undefined. */
  lastSeq(chatId: string): number | undefined {
    return this.highest.get(chatId);
  }

  /** Seeds marks (e.g. from the latest history a UI loaded, or persisted state). */
  seed(marks: Record<string, number>): void {
    for (const [chatId, seq] of Object.entries(marks)) {
      if ((this.highest.get(chatId) ?? -Infinity) < seq) this.highest.set(chatId, seq);
    }
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.highest);
  }
}
