import type { AdminUserView, ReportView } from '@switchboard/protocol';
import { query, requestJson, trimSlash, type FetchLike } from './http.js';

/**
 * The operator's API (PROTOCOL.md "Operators"), with the server's ADMIN_TOKEN. One method
 * per call; errors are SwitchboardHttpError (404 for every call when the server has no
 * ADMIN_TOKEN, 401 for a wrong one).
 */
export class SwitchboardAdmin {
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly adminToken: string,
    private readonly fetchImpl?: FetchLike,
  ) {
    this.baseUrl = trimSlash(baseUrl);
  }

  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return requestJson<T>(this.baseUrl, method, path, { token: this.adminToken, body, fetch: this.fetchImpl });
  }

  /** One page of accounts by username (`after`: the previous page's next_cursor). */
  users(opts: { prefix?: string; after?: string; limit?: number } = {}): Promise<{ users: AdminUserView[]; next_cursor: string | null }> {
    return this.request('GET', `/v1/admin/users${query(opts)}`);
  }

  async suspend(userId: string): Promise<void> {
    await this.request('POST', `/v1/admin/users/${encodeURIComponent(userId)}/suspend`);
  }

  async unsuspend(userId: string): Promise<void> {
    await this.request('POST', `/v1/admin/users/${encodeURIComponent(userId)}/unsuspend`);
  }

  /** Deletes the account and erases every message it sent. */
  async deleteUser(userId: string): Promise<void> {
    await this.request('DELETE', `/v1/admin/users/${encodeURIComponent(userId)}`);
  }

  /** Erases a message as by delete for everyone. */
  async deleteMessage(messageId: string): Promise<void> {
    await this.request('DELETE', `/v1/admin/messages/${encodeURIComponent(messageId)}`);
  }

  /** One page of reports, oldest first. */
  reports(opts: { after?: string; limit?: number } = {}): Promise<{ reports: ReportView[]; next_cursor: string | null }> {
    return this.request('GET', `/v1/admin/reports${query(opts)}`);
  }

  /** A bot user and its token (which does not expire). */
  createBot(body: { username: string; display_name?: string }): Promise<{ user_id: string; token: string }> {
    return this.request('POST', '/v1/admin/bots', body);
  }

  /** A new token for a bot; its old token stops working (after a suspension, or to replace a leaked one). */
  newBotToken(userId: string): Promise<{ user_id: string; token: string }> {
    return this.request('POST', `/v1/admin/bots/${encodeURIComponent(userId)}/token`);
  }
}
