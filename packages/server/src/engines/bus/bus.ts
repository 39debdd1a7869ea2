/*
 * The bus seam: routes events to the node(s) holding a user's sockets, with no global
 * connection table. A node subscribes to a user while it holds at least one of that
 * user's sockets. Delivery is at most once and best effort: anything that must not be
 * lost is in the store, and a device that misses a bus event gets it by replay.
 * Implementations: InProcessBus (embedded); a Redis sharded pub/sub bus for clusters.
 */

/** What travels on the bus: a frame already encoded once, plus who on the user should get it. */
export interface BusEvent {
  /** The JSON text of a server frame, encoded once for every recipient. */
  frame: string;
  /** For new_message: chat and seq, so a socket can keep per-chat order and drop duplicates. */
  chatId?: string;
  seq?: number;
  /** A repeated send: write it even to sockets that already had it (they did not acknowledge it). */
  redeliver?: boolean;
  /** Do not deliver to this device (the sender's own socket). */
  exceptDevice?: string;
  /** Deliver only to this device. */
  onlyDevice?: string;
  /** Close that device's sockets with this code instead of delivering a frame (logout). */
  closeDevice?: { deviceId: string; code: number; reason: string };
}

export type BusHandler = (userId: string, event: BusEvent) => void;

export interface Bus {
  /** Called for every event published to a user this node is subscribed to. */
  onEvent(handler: BusHandler): void;
  subscribe(userId: string): Promise<void>;
  unsubscribe(userId: string): Promise<void>;
  /** Publishes to each user; resolves with how many nodes received each (0: no device online). */
  publish(userIds: string[], event: BusEvent): Promise<number[]>;
  close(): Promise<void>;
}
