import type { ChangeRefusal, ChangeRequest, Role } from './store.js';

/*
 * Who may change which message (PROTOCOL.md "Message lifecycle"), judged by both stores
 * inside the transaction that appends the change, against the target as it is then.
 */

/** The target of a change as the store reads it under the chat's lock. */
export interface ChangeTarget {
  chatId: string;
  kind: string;
  seq: number;
  senderId: string;
  createdAt: number;
  deleted: boolean;
}

/** The caller's membership as the store reads it under the chat's lock. */
export interface ChangeActor {
  role: Role;
  joinedSeq: number;
}

/**
 * Why a change is refused, or null when it may be stored:
 * - not_a_member: the caller is not in the chat (now, on any node);
 * - invalid_reference: no such message in this chat, a change rather than a message, or one
 *   from before the caller (re)joined (which it cannot see);
 * - forbidden: a deleted target; an edit of another's message or past the edit window; a
 *   delete of another's message by a non-admin (admins: groups only, at any time), or of
 *   one's own past the delete window (unless an admin).
 */
export function changeRefusal(
  req: ChangeRequest,
  chatKind: 'direct' | 'group',
  actor: ChangeActor | null,
  target: ChangeTarget | null,
): ChangeRefusal | null {
  if (req.byOperator) {
    // The operator sees every message and may erase any, once, wherever its sender is now.
    if (req.action !== 'delete') return 'forbidden';
    if (!target || target.chatId !== req.chatId || target.kind !== 'message') return 'invalid_reference';
    return target.deleted ? 'forbidden' : null;
  }
  if (!actor) return 'not_a_member';
  if (!target || target.chatId !== req.chatId || target.kind !== 'message' || target.seq <= actor.joinedSeq) return 'invalid_reference';
  if (target.deleted) return 'forbidden';
  const own = target.senderId === req.senderId;
  const age = req.createdAt - target.createdAt;
  switch (req.action) {
    case 'edit':
      return own && age <= req.editWindowMs ? null : 'forbidden';
    case 'delete':
      if (own && age <= req.deleteWindowMs) return null;
      return chatKind === 'group' && actor.role === 'admin' ? null : 'forbidden';
    case 'react':
      return null;
  }
}

/** The first REPLY_PREVIEW_CHARS characters (code points, as the protocol counts them). */
export function previewOf(text: string, chars: number): string {
  let out = '';
  let n = 0;
  for (const ch of text) {
    if (n++ === chars) break;
    out += ch;
  }
  return out;
}
