import type { LogEntry, PendingChat, Store } from '../engines/store/store.js';
import type { Messaging } from './messaging.js';

/** Messages read from the store per page of a replay or a gap fill. */
export const BACKLOG_PAGE = 500;

/**
 * What a device is owed from the store, and what a member may see of it: the rules the
 * gateway's replay (on connect) and gap fills (live messages out of order) follow. The
 * gateway only writes what this answers to sockets.
 */
export class Backlog {
  constructor(private readonly deps: { store: Store; messaging: Pick<Messaging, 'flushDelivered'> }) {}

  /**
   * The chats in which the device is owed messages (above max(device cursor, joined seq)).
   * Acks this node still holds reach the cursors first, so nothing acknowledged is replayed.
   */
  async pendingChats(deviceId: string, userId: string): Promise<PendingChat[]> {
    await this.deps.messaging.flushDelivered();
    return this.deps.store.pendingChats(deviceId, userId);
  }

  /** A page of a pending chat's backlog (messages as they are now, and changes): (after, upto], ascending. */
  page(chat: PendingChat, after: number): Promise<LogEntry[]> {
    return this.deps.store.range(chat.chatId, after, chat.lastSeq, BACKLOG_PAGE);
  }

  /**
   * Messages of the chat the member may see in (after, upto], at most `limit`: nothing
   * from before it (re)joined, nothing at all once it left. `after` null: from the
   * device's delivered cursor (a chat its socket has not had a message of yet).
   */
  async visible(userId: string, deviceId: string, chatId: string, after: number | null, upto: number, limit: number): Promise<LogEntry[]> {
    const member = await this.deps.store.getMember(chatId, userId);
    if (!member) return [];
    const from = after ?? (await this.deps.store.deviceCursor(deviceId, chatId));
    return this.deps.store.range(chatId, Math.max(from, member.joinedSeq), upto, limit);
  }
}
