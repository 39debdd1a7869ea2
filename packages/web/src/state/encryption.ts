import { withReaction } from '@switchboard/client';
import type { DecryptedChange, DecryptedMessage, EncryptedFile, MessageUpdate, ReplyRef, SwitchboardClient } from '@switchboard/client';
import { lastShownCode, rememberShownCodes } from '../e2ee/codes.js';
import { openCrypto } from '../e2ee/session.js';
import { MessageTexts, type KeptExtras } from '../e2ee/texts.js';
import { replyRef } from '../lifecycle.js';
import type { Conversation, Msg, TabSignal } from './types.js';
import { MessageChangesState } from './message-changes.js';

/*
 * End-to-end encryption (docs/e2ee.md "Web client"): the SDK's E2ee, opened per device before
 * the socket connects (so no ciphertext passes by unseen), its decrypted messages into the
 * conversation and the kept texts, making a direct chat encrypted, and security codes.
 */

export interface MemberCode {
  userId: string;
  code: string;
  mine: boolean;
}

export abstract class EncryptionState extends MessageChangesState {
  private closeCrypto: (() => void) | null = null;
  /** In a tab without encryption: stops holding back acknowledgements (startCrypto). */
  private stopHolding: (() => void) | null = null;
  /** Chats whose missing member devices this tab already tried to add (once a session). */
  private healed = new Set<string>();
  /** Encrypted edits and reactions, applied one at a time (each reads what the one before kept). */
  private changeChain: Promise<void> = Promise.resolve();

  /**
   * Opens E2ee (loaded lazily) and the kept texts for the session's device, then tops up key
   * packages. Never fails: where encryption cannot run, cryptoUnavailable says why.
   */
  protected startCrypto(client: SwitchboardClient, deviceId: string): Promise<void> {
    this.cryptoUnavailable = null;
    // The kept texts are readable in every tab (history shows them), whichever tab decrypts.
    this.textsReady = MessageTexts.open(deviceId).then((texts) => {
      if (this.client === client) this.textStore = texts;
      else texts?.close();
    });
    this.cryptoReady = (async () => {
      const session = await openCrypto(client, deviceId);
      if (this.client !== client) {
        if ('e2ee' in session) session.close();
        return;
      }
      if (!('e2ee' in session)) {
        this.cryptoUnavailable = session.reason;
        // Commits and ciphertexts are this device's to process, in the tab that runs
        // encryption (now or after this one closes): acknowledged here, the server would never
        // replay them to it. Held, never released: the encrypting tab acknowledges them once
        // processed (an ack is the device's cursor), and until then they stay owed. Set before
        // the socket connects, so that nothing replayed on connect is acknowledged either.
        if (session.deferToOtherTab) this.stopHolding = client.holdAcks((f) => f.type === 'mls_commit' || f.ciphertext !== undefined);
        this.changed();
        return;
      }
      const e2ee = session.e2ee;
      this.e2ee = e2ee;
      this.closeCrypto = session.close;
      // Returned, not voided: E2ee acknowledges a message only once its text is kept (MLS opens it once).
      e2ee.on('message', (m) => keptOrThrow(this.onDecrypted(m)));
      e2ee.on('change', (c) => keptOrThrow(this.onEncryptedChange(c)));
      // Not applied (E2ee found it against the rules): its entry is hidden all the same, as no message.
      e2ee.on('refused_change', (r) => keptOrThrow(this.keep(r.chat_id, r.message_id, '', { change: true })));
      e2ee.on('undecryptable', (u) => {
        this.tabs?.postMessage({ t: 'undecryptable', chat_id: u.chat_id, message_id: u.message_id } satisfies TabSignal);
        this.markUndecryptable(u.chat_id, u.message_id);
      });
      e2ee.on('joined', () => {
        this.scheduleRefresh(0);
        this.changed();
        // Joining used up one of this device's key packages: the next person to add it needs another.
        void e2ee.topUpKeyPackages().catch(() => undefined);
      });
      e2ee.on('epoch', () => this.changed());
      void e2ee.topUpKeyPackages().catch((err: unknown) => this.onRequestError(err));
      this.changed();
    })();
    return this.cryptoReady;
  }

  protected stopCrypto(): void {
    this.closeCrypto?.();
    this.closeCrypto = null;
    this.stopHolding?.();
    this.stopHolding = null;
    this.unprocessed.clear();
    this.e2ee = null;
    this.textStore?.close();
    this.textStore = null;
    this.texts.clear();
    this.extras.clear();
    this.undecryptable.clear();
    this.healed.clear();
    this.codeCache.clear();
  }

  /** A message E2ee decrypted: kept (MLS opens it only once), with what it answers and mentions. */
  private onDecrypted(m: DecryptedMessage): Promise<boolean> {
    const extras: KeptExtras = {};
    if (m.reply_to) extras.reply_to = this.quoteOf(m.chat_id, m.reply_to);
    if (m.mentions?.length) extras.mentions = m.mentions;
    // What opens its files (keys, name, type, size): kept, so a reload shows them and fetches the bytes again.
    if (m.files?.length) extras.files = m.files;
    return this.keep(m.chat_id, m.message_id, m.text, extras);
  }

  /** A ciphertext that could not be opened (here, or in the tab that runs encryption). */
  protected markUndecryptable(chatId: string, messageId: string): void {
    this.undecryptable.add(messageId);
    this.noteProcessed(chatId, messageId);
    this.changed();
  }

  /**
   * The bytes of an encrypted file or thumbnail (docs/e2ee.md "Files"): downloaded, checked
   * against its SHA-256, decrypted. E2ee's openFile where encryption runs; in the device's
   * other tabs the same with the SDK's decryptFile (the key came with the kept text).
   */
  async openEncryptedFile(f: Pick<EncryptedFile, 'media_id' | 'key' | 'iv' | 'sha256'>): Promise<Uint8Array> {
    const client = this.client;
    if (!client) throw new Error('Not logged in.');
    if (this.e2ee) return this.e2ee.openFile(f);
    const { decryptFile } = await import('../e2ee/engine.js');
    const res = await client.downloadMedia(f.media_id);
    return decryptFile(new Uint8Array(await res.arrayBuffer()), f);
  }

  /**
   * An encrypted message's text and extras: kept, then shown where it is and told to the
   * device's other tabs (kept first: once shown, read marks may cover it, and MLS would not
   * open it again).
   */
  protected async keep(chatId: string, messageId: string, text: string, extras: KeptExtras = {}): Promise<boolean> {
    const kept = await (this.textStore?.put(chatId, messageId, { text, extras }) ?? Promise.resolve()).then(
      () => true,
      () => false,
    );
    // Shown all the same: the person can read it now, even if a reload will not have it.
    this.showText(chatId, messageId, text, extras);
    this.tabs?.postMessage({ t: 'text', chat_id: chatId, message_id: messageId, text, extras } satisfies TabSignal);
    return kept;
  }

  /** The quote of an encrypted reply, made here from what this device read (the server has none). */
  private quoteOf(chatId: string, messageId: string): ReplyRef {
    const shown = this.conv?.messages.find((x) => x.message_id === messageId);
    if (shown) return replyRef(shown);
    // Not on screen (the chat was not open): its sender as the SDK saw it arrive, its text (or file's name) as read here.
    const text = this.texts.get(messageId) || (this.extras.get(messageId)?.files?.[0]?.name ?? '');
    return {
      message_id: messageId,
      sender_id: this.client?.cachedMessage(chatId, messageId)?.sender_id ?? '',
      preview: Array.from(text).slice(0, 100).join(''),
    };
  }

  /** The text of an encrypted message, now known: into memory and the open conversation. */
  protected showText(chatId: string, messageId: string, text: string, extras: KeptExtras = {}): void {
    this.texts.set(messageId, text);
    if (Object.keys(extras).length) this.extras.set(messageId, extras);
    this.undecryptable.delete(messageId);
    this.noteProcessed(chatId, messageId);
    const conv = this.conv;
    if (conv?.chatId === chatId) {
      conv.encrypted = true;
      const shown = conv.messages.find((x) => x.message_id === messageId);
      if (shown) Object.assign(shown, { content: text }, extras);
    }
    this.changed();
  }

  /**
   * An encrypted edit or reaction that E2ee let through (docs/e2ee.md "Replies, mentions,
   * edits and reactions"): its own entry is hidden, and its target shown and kept as it now is.
   */
  private async onEncryptedChange(c: DecryptedChange): Promise<boolean> {
    // Described for the chat list, where the server shows it as the last message.
    const described = c.action === 'edit' ? `Edited: ${c.text ?? ''}` : c.emoji ? `Reacted ${c.emoji}` : 'Took back a reaction';
    const kept = await this.keep(c.chat_id, c.message_id, described, { change: true });
    const u: MessageUpdate = {
      message_id: c.message_id,
      chat_id: c.chat_id,
      seq: c.seq,
      sender_id: c.sender_id,
      sender_device_id: c.sender_device_id,
      client_msg_id: '',
      created_at: c.created_at,
      target_message_id: c.target_message_id,
      action: c.action,
      ...(c.action === 'edit' ? { content: c.text ?? '' } : { emoji: c.emoji ?? '' }),
    };
    const run = this.changeChain.then(() => this.applyToKept(u));
    this.changeChain = run.catch(() => undefined);
    await run;
    this.onUpdate(u);
    this.tabs?.postMessage({ t: 'update', update: u } satisfies TabSignal);
    return kept;
  }

  /** The target's kept text and extras after the change (read from IndexedDB when not in memory). */
  private async applyToKept(u: MessageUpdate): Promise<void> {
    const id = u.target_message_id;
    let text = this.texts.get(id);
    let extras = this.extras.get(id);
    if (text === undefined) {
      const kept = await this.textStore?.get(u.chat_id, id).catch(() => undefined);
      text = kept?.text;
      extras = kept?.extras;
    }
    extras = { ...extras };
    if (u.action === 'edit') {
      text = u.content ?? '';
      extras.edited_at = u.created_at;
    } else {
      const reactions = withReaction(extras.reactions ?? [], u.sender_id, u.emoji ?? '');
      if (reactions.length) extras.reactions = reactions;
      else delete extras.reactions;
    }
    if (text === undefined) return; // never read here: nothing to show it on
    this.texts.set(id, text);
    this.extras.set(id, extras);
    await this.textStore?.put(u.chat_id, id, { text, extras }).catch(() => undefined);
  }

  /** One's own edit or reaction in an encrypted chat: inside the ciphertext, then applied here as anyone's. */
  protected sendEncryptedChange(m: Msg, action: 'edit' | 'react', value: string): void {
    const client = this.client;
    const target = m.message_id;
    if (!client || !target) return;
    void (async () => {
      await this.cryptoReady;
      const e2ee = this.e2ee;
      if (!e2ee) throw new Error(this.cryptoUnavailable ?? 'Encryption is not running in this tab.');
      const ack = action === 'edit' ? await e2ee.edit(m.chat_id, target, value) : await e2ee.react(m.chat_id, target, value);
      await this.onEncryptedChange({
        chat_id: ack.chat_id,
        message_id: ack.message_id,
        seq: ack.seq,
        sender_id: this.userId,
        sender_device_id: this.session?.device_id ?? '',
        created_at: ack.created_at,
        target_message_id: target,
        action,
        ...(action === 'edit' ? { text: value } : { emoji: value }),
      });
    })().catch((err: unknown) => {
      if (client !== this.client) return;
      this.notice = `${action === 'edit' ? 'Edit' : 'Reaction'} not saved: ${err instanceof Error ? err.message : String(err)}`;
      this.changed();
    });
  }

  override async openChat(chatId: string, opts: { seq?: number; push?: boolean; title?: string } = {}): Promise<void> {
    await super.openChat(chatId, opts);
    if (this.isEncrypted(chatId)) void this.addMissingDevices(chatId);
  }

  /**
   * A member's device that is not in the chat's MLS group yet (a new device, or one that had
   * no key package when the chat was made) cannot read it until some member commits its Add:
   * this tab does, once a session, when it opens such a chat.
   */
  private async addMissingDevices(chatId: string): Promise<void> {
    const e2ee = this.e2ee;
    const client = this.client;
    if (!e2ee || !client || !e2ee.hasGroup(chatId) || this.healed.has(chatId)) return;
    this.healed.add(chatId);
    try {
      const state = await client.rest.request<{ devices: { user_id: string; device_id: string }[] }>(
        'GET',
        `/v1/chats/${encodeURIComponent(chatId)}/mls`,
      );
      const inGroup = new Set(e2ee.members(chatId).map((d) => `${d.user_id}\n${d.device_id}`));
      if (state.devices.some((d) => !inGroup.has(`${d.user_id}\n${d.device_id}`))) await e2ee.changeMembers(chatId, []);
    } catch {
      // Tried again in a later session; meanwhile that device waits.
    }
    this.changed();
  }

  /** Makes the open direct chat end-to-end encrypted (docs/e2ee.md: there is no way back). */
  encryptChat(): Promise<void> {
    return this.task(async () => {
      const conv = this.conv;
      if (!conv?.peerId || conv.kind !== 'direct') return;
      await this.cryptoReady;
      const e2ee = this.e2ee;
      if (!e2ee) throw new Error(this.cryptoUnavailable ?? 'Encryption is not running in this tab.');
      await e2ee.startDirect(conv.peerId);
      conv.encrypted = true;
      this.scheduleRefresh(0);
    });
  }

  /** Per chat: its codes at one epoch (each render asks; a code is a SHA-512 per member, and changes only with a commit). */
  private codeCache = new Map<string, { epoch: number; codes: MemberCode[] }>();

  /** Every member's security code in the chat as this device's group has them (yours included, to read out). */
  securityCodes(chatId: string): MemberCode[] {
    const e2ee = this.e2ee;
    if (!e2ee?.hasGroup(chatId)) return [];
    const epoch = e2ee.epoch(chatId);
    const cached = this.codeCache.get(chatId);
    // You last, the others by name (sorted each time: names arrive after the codes).
    const sorted = (codes: MemberCode[]) =>
      [...codes].sort((a, b) => Number(a.mine) - Number(b.mine) || this.nameOf(a.userId).localeCompare(this.nameOf(b.userId)));
    if (cached?.epoch === epoch) return sorted(cached.codes);
    const users = [...new Set(e2ee.members(chatId).map((m) => m.user_id))];
    const out: MemberCode[] = [];
    for (const userId of users) {
      try {
        out.push({ userId, code: e2ee.securityCode(chatId, userId), mine: userId === this.userId });
      } catch {
        // No leaf of that user (removed meanwhile): nothing to show.
      }
    }
    this.codeCache.set(chatId, { epoch, codes: out });
    return sorted(out);
  }

  /** Opens the "Security code" screen; the codes it shows become the ones later codes are compared with. */
  showSecurityCode(): void {
    const conv = this.conv;
    if (!conv) return;
    if (this.panel !== 'security-code')
      rememberShownCodes(
        this.userId,
        conv.chatId,
        this.securityCodes(conv.chatId).filter((c) => !c.mine),
      );
    this.openPanel('security-code');
  }

  /** Other members whose code differs from the one the "Security code" screen last showed (never shown: not listed). */
  changedCodes(conv: Conversation): string[] {
    return this.securityCodes(conv.chatId)
      .filter((c) => {
        if (c.mine) return false;
        const last = lastShownCode(this.userId, conv.chatId, c.userId);
        return last !== undefined && last !== c.code;
      })
      .map((c) => c.userId);
  }

  /** Whether this message could not be decrypted on this device. */
  isUndecryptable(messageId: string | null): boolean {
    return messageId !== null && this.undecryptable.has(messageId);
  }

  /** Whether this tab could encrypt now (E2ee running). */
  get cryptoRunning(): boolean {
    return this.e2ee !== null;
  }
}

/**
 * For E2ee's listeners: a text this device could not keep (IndexedDB refused it) fails the
 * listener, so E2ee leaves its entry unacknowledged and a later load is told it is lost
 * (docs/e2ee.md, "acknowledged only once every listener's promise has fulfilled").
 */
async function keptOrThrow(kept: Promise<boolean>): Promise<void> {
  if (!(await kept)) throw new Error('the decrypted text could not be kept on this device');
}
