import type { E2eeStorage } from './storage.js';

/*
 * The server cannot check an encrypted chat's edits (it never sees what a ciphertext is), so
 * the receiving SDK does, as the server does for plaintext ones (PROTOCOL.md "Message
 * lifecycle"): an edit counts only from the target's sender, within the edit window. For
 * that it remembers, per chat, who sent each message it decrypted (or sent) and when (docs/e2ee.md
 * "Replies, mentions, edits and reactions").
 *
 * Bounded: a message older than the edit window (measured against the newest one
 * remembered, both the server's times) can no longer be edited, so it is forgotten; besides,
 * at most MAX_KNOWN_PER_CHAT per chat, oldest forgotten first. Kept in the E2ee storage
 * ("known/<chat_id>"), so a restart in the middle of the window does not refuse the edits
 * of what was decrypted before it.
 */

/** Messages remembered per chat: a busier chat refuses edits of its older messages within the window. */
export const MAX_KNOWN_PER_CHAT = 1000;

interface Known {
  sender_id: string;
  created_at: number;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export class KnownMessages {
  private readonly chats = new Map<string, Map<string, Known>>();

  constructor(
    private readonly storage: E2eeStorage,
    private readonly windowMs: number,
  ) {}

  /** A decrypted message: who sent it (its MLS sender) and when the server stored it. */
  async remember(chatId: string, messageId: string, senderId: string, createdAt: number): Promise<void> {
    const known = await this.load(chatId);
    known.delete(messageId);
    known.set(messageId, { sender_id: senderId, created_at: createdAt });
    const newest = Math.max(...[...known.values()].map((k) => k.created_at));
    for (const [id, k] of known) {
      if (known.size > MAX_KNOWN_PER_CHAT || k.created_at < newest - this.windowMs) known.delete(id);
      else break; // in arrival order, near enough to the server's time order
    }
    await this.persist(chatId, known);
  }

  /** A message deleted for everyone: no edit of it counts any more. */
  async forget(chatId: string, messageId: string): Promise<void> {
    const known = await this.load(chatId);
    if (known.delete(messageId)) await this.persist(chatId, known);
  }

  /**
   * Why an edit by `senderId`, stored at `createdAt`, of `targetId` does not count; null when
   * it does. A target not remembered (not decrypted here, deleted, or out of the window) is refused.
   */
  async refuseEdit(chatId: string, targetId: string, senderId: string, createdAt: number): Promise<string | null> {
    const target = (await this.load(chatId)).get(targetId);
    if (!target) return 'unknown_target';
    if (target.sender_id !== senderId) return 'not_the_sender';
    if (createdAt - target.created_at > this.windowMs) return 'edit_window_passed';
    return null;
  }

  private async load(chatId: string): Promise<Map<string, Known>> {
    let known = this.chats.get(chatId);
    if (known) return known;
    known = new Map();
    const bytes = await this.storage.get(`known/${chatId}`);
    if (bytes) {
      try {
        for (const [id, sender_id, created_at] of JSON.parse(fromUtf8.decode(bytes)) as [string, string, number][])
          known.set(id, { sender_id, created_at });
      } catch {
        // Unreadable: edits of what it held are refused, nothing worse.
      }
    }
    this.chats.set(chatId, known);
    return known;
  }

  private persist(chatId: string, known: Map<string, Known>): Promise<void> {
    const rows = [...known].map(([id, k]) => [id, k.sender_id, k.created_at]);
    return this.storage.put(`known/${chatId}`, utf8.encode(JSON.stringify(rows)));
  }
}
