import { z } from 'zod';
import { MAX_CONTENT_CHARS } from './limits.js';
import { storableText } from './text.js';

/*
 * Message lifecycle (PROTOCOL.md "Message lifecycle"): replies, mentions, forwarded messages,
 * edits, deletes for everyone, reactions, and per-user chat settings (mute, archive, pin).
 */

/** At most this many user ids in one message's `mentions`. */
export const MAX_MENTIONS = 50;
/** A reaction's emoji is at most this many bytes of UTF-8; "" takes one's reaction back. */
export const MAX_EMOJI_BYTES = 32;
/** A reply's `preview`: the first this many characters of the quoted text. */
export const REPLY_PREVIEW_CHARS = 100;
/** A user may pin at most this many chats (422 too_many_pinned past it). */
export const MAX_PINNED_CHATS = 10;
/** Defaults of the server's EDIT_WINDOW_S / DELETE_WINDOW_S. */
export const DEFAULT_EDIT_WINDOW_S = 900;
export const DEFAULT_DELETE_WINDOW_S = 172_800;

export type LifecycleAction = 'edit' | 'delete' | 'react';

/** UTF-8 byte length, counted by hand: this package assumes neither Node's Buffer nor the DOM. */
export function utf8Bytes(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

export const Emoji = storableText().refine((e) => utf8Bytes(e) <= MAX_EMOJI_BYTES, {
  message: `emoji must be at most ${MAX_EMOJI_BYTES} bytes of UTF-8`,
});

/** A stored reply: which message it quotes, who wrote it, and the quoted text's first characters. */
export interface ReplyRef {
  message_id: string;
  sender_id: string;
  /** The first REPLY_PREVIEW_CHARS characters of the quoted text when sent; "" once it is deleted. */
  preview: string;
}

/** One emoji's reactions on a message: how many users chose it, and who. */
export interface ReactionSummary {
  emoji: string;
  count: number;
  user_ids: string[];
}

/**
 * PATCH /v1/chats/{chat_id}/settings. Not `optional()` for muted_until: there `null` means
 * "unmute", not "absent".
 */
export const ChatSettingsBody = z.object({
  muted_until: z
    .number()
    .refine((n) => Number.isSafeInteger(n) && n >= 0, 'muted_until must be a time in milliseconds since the epoch')
    .nullable()
    .optional(),
  archived: z.boolean().optional(),
  pinned: z.boolean().optional(),
});
export type ChatSettingsBody = z.infer<typeof ChatSettingsBody>;

/** The answer of PATCH /v1/chats/{chat_id}/settings, and the body of a `chat_settings` frame. */
export interface ChatSettingsView {
  chat_id: string;
  muted_until: number | null;
  archived: boolean;
  pinned: boolean;
}

/** Edited text is bounded like sent text; the server answers content_too_long past it. */
export const MAX_EDIT_CHARS = MAX_CONTENT_CHARS;
