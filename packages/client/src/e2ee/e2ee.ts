import {
  directChatId,
  MAX_CLAIM_USERS,
  MAX_KEY_PACKAGES_PER_UPLOAD,
  type ClaimResult,
  type GroupView,
  type KeyPackageCounts,
  type MlsChatState,
  type MlsCommitAccepted,
  type MlsWelcome,
  type ServerFrameOf,
} from '@switchboard/protocol';
import type { AckSent, MessageUpdateEvent, NewMessageEvent } from '../connection.js';
import { sha512 } from '@noble/hashes/sha2.js';
import type { SwitchboardClient } from '../client.js';
import { TypedEmitter } from '../emitter.js';
import { SwitchboardHttpError, retryRateLimited } from '../http.js';
import * as mls from './mls.js';
import type { E2eeStorage } from './storage.js';
import { decodeAppMessage, encodeAppMessage, type AppMessage, type AppText, type EncryptedFile } from './app-message.js';
import { decryptFile, encryptFile } from './file-crypto.js';
import { KnownMessages } from './known-messages.js';

/*
 * End-to-end encryption for a SwitchboardClient (docs/e2ee.md): every device is an MLS
 * member, the server orders commits (one per epoch) and carries ciphertext. Work on one chat
 * (incoming commits and messages, own commits, sends) runs one at a time, in the order it
 * came, so the group state moves through epochs exactly as the chat's log says. A group's
 * state is saved only after the server accepted the commit that made it, or after an
 * incoming commit or message was processed.
 */

/** Where an entry of an encrypted chat's log stands, and who sent it (the MLS sender, checked against the server's word). */
interface LogEntry {
  chat_id: string;
  message_id: string;
  seq: number;
  sender_id: string;
  sender_device_id: string;
  created_at: number;
}

export interface DecryptedMessage extends LogEntry {
  text: string;
  /** The message of the chat this one answers (as its sender said: the SDK cannot check that it exists). */
  reply_to?: string;
  /** The users it mentions, only those with a device in the chat's group. */
  mentions?: string[];
  /** Client-encrypted files (docs/e2ee.md "Files"): open each with E2ee.openFile (its thumbnail too). */
  files?: EncryptedFile[];
}

/**
 * An edit or reaction of an encrypted chat (docs/e2ee.md "Replies, mentions, edits and reactions"),
 * checked by this SDK as the server checks plaintext ones: `message_id` and `seq` are the
 * change's own, `target_message_id` the message it changes.
 */
export interface DecryptedChange extends LogEntry {
  target_message_id: string;
  action: 'edit' | 'react';
  /** The new text (edit). */
  text?: string;
  /** The sender's reaction, "" when taken back (react). */
  emoji?: string;
}

/** A change that does not count (`reason`: unknown_target, not_the_sender, edit_window_passed, invalid_emoji): never applied. */
export type RefusedChange = Omit<DecryptedChange, 'text' | 'emoji'> & { reason: string };

/** What E2ee.sendFile uploads: the file's bytes are encrypted before they leave, its name and type travel inside the ciphertext. */
export interface FileToSend {
  name: string;
  contentType: string;
  /** A caption. */
  text?: string;
  /** A small image the sender made of the file (the server makes none for encrypted files), encrypted the same way. */
  thumbnail?: { bytes: Uint8Array; contentType: string; width?: number; height?: number };
  /** As send's: a send made again after a restart keeps its first id. */
  clientMsgId?: string;
  /** As send's: the message it answers, the users it mentions (inside the ciphertext). */
  replyTo?: string;
  mentions?: string[];
}

/** The media type encrypted files are uploaded as: the server refuses any other for an encrypted send. */
const OPAQUE_TYPE = 'application/octet-stream';

export interface E2eeEvents {
  /** A decrypted message of an encrypted chat, in seq order. */
  message: DecryptedMessage;
  /** An edit or reaction that passed the checks the server makes for plaintext ones, in seq order. */
  change: DecryptedChange;
  /** An edit or reaction that failed them (another member's message, the window passed): emitted instead of `change`. */
  refused_change: RefusedChange;
  /** This device joined an encrypted chat (by a welcome) at this epoch. */
  joined: { chat_id: string; epoch: number };
  /** The chat's group moved to this epoch (a commit, own or another device's). */
  epoch: { chat_id: string; epoch: number };
  /** A ciphertext or commit this device could not process (not a member then, or refused by the credential check). */
  undecryptable: { chat_id: string; message_id: string; seq: number; reason: string };
}

export interface E2eeOptions {
  storage: E2eeStorage;
  /** Unused key packages kept on the server (topUpKeyPackages fills up to this). Default 20. */
  keyPackageTarget?: number;
  /**
   * After each sync_complete, join the user's encrypted chats this device is not in by an
   * external commit (joinMissing). Default true; false leaves a new device waiting until
   * another device adds it.
   */
  externalJoin?: boolean;
  /** How long after a message its sender may edit it, in seconds: the server's EDIT_WINDOW_S. Default 900. */
  editWindowS?: number;
}

/**
 * The server's default EDIT_WINDOW_S, restated: the protocol package's lifecycle module builds
 * zod schemas at load, which a bundler must then keep in every app that imports this package.
 */
const DEFAULT_EDIT_WINDOW_S = 900;
/** A reaction's limit (PROTOCOL.md "Message lifecycle"). */
const MAX_EMOJI_BYTES = 32;
/** Mentions kept per message (the server's limit for plaintext ones). */
const MAX_MENTIONS = 50;

/** How many times a commit refused with stale_epoch is made again on the new epoch. */
const COMMIT_ATTEMPTS = 5;
const EPOCH_WAIT_MS = 10_000;

type Pending = { kind: 'message'; frame: NewMessageEvent } | { kind: 'commit'; frame: ServerFrameOf<'mls_commit'> };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export class E2ee extends TypedEmitter<E2eeEvents> {
  private readonly groups = new Map<string, mls.GroupHandle>();
  /** Per chat: the tail of its work chain (see the file comment). */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Per chat: (user, device) pairs the server listed as member devices, as "user\ndevice". */
  private readonly allowed = new Map<string, Set<string>>();
  /** Per chat: the users with a member device, as the server last said. */
  private readonly currentUsers = new Map<string, Set<string>>();
  /** Commits and messages that came before this device had the chat's group (a welcome is on its way). */
  private readonly pending = new Map<string, Pending[]>();
  private readonly unsubscribe: (() => void)[] = [];
  private welcomesRunning: Promise<void> | null = null;
  private welcomesAgain = false;
  /** Aborted by close(): ends the waits of rate-limited Delivery Service calls. */
  private readonly closing = new AbortController();
  /** Who sent the recent messages, and when: what edits are checked against. */
  private readonly known: KnownMessages;

  private constructor(
    private readonly client: SwitchboardClient,
    private readonly storage: E2eeStorage,
    private readonly identity: mls.DeviceIdentity,
    private readonly target: number,
    private readonly externalJoin: boolean,
    editWindowS: number,
  ) {
    super();
    this.known = new KnownMessages(storage, editWindowS * 1000);
  }

  /** Loads (or creates) this device's identity and groups, and starts handling the client's encrypted traffic. */
  static async open(client: SwitchboardClient, opts: E2eeOptions): Promise<E2ee> {
    const userId = client.userId;
    const deviceId = client.deviceId;
    if (!userId || !deviceId) throw new Error('E2ee needs a client made with userId and deviceId (SwitchboardClient.fromSession)');
    const stored = await opts.storage.get('identity');
    let identity: mls.DeviceIdentity | undefined;
    if (stored) {
      const j = JSON.parse(fromUtf8.decode(stored)) as { userId: string; deviceId: string; pub: string; priv: string };
      if (j.userId === userId && j.deviceId === deviceId)
        identity = { userId, deviceId, signaturePublicKey: mls.fromBase64(j.pub), signaturePrivateKey: mls.fromBase64(j.priv) };
    }
    if (!identity) {
      identity = await mls.newIdentity(userId, deviceId);
      const j = { userId, deviceId, pub: mls.toBase64(identity.signaturePublicKey), priv: mls.toBase64(identity.signaturePrivateKey) };
      await opts.storage.put('identity', utf8.encode(JSON.stringify(j)));
    }
    const e2ee = new E2ee(
      client,
      opts.storage,
      identity,
      opts.keyPackageTarget ?? 20,
      opts.externalJoin ?? true,
      opts.editWindowS ?? DEFAULT_EDIT_WINDOW_S,
    );
    for (const key of await opts.storage.list('group/')) {
      const chatId = key.slice('group/'.length);
      const bytes = await opts.storage.get(key);
      if (bytes) e2ee.groups.set(chatId, mls.loadGroup(bytes, e2ee.checkFor(chatId)));
    }
    e2ee.listen();
    return e2ee;
  }

  private listen(): void {
    // A failure here (the state could not be saved) leaves the entry unacknowledged: the
    // server replays it on a later connection, and it is processed then.
    const onMessage = (m: NewMessageEvent) => {
      if (m.ciphertext !== undefined) this.serial(m.chat_id, () => this.incoming({ kind: 'message', frame: m })).catch(() => undefined);
    };
    // Deleted for everyone (in the clear, the server erases): no later edit of it counts. In the chat's order.
    const onUpdate = (e: MessageUpdateEvent) => {
      const u = e.update;
      if (u.action === 'delete' && this.groups.has(u.chat_id))
        void this.serial(u.chat_id, () => this.known.forget(u.chat_id, u.target_message_id)).catch(() => undefined);
    };
    const onCommit = (c: ServerFrameOf<'mls_commit'>) =>
      void this.serial(c.chat_id, () => this.incoming({ kind: 'commit', frame: c })).catch(() => undefined);
    // Welcomes first: a device another one added joins by its welcome, not by a commit of its own.
    // External joins once a session (chats made later name this device in their welcomes),
    // until one round went through: a reconnect does not page through every chat again.
    let joinedMissing = !this.externalJoin;
    const onSync = () =>
      void this.fetchWelcomes()
        .then(async () => {
          if (joinedMissing) return;
          await this.joinMissing();
          joinedMissing = true;
        })
        .catch(() => undefined);
    this.client.on('message', onMessage);
    this.client.on('message_update', onUpdate);
    this.client.on('mls_commit', onCommit);
    this.client.on('sync_complete', onSync);
    // Commits and ciphertexts are acknowledged once processed and saved (incoming), not on arrival.
    this.unsubscribe.push(this.client.holdAcks((f) => f.type === 'mls_commit' || f.ciphertext !== undefined));
    this.unsubscribe.push(
      () => this.client.off('message', onMessage),
      () => this.client.off('message_update', onUpdate),
      () => this.client.off('mls_commit', onCommit),
      () => this.client.off('sync_complete', onSync),
    );
  }

  /** Stops handling the client's traffic (the client itself stays open). */
  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.closing.abort();
  }

  get userId(): string {
    return this.identity.userId;
  }

  get deviceId(): string {
    return this.identity.deviceId;
  }

  /** Whether this device is in the chat's group. */
  hasGroup(chatId: string): boolean {
    return this.groups.has(chatId);
  }

  /** The group's epoch on this device (-1: not in it). */
  epoch(chatId: string): number {
    const g = this.groups.get(chatId);
    return g ? mls.epochOf(g) : -1;
  }

  /** The members (user, device) of the chat's group as this device sees them. */
  members(chatId: string): { user_id: string; device_id: string }[] {
    const g = this.groups.get(chatId);
    return g ? mls.members(g).map((m) => ({ user_id: m.userId, device_id: m.deviceId })) : [];
  }

  // ---- key packages ----

  /** Uploads key packages until the server keeps `keyPackageTarget` for this device, and a last-resort one. Answers how many were added. */
  async topUpKeyPackages(): Promise<number> {
    const counts = await this.ds<KeyPackageCounts>('GET', '/v1/mls/key-packages');
    const wanted = Math.max(0, this.target - counts.available);
    const fresh: mls.OwnKeyPackage[] = [];
    for (let i = 0; i < wanted; i++) fresh.push(await mls.newKeyPackage(this.identity));
    const lastResort = counts.last_resort ? undefined : await mls.newKeyPackage(this.identity, true);
    if (fresh.length === 0 && !lastResort) return 0;
    // Private halves first: a package the server hands out is always one this device can use.
    for (const kp of [...fresh, ...(lastResort ? [lastResort] : [])])
      await this.storage.put(`kp/${kp.ref}`, utf8.encode(JSON.stringify(kp)));
    // At most MAX_KEY_PACKAGES_PER_UPLOAD a request; the last-resort one rides with the first.
    for (let i = 0; i === 0 || i < fresh.length; i += MAX_KEY_PACKAGES_PER_UPLOAD) {
      const batch = fresh.slice(i, i + MAX_KEY_PACKAGES_PER_UPLOAD);
      await this.ds('POST', '/v1/mls/key-packages', {
        ...(batch.length ? { key_packages: batch.map((k) => k.public) } : {}),
        ...(i === 0 && lastResort ? { last_resort: lastResort.public } : {}),
      });
    }
    return fresh.length;
  }

  // ---- groups and direct chats ----

  /** Creates an encrypted group on the server and its MLS group with every member's devices in it. */
  async createEncryptedGroup(name: string, memberIds: string[]): Promise<GroupView> {
    const group = await this.client.rest.request<GroupView>('POST', '/v1/groups', { name, member_ids: memberIds, encrypted: true });
    await this.establish(group.chat_id);
    return group;
  }

  /** Makes the direct chat with `otherUserId` encrypted (or joins it if the other side did first); answers its chat id. */
  async startDirect(otherUserId: string): Promise<string> {
    const chatId = directChatId(this.identity.userId, otherUserId);
    await this.establish(chatId);
    return chatId;
  }

  /** Adds users to an encrypted group: on the server, then an MLS Add of each of their devices. */
  async addMembers(chatId: string, userIds: string[]): Promise<void> {
    await this.client.rest.request('POST', `/v1/groups/${encodeURIComponent(groupIdOf(chatId))}/members`, { user_ids: userIds });
    await this.changeMembers(chatId, userIds);
  }

  /** Removes a user from an encrypted group: on the server (nothing more reaches them), then an MLS Remove of their leaves. */
  async removeMember(chatId: string, userId: string): Promise<void> {
    await this.client.rest.request('DELETE', `/v1/groups/${encodeURIComponent(groupIdOf(chatId))}/members/${encodeURIComponent(userId)}`);
    await this.changeMembers(chatId, []);
  }

  /**
   * A commit bringing the group in line with the server's members: adds the devices of
   * `addUserIds` (and any member device missing from the group), removes every leaf whose
   * device the server no longer lists. Made again on the new epoch when another commit won.
   */
  async changeMembers(chatId: string, addUserIds: string[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.serial(chatId, () => this.tryCommit(chatId, addUserIds));
      if (outcome.ok) return;
      if (attempt + 1 >= COMMIT_ATTEMPTS) throw new Error(`commit to ${chatId} lost ${COMMIT_ATTEMPTS} races in a row`);
      await this.waitForEpoch(chatId, outcome.epoch);
    }
  }

  // ---- messages ----

  /**
   * Encrypts `text` for the chat's group and sends it; resolves with the server's ack_sent.
   * `replyTo` (a message id of the chat) and `mentions` (user ids) travel inside the
   * ciphertext. `clientMsgId`: a send made again after a restart (a new ciphertext, since a
   * sending key is never reused) keeps its first id, so the server stores it once.
   */
  async send(chatId: string, text: string, opts: { clientMsgId?: string; replyTo?: string; mentions?: string[] } = {}): Promise<AckSent> {
    const app: AppText = { kind: 'text', text };
    if (opts.replyTo) app.replyTo = opts.replyTo;
    if (opts.mentions?.length) app.mentions = [...new Set(opts.mentions)];
    return this.sendApp(chatId, app, opts.clientMsgId);
  }

  /**
   * Replaces the text of one's own earlier message, inside the ciphertext (a message of its
   * own, with its own seq). Receivers apply it only within the edit window; the server cannot check.
   */
  edit(chatId: string, messageId: string, text: string, opts: { clientMsgId?: string } = {}): Promise<AckSent> {
    return this.sendApp(chatId, { kind: 'edit', target: messageId, text }, opts.clientMsgId);
  }

  /** This user's reaction to a message of the chat, inside the ciphertext; "" takes it back. */
  react(chatId: string, messageId: string, emoji: string, opts: { clientMsgId?: string } = {}): Promise<AckSent> {
    if (utf8.encode(emoji).byteLength > MAX_EMOJI_BYTES) return Promise.reject(new Error(`a reaction is at most ${MAX_EMOJI_BYTES} bytes`));
    return this.sendApp(chatId, { kind: 'react', target: messageId, emoji }, opts.clientMsgId);
  }

  private async sendApp(chatId: string, app: AppMessage, clientMsgId?: string): Promise<AckSent> {
    const ciphertext = await this.encryptApp(chatId, app);
    const ack = await this.client.send(chatId, '', { ciphertext, ...(clientMsgId ? { clientMsgId } : {}) });
    if (app.kind === 'text') await this.rememberOwn(ack);
    return ack;
  }

  /**
   * One's own message, which this device cannot decrypt: remembered too, so that edits of it
   * by others are told apart. Not fatal (the message is sent): forgotten, such an edit is
   * refused all the same, as of an unknown target.
   */
  private rememberOwn(ack: AckSent): Promise<void> {
    return this.serial(ack.chat_id, () => this.known.remember(ack.chat_id, ack.message_id, this.identity.userId, ack.created_at)).catch(
      () => undefined,
    );
  }

  /**
   * Sends a file to an encrypted chat (docs/e2ee.md "Files"): encrypts it (and its
   * thumbnail) with a fresh AES-256-GCM key each, uploads the ciphertext as
   * application/octet-stream, then sends a message whose ciphertext carries the keys, name
   * and type (`f`), and whose plaintext `attachments` name the media ids, so that the server
   * lets the chat's members fetch the bytes and erases them with the message. Answers the
   * server's ack_sent and the EncryptedFile (the sender cannot decrypt its own message).
   */
  async sendFile(chatId: string, bytes: Uint8Array, opts: FileToSend): Promise<{ ack: AckSent; file: EncryptedFile }> {
    if (!this.groups.has(chatId)) throw new Error(`this device is not in the encrypted group of ${chatId}`);
    const upload = async (plain: Uint8Array) => {
      const { ciphertext, key } = await encryptFile(plain);
      const mediaId = await this.client.rest.uploadMedia(ciphertext, { contentType: OPAQUE_TYPE });
      return { media_id: mediaId, ...key };
    };
    const file: EncryptedFile = { ...(await upload(bytes)), name: opts.name, content_type: opts.contentType, size: bytes.byteLength };
    const t = opts.thumbnail;
    if (t) {
      file.thumbnail = { ...(await upload(t.bytes)), content_type: t.contentType, size: t.bytes.byteLength };
      if (t.width !== undefined) file.thumbnail.width = t.width;
      if (t.height !== undefined) file.thumbnail.height = t.height;
    }
    const app: AppText = { kind: 'text', text: opts.text ?? '', files: [file] };
    if (opts.replyTo) app.replyTo = opts.replyTo;
    if (opts.mentions?.length) app.mentions = [...new Set(opts.mentions)];
    const ciphertext = await this.encryptApp(chatId, app);
    const attachments = [file.media_id, ...(file.thumbnail ? [file.thumbnail.media_id] : [])];
    const ack = await this.client.send(chatId, '', {
      ciphertext,
      attachments,
      ...(opts.clientMsgId ? { clientMsgId: opts.clientMsgId } : {}),
    });
    await this.rememberOwn(ack);
    return { ack, file };
  }

  /**
   * The plaintext of an encrypted file (a DecryptedMessage's `files` entry, or its
   * `thumbnail`): downloads the opaque bytes, checks their SHA-256, decrypts. Fails when the
   * bytes were altered, or the server no longer serves them (deleted for everyone, say).
   */
  async openFile(file: Pick<EncryptedFile, 'media_id' | 'key' | 'iv' | 'sha256'>): Promise<Uint8Array> {
    const res = await this.client.rest.downloadMedia(file.media_id);
    return decryptFile(new Uint8Array(await res.arrayBuffer()), file);
  }

  /** Encrypts an application message for the chat's group; the state is saved before the ciphertext leaves. */
  private encryptApp(chatId: string, app: AppMessage): Promise<string> {
    return this.serial(chatId, async () => {
      const g = this.groups.get(chatId);
      if (!g || !mls.active(g)) throw new Error(`this device is not in the encrypted group of ${chatId}`);
      const out = await mls.encrypt(g, encodeAppMessage(app));
      // Saved before it leaves: a restarted device must never reuse a sending key.
      await this.save(chatId, out.next);
      return out.ciphertext;
    });
  }

  /**
   * The security code of `userId` in this chat (docs/e2ee.md "Security code"): 12 groups of
   * 5 digits from the user's devices' signature keys as this device's group state has them.
   * Two people compare the codes their apps show for each other.
   */
  securityCode(chatId: string, userId: string): string {
    const g = this.groups.get(chatId);
    if (!g) throw new Error(`this device is not in the encrypted group of ${chatId}`);
    const leaves = mls
      .members(g)
      .filter((m) => m.userId === userId)
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
    if (leaves.length === 0) throw new Error(`${userId} has no device in this group`);
    const parts: Uint8Array[] = [utf8.encode('switchboard-security-code/1')];
    for (const l of leaves) parts.push(utf8.encode(l.deviceId), new Uint8Array([0]), l.signaturePublicKey);
    const digest = sha512(concat(parts));
    const groups: string[] = [];
    for (let i = 0; i < 12; i++) {
      let n = 0;
      // 40 bits (5 bytes) per group, exact in a double.
      for (let j = 0; j < 5; j++) n = n * 256 + digest[i * 5 + j]!;
      groups.push(String(n % 100_000).padStart(5, '0'));
    }
    return groups.join(' ');
  }

  /** Fetches this device's welcomes and joins their groups (also done after every sync_complete). */
  fetchWelcomes(): Promise<void> {
    if (this.welcomesRunning) {
      // One more round after the running one: a welcome stored after its GET is not missed.
      this.welcomesAgain = true;
      return this.welcomesRunning;
    }
    const run = async () => {
      do {
        this.welcomesAgain = false;
        await this.joinWelcomes();
      } while (this.welcomesAgain);
    };
    this.welcomesRunning = run().finally(() => (this.welcomesRunning = null));
    return this.welcomesRunning;
  }

  /**
   * Joins, by an external commit (docs/e2ee.md "Joining by external commit"), every
   * encrypted chat of this user whose group this device lacks: a new device of a member
   * reads what follows without waiting for another device to add it. Done after the first
   * sync_complete of this E2ee (again after later ones until a round succeeded), once the
   * welcomes were fetched. Answers the chats joined.
   */
  async joinMissing(): Promise<string[]> {
    const missing = (await this.client.rest.chats()).filter((c) => c.encrypted && !this.groups.has(c.chat_id));
    const joined: string[] = [];
    for (const chat of missing) if (await this.joinExternally(chat.chat_id)) joined.push(chat.chat_id);
    return joined;
  }

  // ---- internals ----

  /** One chat's external join, made again on the new epoch when another commit won; false when there is nothing to join yet. */
  private async joinExternally(chatId: string): Promise<boolean> {
    for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
      const outcome = await this.serial(chatId, async (): Promise<'joined' | 'nothing' | 'raced'> => {
        if (this.groups.has(chatId)) return 'joined'; // a welcome came meanwhile
        const server = await this.chatState(chatId);
        if (!server.encrypted || server.group_info === null) return 'nothing';
        // A key package of its own, never uploaded: it is this device's leaf in the group.
        const kp = await mls.newKeyPackage(this.identity);
        const out = await mls.joinExternal(server.group_info, kp, this.checkFor(chatId));
        try {
          await this.ds<MlsCommitAccepted>('POST', `/v1/chats/${encodeURIComponent(chatId)}/mls/commits`, {
            client_msg_id: crypto.randomUUID(),
            epoch: server.epoch,
            commit: out.commit,
            group_info: out.groupInfo,
          });
        } catch (err) {
          if (err instanceof SwitchboardHttpError && err.code === 'stale_epoch') return 'raced';
          throw err;
        }
        await this.save(chatId, out.next);
        this.emit('joined', { chat_id: chatId, epoch: mls.epochOf(out.next) });
        await this.drainPending(chatId);
        return 'joined';
      });
      if (outcome !== 'raced') return outcome === 'joined';
      // Another commit took the epoch: it may have added this device (its welcome), or the next attempt reads the new GroupInfo.
      await this.fetchWelcomes();
    }
    throw new Error(`external join of ${chatId} lost ${COMMIT_ATTEMPTS} races in a row`);
  }

  /** What arrived for a chat before this device had its group, in the order it came (older epochs end as undecryptable, and acknowledged). */
  private async drainPending(chatId: string): Promise<void> {
    const queued = this.pending.get(chatId) ?? [];
    this.pending.delete(chatId);
    for (const item of queued) await this.incoming(item);
  }

  /**
   * A Delivery Service call (docs/e2ee.md). One refused with 429 rate_limited is made again
   * after the answer's retry_after_ms, a few times, as the outbox does with sends.
   */
  private ds<T>(method: string, path: string, body?: unknown): Promise<T> {
    return retryRateLimited(() => this.client.rest.request<T>(method, path, body), { signal: this.closing.signal });
  }

  /** Key packages for every live device of `userIds`: one claim per MAX_CLAIM_USERS users (the server's cap), answers merged. */
  private async claim(userIds: string[]): Promise<ClaimResult> {
    const merged: ClaimResult = { key_packages: [], missing: [] };
    for (let i = 0; i < userIds.length; i += MAX_CLAIM_USERS) {
      const part = await this.ds<ClaimResult>('POST', '/v1/mls/key-packages/claim', { user_ids: userIds.slice(i, i + MAX_CLAIM_USERS) });
      merged.key_packages.push(...part.key_packages);
      merged.missing.push(...part.missing);
    }
    return merged;
  }

  private serial<T>(chatId: string, run: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(chatId) ?? Promise.resolve();
    const next = prev.then(run, run);
    const tail = next.catch(() => undefined);
    this.chains.set(chatId, tail);
    void tail.then(() => {
      if (this.chains.get(chatId) === tail) this.chains.delete(chatId);
    });
    return next;
  }

  /**
   * The credential check: a device the server lists as a member device of the chat. With
   * `catchingUp` (commits from the log, processed in order) also a device of a user who is
   * no member now: a member added and removed again while this device was away is in an
   * older commit, and the server delivers that user nothing any more. A device the server
   * does not list for a user who IS a member (a "ghost device") is refused either way.
   */
  private checkFor(chatId: string, catchingUp = false): mls.MemberCheck {
    return (userId, deviceId) => {
      if (this.allowed.get(chatId)?.has(`${userId}\n${deviceId}`) === true) return true;
      return catchingUp && this.currentUsers.get(chatId)?.has(userId) === false;
    };
  }

  /** Reads the server's view of the chat and remembers its member devices (what credentials are checked against). */
  private async chatState(chatId: string): Promise<MlsChatState> {
    const state = await this.ds<MlsChatState>('GET', `/v1/chats/${encodeURIComponent(chatId)}/mls`);
    this.allowed.set(chatId, new Set(state.devices.map((d) => `${d.user_id}\n${d.device_id}`)));
    this.currentUsers.set(chatId, new Set(state.devices.map((d) => d.user_id)));
    return state;
  }

  private async save(chatId: string, g: mls.GroupHandle): Promise<void> {
    await this.storage.put(`group/${chatId}`, mls.saveGroup(g));
    this.groups.set(chatId, g);
  }

  /** Creates the chat's group at epoch 0 and commits every member device into it; joins instead when another device won epoch 0. */
  private async establish(chatId: string): Promise<void> {
    const outcome = await this.serial(chatId, () => this.tryCommit(chatId, [], true));
    if (outcome.ok) return;
    // Another device made the group first: its welcome names this device (or will, with its next commit).
    await this.fetchWelcomes();
    if (!this.groups.has(chatId)) await this.changeMembers(chatId, []);
  }

  /**
   * One attempt at a commit on the chat's current group (or a new group, `fresh`). The new
   * state is kept only if the server accepts the commit; `ok:false` carries the server's epoch.
   */
  private async tryCommit(chatId: string, addUserIds: string[], fresh = false): Promise<{ ok: true } | { ok: false; epoch: number }> {
    const server = await this.chatState(chatId);
    let g = this.groups.get(chatId);
    if (fresh) {
      if (g || server.epoch > 0) return { ok: false, epoch: server.epoch };
      const kp = await mls.newKeyPackage(this.identity);
      g = await mls.newGroup(chatId, kp, this.checkFor(chatId));
    }
    if (!g) throw new Error(`this device is not in the encrypted group of ${chatId}`);
    if (mls.epochOf(g) !== server.epoch) return { ok: false, epoch: server.epoch };
    const listed = new Set(server.devices.map((d) => `${d.user_id}\n${d.device_id}`));
    const inGroup = mls.members(g);
    const present = new Set(inGroup.map((m) => `${m.userId}\n${m.deviceId}`));
    const me = mls.ownLeafIndex(g);
    const remove = inGroup.filter((m) => m.leafIndex !== me && !listed.has(`${m.userId}\n${m.deviceId}`)).map((m) => m.leafIndex);
    // Every member device the group lacks, those of the users being added among them.
    const wantedUsers = [
      ...new Set([...addUserIds, ...server.devices.filter((d) => !present.has(`${d.user_id}\n${d.device_id}`)).map((d) => d.user_id)]),
    ];
    const claimed = await this.claim(wantedUsers);
    // A key package is used only if its credential names the device the server says it is for, a listed member device not yet in the group.
    const adds = claimed.key_packages.filter((k) => {
      const owner = mls.keyPackageOwner(k.key_package);
      const key = `${k.user_id}\n${k.device_id}`;
      return owner?.userId === k.user_id && owner.deviceId === k.device_id && listed.has(key) && !present.has(key);
    });
    const out = await mls.commit(
      g,
      adds.map((k) => k.key_package),
      remove,
      this.checkFor(chatId),
    );
    try {
      await this.ds<MlsCommitAccepted>('POST', `/v1/chats/${encodeURIComponent(chatId)}/mls/commits`, {
        client_msg_id: crypto.randomUUID(),
        epoch: mls.epochOf(g),
        commit: out.commit,
        group_info: out.groupInfo,
        ...(out.welcome ? { welcomes: [{ device_ids: adds.map((k) => k.device_id), welcome: out.welcome }] } : {}),
      });
    } catch (err) {
      if (err instanceof SwitchboardHttpError && err.code === 'stale_epoch') {
        const epoch = (err.body as { epoch?: number }).epoch ?? server.epoch + 1;
        return { ok: false, epoch };
      }
      throw err;
    }
    await this.save(chatId, out.next);
    this.emit('epoch', { chat_id: chatId, epoch: mls.epochOf(out.next) });
    return { ok: true };
  }

  /** Resolves once this device's group of the chat reached `epoch` (by the commits arriving on the socket) or left it. */
  private waitForEpoch(chatId: string, epoch: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.off('epoch', onEpoch);
        this.off('joined', onEpoch);
        resolve();
      };
      const onEpoch = (e: { chat_id: string; epoch: number }) => {
        if (e.chat_id === chatId && e.epoch >= epoch) done();
      };
      const timer = setTimeout(() => {
        this.off('epoch', onEpoch);
        this.off('joined', onEpoch);
        reject(new Error(`${chatId} did not reach epoch ${epoch} within ${EPOCH_WAIT_MS} ms`));
      }, EPOCH_WAIT_MS);
      this.on('epoch', onEpoch);
      this.on('joined', onEpoch);
      if (this.epoch(chatId) >= epoch) done();
      else if (!this.groups.has(chatId)) void this.fetchWelcomes().catch(() => undefined);
    });
  }

  /**
   * One commit or ciphertext of the chat's log, in order. Acknowledged to the server only
   * when done with (processed and its state saved, skipped, or found undecryptable): if
   * saving fails or the process dies first, the server replays it and it is processed then.
   */
  private async incoming(item: Pending): Promise<void> {
    if ((await this.process(item)) === 'done') this.client.releaseAck(item.frame.chat_id, item.frame.message_id);
  }

  private async process(item: Pending): Promise<'done' | 'queued'> {
    const chatId = item.frame.chat_id;
    let g = this.groups.get(chatId);
    if (!g) {
      // Not in the group yet: the welcome that brings this device in may be waiting.
      // Not awaited: joining runs on this chat's chain, after this item (which would wait for it forever).
      this.queuePending(item);
      void this.fetchWelcomes().catch(() => undefined);
      return 'queued';
    }
    if (item.kind === 'commit') {
      if (item.frame.epoch < mls.epochOf(g)) return 'done'; // applied already (this device's own, or before it joined)
      if (!mls.active(g)) return 'done';
      try {
        g = await this.processWithFreshMembers(chatId, g, item.frame.commit);
      } catch (err) {
        this.emit('undecryptable', { chat_id: chatId, message_id: item.frame.message_id, seq: item.frame.seq, reason: String(err) });
        return 'done';
      }
      await this.save(chatId, g);
      this.emit('epoch', { chat_id: chatId, epoch: mls.epochOf(g) });
      return 'done';
    }
    const m = item.frame;
    let out: Awaited<ReturnType<typeof mls.processMessage>>;
    try {
      out = await mls.processMessage(g, m.ciphertext!, this.checkFor(chatId));
      if (out.kind !== 'application') throw new Error('a handshake message where an application message belongs');
    } catch (err) {
      this.emit('undecryptable', { chat_id: chatId, message_id: m.message_id, seq: m.seq, reason: String(err) });
      return 'done';
    }
    // The server names the sender; MLS says who it is. A server that names another (to pass an edit off as theirs, say) is refused.
    if (out.sender?.userId !== m.sender_id || out.sender.deviceId !== m.sender_device_id) {
      await this.save(chatId, out.next);
      this.emit('undecryptable', {
        chat_id: chatId,
        message_id: m.message_id,
        seq: m.seq,
        reason: 'the server named another sender than MLS',
      });
      return 'done';
    }
    const app = decodeAppMessage(out.data);
    const head = {
      chat_id: chatId,
      message_id: m.message_id,
      seq: m.seq,
      sender_id: m.sender_id,
      sender_device_id: m.sender_device_id,
      created_at: m.created_at,
    };
    if (app.kind !== 'text') {
      const refused = await this.refuseChange(chatId, app, m);
      // Not caught: a state that could not be saved leaves the message unacknowledged, to come again.
      await this.save(chatId, out.next);
      const change = { ...head, target_message_id: app.target, action: app.kind };
      const kept = refused
        ? await this.emitSettled('refused_change', { ...change, reason: refused })
        : await this.emitSettled('change', app.kind === 'edit' ? { ...change, text: app.text } : { ...change, emoji: app.emoji });
      return kept ? 'done' : 'queued';
    }
    // Remembered before the state is saved: a replay after a failed save remembers it again, harmlessly.
    await this.known.remember(chatId, m.message_id, m.sender_id, m.created_at);
    await this.save(chatId, out.next);
    const members = new Set(mls.members(out.next).map((x) => x.userId));
    const mentions = [...new Set(app.mentions ?? [])].filter((u) => members.has(u)).slice(0, MAX_MENTIONS);
    // MLS opens a message once: the app's copy is the only one. So the ack waits for the
    // listeners (an app returns the promise of its save); one that failed leaves it
    // unacknowledged, and its replay on the next connection comes as undecryptable.
    const kept = await this.emitSettled('message', {
      ...head,
      text: app.text,
      ...(app.replyTo ? { reply_to: app.replyTo } : {}),
      ...(mentions.length ? { mentions } : {}),
      ...(app.files?.length ? { files: app.files } : {}),
    });
    return kept ? 'done' : 'queued';
  }

  /** Why an encrypted edit or reaction does not count (the rules the server applies to plaintext ones), or null. */
  private async refuseChange(chatId: string, app: Exclude<AppMessage, AppText>, m: NewMessageEvent): Promise<string | null> {
    // A reaction needs only a member, which an MLS sender is.
    if (app.kind === 'react') return utf8.encode(app.emoji).byteLength > MAX_EMOJI_BYTES ? 'invalid_emoji' : null;
    return this.known.refuseEdit(chatId, app.target, m.sender_id, m.created_at);
  }

  /** Processes a commit; when a credential in it is not known yet, asks the server for the chat's member devices once and tries again. */
  private async processWithFreshMembers(chatId: string, g: mls.GroupHandle, commit: string): Promise<mls.GroupHandle> {
    try {
      return (await mls.processMessage(g, commit, this.checkFor(chatId, true))).next;
    } catch {
      await this.chatState(chatId);
      return (await mls.processMessage(g, commit, this.checkFor(chatId, true))).next;
    }
  }

  private queuePending(item: Pending): void {
    const list = this.pending.get(item.frame.chat_id) ?? [];
    list.push(item);
    this.pending.set(item.frame.chat_id, list);
  }

  private async joinWelcomes(): Promise<void> {
    const { welcomes } = await this.ds<{ welcomes: MlsWelcome[] }>('GET', '/v1/mls/welcomes');
    for (const w of welcomes) await this.serial(w.chat_id, () => this.joinOne(w));
  }

  private async joinOne(w: MlsWelcome): Promise<void> {
    const ack = () => this.ds('DELETE', `/v1/mls/welcomes/${encodeURIComponent(w.welcome_id)}`);
    const current = this.groups.get(w.chat_id);
    if (current && mls.active(current) && mls.epochOf(current) >= w.epoch) {
      await ack();
      return;
    }
    let kp: mls.OwnKeyPackage | undefined;
    for (const ref of mls.welcomeRefs(w.welcome)) {
      const bytes = await this.storage.get(`kp/${ref}`);
      if (bytes) kp = JSON.parse(fromUtf8.decode(bytes)) as mls.OwnKeyPackage;
      if (kp) break;
    }
    if (!kp) {
      await ack(); // not for any key package this device holds: nothing can ever open it
      return;
    }
    await this.chatState(w.chat_id);
    let g: mls.GroupHandle;
    try {
      g = await mls.join(w.welcome, kp, this.checkFor(w.chat_id));
    } catch (err) {
      this.emit('undecryptable', { chat_id: w.chat_id, message_id: w.welcome_id, seq: 0, reason: String(err) });
      await ack();
      return;
    }
    await this.save(w.chat_id, g);
    if (!kp.lastResort) await this.storage.delete(`kp/${kp.ref}`);
    await ack();
    this.emit('joined', { chat_id: w.chat_id, epoch: mls.epochOf(g) });
    await this.drainPending(w.chat_id);
  }
}

function groupIdOf(chatId: string): string {
  if (!chatId.startsWith('g:')) throw new Error(`${chatId} is not a group chat`);
  return chatId.slice(2);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
