import type { Message } from '@switchboard/client';

/* Formatting for display: times, sizes, one-line previews, initials. */

/** A message as one line of text (a list preview, a search result): its text, or what it carries. */
export function oneLine(m: Message): string {
  if (m.deleted) return 'This message was deleted';
  if (m.content) return m.content;
  const first = m.attachments?.[0];
  if (!first) return '';
  return first.filename ?? (first.content_type.startsWith('image/') ? 'Photo' : 'File');
}

export function fileSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function initial(title: string): string {
  return (Array.from(title.trim())[0] ?? '?').toUpperCase();
}

export function clock(t: number): string {
  return new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

function sameDay(a: Date, b: Date): boolean {
  return a.toDateString() === b.toDateString();
}

export function dayLabel(t: number): string {
  const d = new Date(t);
  const now = new Date();
  if (sameDay(d, now)) return 'Today';
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return 'Yesterday';
  return d.toLocaleDateString(undefined, {
    day: 'numeric',
    month: 'long',
    year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric',
  });
}

export function shortTime(t: number): string {
  const d = new Date(t);
  return sameDay(d, new Date()) ? clock(t) : d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

export function lastSeen(t: number): string {
  const label = dayLabel(t);
  return `${label === 'Today' || label === 'Yesterday' ? label.toLowerCase() : label} at ${clock(t)}`;
}
