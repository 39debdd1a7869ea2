import type { ServerFrame } from '@switchboard/protocol';
import { presenceTopic, type Bus, type BusEvent } from '../engines/bus/bus.js';
import type { PresenceStore } from '../engines/presence-store/presence-store.js';
import type { Store } from '../engines/store/store.js';
import type { Logger } from '../util/logger.js';

type PresenceFrame = Extract<ServerFrame, { type: 'presence' }>;

/** A socket watching users' presence: whose it is, and how to hand it a frame. */
export interface PresenceWatcher {
  readonly userId: string;
  sendFrame(frame: ServerFrame): void;
  write(text: string): void;
}

export interface PresenceDeps {
  store: Store;
  presenceStore: PresenceStore;
  bus: Bus;
  nodeName: string;
  /** The users with a socket on this node (heartbeat renews them). */
  localUsers: () => string[];
  heartbeatMs: number;
  now: () => number;
  log: Logger;
}

/**
 * Who is online, and who watches whom. A user is online while any node holds one of
 * its sockets (the gateway closes sockets silent past the presence timeout); last_seen
 * is stored when the last one goes. Changes travel on the `presence:{id}` bus topic,
 * which a node subscribes to only while one of its sockets watches that user: frames
 * go only to subscribed sockets, never to a whole contact list.
 */
export class Presence {
  private readonly watchers = new Map<string, Set<PresenceWatcher>>();
  /** The other direction: whom each watcher watches. */
  private readonly watching = new Map<PresenceWatcher, Set<string>>();
  /** Last state told to local watchers, so the heartbeat can spot users whose node died. */
  private readonly told = new Map<string, boolean>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: PresenceDeps) {}

  /** Starts the heartbeat that keeps this node's users online and notices nodes that died. */
  start(): void {
    this.timer ??= setInterval(() => void this.heartbeat(), this.deps.heartbeatMs);
    this.timer.unref();
  }

  async frameFor(userId: string): Promise<PresenceFrame> {
    const [online] = await this.deps.presenceStore.isOnline([userId]);
    const lastSeen = online ? this.deps.now() : ((await this.deps.store.getUser(userId))?.lastSeen ?? null);
    return { type: 'presence', user_id: userId, online: online!, last_seen: lastSeen };
  }

  /** May `viewer` see `target`'s presence? Only users who share a chat (or oneself), and neither blocked the other. */
  async mayWatch(viewer: string, target: string): Promise<boolean> {
    if (viewer === target) return true;
    const { people } = this.deps.store;
    if ((await people.isBlocked(viewer, target)) || (await people.isBlocked(target, viewer))) return false;
    return this.deps.store.shareAChat(viewer, target);
  }

  /** The first socket of a user on this node opened. */
  async userArrived(userId: string): Promise<void> {
    const wasOffline = await this.deps.presenceStore.setOnline(userId, this.deps.nodeName);
    if (wasOffline) await this.announce({ type: 'presence', user_id: userId, online: true, last_seen: this.deps.now() });
  }

  /** The last socket of a user on this node closed. */
  async userLeft(userId: string): Promise<void> {
    if (!(await this.deps.presenceStore.setOffline(userId, this.deps.nodeName))) return;
    const at = this.deps.now();
    await this.deps.store.setLastSeen(userId, at);
    await this.announce({ type: 'presence', user_id: userId, online: false, last_seen: at });
  }

  private async announce(frame: PresenceFrame): Promise<void> {
    await this.deps.bus.publish([presenceTopic(frame.user_id)], { kind: 'frame', frame: JSON.stringify(frame) });
  }

  /** A presence change from any node, for the local sockets watching that user. */
  onBusEvent(userId: string, event: BusEvent): void {
    const set = this.watchers.get(userId);
    if (!set || event.kind !== 'frame') return;
    this.told.set(userId, (JSON.parse(event.frame) as PresenceFrame).online);
    for (const w of set) w.write(event.frame);
  }

  /**
   * Watches each user the socket may see and answers a presence frame for every id asked.
   * The ids count against `max` at once, before any check is awaited, so a burst of
   * frames cannot each pass the bound before the others are applied.
   */
  async subscribe(watcher: PresenceWatcher, userIds: string[], max: number): Promise<'too_many' | 'ok'> {
    const unique = [...new Set(userIds)];
    let watched = this.watching.get(watcher);
    if (!watched) this.watching.set(watcher, (watched = new Set()));
    const fresh = unique.filter((id) => !watched.has(id));
    if (watched.size + fresh.length > max) {
      if (watched.size === 0) this.watching.delete(watcher);
      return 'too_many';
    }
    for (const id of fresh) watched.add(id);
    for (const id of unique) {
      const may = await this.mayWatch(watcher.userId, id);
      // The socket closed (dropWatcher) or unsubscribed meanwhile: nothing more to do.
      if (this.watching.get(watcher) !== watched || !watched.has(id)) continue;
      if (!may) {
        // Users one shares no chat with look offline, with no last_seen.
        this.unsubscribe(watcher, [id]);
        watcher.sendFrame({ type: 'presence', user_id: id, online: false, last_seen: null });
        continue;
      }
      let set = this.watchers.get(id);
      if (!set) {
        this.watchers.set(id, (set = new Set()));
        await this.deps.bus.subscribe(presenceTopic(id));
      }
      set.add(watcher);
      const frame = await this.frameFor(id);
      this.told.set(id, frame.online);
      watcher.sendFrame(frame);
    }
    return 'ok';
  }

  unsubscribe(watcher: PresenceWatcher, userIds: string[]): void {
    const watched = this.watching.get(watcher);
    for (const id of userIds) {
      watched?.delete(id);
      const set = this.watchers.get(id);
      set?.delete(watcher);
      if (set && set.size === 0) {
        this.watchers.delete(id);
        this.told.delete(id);
        void this.deps.bus.unsubscribe(presenceTopic(id)).catch(() => {});
      }
    }
    if (watched?.size === 0) this.watching.delete(watcher);
  }

  /**
   * Users left a chat: every local watch between them and someone else is checked again,
   * and a pair that shares no chat any more ends (the watcher is told the user looks
   * offline, as to anyone who shares no chat).
   */
  membersLeft(userIds: string[]): void {
    const left = new Set(userIds);
    const pairs: [PresenceWatcher, string][] = [];
    for (const [watcher, watched] of this.watching) {
      for (const id of watched) if (left.has(id) || left.has(watcher.userId)) pairs.push([watcher, id]);
    }
    void this.recheck(pairs).catch((err) => this.deps.log.warn({ err }, 'presence re-check failed'));
  }

  private async recheck(pairs: [PresenceWatcher, string][]): Promise<void> {
    const verdicts = new Map<string, Promise<boolean>>();
    for (const [watcher, id] of pairs) {
      const key = `${watcher.userId}\u0000${id}`;
      let may = verdicts.get(key);
      if (!may) verdicts.set(key, (may = this.mayWatch(watcher.userId, id)));
      if (await may) continue;
      if (!this.watching.get(watcher)?.has(id)) continue;
      this.unsubscribe(watcher, [id]);
      watcher.sendFrame({ type: 'presence', user_id: id, online: false, last_seen: null });
    }
  }

  /** The watcher's socket closed: it watches no one any more. */
  dropWatcher(watcher: PresenceWatcher): void {
    this.unsubscribe(watcher, [...(this.watching.get(watcher) ?? [])]);
  }

  /** Renews this node's users; re-checks watched users so a dead node's users are seen going offline. */
  private async heartbeat(): Promise<void> {
    try {
      await this.deps.presenceStore.refresh(this.deps.localUsers(), this.deps.nodeName);
      const watched = [...this.watchers.keys()];
      if (watched.length === 0) return;
      const online = await this.deps.presenceStore.isOnline(watched);
      for (let i = 0; i < watched.length; i++) {
        const id = watched[i]!;
        if (this.told.get(id) === online[i]) continue;
        const frame = await this.frameFor(id);
        this.onBusEvent(id, { kind: 'frame', frame: JSON.stringify(frame) });
      }
    } catch (err) {
      this.deps.log.warn({ err }, 'presence heartbeat failed');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}
