import {
  MAX_KEY_PACKAGES_KEPT,
  type ClaimResult,
  type KeyPackageCounts,
  type MlsChatState,
  type MlsCommitAccepted,
  type MlsCommitInput,
  type MlsWelcome,
} from '@switchboard/protocol';
import type { E2eeStore } from '../engines/store/e2ee-store.js';
import type { Snowflake } from '../util/snowflake.js';
import type { ChatAccess } from './chat-access.js';
import type { Delivery } from './delivery.js';
import { DomainError } from './errors.js';
import type { Sender } from './messaging.js';

export interface E2eeDeps {
  store: E2eeStore;
  access: ChatAccess;
  delivery: Delivery;
  ids: Snowflake;
  now: () => number;
  /** Notes where a committed entry sits, for the acks that will name it (Messaging.remember). */
  remember?: (e: { message_id: string; chat_id: string; seq: number; sender_id: string; commit: string }) => void;
}

/**
 * The MLS Delivery Service (docs/e2ee.md): key packages, commits (one per chat and epoch,
 * in the chat's log), welcomes to the devices they name, the latest group info; and
 * whether a chat is encrypted, which the send path asks. It never parses the MLS bytes.
 */
export class E2ee {
  /**
   * Groups' encryption, fixed at their creation. (A direct chat's is checked by the store in
   * each append, AppendRequest.directWith: its first commit may be accepted on any node.)
   */
  private readonly known = new Map<string, boolean>();

  constructor(private readonly deps: E2eeDeps) {}

  /** Whether sends to this group must carry ciphertext. */
  async isEncryptedGroup(chatId: string): Promise<boolean> {
    const cached = this.known.get(chatId);
    if (cached !== undefined) return cached;
    const encrypted = (await this.deps.store.chat(chatId))?.encrypted === true;
    this.remember(chatId, encrypted);
    return encrypted;
  }

  private remember(chatId: string, encrypted: boolean): void {
    if (this.known.size >= 100_000) this.known.delete(this.known.keys().next().value!);
    this.known.set(chatId, encrypted);
  }

  async uploadKeyPackages(
    device: Sender,
    body: { key_packages?: string[] | undefined; last_resort?: string | undefined },
  ): Promise<KeyPackageCounts> {
    const out = await this.deps.store.addKeyPackages(
      device.deviceId,
      device.userId,
      body.key_packages ?? [],
      body.last_resort,
      this.deps.now(),
      MAX_KEY_PACKAGES_KEPT,
    );
    if (out === 'too_many')
      throw new DomainError('too_many_key_packages', `a device keeps at most ${MAX_KEY_PACKAGES_KEPT} unused key packages`);
    return out;
  }

  keyPackageCounts(device: Sender): Promise<KeyPackageCounts> {
    return this.deps.store.keyPackageCounts(device.deviceId);
  }

  claim(device: Sender, userIds: string[]): Promise<ClaimResult> {
    return this.deps.store.claimKeyPackages(userIds, device.deviceId);
  }

  /** GET /v1/chats/{chat_id}/mls: members only (a direct chat not yet created answers for its two users). */
  async chatState(userId: string, chatId: string): Promise<MlsChatState> {
    const target = await this.deps.access.forSend(userId, chatId);
    const record = target.createDirectWith ? null : await this.deps.store.chat(chatId);
    return {
      chat_id: chatId,
      encrypted: record?.encrypted ?? false,
      epoch: record?.epoch ?? 0,
      group_info: record?.groupInfo ?? null,
      devices: await this.deps.store.liveDevices(target.memberIds),
    };
  }

  /** POST /v1/chats/{chat_id}/mls/commits. */
  async commit(device: Sender, chatId: string, body: MlsCommitInput): Promise<MlsCommitAccepted> {
    const target = await this.deps.access.forSend(device.userId, chatId);
    const result = await this.deps.store.appendCommit({
      messageId: this.deps.ids.next(),
      chatId,
      senderId: device.userId,
      senderDeviceId: device.deviceId,
      clientMsgId: body.client_msg_id,
      createdAt: this.deps.now(),
      epoch: body.epoch,
      commit: body.commit,
      groupInfo: body.group_info,
      welcomes: (body.welcomes ?? []).map((w) => ({ welcomeId: this.deps.ids.next(), deviceIds: w.device_ids, data: w.welcome })),
      ...(target.createDirectWith ? { createDirectWith: target.createDirectWith } : {}),
    });
    if (result.stale !== undefined)
      throw new DomainError('stale_epoch', `the chat is at epoch ${result.stale}; process its commits and commit again`, {
        epoch: result.stale,
      });
    if (result.refused) {
      switch (result.refused) {
        case 'not_a_member':
          this.deps.access.invalidate(chatId);
          throw new DomainError('not_a_member', 'you are not a member of this chat');
        case 'no_chat':
          throw new DomainError('chat_not_found', 'no such chat');
        case 'not_encrypted':
          throw new DomainError('not_encrypted', 'this group was not created encrypted');
        default:
          throw new DomainError('invalid_request', 'a welcome names a device that is not a live device of a member');
      }
    }
    const { entry } = result;
    this.remember(chatId, true);
    if (!result.duplicate) {
      this.deps.remember?.(entry);
      // Members as the sender's check saw them: replay makes good a member added meanwhile.
      await this.deps.delivery.inOrder(chatId, async () => {
        const memberIds = target.createDirectWith ?? (await this.deps.access.memberIds(chatId));
        await this.deps.delivery.admit(entry, memberIds);
      });
    }
    return { message_id: entry.message_id, chat_id: entry.chat_id, seq: entry.seq, epoch: result.epoch, created_at: entry.created_at };
  }

  welcomes(device: Sender): Promise<MlsWelcome[]> {
    return this.deps.store.welcomes(device.deviceId);
  }

  async ackWelcome(device: Sender, welcomeId: string): Promise<void> {
    if (!(await this.deps.store.ackWelcome(device.deviceId, welcomeId))) throw new DomainError('not_found', 'no such welcome');
  }
}
