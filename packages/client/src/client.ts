import type {
  ChatSettingsBody,
  ChatSettingsView,
  ChatSummary,
  DeviceView,
  GroupView,
  Message,
  PushTargetBody,
  Receipt,
  SessionView,
  UserView,
} from '@switchboard/protocol';
import type { FetchLike } from './http.js';
import type { MediaData, UploadOptions } from './media.js';
import { login, loginWithAssertion, register, SwitchboardApi, webPushKey } from './rest.js';
import { SocketSession, type SwitchboardClientOptions } from './connection.js';

export { SendError, ClientClosedError } from './connection.js';
export type {
  ClientEvents,
  SwitchboardClientOptions,
  NewMessageEvent,
  AckSent,
  ErrorFrame,
  ConnectionState,
  MessageUpdateEvent,
  ChatSettingsEvent,
  SendOptions,
} from './connection.js';

/**
 * Switchboard client for browsers and Node: the socket session (connection.ts: reconnects,
 * outbox resends, ack batching, presence renewal) plus the session's REST calls (rest.ts),
 * under one object. Each REST method here only forwards to `api`; the rules live there.
 */
export class SwitchboardClient extends SocketSession {
  constructor(opts: SwitchboardClientOptions) {
    super(opts, new SwitchboardApi(opts.baseUrl, opts.token, opts.fetch));
  }

  // ---- accounts (no session needed) ----

  static register(
    baseUrl: string,
    body: { username: string; password: string; display_name?: string },
    opts: { fetch?: FetchLike } = {},
  ): Promise<UserView> {
    return register(baseUrl, body, opts);
  }

  static login(
    baseUrl: string,
    body: { username: string; password: string; device_name?: string },
    opts: { fetch?: FetchLike } = {},
  ): Promise<SessionView> {
    return login(baseUrl, body, opts);
  }

  /** Signs in with a JWT the host app signed for its user (the server needs AUTH_JWT_SECRET or AUTH_JWKS_URL). */
  static loginWithAssertion(
    baseUrl: string,
    body: { assertion: string; device_name?: string },
    opts: { fetch?: FetchLike } = {},
  ): Promise<SessionView> {
    return loginWithAssertion(baseUrl, body, opts);
  }

  /** The server's VAPID public key (base64url), for `PushManager.subscribe({applicationServerKey})`. */
  static webPushKey(baseUrl: string, opts: { fetch?: FetchLike } = {}): Promise<string> {
    return webPushKey(baseUrl, opts);
  }

  /** A client for a session returned by `login`. */
  static fromSession(
    baseUrl: string,
    session: SessionView,
    opts: Omit<SwitchboardClientOptions, 'baseUrl' | 'token'> = {},
  ): SwitchboardClient {
    return new SwitchboardClient({
      baseUrl,
      token: session.token,
      wsUrl: session.ws_url,
      userId: session.user_id,
      deviceId: session.device_id,
      ...opts,
    });
  }

  /** The session's REST calls (also reachable through the methods below). */
  get rest(): SwitchboardApi {
    return this.api as SwitchboardApi;
  }

  // ---- REST, forwarded ----

  me(): Promise<UserView> {
    return this.rest.me();
  }
  getUser(userId: string): Promise<UserView> {
    return this.rest.getUser(userId);
  }
  findUser(username: string): Promise<UserView | null> {
    return this.rest.findUser(username);
  }
  updateProfile(patch: { displayName?: string; about?: string; avatarMediaId?: string | null }): Promise<UserView> {
    return this.rest.updateProfile(patch);
  }
  searchUsers(prefix: string, opts: { limit?: number } = {}): Promise<UserView[]> {
    return this.rest.searchUsers(prefix, opts);
  }
  addContact(userId: string): Promise<void> {
    return this.rest.addContact(userId);
  }
  removeContact(userId: string): Promise<void> {
    return this.rest.removeContact(userId);
  }
  contacts(): Promise<UserView[]> {
    return this.rest.contacts();
  }
  block(userId: string): Promise<void> {
    return this.rest.block(userId);
  }
  unblock(userId: string): Promise<void> {
    return this.rest.unblock(userId);
  }
  listBlocked(): Promise<string[]> {
    return this.rest.listBlocked();
  }
  chats(): Promise<ChatSummary[]> {
    return this.rest.chats();
  }
  chatsPage(opts: { limit?: number; cursor?: string } = {}): Promise<{ chats: ChatSummary[]; next_cursor?: string | null }> {
    return this.rest.chatsPage(opts);
  }
  /** A page of a chat's messages, as they now are; remembered so that later updates to them can be applied. */
  async history(
    chatId: string,
    opts: { after?: number; before?: number; limit?: number } = {},
  ): Promise<{ messages: Message[]; next_cursor: number | string | null }> {
    const page = await this.rest.history(chatId, opts);
    this.remember(page.messages);
    return page;
  }
  /**
   * Changes this user's settings of a chat (PROTOCOL.md "Chat settings"): `muted_until` (a
   * time, or null to unmute), `archived`, `pinned`; the other devices get a `chat_settings` event.
   */
  setChatSettings(chatId: string, settings: ChatSettingsBody): Promise<ChatSettingsView> {
    return this.rest.setChatSettings(chatId, settings);
  }
  receipts(messageId: string): Promise<{ message_id: string; chat_id: string; receipts: Receipt[] }> {
    return this.rest.receipts(messageId);
  }
  search(q: string, opts: { chatId?: string; limit?: number } = {}): Promise<Message[]> {
    return this.rest.search(q, opts);
  }
  presence(userId: string): Promise<{ user_id: string; online: boolean; last_seen: number | null }> {
    return this.rest.presence(userId);
  }
  createGroup(name: string, memberIds: string[]): Promise<GroupView> {
    return this.rest.createGroup(name, memberIds);
  }
  getGroup(groupId: string): Promise<GroupView> {
    return this.rest.getGroup(groupId);
  }
  addMembers(groupId: string, userIds: string[]): Promise<GroupView> {
    return this.rest.addMembers(groupId, userIds);
  }
  removeMember(groupId: string, userId: string): Promise<void> {
    return this.rest.removeMember(groupId, userId);
  }
  renameGroup(groupId: string, name: string): Promise<GroupView> {
    return this.rest.renameGroup(groupId, name);
  }

  devices(): Promise<DeviceView[]> {
    return this.rest.devices();
  }
  /** Reports a user or one of their messages to the server's operator (POST /v1/reports). */
  report(body: Parameters<SwitchboardApi['report']>[0]): Promise<{ report_id: string }> {
    return this.rest.report(body);
  }
  revokeDevice(deviceId: string): Promise<void> {
    return this.rest.revokeDevice(deviceId);
  }

  registerPush(target: PushTargetBody): Promise<void> {
    return this.rest.registerPush(target);
  }
  unregisterPush(): Promise<void> {
    return this.rest.unregisterPush();
  }

  uploadMedia(data: MediaData, opts: UploadOptions): Promise<string> {
    return this.rest.uploadMedia(data, opts);
  }
  mediaUrl(mediaId: string): Promise<string> {
    return this.rest.mediaUrl(mediaId);
  }
  downloadMedia(mediaId: string, opts: { range?: string } = {}): Promise<Response> {
    return this.rest.downloadMedia(mediaId, opts);
  }

  /** Ends this device's session on the server and closes the client. */
  async logout(): Promise<void> {
    try {
      await this.rest.endSession();
    } finally {
      await this.close();
    }
  }
}
