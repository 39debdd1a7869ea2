import type { ClaimResult, KeyPackageCounts, MemberDevice, MlsWelcome } from '@switchboard/protocol';
import type { StoredCommit } from './store.js';

/*
 * The store's part for end-to-end encryption (docs/e2ee.md): the MLS Delivery Service's
 * data, all of it opaque base64 the server never parses. Implementations: SqliteE2ee
 * (sqlite-e2ee.ts) and PostgresE2ee (postgres-e2ee.ts); test/e2ee-support.ts runs one suite
 * over HTTP against both (embedded, and two cluster nodes).
 *
 * Guarantees:
 * - A claim hands out each one-use key package at most once, however many nodes claim at once.
 * - appendCommit accepts exactly one commit per (chat, epoch): the epoch check, the seq, the
 *   epoch bump, the group info and the welcomes are one transaction under the chat's lock.
 */

export interface CommitRequest {
  messageId: string;
  chatId: string;
  senderId: string;
  senderDeviceId: string;
  clientMsgId: string;
  createdAt: number;
  /** The epoch the commit was made in: accepted only if it is the chat's current one. */
  epoch: number;
  commit: string;
  groupInfo: string;
  /** One stored welcome per entry, delivered to each device named. */
  welcomes: { welcomeId: string; deviceIds: string[]; data: string }[];
  /** A direct chat that may not exist yet: its members, so an epoch-0 commit creates it. */
  createDirectWith?: string[];
}

export type CommitRefusal = 'not_a_member' | 'no_chat' | 'not_encrypted' | 'unknown_device';

export type CommitResult =
  /** Stored (or a repeat of the sender's commit with that client_msg_id); epoch: the chat's epoch after it. */
  | { entry: StoredCommit; duplicate: boolean; epoch: number; stale?: undefined; refused?: undefined }
  /** Made in another epoch than the chat's current one (`stale`); nothing stored. */
  | { stale: number; entry?: undefined; refused?: undefined }
  | { refused: CommitRefusal; entry?: undefined; stale?: undefined };

export interface MlsChatRecord {
  encrypted: boolean;
  epoch: number;
  groupInfo: string | null;
}

export interface E2eeStore {
  /**
   * Adds the device's one-use key packages and (if given) replaces its last-resort one.
   * 'too_many': more than `max` unused one-use packages would be kept; nothing stored.
   */
  addKeyPackages(
    deviceId: string,
    userId: string,
    packages: string[],
    lastResort: string | undefined,
    at: number,
    max: number,
  ): Promise<KeyPackageCounts | 'too_many'>;
  keyPackageCounts(deviceId: string): Promise<KeyPackageCounts>;
  /** One key package per live device of each user (not exceptDevice): the oldest one-use one, taken; else the last-resort one. */
  claimKeyPackages(userIds: string[], exceptDevice: string): Promise<ClaimResult>;
  /** The live devices of these users, by user then device id. */
  liveDevices(userIds: string[]): Promise<MemberDevice[]>;
  /** The chat's encryption state; null for no such chat. */
  chat(chatId: string): Promise<MlsChatRecord | null>;
  appendCommit(request: CommitRequest): Promise<CommitResult>;
  /** The welcomes stored for this device, oldest first. */
  welcomes(deviceId: string): Promise<MlsWelcome[]>;
  /** Acknowledges one: false when it is not this device's. */
  ackWelcome(deviceId: string, welcomeId: string): Promise<boolean>;
}
