import type { Message, ServerFrame } from '@switchboard/protocol';

export function time(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** One line per message: `[chat] time sender: text`. */
export function messageLine(
  m: Pick<Message, 'chat_id' | 'seq' | 'created_at' | 'content' | 'attachments'>,
  sender: string,
  mine = false,
): string {
  const content = m.content.replace(/\n/g, '\n    ');
  // One line per attachment, with the id `switchboard download` takes.
  const files = (m.attachments ?? []).map(
    (a) => `\n    [file ${a.filename ?? 'unnamed'} ${a.content_type} ${a.size} B${a.width ? ` ${a.width}x${a.height}` : ''}] ${a.media_id}`,
  );
  return `[${m.chat_id} #${m.seq}] ${time(m.created_at)} ${mine ? 'me' : sender}: ${content}${files.join('')}`;
}

export const TICKS = { sent: '✓', delivered: '✓✓', read: '✓✓ read' } as const;

export function tickLine(f: Extract<ServerFrame, { type: 'status_update' }>, who: string): string {
  return `${TICKS[f.status]} ${f.status} by ${who} [${f.chat_id} #${f.seq}] ${f.message_id}`;
}
