import { SendError, withoutBidiControls } from '@switchboard/client';
import type { AckSent, Attachment, E2ee, EncryptedFile, Message, NewMessageEvent } from '@switchboard/client';
import { loadOutbox, saveOutbox, type PendingSend } from '../session.js';
import { orderChats, replyRef } from '../lifecycle.js';
import { describeError, describeSendError } from './describe.js';
import { MAX_WINDOW, PAGE, RANK, uuid, type Conversation, type Msg, type Status, type TabSignal } from './types.js';
import type { KeptExtras } from '../e2ee/texts.js';
import { makeThumbnail } from '../e2ee/thumbnail.js';
import { uploadFile } from './upload.js';
import { GroupsState } from './groups.js';

/*
 * Messages: live ones into the open chat and the list, reading, ticks, and one's own sends
 * (the persisted outbox, resent with the same ids after a reload), attachments' media.
 */

export abstract class MessagesState extends GroupsState {
  /** Every send this tab has made or taken over, so that saving never drops another tab's. */
  protected knownSends = new Set<string>();
  /** Messages that came live (not from a page): a catch-up runs again only if some came during it. */
  protected liveArrivals = 0;
  /** The bytes of own encrypted files not sent yet, by client_msg_id: in memory only (a reload loses them, and says so). */
  protected stagedFiles = new Map<string, File>();
  /** Own encrypted file sends, one after another: each is encrypted and uploaded before its message goes. */
  private fileSends: Promise<unknown> = Promise.resolve();
  /** An encrypted message's text and extras: kept, shown, and told to the device's other tabs (encryption.ts). */
  protected abstract keep(chatId: string, messageId: string, text: string, extras?: KeptExtras): Promise<boolean>;
  protected onMessage(m: NewMessageEvent | Message): void {
    this.liveArrivals++;
    const mine = m.sender_id === this.userId;
    const chat = this.chat(m.chat_id);
    const conv = this.conv;
    const open = conv?.chatId === m.chat_id;
    this.typing.get(m.chat_id)?.delete(m.sender_id);
    if (!chat) this.scheduleRefresh(0);
    else {
      if (m.seq > chat.last_seq) {
        chat.last_seq = m.seq;
        const { type: _t, ...message } = m as NewMessageEvent;
        chat.last_message = message as Message;
      }
      if (!mine && m.seq > chat.read_seq && m.seq > (this.readMarked.get(m.chat_id) ?? 0) && !(open && this.seeing())) chat.unread_count++;
      this.chats = orderChats([chat, ...this.chats.filter((c) => c !== chat)]);
    }
    if (conv && open) {
      if (!mine) this.ensureUser(m.sender_id);
      // Presence is only shown between people who share a chat: the first message makes one.
      const p = this.watchedPeer ? this.presence.get(this.watchedPeer) : undefined;
      if (this.watchedPeer && (!p || (!p.online && p.last_seen === null))) {
        this.client?.unsubscribePresence([this.watchedPeer]);
        this.client?.subscribePresence([this.watchedPeer]);
      }
      if (m.ciphertext !== undefined) conv.encrypted = true;
      const msg = this.msg(m);
      if (mine) msg.status = 'sent';
      this.insertLive(conv, msg);
    }
    this.changed();
    if (open) this.markReadIfSeen();
  }

  protected insertLive(conv: Conversation, msg: Msg): void {
    if (msg.seq === null) return;
    if (conv.loading || conv.hasNewer) {
      // Not shown now: a page on its way (which may have been read before this message was
      // stored), or the newest page not on screen. Noted, so that the page's end is fetched
      // once more when a page that reaches it comes (fetchMissedWhileLoading, loadNewer).
      conv.liveSeq = Math.max(conv.liveSeq, msg.seq);
      return;
    }
    const last = conv.messages[conv.messages.length - 1];
    const contiguous = this.noteSeq(conv, msg.seq);
    if (last && last.seq !== null && !contiguous) {
      // A gap (e.g. what another tab of this device was sent): fetch it rather than skip it.
      void this.catchUp();
      return;
    }
    const at = conv.messages.findIndex((x) => x.seq !== null && x.seq >= msg.seq!);
    if (at === -1) conv.messages.push(msg);
    else if (conv.messages[at]!.seq === msg.seq) return;
    else conv.messages.splice(at, 0, msg);
    if (conv.messages.length > MAX_WINDOW) {
      conv.messages.splice(0, conv.messages.length - MAX_WINDOW);
      conv.hasOlder = true;
    }
  }

  /** Records a seq seen live in the open chat; false when it leaves a gap (something between was missed). */
  protected noteSeq(conv: Conversation, seq: number): boolean {
    conv.liveSeq = Math.max(conv.liveSeq, seq);
    const last = conv.messages[conv.messages.length - 1]?.seq ?? 0;
    if (seq > Math.max(last, conv.seenSeq) + 1) return false;
    conv.seenSeq = Math.max(conv.seenSeq, seq);
    return true;
  }

  /** Fetches what came after the newest message in the page (after a reconnect or a gap). */
  protected async catchUp(): Promise<void> {
    const conv = this.conv;
    const client = this.client;
    if (!conv || !client || conv.loading || conv.hasNewer || conv.loadingNewer) return;
    const last = conv.messages[conv.messages.length - 1];
    // Everything seen live so far was stored before this request: its answer fills any gap below.
    const upTo = conv.liveSeq;
    const arrivals = this.liveArrivals;
    conv.loadingNewer = true;
    try {
      const page = await client.history(conv.chatId, last?.seq ? { after: last.seq, limit: 200 } : { limit: PAGE });
      await this.loadTexts(page.messages);
      if (this.conv !== conv) return;
      conv.seenSeq = Math.max(conv.seenSeq, upTo);
      for (const m of page.messages) this.insertLive(conv, this.msg(m));
      this.ensureUsers(page.messages.map((m) => m.sender_id));
    } catch (err) {
      this.onRequestError(err);
    } finally {
      conv.loadingNewer = false;
      this.applyHeld(conv);
      this.changed();
      this.markReadIfSeen();
    }
    // Live messages came while this request was out (a gap among them called this, and
    // returned at once): one may have been stored after the request was read. Once more; this
    // repeats only while live messages keep coming (the page's own messages do not count).
    const newest = conv.messages[conv.messages.length - 1]?.seq ?? 0;
    if (this.conv === conv && this.liveArrivals > arrivals && conv.liveSeq > newest) await this.catchUp();
  }

  /** Whether the person is looking at the newest messages of the open chat. */
  protected seeing(): boolean {
    const conv = this.conv;
    return !!conv && !conv.loading && !conv.hasNewer && document.visibilityState === 'visible';
  }

  markReadIfSeen(): void {
    const conv = this.conv;
    const client = this.client;
    if (!conv || !client || !this.seeing()) return;
    // Never past a ciphertext no tab of this device has processed yet (base.ts, unprocessed).
    const bound = this.readBound(conv.chatId);
    const last = [...conv.messages].reverse().find((m) => m.message_id !== null && m.seq !== null && m.seq < bound);
    if (!last) return;
    const chat = this.chat(conv.chatId);
    const marked = this.readMarked.get(conv.chatId) ?? 0;
    if (chat && chat.unread_count > 0 && marked >= last.seq!) {
      chat.unread_count = 0;
      this.changed();
    }
    if (marked >= last.seq! || (chat && chat.read_seq >= last.seq! && chat.unread_count === 0)) return;
    this.readMarked.set(conv.chatId, last.seq!);
    client.markRead(conv.chatId, last.message_id!);
    this.tabs?.postMessage({ t: 'read', chat_id: conv.chatId, read_seq: last.seq! } satisfies TabSignal);
    if (chat) {
      chat.read_seq = Math.max(chat.read_seq, last.seq!);
      chat.unread_count = 0;
    }
    this.changed();
  }

  /** The tick of one of your messages in the open conversation. */
  statusOf(conv: Conversation, m: Msg): Status {
    if (m.seq === null) return this.failed.has(m.key) ? 'failed' : 'sending';
    let status: Status = m.status ?? 'sent';
    const recipients =
      conv.kind === 'direct'
        ? conv.peerId && conv.peerId !== this.userId
          ? [conv.peerId]
          : []
        : (conv.group?.members.map((x) => x.user_id).filter((id) => id !== this.userId) ?? []);
    if (recipients.length) {
      const floor = (map: Map<string, number>) => Math.min(...recipients.map((id) => map.get(id) ?? 0));
      const computed: Status = m.seq <= floor(conv.read) ? 'read' : m.seq <= floor(conv.delivered) ? 'delivered' : 'sent';
      if (RANK[computed] > RANK[status]) status = computed;
    }
    return status;
  }

  // ---- message info ----

  /** Opens (or closes, when open) the "Info" of one of your stored messages. */
  toggleInfo(m: Msg): void {
    if (m.message_id === null || m.seq === null) return;
    if (this.info?.messageId === m.message_id) return this.closeInfo();
    this.info = { messageId: m.message_id, chatId: m.chat_id, seq: m.seq, delivered: null, read: null, members: null, error: null };
    this.changed();
    void this.loadInfo();
  }

  closeInfo(): void {
    clearTimeout(this.infoTimer);
    this.info = null;
    this.changed();
  }

  /** Counts each recipient's receipt (GET receipts): exact for this message whatever frames came. */
  private async loadInfo(): Promise<void> {
    const info = this.info;
    if (!info || !this.client) return;
    try {
      const { receipts } = await this.client.receipts(info.messageId);
      if (this.info !== info) return;
      info.members = receipts.length;
      info.delivered = receipts.filter((r) => r.delivered_at !== null).length;
      info.read = receipts.filter((r) => r.read_at !== null).length;
      info.error = null;
    } catch (err) {
      if (this.info === info) info.error = describeError(err);
    }
    this.changed();
  }

  /**
   * A group status_update names a sender's latest message that someone got or read, with its
   * counts: taken as they are for the message shown; one after it may have moved this one's
   * counts too (cursors cover every earlier message), so they are fetched again, at most
   * twice a second.
   */
  protected onCounts(f: {
    chat_id: string;
    message_id: string;
    seq: number;
    delivered_count?: number;
    read_count?: number;
    member_count?: number;
  }): void {
    const info = this.info;
    if (!info || info.chatId !== f.chat_id || f.seq < info.seq) return;
    if (f.message_id === info.messageId && f.member_count !== undefined) {
      info.delivered = f.delivered_count ?? info.delivered;
      info.read = f.read_count ?? info.read;
      info.members = f.member_count;
    } else if (f.seq > info.seq) {
      clearTimeout(this.infoTimer);
      this.infoTimer = setTimeout(() => void this.loadInfo(), 500);
    }
  }

  /** Own sends of the open chat not yet stored. */
  pendingIn(chatId: string): Msg[] {
    return this.outbox
      .filter((p) => p.chat_id === chatId)
      .map((p) => ({
        key: p.client_msg_id,
        message_id: null,
        seq: null,
        chat_id: p.chat_id,
        sender_id: this.userId,
        content: p.content,
        created_at: p.created_at,
        error: this.failed.get(p.client_msg_id),
        attachments: p.attachments,
        reply_to: p.reply_to,
        mentions: p.mentions,
        pendingFile: p.file ? { name: p.file.name, size: p.file.size } : undefined,
      }));
  }

  /**
   * Sends the composer's text with its files: `attachments` already uploaded (plaintext
   * chats), or `files` picked in an encrypted chat, which are encrypted here when sent, one
   * message per file (the first carries the text, the reply and the mentions).
   */
  send(text: string, attachments: Attachment[] = [], mentions: string[] = [], files: File[] = []): boolean {
    const conv = this.conv;
    if (!conv || !this.client || conv.removed || (!text.trim() && !attachments.length && !files.length)) return false;
    const p: PendingSend = { chat_id: conv.chatId, client_msg_id: uuid(), content: text, created_at: Date.now() };
    const more: PendingSend[] = [];
    if (this.isEncrypted(conv.chatId)) {
      // Never plaintext into an encrypted chat: texts and files travel inside the ciphertext.
      if (!text.trim() && !files.length) return false;
      if (this.e2ee && !this.canSendEncrypted(conv.chatId)) {
        this.notice = 'This device is not in this encrypted chat yet: a member must add it first.';
        this.changed();
        return false;
      }
      if (!this.e2ee && this.cryptoUnavailable) {
        this.notice = this.cryptoUnavailable;
        this.changed();
        return false;
      }
      if (attachments.length) {
        // Uploaded in the clear before the chat became encrypted: the server would refuse them, and should.
        this.notice = 'Files attached before this chat was encrypted cannot go into it: remove them and attach them again.';
        this.changed();
        return false;
      }
      p.encrypted = true;
      if (!text.trim()) p.content = '';
      files.forEach((file, i) => {
        const q: PendingSend = i === 0 ? p : { ...p, client_msg_id: uuid(), content: '' };
        // The name as the OS gave it, without bidirectional controls (the server cannot check an encrypted one).
        const name = withoutBidiControls(file.name).slice(0, 255) || 'File';
        q.file = { name, size: file.size, content_type: file.type || 'application/octet-stream' };
        this.stagedFiles.set(q.client_msg_id, file);
        if (i > 0) more.push(q);
      });
    } else if (attachments.length) p.attachments = attachments;
    else if (!text.trim()) return false;
    // Replies and mentions: fields of the message, inside the ciphertext when encrypted.
    if (this.replyTo?.message_id && this.replyTo.chat_id === conv.chatId) p.reply_to = replyRef(this.replyTo);
    if (mentions.length) p.mentions = mentions;
    this.replyTo = null;
    for (const q of [p, ...more]) {
      this.outbox.push(q);
      this.knownSends.add(q.client_msg_id);
    }
    this.persistOutbox();
    for (const q of [p, ...more]) this.dispatch(q);
    this.stopTyping();
    if (conv.hasNewer) void this.loadLatest(conv);
    conv.scrollToken++;
    this.changed();
    return true;
  }

  protected dispatch(p: PendingSend): void {
    const client = this.client;
    if (!client) return;
    const attachments = p.attachments?.map((a) => a.media_id);
    const opts = { clientMsgId: p.client_msg_id, attachments, replyTo: p.reply_to?.message_id, mentions: p.mentions };
    const sending = p.encrypted ? this.sendEncrypted(p) : client.send(p.chat_id, p.content, opts);
    sending.then(
      (ack) => {
        this.dropPending(p.client_msg_id);
        const message: Message = {
          message_id: ack.message_id,
          chat_id: ack.chat_id,
          seq: ack.seq,
          sender_id: this.userId,
          sender_device_id: this.session?.device_id ?? '',
          client_msg_id: p.client_msg_id,
          content: p.content,
          created_at: ack.created_at,
          ...(p.attachments ? { attachments: p.attachments } : {}),
          ...(p.reply_to ? { reply_to: p.reply_to } : {}),
          ...(p.mentions ? { mentions: p.mentions } : {}),
          // Encrypted: shown from what keep() kept (text, files), in this tab and the others, as a received one is.
          ...(p.encrypted ? { ciphertext: '' } : {}),
        };
        this.tabs?.postMessage({ t: 'sent', message } satisfies TabSignal);
        this.onMessage(message);
      },
      (err: unknown) => {
        if (client !== this.client) return; // closed: the persisted outbox resends it next time
        if (err instanceof SendError) {
          this.failed.set(p.client_msg_id, describeSendError(err.code));
          this.notice = `Message not sent: ${describeSendError(err.code)}`;
          this.changed();
        } else if (p.encrypted) {
          // Not in the chat's group, encryption unavailable: said, and kept for Discard.
          const why = err instanceof Error ? err.message : String(err);
          this.failed.set(p.client_msg_id, why);
          this.notice = `Message not sent: ${why}`;
          this.changed();
        }
      },
    );
  }

  /**
   * An encrypted send (a pending one after a reload too: encrypted anew, same client_msg_id,
   * so the server keeps one). Its text (and what opens its file) is kept on this device before
   * the pending copy goes: no one, the sender included, can decrypt it from the server's copy.
   */
  private async sendEncrypted(p: PendingSend): Promise<AckSent> {
    await this.cryptoReady;
    const e2ee = this.e2ee;
    if (!e2ee) throw new Error(this.cryptoUnavailable ?? 'Encryption is not running in this tab.');
    const opts = {
      clientMsgId: p.client_msg_id,
      ...(p.reply_to ? { replyTo: p.reply_to.message_id } : {}),
      ...(p.mentions ? { mentions: p.mentions } : {}),
    };
    const extras: KeptExtras = {};
    if (p.reply_to) extras.reply_to = p.reply_to;
    if (p.mentions) extras.mentions = p.mentions;
    let ack: AckSent;
    if (p.file) {
      const sent = this.fileSends.then(() => this.sendEncryptedFile(e2ee, p, opts));
      this.fileSends = sent.catch(() => undefined);
      const out = await sent;
      ack = out.ack;
      extras.files = [out.file];
    } else ack = await e2ee.send(p.chat_id, p.content, opts);
    this.stagedFiles.delete(p.client_msg_id);
    await this.keep(p.chat_id, ack.message_id, p.content, extras);
    return ack;
  }

  /** One own file into an encrypted chat (docs/e2ee.md "Files"): encrypted here with its thumbnail (images), then uploaded, then sent. */
  private async sendEncryptedFile(
    e2ee: E2ee,
    p: PendingSend,
    opts: { clientMsgId: string; replyTo?: string; mentions?: string[] },
  ): Promise<{ ack: AckSent; file: EncryptedFile }> {
    const picked = this.stagedFiles.get(p.client_msg_id);
    // Only the description is in the persisted outbox: the bytes went with the page that had them.
    if (!picked || !p.file) throw new Error('The page was closed before this file was sent: attach it again.');
    const bytes = new Uint8Array(await picked.arrayBuffer());
    const thumbnail = await makeThumbnail(picked, p.file.content_type);
    return e2ee.sendFile(p.chat_id, bytes, {
      ...opts,
      name: p.file.name,
      contentType: p.file.content_type,
      ...(p.content ? { text: p.content } : {}),
      ...(thumbnail ? { thumbnail } : {}),
    });
  }

  protected dropPending(clientMsgId: string): void {
    this.outbox = this.outbox.filter((x) => x.client_msg_id !== clientMsgId);
    this.persistOutbox();
  }

  /** Saves this tab's pending sends, keeping those another tab of this device saved (tabs share the key). */
  protected persistOutbox(): void {
    if (!this.session) return;
    const others = loadOutbox(this.session.device_id).filter((p) => !this.knownSends.has(p.client_msg_id));
    saveOutbox(this.session.device_id, [...others, ...this.outbox]);
  }

  /**
   * Uploads a file (PROTOCOL.md "Media": POST /v1/media, then the bytes to its upload URL)
   * with XMLHttpRequest, whose upload progress fetch cannot report. Resolves with the

  /** Uploads a file for an attachment (upload.ts), with progress. */
  uploadFile(file: File, onProgress: (loaded: number, total: number) => void): Promise<Attachment> {
    const token = this.session?.token;
    if (!token) return Promise.reject(new Error('Not logged in.'));
    return uploadFile(this.baseUrl, token, file, onProgress);
  }

  protected mediaUrls = new Map<string, { url: Promise<string>; at: number }>();

  /** A short-lived URL for a media id (an <img src>, a download link); fetched again after a minute. */
  mediaUrl(mediaId: string): Promise<string> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('Not logged in.'));
    const hit = this.mediaUrls.get(mediaId);
    if (hit && Date.now() - hit.at < 60_000) return hit.url;
    const url = client.mediaUrl(mediaId);
    this.mediaUrls.set(mediaId, { url, at: Date.now() });
    url.catch(() => this.mediaUrls.delete(mediaId));
    return url;
  }

  /** Forgets a send the server refused. */
  discardFailed(clientMsgId: string): void {
    this.failed.delete(clientMsgId);
    this.stagedFiles.delete(clientMsgId);
    this.dropPending(clientMsgId);
    this.changed();
  }
}
