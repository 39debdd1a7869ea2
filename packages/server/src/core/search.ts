import type { Message } from '@switchboard/protocol';
import { withReactions } from './chats.js';
import type { Store } from '../engines/store/store.js';
import { DomainError } from './errors.js';
import { fitFromFront } from './response-budget.js';

/**
 * Turns user text into search terms: only runs of letters and digits survive, so
 * query syntax in the input (quotes, *, NEAR(, AND/OR, column filters) never reaches
 * the store's full-text parser. Every term must match (by prefix).
 */
export function searchTerms(text: string): string[] {
  const words =
    text
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}_]+/gu) ?? [];
  return [...new Set(words)].slice(0, 16);
}

/** Full-text search over the caller's chats only, newest first. */
export class Search {
  constructor(private readonly store: Store) {}

  async search(userId: string, q: { text: string; chatId?: string; limit: number }): Promise<Message[]> {
    if (q.chatId && !(await this.store.getMember(q.chatId, userId)))
      throw new DomainError('not_a_member', 'you are not a member of this chat');
    const found = await withReactions(
      this.store,
      await this.store.search(userId, searchTerms(q.text), { chatId: q.chatId, limit: q.limit }),
    );
    // Newest first, cut at the response budget (search has no cursor: ask with a narrower query).
    return found.slice(0, fitFromFront(found));
  }
}
