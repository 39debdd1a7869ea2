/** Error codes carried by `error` frames and REST error bodies. Stable: clients switch on them. */
export const SocketErrorCode = {
  invalidFrame: 'invalid_frame',
  notAMember: 'not_a_member',
  chatNotFound: 'chat_not_found',
  contentTooLong: 'content_too_long',
  invalidAttachment: 'invalid_attachment',
  /** A reply_to, mentions entry or target message not in the chat or not visible to the caller. */
  invalidReference: 'invalid_reference',
  /** Not allowed to change that message, or its time window has passed. */
  forbidden: 'forbidden',
  /** A send (or edit, reaction) in a direct chat with a user who blocked the sender. */
  blocked: 'blocked',
  rateLimited: 'rate_limited',
  internal: 'internal',
  /** Plaintext (or an edit, a reaction) in an end-to-end encrypted chat (docs/e2ee.md). */
  encryptionRequired: 'encryption_required',
  /** Ciphertext or an MLS commit for a chat that is not encrypted (docs/e2ee.md). */
  notEncrypted: 'not_encrypted',
} as const;
export type SocketErrorCode = (typeof SocketErrorCode)[keyof typeof SocketErrorCode];

export type HttpErrorCode =
  | 'invalid_request'
  | 'username_taken'
  | 'invalid_credentials'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'not_a_member'
  | 'group_too_large'
  | 'too_many_pinned'
  | 'too_many_contacts'
  | 'too_many_blocked'
  | 'too_large'
  | 'rate_limited'
  /** A login to an account an operator suspended (403). */
  | 'suspended'
  /** An MLS commit made in an epoch that is not the chat's current one (409, docs/e2ee.md). */
  | 'stale_epoch'
  /** A device already keeps the most unused key packages the server holds for it (422). */
  | 'too_many_key_packages'
  | 'internal';

/**
 * WebSocket close codes. 4000-4099: the client should reconnect (with backoff);
 * 4100-4199: it should not (the session is gone).
 */
export const CloseCode = {
  /** Server shutting down or draining: reconnect, possibly to another node. */
  reconnect: 4000,
  /** The socket fell too far behind (outbound buffer over its cap): reconnect and replay. */
  slowConsumer: 4001,
  /** No frame or pong within the presence timeout. */
  idleTimeout: 4002,
  /** The device logged out or its token was revoked: do not reconnect with this token. */
  sessionRevoked: 4100,
  /** RFC 6455: message too big. */
  tooBig: 1009,
} as const;

export function shouldReconnect(code: number): boolean {
  return !(code >= 4100 && code < 4200);
}
