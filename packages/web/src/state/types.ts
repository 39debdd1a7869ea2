import type {
  Attachment,
  ChatSettingsView,
  EncryptedFile,
  GroupView,
  Message,
  MessageUpdate,
  NewMessageEvent,
  ReactionSummary,
  ReplyRef,
} from '@switchboard/client';

import type { KeptExtras } from '../e2ee/texts.js';

/* What the app's state is made of: a message as shown, the open conversation, and the small types around them. */

export type Status = 'sending' | 'sent' | 'delivered' | 'read' | 'failed';

export interface Msg {
  /** Stable across the pending → stored switch: the client_msg_id. */
  key: string;
  message_id: string | null;
  seq: number | null;
  chat_id: string;
  sender_id: string;
  content: string;
  created_at: number;
  /** Own messages: from history, or `sending`/`failed` before the ack. */
  status?: Status;
  error?: string;
  attachments?: Attachment[];
  /** Message lifecycle (PROTOCOL.md): the quoted message, mentions, and what changed it since. */
  reply_to?: ReplyRef;
  mentions?: string[];
  forwarded?: true;
  edited_at?: number;
  deleted?: true;
  reactions?: ReactionSummary[];
  /** End-to-end encrypted: `content` is the text this device decrypted, '' before (or never). */
  encrypted?: true;
  /** An encrypted edit or reaction: an entry of the chat's log that is no message (not shown). */
  change?: true;
  /** An encrypted message's files, from inside the ciphertext (keys, name, type, size); `attachments` then stay unset. */
  files?: EncryptedFile[];
  /** An own encrypted file not sent yet: what the pending message shows of it. */
  pendingFile?: { name: string; size: number };
}

export interface Conversation {
  chatId: string;
  kind: 'direct' | 'group';
  title: string;
  /** The other user of a direct chat (yourself in notes to self). */
  peerId: string | null;
  /** Stored messages in the page, ascending seq; at most MAX_WINDOW of them. */
  messages: Msg[];
  loading: boolean;
  error: string | null;
  hasOlder: boolean;
  hasNewer: boolean;
  loadingOlder: boolean;
  loadingNewer: boolean;
  /** The message a search jumped to. */
  highlightSeq: number | null;
  /** Bumped when the view should scroll anew (to the bottom, or to highlightSeq). */
  scrollToken: number;
  group: GroupView | null;
  /** No longer a member (removed or left): read-only. */
  removed: boolean;
  /** Receipt cursors of the other members, from status_update. */
  delivered: Map<string, number>;
  read: Map<string, number>;
  /**
   * The chat's log as far as this page accounts for it without a gap (edits, deletes and
   * reactions take seqs too, so they must not look like a gap), and the highest seq seen live.
   */
  seenSeq: number;
  liveSeq: number;
  /** Updates that came while a page was loading: applied again to it, as it may predate them. */
  held: MessageUpdate[];
  /** Seen encrypted here (a ciphertext came, or this device made it so) before the chat list knew. */
  encrypted: boolean;
}

export type Panel = null | 'new-chat' | 'new-group' | 'group-info' | 'profile' | 'contacts' | 'security-code';

/**
 * "Info" of one of your group messages: how many of its recipients have it and read it.
 * Filled from GET receipts when opened, then from status_update counts (PROTOCOL.md
 * guarantee 6); null counts while loading.
 */
export interface MessageInfo {
  messageId: string;
  chatId: string;
  seq: number;
  delivered: number | null;
  read: number | null;
  members: number | null;
  error: string | null;
}
export type ConnState = 'connecting' | 'online' | 'reconnecting';

export const PAGE = 50;
/** Messages kept in the page at most; farther pages are dropped and fetched again on scroll. */
export const MAX_WINDOW = 200;
export const RANK: Record<Status, number> = { failed: -2, sending: -1, sent: 0, delivered: 1, read: 2 };

/** A UUID without crypto.randomUUID, which only secure contexts have (plain http on a LAN is not one). */
export function uuid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function toMsg(m: Message | NewMessageEvent): Msg {
  return {
    key: m.client_msg_id || m.message_id,
    message_id: m.message_id,
    seq: m.seq,
    chat_id: m.chat_id,
    sender_id: m.sender_id,
    content: m.content,
    created_at: m.created_at,
    status: 'status' in m ? m.status : undefined,
    attachments: m.attachments,
    reply_to: m.reply_to,
    mentions: m.mentions,
    forwarded: m.forwarded,
    edited_at: 'edited_at' in m ? m.edited_at : undefined,
    deleted: 'deleted' in m ? m.deleted : undefined,
    reactions: 'reactions' in m ? m.reactions : undefined,
  };
}

/** What one tab tells the others of its device (they share a device, and the server sends a device none of its own). */
export type TabSignal =
  | { t: 'read'; chat_id: string; read_seq: number }
  | { t: 'sent'; message: Message }
  | { t: 'update'; update: MessageUpdate }
  | { t: 'settings'; settings: ChatSettingsView }
  /** A text the tab that runs encryption decrypted (the device's other tabs cannot open it themselves). */
  | { t: 'text'; chat_id: string; message_id: string; text: string; extras?: KeptExtras }
  /** A ciphertext the tab that runs encryption could not open (done with, like a decrypted one). */
  | { t: 'undecryptable'; chat_id: string; message_id: string };

/** The other user of a direct chat (dm:<a>:<b>); oneself in notes to self. */
export function peerOf(chatId: string, me: string): string {
  const ids = chatId.split(':').slice(1);
  return ids.find((id) => id !== me) ?? ids[0] ?? me;
}
