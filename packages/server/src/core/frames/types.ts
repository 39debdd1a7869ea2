import type { ClientFrame, ClientFrameType, ServerFrame } from '@switchboard/protocol';
import type { Accounts } from '../accounts.js';
import type { ChatAccess } from '../chat-access.js';
import type { Delivery } from '../delivery.js';
import type { Limits } from '../limits.js';
import type { MessageChanges } from '../message-changes.js';
import type { Messaging } from '../messaging.js';
import type { Presence, PresenceWatcher } from '../presence.js';
import type { Metrics } from '../../util/metrics.js';

/**
 * What a frame handler may do with the socket its frame came from (the gateway's
 * Connection): answer it, and keep the order of its sends and changes.
 */
export interface FrameSocket extends PresenceWatcher {
  readonly userId: string;
  readonly deviceId: string;
  sendFrame(frame: ServerFrame): void;
  /**
   * The socket's ordered frames (sends and changes): each is admitted after the previous
   * one, so their seqs, and their acks, follow the order the device sent them in.
   */
  sendChain: Promise<void>;
  /** Settles once this socket's latest send is durable (or refused): a change waits for it (see change-message.ts). */
  lastCommit: Promise<unknown>;
  /** This socket's sends through the fan-out queue not yet answered, oldest first (see send-message.ts); null: none yet. */
  queuedSends: Set<Promise<void>> | null;
  /** This socket's read cursor writes not yet stored: a pong waits for them. */
  readsStored: Promise<void>;
  typingTokens: number;
  typingRefillAt: number;
  /** An ordered frame for the chat was read (in flight until answered); stops reading past a high mark. */
  sendStarted(chatId: string): void;
  /** An ordered frame was answered (ack or error). */
  sendSettled(chatId: string): void;
  /** This device's own entry was committed at seq (its ack_sent is going out). */
  noteOwnMessage(chatId: string, seq: number): void;
}

export interface FrameDeps {
  accounts: Pick<Accounts, 'touch'>;
  access: ChatAccess;
  messaging: Messaging;
  changes: MessageChanges;
  delivery: Delivery;
  presence: Presence;
  limits: Limits;
  metrics: Metrics;
  config: { typingPerSecond: number };
  /** Answers a frame that failed with an `error` frame (the client_msg_id of the frame it answers, when it had one). */
  fail: (socket: FrameSocket, err: unknown, clientMsgId?: string) => void;
}

export type FrameOf<T extends ClientFrameType> = Extract<ClientFrame, { type: T }>;

/**
 * One frame type's handling, from the parsed frame to its answers. It may return before
 * the frame is done (ordered frames continue on the socket's chain); what it throws
 * is answered with an `error` frame.
 */
export type FrameHandler<T extends ClientFrameType> = (socket: FrameSocket, frame: FrameOf<T>, deps: FrameDeps) => Promise<void> | void;
