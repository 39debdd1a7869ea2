import type {
  ChatSettingsBody,
  ChatSettingsView,
  ChatSummary,
  DeviceView,
  ReportReason,
  GroupView,
  Message,
  PushTargetBody,
  Receipt,
  SessionView,
  UserView,
} from '@switchboard/protocol';
import { requestJson, query, trimSlash, type FetchLike } from './http.js';
import { downloadMedia, mediaLink, uploadMedia, type MediaData, type UploadOptions } from './media.js';

/** What the socket half needs from REST (see SocketSession). */
export interface SessionApi {
  me(): Promise<UserView>;
  currentSession(): Promise<{ ws_url?: string }>;
  /** A single-use socket ticket (POST /v1/ws-tickets); absent: the socket URL carries the token. */
  wsTicket?(): Promise<{ ticket: string; expires_at: number }>;
}

/** Creates an account (PROTOCOL.md POST /v1/users); no session needed. */
export function register(
  baseUrl: string,
  body: { username: string; password: string; display_name?: string },
  opts: { fetch?: FetchLike } = {},
): Promise<UserView> {
  return requestJson<UserView>(baseUrl, 'POST', '/v1/users', { body, fetch: opts.fetch });
}

/** Logs in, creating a device (POST /v1/sessions). */
export function login(
  baseUrl: string,
  body: { username: string; password: string; device_name?: string },
  opts: { fetch?: FetchLike } = {},
): Promise<SessionView> {
  return requestJson<SessionView>(baseUrl, 'POST', '/v1/sessions', { body, fetch: opts.fetch });
}

/**
 * Signs in with a token the host app signed (PROTOCOL.md "Signing in from your own app"),
 * creating a device; the user is created at its first sign-in.
 */
export function loginWithAssertion(
  baseUrl: string,
  body: { assertion: string; device_name?: string },
  opts: { fetch?: FetchLike } = {},
): Promise<SessionView> {
  return requestJson<SessionView>(baseUrl, 'POST', '/v1/sessions', { body, fetch: opts.fetch });
}

/** The server's VAPID public key (base64url), for `PushManager.subscribe({applicationServerKey})`; no session needed. */
export async function webPushKey(baseUrl: string, opts: { fetch?: FetchLike } = {}): Promise<string> {
  return (await requestJson<{ vapid_public_key: string }>(baseUrl, 'GET', '/v1/push/webpush', { fetch: opts.fetch })).vapid_public_key;
}

/** Every REST call of one session (PROTOCOL.md "Accounts and sessions", "Chats"), one method per endpoint. */
export class SwitchboardApi implements SessionApi {
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly token: string,
    private readonly fetchImpl?: FetchLike,
  ) {
    this.baseUrl = trimSlash(baseUrl);
  }

  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return requestJson<T>(this.baseUrl, method, path, { token: this.token, body, fetch: this.fetchImpl });
  }

  me(): Promise<UserView> {
    return this.request('GET', '/v1/users/me');
  }

  currentSession(): Promise<{ ws_url?: string }> {
    return this.request('GET', '/v1/sessions/current');
  }

  /** A single-use ticket for opening the socket without the token in its URL (valid 30 s). */
  wsTicket(): Promise<{ ticket: string; expires_at: number }> {
    return this.request('POST', '/v1/ws-tickets');
  }

  /** Ends this session on the server: the token stops working at once. */
  async endSession(): Promise<void> {
    await this.request('DELETE', '/v1/sessions/current');
  }

  getUser(userId: string): Promise<UserView> {
    return this.request('GET', `/v1/users/${encodeURIComponent(userId)}`);
  }

  /** Exact username lookup; null when there is no such user. */
  async findUser(username: string): Promise<UserView | null> {
    const res = await this.request<{ users: UserView[] }>('GET', `/v1/users${query({ username })}`);
    return res.users[0] ?? null;
  }

  // ---- people (PROTOCOL.md "People") ----

  /** Changes one's profile; `avatarMediaId` an uploaded image (uploadMedia), null to clear it. */
  updateProfile(patch: { displayName?: string; about?: string; avatarMediaId?: string | null }): Promise<UserView> {
    const body: Record<string, unknown> = {};
    if (patch.displayName !== undefined) body.display_name = patch.displayName;
    if (patch.about !== undefined) body.about = patch.about;
    if (patch.avatarMediaId !== undefined) body.avatar_media_id = patch.avatarMediaId;
    return this.request('PATCH', '/v1/users/me', body);
  }

  /** Users whose username starts with `prefix` (at least 3 characters), in username order, at most `limit` (1..20, default 10). */
  async searchUsers(prefix: string, opts: { limit?: number } = {}): Promise<UserView[]> {
    return (await this.request<{ users: UserView[] }>('GET', `/v1/users${query({ prefix, limit: opts.limit })}`)).users;
  }

  async addContact(userId: string): Promise<void> {
    await this.request('PUT', `/v1/users/me/contacts/${encodeURIComponent(userId)}`);
  }

  async removeContact(userId: string): Promise<void> {
    await this.request('DELETE', `/v1/users/me/contacts/${encodeURIComponent(userId)}`);
  }

  async contacts(): Promise<UserView[]> {
    return (await this.request<{ users: UserView[] }>('GET', '/v1/users/me/contacts')).users;
  }

  async block(userId: string): Promise<void> {
    await this.request('PUT', `/v1/users/me/blocked/${encodeURIComponent(userId)}`);
  }

  async unblock(userId: string): Promise<void> {
    await this.request('DELETE', `/v1/users/me/blocked/${encodeURIComponent(userId)}`);
  }

  async listBlocked(): Promise<string[]> {
    return (await this.request<{ user_ids: string[] }>('GET', '/v1/users/me/blocked')).user_ids;
  }

  /** Every chat of the user, most recent first: follows the server's pages (next_cursor) to the end. */
  async chats(): Promise<ChatSummary[]> {
    const all: ChatSummary[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.chatsPage({ cursor });
      all.push(...page.chats);
      // The last page (and a server without paging) has no next_cursor.
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return all;
  }

  /** One page of GET /v1/chats (`limit` 1..1000, default 500); `next_cursor` is absent on the last one. */
  chatsPage(opts: { limit?: number; cursor?: string } = {}): Promise<{ chats: ChatSummary[]; next_cursor?: string | null }> {
    return this.request('GET', `/v1/chats${query(opts)}`);
  }

  history(
    chatId: string,
    opts: { after?: number; before?: number; limit?: number } = {},
  ): Promise<{ messages: Message[]; next_cursor: number | string | null }> {
    return this.request('GET', `/v1/chats/${encodeURIComponent(chatId)}/messages${query(opts)}`);
  }

  /** PATCH /v1/chats/{chat_id}/settings: 422 too_many_pinned past 10 pinned chats. */
  setChatSettings(chatId: string, settings: ChatSettingsBody): Promise<ChatSettingsView> {
    return this.request('PATCH', `/v1/chats/${encodeURIComponent(chatId)}/settings`, settings);
  }

  receipts(messageId: string): Promise<{ message_id: string; chat_id: string; receipts: Receipt[] }> {
    return this.request('GET', `/v1/messages/${encodeURIComponent(messageId)}/receipts`);
  }

  async search(q: string, opts: { chatId?: string; limit?: number } = {}): Promise<Message[]> {
    const res = await this.request<{ messages: Message[] }>('GET', `/v1/search${query({ q, chat_id: opts.chatId, limit: opts.limit })}`);
    return res.messages;
  }

  presence(userId: string): Promise<{ user_id: string; online: boolean; last_seen: number | null }> {
    return this.request('GET', `/v1/users/${encodeURIComponent(userId)}/presence`);
  }

  createGroup(name: string, memberIds: string[]): Promise<GroupView> {
    return this.request('POST', '/v1/groups', { name, member_ids: memberIds });
  }

  getGroup(groupId: string): Promise<GroupView> {
    return this.request('GET', `/v1/groups/${encodeURIComponent(groupId)}`);
  }

  addMembers(groupId: string, userIds: string[]): Promise<GroupView> {
    return this.request('POST', `/v1/groups/${encodeURIComponent(groupId)}/members`, { user_ids: userIds });
  }

  async removeMember(groupId: string, userId: string): Promise<void> {
    await this.request('DELETE', `/v1/groups/${encodeURIComponent(groupId)}/members/${encodeURIComponent(userId)}`);
  }

  async renameGroup(groupId: string, name: string): Promise<GroupView> {
    const group = await this.request<GroupView | undefined>('PATCH', `/v1/groups/${encodeURIComponent(groupId)}`, { name });
    return group ?? this.getGroup(groupId);
  }

  /** This user's live sessions (devices); `current` marks this one. */
  async devices(): Promise<DeviceView[]> {
    return (await this.request<{ devices: DeviceView[] }>('GET', '/v1/devices')).devices;
  }

  /**
   * Reports a user one shares a chat with, or one of their messages one can see (POST /v1/reports);
   * 404 otherwise. `note`: at most 1,000 characters.
   */
  report(body: { user_id: string; message_id?: string; reason: ReportReason; note?: string }): Promise<{ report_id: string }> {
    return this.request('POST', '/v1/reports', body);
  }

  /** Ends another session of this user (its sockets close with 4100); 404 when the device is not this user's. */
  async revokeDevice(deviceId: string): Promise<void> {
    await this.request('DELETE', `/v1/devices/${encodeURIComponent(deviceId)}`);
  }

  /**
   * Registers this device's push target, replacing its earlier one: a Web Push
   * subscription (`{provider:'webpush', subscription: sub.toJSON()}`), an APNs or an FCM token.
   */
  async registerPush(target: PushTargetBody): Promise<void> {
    await this.request('PUT', '/v1/devices/current/push', target);
  }

  /** Removes this device's push target: no more pushes to it. */
  async unregisterPush(): Promise<void> {
    await this.request('DELETE', '/v1/devices/current/push');
  }

  /** Uploads a file (a Blob is streamed); resolves with the media id to pass in send's `attachments`. */
  uploadMedia(data: MediaData, opts: UploadOptions): Promise<string> {
    return uploadMedia(this.baseUrl, this.token, data, opts);
  }

  /** A short-lived URL serving the media, for places that cannot send a token (an <img src>, a download link). */
  async mediaUrl(mediaId: string): Promise<string> {
    return (await mediaLink(this.baseUrl, this.token, mediaId)).url;
  }

  /** The media's bytes, as a streaming Response; `range` (e.g. "bytes=0-99") asks for part of it. */
  downloadMedia(mediaId: string, opts: { range?: string } = {}): Promise<Response> {
    return downloadMedia(this.baseUrl, this.token, mediaId, opts);
  }
}
