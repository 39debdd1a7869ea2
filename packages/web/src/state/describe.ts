import { SwitchboardHttpError } from '@switchboard/client';

/* Errors as a person reads them: the server's codes, said in words. */

export function describeError(err: unknown): string {
  if (err instanceof SwitchboardHttpError) {
    const body = (err.body ?? {}) as { message?: unknown; retry_after_ms?: unknown };
    switch (err.code) {
      case 'invalid_credentials':
        return 'Wrong username or password.';
      case 'username_taken':
        return 'That username is taken. Try another one.';
      case 'unauthorized':
        return 'Your session has ended. Please log in again.';
      case 'forbidden':
        return 'Only a group admin can do that.';
      case 'group_too_large':
        return 'A group can have at most 1,024 members.';
      case 'not_a_member':
        return 'You are not a member of this chat.';
      case 'rate_limited': {
        const s = typeof body.retry_after_ms === 'number' ? Math.ceil(body.retry_after_ms / 1000) : null;
        return s ? `Too many attempts. Try again in ${s} s.` : 'Too many attempts. Try again in a moment.';
      }
      case 'invalid_request':
        return typeof body.message === 'string' ? sentence(body.message) : 'That was not accepted.';
      case 'not_found':
        return 'Not found.';
    }
    if (err.status >= 500) return 'The server had a problem. Please try again.';
    return typeof body.message === 'string' ? body.message : err.message;
  }
  // fetch rejects with a TypeError when the network or the server is unreachable.
  if (err instanceof TypeError) return 'Cannot reach the server. Check your connection and try again.';
  return err instanceof Error ? err.message : String(err);
}

function sentence(s: string): string {
  const t = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** Why the server refused a socket request (a send, an edit, a reaction). */
export function describeSendError(code: string): string {
  switch (code) {
    case 'not_a_member':
      return 'you are not a member of this chat.';
    case 'chat_not_found':
      return 'this chat does not exist.';
    case 'content_too_long':
      return 'the message is too long.';
    case 'forbidden':
      return 'that message can no longer be changed.';
    case 'blocked':
      return 'this person does not take your messages.';
    case 'invalid_reference':
      return 'that message is not in this chat.';
    case 'encryption_required':
      return 'this chat is end-to-end encrypted now; send it again.';
    case 'not_encrypted':
      return 'this chat is not end-to-end encrypted.';
    default:
      return `the server refused it (${code}).`;
  }
}
