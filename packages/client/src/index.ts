export { SwitchboardClient, SendError, ClientClosedError } from './client.js';
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
} from './client.js';
export { applyMessageUpdate, withReaction, MessageCache, type LifecycleFields } from './message-cache.js';
export { TypedEmitter, type Listener } from './emitter.js';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { SeqDeduper } from './dedup.js';
export { SwitchboardHttpError, wsUrlFor, type FetchLike } from './http.js';
export type { MediaData, UploadOptions } from './media.js';
export { SwitchboardApi, register, login, loginWithAssertion, type SessionApi } from './rest.js';
export { SwitchboardAdmin } from './admin.js';
export { SocketSession, type Transport } from './connection.js';
export { HttpStreamSocket, httpBaseOf, type HttpTransport } from './http-stream-socket.js';
// The E2ee layer, also loadable alone as `@switchboard/client/e2ee`.
export * from './e2ee/index.js';
export type { WebSocketLike, WebSocketConstructor } from './socket.js';
export { directChatId, groupChatId, hasBidiControl, withoutBidiControls } from '@switchboard/protocol';
export type {
  Attachment,
  Message,
  ChatSummary,
  DeviceView,
  GroupView,
  Receipt,
  SessionView,
  UserView,
  ServerFrame,
  PushTargetBody,
  PushPayload,
  MessageUpdate,
  ReactionSummary,
  ReplyRef,
  ChatSettingsBody,
  ChatSettingsView,
  AdminUserView,
  ReportView,
  ReportReason,
} from '@switchboard/protocol';
export { ACK_WINDOW_MS, AckBatcher } from './ack-batcher.js';
