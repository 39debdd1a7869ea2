import { z } from 'zod';
import { MAX_PRESENCE_WATCH } from './limits.js';
import { AttachmentRefs, type Attachment } from './media.js';
import { isStorableText, optional, storableText } from './text.js';
import { MAX_JSON_DEPTH, jsonDepthWithin } from './json-depth.js';
import { Emoji, MAX_MENTIONS, type LifecycleAction, type ReactionSummary, type ReplyRef } from './lifecycle.js';

/*
 * Socket frames. Client frames are validated with zod schemas (the same library the
 * REST bodies use); server frames are plain types, built by the server and trusted by clients.
 */

/** The longest id a client may send (client_msg_id, chat and message ids). */
export const MAX_CLIENT_MSG_ID_CHARS = 128;
/** The longest `ciphertext` of an encrypted send (docs/e2ee.md "Limits"). */
export const MAX_CIPHERTEXT_CHARS = 262_144;
/** Standard base64 with padding: how every MLS value travels (docs/e2ee.md). */
export const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Every string a client sends is stored or looked up: no NUL, no unpaired surrogate (text.ts).
const id = storableText().min(1).max(MAX_CLIENT_MSG_ID_CHARS);
// Content length is checked by the server separately so that it can answer content_too_long.
const content = storableText();

export const SendMessageFrame = z.object({
  type: z.literal('send_message'),
  chat_id: id,
  client_msg_id: id,
  content,
  attachments: optional(AttachmentRefs),
  /** The message_id of a message of the same chat that this one answers. */
  reply_to: optional(id),
  /** Members of the chat this message mentions (pushed even where they muted the chat). */
  mentions: optional(z.array(id).max(MAX_MENTIONS)),
  forwarded: optional(z.boolean()),
  /** An end-to-end encrypted chat's MLS application message, base64 (docs/e2ee.md); content is then "". */
  ciphertext: optional(z.string().min(1).regex(BASE64, 'must be standard base64')),
});
/** Replaces the text of one's own earlier message (PROTOCOL.md "Message lifecycle"). */
export const EditMessageFrame = z.object({
  type: z.literal('edit_message'),
  chat_id: id,
  client_msg_id: id,
  message_id: id,
  content,
});
/** Deletes a message for everyone. */
export const DeleteMessageFrame = z.object({
  type: z.literal('delete_message'),
  chat_id: id,
  client_msg_id: id,
  message_id: id,
});
/** Sets (or, with "", takes back) the caller's one reaction to a message. */
export const ReactFrame = z.object({
  type: z.literal('react'),
  chat_id: id,
  client_msg_id: id,
  message_id: id,
  emoji: Emoji,
});
/** Most ids one ack_delivered may carry: up to a whole offline backlog (guarantee 5: 10,000 messages). */
const MAX_ACK_IDS = 10_000;
export const AckDeliveredFrame = z
  .object({
    type: z.literal('ack_delivered'),
    message_id: id.optional(),
    // Up to a whole offline backlog acknowledged in one frame.
    message_ids: z.array(id).min(1).max(MAX_ACK_IDS).optional(),
  })
  .refine((f) => f.message_id !== undefined || f.message_ids !== undefined, {
    message: 'message_id or message_ids is required',
  });
export const AckReadFrame = z.object({
  type: z.literal('ack_read'),
  chat_id: id,
  last_read_message_id: id,
});
export const TypingFrame = z.object({
  type: z.literal('typing'),
  chat_id: id,
  state: z.enum(['composing', 'paused']),
});
export const PresenceSubscribeFrame = z.object({
  type: z.literal('presence_subscribe'),
  user_ids: z.array(id).max(MAX_PRESENCE_WATCH),
});
export const PresenceUnsubscribeFrame = z.object({
  type: z.literal('presence_unsubscribe'),
  user_ids: z.array(id).max(MAX_PRESENCE_WATCH),
});
export const PingFrame = z.object({ type: z.literal('ping') });

export const clientFrameSchemas = {
  send_message: SendMessageFrame,
  edit_message: EditMessageFrame,
  delete_message: DeleteMessageFrame,
  react: ReactFrame,
  ack_delivered: AckDeliveredFrame,
  ack_read: AckReadFrame,
  typing: TypingFrame,
  presence_subscribe: PresenceSubscribeFrame,
  presence_unsubscribe: PresenceUnsubscribeFrame,
  ping: PingFrame,
} as const;

export type ClientFrameType = keyof typeof clientFrameSchemas;
export type ClientFrame = { [K in ClientFrameType]: z.infer<(typeof clientFrameSchemas)[K]> }[ClientFrameType];
export type SendMessage = z.infer<typeof SendMessageFrame>;
export type EditMessage = z.infer<typeof EditMessageFrame>;
export type DeleteMessage = z.infer<typeof DeleteMessageFrame>;
export type React = z.infer<typeof ReactFrame>;
/** The client frames that change an earlier message; each takes the chat's next seq. */
export type ChangeFrame = EditMessage | DeleteMessage | React;

export type ParseResult = { ok: true; frame: ClientFrame } | { ok: false; message: string; client_msg_id?: string };

/** Parses one text frame from a client. Never throws. */
export function parseClientFrame(text: string): ParseResult {
  const raw = parseJson(text);
  if (!raw.ok) return raw;
  if (Array.isArray(raw.value)) return { ok: false, message: 'a JSON array of frames needs a socket opened with ?batch=1' };
  return validateClientFrame(raw.value);
}

/** Most frames one JSON array may carry on a `?batch=1` socket (PROTOCOL.md "Batching"). */
export const MAX_BATCH_FRAMES = 100;

/**
 * Parses one text message from a client that may be a JSON array of frames (a socket opened
 * with `?batch=1`): one result per frame, in order. An array over MAX_BATCH_FRAMES, or an
 * empty one, is refused whole (one failed result). Without `batch` an array is refused.
 * Never throws.
 */
export function parseClientFrames(text: string, batch: boolean): ParseResult[] {
  const raw = parseJson(text);
  if (!raw.ok) return [raw];
  if (!Array.isArray(raw.value)) return [validateClientFrame(raw.value)];
  if (!batch) return [{ ok: false, message: 'a JSON array of frames needs a socket opened with ?batch=1' }];
  if (raw.value.length === 0) return [{ ok: false, message: 'a batch must hold at least one frame' }];
  if (raw.value.length > MAX_BATCH_FRAMES) {
    return [
      { ok: false, message: `a batch holds at most ${MAX_BATCH_FRAMES} frames (this one ${raw.value.length}); nothing in it was handled` },
    ];
  }
  return raw.value.map(validateClientFrame);
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  if (!jsonDepthWithin(text)) return { ok: false, message: `frame nests deeper than ${MAX_JSON_DEPTH}` };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, message: 'frame is not valid JSON' };
  }
}

/** Checks one decoded client frame against its type's schema. Never throws. */
function validateClientFrame(raw: unknown): ParseResult {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, message: 'frame must be a JSON object' };
  }
  const obj = raw as Record<string, unknown>;
  const clientMsgId = typeof obj.client_msg_id === 'string' ? obj.client_msg_id : undefined;
  const type = obj.type;
  if (typeof type !== 'string' || !Object.hasOwn(clientFrameSchemas, type)) {
    // Not String(type): an object such as {"toString":1} throws when turned into a string.
    const shown = typeof type === 'string' ? type.slice(0, 64) : typeof type;
    return { ok: false, message: `unknown frame type: ${shown}`, client_msg_id: clientMsgId };
  }
  const fast = framesByHand[type as ClientFrameType]?.(obj);
  if (fast) return fast;
  const schema = clientFrameSchemas[type as ClientFrameType];
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    return { ok: false, message: `${type}: ${where}${issue?.message ?? 'invalid'}`, client_msg_id: clientMsgId };
  }
  return { ok: true, frame: parsed.data as ClientFrame };
}

export interface Message {
  message_id: string;
  chat_id: string;
  seq: number;
  sender_id: string;
  sender_device_id: string;
  client_msg_id: string;
  content: string;
  created_at: number;
  /** Present when the message has attachments (see media.ts). */
  attachments?: Attachment[];
  /** The message this one answers (PROTOCOL.md "Message lifecycle"). */
  reply_to?: ReplyRef;
  mentions?: string[];
  forwarded?: true;
  /** When the text was last edited. */
  edited_at?: number;
  /** Deleted for everyone: content is "" and nothing else of it is kept. */
  deleted?: true;
  /** Present when anyone reacted: one entry per emoji. */
  reactions?: ReactionSummary[];
  /** An end-to-end encrypted message: the MLS ciphertext (base64); content is "" (docs/e2ee.md). */
  ciphertext?: string;
  status?: 'sent' | 'delivered' | 'read';
}

/**
 * An edit, delete or reaction: its own message_id, seq and client_msg_id (it is an entry of the
 * chat's log), the message it changes, and what changed. A delete carries no content; a
 * reaction carries the emoji ("" when taken back).
 */
export interface MessageUpdate {
  message_id: string;
  chat_id: string;
  seq: number;
  sender_id: string;
  sender_device_id: string;
  client_msg_id: string;
  created_at: number;
  target_message_id: string;
  action: LifecycleAction;
  content?: string;
  emoji?: string;
}

/** An accepted MLS commit: an entry of the chat's log (docs/e2ee.md "Commits"). */
export interface MlsCommitEntry {
  message_id: string;
  chat_id: string;
  seq: number;
  sender_id: string;
  sender_device_id: string;
  client_msg_id: string;
  created_at: number;
  /** The epoch the commit was made in; the chat is at epoch + 1 after it. */
  epoch: number;
  /** The MLSMessage, base64. */
  commit: string;
}

export type ServerFrame =
  | ({ type: 'new_message' } & Omit<Message, 'status' | 'edited_at' | 'deleted' | 'reactions'>)
  | ({ type: 'message_update' } & MessageUpdate)
  | ({ type: 'mls_commit' } & MlsCommitEntry)
  | { type: 'chat_settings'; chat_id: string; muted_until: number | null; archived: boolean; pinned: boolean }
  | { type: 'ack_sent'; client_msg_id: string; message_id: string; chat_id: string; seq: number; created_at: number }
  | {
      type: 'status_update';
      message_id: string;
      chat_id: string;
      seq: number;
      status: 'delivered' | 'read';
      user_id: string;
      at: number;
      /** Groups: every member this frame speaks for (user_id is the first of them). */
      user_ids?: string[];
      /**
       * Groups: of the message's recipients (the members but its sender who were members when
       * it was sent: `member_count`), how many have it and how many read it, as the server
       * counted when it sent this frame.
       */
      delivered_count?: number;
      read_count?: number;
      member_count?: number;
    }
  | { type: 'read_sync'; chat_id: string; read_seq: number }
  | { type: 'typing'; chat_id: string; user_id: string; state: 'composing' | 'paused' }
  | { type: 'presence'; user_id: string; online: boolean; last_seen: number | null }
  | {
      type: 'group_update';
      group_id: string;
      chat_id: string;
      event: 'created' | 'member_added' | 'member_removed' | 'renamed';
      user_ids: string[];
      name: string;
    }
  | { type: 'sync_complete' }
  | { type: 'pong' }
  | { type: 'error'; code: string; message: string; client_msg_id?: string; retry_after_ms?: number };

export type ServerFrameOf<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>;

const isId = (x: unknown): x is string =>
  typeof x === 'string' && x.length >= 1 && x.length <= MAX_CLIENT_MSG_ID_CHARS && isStorableText(x);

/**
 * A send of the usual shape (text only: type, chat_id, client_msg_id, content), checked by
 * hand by the same rules as SendMessageFrame. Null for anything else (another key, even one
 * that is null; a bad value): the schema then decides, and words its error.
 */
function sendByHand(obj: Record<string, unknown>): ParseResult | null {
  for (const key in obj) if (key !== 'type' && key !== 'chat_id' && key !== 'client_msg_id' && key !== 'content') return null;
  const { chat_id, client_msg_id, content } = obj;
  if (!isId(chat_id) || !isId(client_msg_id) || typeof content !== 'string' || !isStorableText(content)) return null;
  return { ok: true, frame: { type: 'send_message', chat_id, client_msg_id, content } };
}

/** ack_read (every reader sends them as it reads), checked by hand by AckReadFrame's rules; null: the schema decides. */
function ackReadByHand(obj: Record<string, unknown>): ParseResult | null {
  for (const key in obj) if (key !== 'type' && key !== 'chat_id' && key !== 'last_read_message_id') return null;
  const { chat_id, last_read_message_id } = obj;
  if (!isId(chat_id) || !isId(last_read_message_id)) return null;
  return { ok: true, frame: { type: 'ack_read', chat_id, last_read_message_id } };
}

/**
 * ack_delivered is most of what a busy socket reads (every member of a large group acks
 * every few messages): a frame of the usual shape is checked here by hand, by the same
 * rules as AckDeliveredFrame, without the schema's cost. Null for anything else (an
 * unknown key, a bad id): the schema then decides, and words its error.
 */
function ackDeliveredByHand(obj: Record<string, unknown>): ParseResult | null {
  for (const key in obj) if (key !== 'type' && key !== 'message_id' && key !== 'message_ids') return null;
  const one = obj.message_id;
  const many = obj.message_ids;
  if (one === undefined && many === undefined) return null;
  if (one !== undefined && !isId(one)) return null;
  if (many !== undefined) {
    if (!Array.isArray(many) || many.length < 1 || many.length > MAX_ACK_IDS) return null;
    for (const x of many) if (!isId(x)) return null;
  }
  const frame: Extract<ClientFrame, { type: 'ack_delivered' }> = { type: 'ack_delivered' };
  if (one !== undefined) frame.message_id = one;
  if (many !== undefined) frame.message_ids = many as string[];
  return { ok: true, frame };
}

/** The frames most sockets read most often, checked by hand in their usual shape (null: the schema decides). */
const framesByHand: Partial<Record<ClientFrameType, (obj: Record<string, unknown>) => ParseResult | null>> = {
  send_message: sendByHand,
  ack_delivered: ackDeliveredByHand,
  ack_read: ackReadByHand,
};
