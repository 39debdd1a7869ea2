/*
 * The bus seam: routes events to the node(s) that hold interested sockets, with no
 * global connection table. Topics: `user:{id}` (a node subscribes while it holds at
 * least one of that user's sockets), `presence:{id}` (while one of its sockets
 * watches that user) and MEMBERS_TOPIC (every node and worker, always). Delivery is at
 * most once and best effort: anything that must not be lost is in the store, and a device
 * that misses a bus event gets it by replay; a lost connection is reported (onReconnect)
 * so the node can make good what it missed.
 * Implementations: InProcessBus (embedded); RedisBus (sharded pub/sub) for clusters.
 */

export const userTopic = (userId: string): string => `user:${userId}`;
/** Subscribed by every node and fan-out worker: `{chatId}` whose membership changed. */
export const MEMBERS_TOPIC = 'chat-members';
export const presenceTopic = (userId: string): string => `presence:${userId}`;

/** What travels on the bus: one of these kinds, each with exactly the fields it needs. */
export type BusEvent =
  /** A committed message for a user's devices. chat and seq let a socket keep per-chat order and drop duplicates; messageId and senderId let the node delivering it take its acks without a store read. */
  | {
      kind: 'message';
      /** The new_message frame's JSON text, encoded once for every recipient. */
      frame: string;
      chatId: string;
      seq: number;
      messageId: string;
      senderId: string;
      /** Not for this device (the sender's own socket). */
      exceptDevice?: string;
      /** A repeated send: write it even to sockets that already had it (they did not acknowledge it). */
      redeliver?: boolean;
      /** A message_update (edit, delete, reaction) rather than a new_message. */
      change?: boolean;
    }
  /** Any other frame for a user's devices (receipts, read_sync, typing, group updates) or for a presence watcher. */
  | {
      kind: 'frame';
      frame: string;
      exceptDevice?: string;
      /**
       * A status frame that may wait up to this long (ms, from its arrival) on a ?batch=1
       * socket for another frame to ride with, in the same WebSocket message (gateway/connection.ts).
       */
      rideMs?: number;
    }
  /** Close that device's sockets with this code (logout, revoked session). */
  | { kind: 'close-device'; deviceId: string; code: number; reason: string }
  /** On MEMBERS_TOPIC: the chat's membership changed; drop cached copies. */
  /** removed: users who left the chat in this change (presence re-checks whom they may watch). */
  | { kind: 'members-changed'; chatId: string; removed?: string[] }
  /** On MEMBERS_TOPIC: a user registered a push target; nodes read its targets again (push/target-owners.ts). */
  | { kind: 'push-target-added'; userId: string }
  /** On MEMBERS_TOPIC: a webhook was added or removed; nodes read the list again (core/webhook-dispatcher.ts). */
  | { kind: 'webhooks-changed' }
  /*
   * GET /v1/events streams (gateway/event-streams.ts), on the user's topic: a stream lives on
   * the node that opened it; its POSTs and polls may reach any node, which relays them here.
   */
  /** Client frames (a POST's body) for a stream. */
  | { kind: 'stream-frames'; streamId: string; deviceId: string; text: string }
  /** A long-poll of a stream, relayed by the node it reached (answered with stream-batch). */
  | { kind: 'stream-poll'; streamId: string; userId: string; deviceId: string; pollId: string; waitMs: number }
  /** The answer to a relayed poll: the frames (JSON texts); `gone`: no such stream. */
  | { kind: 'stream-batch'; pollId: string; frames: string[]; closed: { code: number; reason: string } | null; gone?: boolean };

export type BusHandler = (topic: string, event: BusEvent) => void;

export interface Bus {
  /**
   * True when publish() hands the event to this node's handlers before it returns, in call
   * order (in-process): publishes of one turn then reach each socket in the same write.
   */
  readonly inline?: boolean;
  /** Adds a handler, called for every event published to a topic this node is subscribed to. */
  onEvent(handler: BusHandler): void;
  /**
   * Adds a callback run when the bus's connection came back after a loss and every topic
   * is subscribed again: events published meanwhile were lost. Never called in-process.
   */
  onReconnect(callback: () => void): void;
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
