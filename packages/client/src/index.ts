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
export {
  E2ee,
  type E2eeEvents,
  type E2eeOptions,
  type DecryptedMessage,
  type DecryptedChange,
  type RefusedChange,
  type FileToSend,
} from './e2ee/e2ee.js';
export type { EncryptedFile } from './e2ee/app-message.js';
export { MemoryStorage, folderStorage, type E2eeStorage } from './e2ee/storage.js';
export { indexedDbStorage, deleteIndexedDbStorage, type IndexedDbStorage } from './e2ee/indexeddb-storage.js';
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
