import type { PresenceStore } from './presence-store.js';

/** The embedded presence store: per user, the nodes holding it and until when (one node here). */
export class InMemoryPresenceStore implements PresenceStore {
  private readonly entries = new Map<string, Map<string, number>>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private live(userId: string): Map<string, number> | undefined {
    const nodes = this.entries.get(userId);
    if (!nodes) return undefined;
    const t = this.now();
    for (const [node, until] of nodes) if (until <= t) nodes.delete(node);
    if (nodes.size === 0) {
      this.entries.delete(userId);
      return undefined;
    }
    return nodes;
  }

  async setOnline(userId: string, nodeName: string): Promise<boolean> {
    const wasOffline = this.live(userId) === undefined;
    let nodes = this.entries.get(userId);
    if (!nodes) this.entries.set(userId, (nodes = new Map()));
    nodes.set(nodeName, this.now() + this.ttlMs);
    return wasOffline;
  }
  async setOffline(userId: string, nodeName: string): Promise<boolean> {
    this.entries.get(userId)?.delete(nodeName);
    return this.live(userId) === undefined;
  }
  async refresh(userIds: string[], nodeName: string): Promise<void> {
    const until = this.now() + this.ttlMs;
    for (const id of userIds) this.entries.get(id)?.set(nodeName, until);
  }
  async isOnline(userIds: string[]): Promise<boolean[]> {
    return userIds.map((id) => this.live(id) !== undefined);
  }
  async close(): Promise<void> {
    this.entries.clear();
  }
}
