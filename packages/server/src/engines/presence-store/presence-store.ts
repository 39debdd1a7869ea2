/*
 * The presence seam: which users have a live socket on some node. A node marks the
 * users it holds and refreshes them on a heartbeat; an entry it stops refreshing (a
 * node that died without a word) expires after the TTL, so its users stop looking
 * online within that time. Best effort by nature: presence is never used to decide
 * whether a message is delivered (the store's cursors decide that).
 * Implementations: InMemoryPresenceStore (embedded); RedisPresenceStore for clusters.
 */
export interface PresenceStore {
  /** This node now holds a socket of the user. Resolves true if the user was offline everywhere before. */
  setOnline(userId: string, nodeName: string): Promise<boolean>;
  /** This node holds no socket of the user any more. Resolves true if the user is now offline everywhere. */
  setOffline(userId: string, nodeName: string): Promise<boolean>;
  /** Heartbeat: renews this node's entries for the users it holds. */
  refresh(userIds: string[], nodeName: string): Promise<void>;
  isOnline(userIds: string[]): Promise<boolean[]>;
  close(): Promise<void>;
}
