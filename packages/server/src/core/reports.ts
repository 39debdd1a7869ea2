import type { ReportReason } from '@switchboard/protocol';
import { isMessage, type Store } from '../engines/store/store.js';
import type { Snowflake } from '../util/snowflake.js';
import type { ChatAccess } from './chat-access.js';
import { DomainError } from './errors.js';
import type { Limits } from './limits.js';

export interface ReportsDeps {
  store: Store;
  access: Pick<ChatAccess, 'membership'>;
  limits: Pick<Limits, 'report'>;
  ids: Snowflake;
  now: () => number;
}

/**
 * POST /v1/reports (PROTOCOL.md "People"): a user reports another user it shares a chat
 * with, or a message of that user it can see. Anything else is 404 not_found, the same
 * answer as for an unknown id, so reports cannot probe who exists or who talks to whom.
 */
export class Reports {
  constructor(private readonly deps: ReportsDeps) {}

  async create(
    reporterId: string,
    body: { user_id: string; message_id?: string; reason: ReportReason; note?: string },
  ): Promise<{ report_id: string }> {
    const { store, access } = this.deps;
    if (body.user_id === reporterId) throw new DomainError('invalid_request', 'you cannot report yourself');
    await this.deps.limits.report(reporterId);
    if (!(await store.getUser(body.user_id))) throw new DomainError('not_found', 'no such user');
    if (body.message_id !== undefined) {
      const m = await store.getMessage(body.message_id);
      const member = m && isMessage(m) ? await access.membership(reporterId, m.chat_id) : null;
      if (!m || !isMessage(m) || m.sender_id !== body.user_id || !member || m.seq <= member.joinedSeq)
        throw new DomainError('not_found', 'no such message of that user that you can see');
    } else if (!(await store.shareAChat(reporterId, body.user_id))) {
      throw new DomainError('not_found', 'no such user that you share a chat with');
    }
    const id = this.deps.ids.next();
    await store.admin.createReport({
      id,
      reporterId,
      userId: body.user_id,
      messageId: body.message_id ?? null,
      reason: body.reason,
      note: body.note ?? null,
      createdAt: this.deps.now(),
    });
    return { report_id: id };
  }
}
