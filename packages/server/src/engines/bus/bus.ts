/*
 * The bus seam: routes events to the node(s) that hold interested sockets, with no
 * global connection table. Topics: `user:{id}` (a node subscribes while it holds at
 * least one of that user's sockets), `presence:{id}` (while one of its sockets
 * watches that user) and MEMBERS_TOPIC (always). Delivery is at most once and best effort: anything that must
 * not be lost is in the store, and a device that misses a bus event gets it by replay.
 * Implementations: InProcessBus (embedded); RedisBus (sharded pub/sub) for clusters.
 */

export const userTopic = (userId: string): string => `user:${userId}`;
/** Subscribed by every node and fan-out worker: `{chatId}` whose membership changed. */
export const MEMBERS_TOPIC = 'chat-members';
export const presenceTopic = (userId: string): string => `presence:${userId}`;

/** What travels on the bus: a frame already encoded once, plus which devices should get it. */
export interface BusEvent {
  /** The JSON text of a server frame, encoded once for every recipient. */
  frame: string;
  /** For new_message: chat and seq, so a socket can keep per-chat order and drop duplicates. */
  chatId?: string;
  seq?: number;
  /** For new_message: which message and whose, so the node that delivers it can take its acks without a store read. */
  messageId?: string;
  senderId?: string;
  /** A repeated send: write it even to sockets that already had it (they did not acknowledge it). */
  redeliver?: boolean;
  /** Do not deliver to this device (the sender's own socket). */
  exceptDevice?: string;
  /** Close that device's sockets with this code instead of delivering a frame (logout). */
  closeDevice?: { deviceId: string; code: number; reason: string };
}

export type BusHandler = (topic: string, event: BusEvent) => void;

export interface Bus {
  /** Called for every event published to a topic this node is subscribed to. */
  onEvent(handler: BusHandler): void;
  subscribe(topic: string): Promise<void>;
  unsubscribe(topic: string): Promise<void>;
  /**
   * Publishes one event to each topic (in one round trip where the transport allows);
   * resolves with how many nodes received it per topic: 0 on a user topic means no
   * device of that user is online.
   */
  publish(topics: string[], event: BusEvent): Promise<number[]>;
  close(): Promise<void>;
}
