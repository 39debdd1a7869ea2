import type { Attachment, ReplyRef, SessionView } from '@switchboard/client';

/*
 * What survives a reload: the session (so a person stays logged in) and the sends not yet
 * acknowledged (so a message typed offline is not lost with the tab). Both in localStorage;
 * the token is the only credential kept, never the password.
 */
export interface StoredSession extends SessionView {
  username: string;
}

const SESSION_KEY = 'switchboard.session';
const outboxKey = (deviceId: string) => `switchboard.outbox.${deviceId}`;

export interface PendingSend {
  chat_id: string;
  client_msg_id: string;
  content: string;
  created_at: number;
  /** Files already uploaded, sent with the text. */
  attachments?: Attachment[];
  /** The message this one answers (its quote as shown until the stored copy comes). */
  reply_to?: ReplyRef;
  mentions?: string[];
  /** For an end-to-end encrypted chat: sent through E2ee (encrypted when sent, so anew after a reload). */
  encrypted?: true;
  /**
   * An encrypted chat's file (one per message), as the pending message shows it. Its bytes are
   * not kept here (only in the page's memory): after a reload the send fails, and says so.
   */
  file?: { name: string; size: number; content_type: string };
}

function read<T>(key: string): T | null {
  try {
    const raw = localStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}

function write(key: string, value: unknown): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled (private mode): the app still works, only without persistence.
  }
}

export function loadSession(): StoredSession | null {
  const s = read<StoredSession>(SESSION_KEY);
  return s && typeof s.token === 'string' && typeof s.user_id === 'string' ? s : null;
}

export function saveSession(s: StoredSession | null): void {
  write(SESSION_KEY, s);
}

export function loadOutbox(deviceId: string): PendingSend[] {
  const list = read<PendingSend[]>(outboxKey(deviceId));
  return Array.isArray(list) ? list : [];
}

export function saveOutbox(deviceId: string, list: PendingSend[]): void {
  write(outboxKey(deviceId), list.length ? list : null);
}

export const SESSION_STORAGE_KEY = SESSION_KEY;
