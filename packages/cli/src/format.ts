import type { Message, MessageUpdate, ServerFrame } from '@switchboard/protocol';

export function time(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/**
 * One line per message: `[chat] time sender: text`, then its attachments and the message it
 * answers on lines of their own; `quoted` is the name of the quoted message's sender.
 */
export function messageLine(
  m: Pick<
    Message,
    'chat_id' | 'seq' | 'created_at' | 'content' | 'attachments' | 'reply_to' | 'forwarded' | 'edited_at' | 'deleted' | 'reactions'
  >,
  sender: string,
  mine = false,
  quoted = '',
): string {
  const text = m.deleted
    ? '(this message was deleted)'
    : `${m.forwarded ? '(forwarded) ' : ''}${m.content}${m.edited_at ? ' (edited)' : ''}`;
  const content = text.replace(/\n/g, '\n    ');
  const reactions = m.reactions?.length ? `  [${m.reactions.map((r) => `${r.emoji} ${r.count}`).join(' ')}]` : '';
  const reply = m.reply_to
    ? `\n    ↪ in reply to ${quoted || m.reply_to.sender_id}: ${m.reply_to.preview ? JSON.stringify(m.reply_to.preview) : '(deleted message)'}`
    : '';
  // One line per attachment, with the id `switchboard download` takes.
  const files = (m.attachments ?? []).map(
    (a) => `\n    [file ${a.filename ?? 'unnamed'} ${a.content_type} ${a.size} B${a.width ? ` ${a.width}x${a.height}` : ''}] ${a.media_id}`,
  );
  return `[${m.chat_id} #${m.seq}] ${time(m.created_at)} ${mine ? 'me' : sender}: ${content}${reactions}${files.join('')}${reply}`;
}

/** One line per edit, delete or reaction; `target` is how to name the changed message (#seq when known, else its id). */
export function updateLine(u: MessageUpdate, who: string, target: string): string {
  const head = `[${u.chat_id} #${u.seq}] ${time(u.created_at)} ${who}`;
  switch (u.action) {
    case 'edit':
      return `${head} edited ${target}: ${(u.content ?? '').replace(/\n/g, '\n    ')}`;
    case 'delete':
      return `${head} deleted ${target} for everyone`;
    case 'react':
      return u.emoji ? `${head} reacted ${u.emoji} to ${target}` : `${head} took back their reaction to ${target}`;
    default:
      return `${head} changed ${target}`;
  }
}

export const TICKS = { sent: '✓', delivered: '✓✓', read: '✓✓ read' } as const;

export function tickLine(f: Extract<ServerFrame, { type: 'status_update' }>, who: string): string {
  return `${TICKS[f.status]} ${f.status} by ${who} [${f.chat_id} #${f.seq}] ${f.message_id}`;
}
