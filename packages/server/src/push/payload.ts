import { createHash } from 'node:crypto';
import type { PushPayload } from '@switchboard/protocol';

/** Characters of the message a preview carries (PROTOCOL.md). */
export const PREVIEW_CHARS = 100;

/**
 * The collapse key of a chat: 32 base64url characters of a hash of its id. Fits every
 * provider's limit (Web Push Topic: 32 URL-safe characters; apns-collapse-id: 64 bytes)
 * and names no user (a direct chat's id holds both user ids).
 */
export function chatCollapseKey(chatId: string): string {
  return createHash('sha256').update(chatId).digest('base64url').slice(0, 32);
}

export function pushPayload(
  m: { chatId: string; messageId: string; seq: number },
  preview?: { senderName: string; content: string },
): PushPayload {
  const payload: PushPayload = { v: 1, type: 'new_message', chat_id: m.chatId, message_id: m.messageId, seq: m.seq };
  if (preview) {
    payload.sender_name = preview.senderName;
    // By code points, so a preview never ends in half a surrogate pair.
    payload.preview = Array.from(preview.content).slice(0, PREVIEW_CHARS).join('');
  }
  return payload;
}

/** FCM data values must be strings. */
export function asStrings(payload: PushPayload): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(payload)) if (v !== undefined) out[k] = String(v);
  return out;
}
