import type { Message } from '@switchboard/protocol';
import type { Store } from '../engines/store/store.js';
import { ApiError } from './errors.js';

/**
 * Turns user text into a safe full-text query: only runs of letters and digits
 * survive, each quoted as a prefix term, all required. FTS syntax in the input
 * (quotes, *, NEAR(, AND/OR, column filters) can never reach the query parser.
 */
export function toMatchQuery(text: string): string | null {
  const words = text.normalize('NFKC').match(/[\p{L}\p{N}_]+/gu) ?? [];
  if (words.length === 0) return null;
  return words
    .slice(0, 16)
    .map((w) => `"${w}"*`)
    .join(' ');
}

/** Full-text search over the caller's chats only, newest first. */
export class Search {
  constructor(private readonly store: Store) {}

  async search(userId: string, q: { text: string; chatId?: string; limit: number }): Promise<Message[]> {
    if (q.chatId && !(await this.store.getMember(q.chatId, userId))) throw new ApiError(403, 'not_a_member', 'you are not a member of this chat');
    const match = toMatchQuery(q.text);
    if (!match) return [];
    return this.store.search(userId, match, { chatId: q.chatId, limit: q.limit });
  }
}
