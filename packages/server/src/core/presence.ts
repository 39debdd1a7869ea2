import type { ServerFrame } from '@switchboard/protocol';
import type { Store } from '../engines/store/store.js';

type PresenceFrame = Extract<ServerFrame, { type: 'presence' }>;

export interface PresenceWatcher {
  readonly userId: string;
  readonly presenceWatch: Set<string>;
  sendFrame(frame: ServerFrame): void;
}

/**
 * Who is online, and who watches whom. A user is online while any of its sockets is
 * live (the gateway closes sockets silent past the presence timeout); last_seen is
 * stored when the last one goes. Changes go only to sockets that subscribed, never to
 * a whole contact list.
 */
export class Presence {
  private readonly sockets = new Map<string, number>();
  private readonly lastSeen = new Map<string, number>();
  private readonly watchers = new Map<string, Set<PresenceWatcher>>();

  constructor(private readonly deps: { store: Store; now: () => number }) {}

  isOnline(userId: string): boolean {
    return (this.sockets.get(userId) ?? 0) > 0;
  }

  async lastSeenOf(userId: string): Promise<number | null> {
    if (this.isOnline(userId)) return this.deps.now();
    return this.lastSeen.get(userId) ?? (await this.deps.store.getUser(userId))?.lastSeen ?? null;
  }

  async frameFor(userId: string): Promise<PresenceFrame> {
    return { type: 'presence', user_id: userId, online: this.isOnline(userId), last_seen: await this.lastSeenOf(userId) };
  }

  /** May `viewer` see `target`'s presence? Only users who share a chat (or oneself). */
  async mayWatch(viewer: string, target: string): Promise<boolean> {
    return viewer === target || this.deps.store.shareAChat(viewer, target);
  }

  socketOpened(userId: string): void {
    const n = (this.sockets.get(userId) ?? 0) + 1;
    this.sockets.set(userId, n);
    if (n === 1) void this.broadcast(userId);
  }

  async socketClosed(userId: string): Promise<void> {
    const n = (this.sockets.get(userId) ?? 1) - 1;
    if (n > 0) {
      this.sockets.set(userId, n);
      return;
    }
    this.sockets.delete(userId);
    const at = this.deps.now();
    this.lastSeen.set(userId, at);
    await this.broadcast(userId);
    await this.deps.store.setLastSeen(userId, at);
    this.lastSeen.delete(userId);
  }

  /** Watches each user the socket may see and answers a presence frame for every id asked. */
  async subscribe(watcher: PresenceWatcher, userIds: string[], max: number): Promise<'too_many' | 'ok'> {
    const fresh = [...new Set(userIds)].filter((id) => !watcher.presenceWatch.has(id));
    if (watcher.presenceWatch.size + fresh.length > max) return 'too_many';
    for (const id of new Set(userIds)) {
      if (await this.mayWatch(watcher.userId, id)) {
        watcher.presenceWatch.add(id);
        let set = this.watchers.get(id);
        if (!set) this.watchers.set(id, (set = new Set()));
        set.add(watcher);
        watcher.sendFrame(await this.frameFor(id));
      } else {
        // Users one shares no chat with look offline, with no last_seen.
        watcher.sendFrame({ type: 'presence', user_id: id, online: false, last_seen: null });
      }
    }
    return 'ok';
  }

  unsubscribe(watcher: PresenceWatcher, userIds: string[]): void {
    for (const id of userIds) {
      watcher.presenceWatch.delete(id);
      const set = this.watchers.get(id);
      set?.delete(watcher);
      if (set && set.size === 0) this.watchers.delete(id);
    }
  }

  dropWatcher(watcher: PresenceWatcher): void {
    this.unsubscribe(watcher, [...watcher.presenceWatch]);
  }

  private async broadcast(userId: string): Promise<void> {
    const set = this.watchers.get(userId);
    if (!set || set.size === 0) return;
    const frame = await this.frameFor(userId);
    for (const w of set) w.sendFrame(frame);
  }
}
