import { z } from 'zod';

/*
 * Schemas of what the server answers: REST response bodies and server frames. They are not
 * used to check anything at run time (the TypeScript types beside them are); they describe
 * the answers in the API description (GET /v1/openapi.json, GET /v1/frames.schema.json).
 * Objects are open: clients must ignore fields they do not know (additions are allowed).
 */

const id = z.string();
const time = z.number().int().describe('milliseconds since the Unix epoch');

export const ErrorBodySchema = z.object({
  error: z.string().describe('a code from docs/errors.md, e.g. invalid_request, unauthorized, not_found, rate_limited'),
  message: z.string().optional(),
  retry_after_ms: z.number().int().optional().describe('rate_limited: when to try again'),
});

export const UserViewSchema = z.object({
  user_id: id,
  username: z.string(),
  display_name: z.string(),
  about: z.string().optional().describe('People: the user\'s "about" text'),
  avatar: z.object({ media_id: id, thumbnail: z.unknown().optional() }).nullable().optional(),
});

export const UsersSchema = z.object({ users: z.array(UserViewSchema) });

export const SessionViewSchema = z.object({ token: z.string(), user_id: id, device_id: id, ws_url: z.string() });

export const CurrentSessionSchema = z.object({ user_id: id, device_id: id, ws_url: z.string() });

export const DeviceViewSchema = z.object({
  device_id: id,
  name: z.string(),
  created_at: time,
  last_active_at: time,
  current: z.boolean(),
});
export const DevicesSchema = z.object({ devices: z.array(DeviceViewSchema) });

export const WsTicketSchema = z.object({ ticket: z.string(), expires_at: time });

export const ThumbnailSchema = z.object({ media_id: id, content_type: z.string(), width: z.number().int(), height: z.number().int() });
export const AttachmentSchema = z.object({
  media_id: id,
  content_type: z.string(),
  size: z.number().int(),
  filename: z.string().nullable(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  duration_ms: z.number().int().optional(),
  thumbnail: ThumbnailSchema.optional(),
});
export const ReplyRefSchema = z.object({ message_id: id, sender_id: id, preview: z.string() });
export const ReactionSummarySchema = z.object({ emoji: z.string(), count: z.number().int(), user_ids: z.array(id) });

const messageFields = {
  message_id: id,
  chat_id: id,
  seq: z.number().int(),
  sender_id: id,
  sender_device_id: id,
  client_msg_id: z.string(),
  content: z.string(),
  created_at: time,
  attachments: z.array(AttachmentSchema).optional(),
  reply_to: ReplyRefSchema.optional(),
  mentions: z.array(id).optional(),
  forwarded: z.literal(true).optional(),
  ciphertext: z.string().optional().describe('an end-to-end encrypted message: its MLS ciphertext, base64 (docs/e2ee.md)'),
};

export const MessageSchema = z.object({
  ...messageFields,
  edited_at: time.optional(),
  deleted: z.literal(true).optional(),
  reactions: z.array(ReactionSummarySchema).optional(),
  status: z.enum(['sent', 'delivered', 'read']).optional().describe("only on the caller's own messages, in history"),
});

export const MessageUpdateSchema = z.object({
  message_id: id,
  chat_id: id,
  seq: z.number().int(),
  sender_id: id,
  sender_device_id: id,
  client_msg_id: z.string(),
  created_at: time,
  target_message_id: id,
  action: z.enum(['edit', 'delete', 'react']),
  content: z.string().optional(),
  emoji: z.string().optional(),
});

export const HistorySchema = z.object({ messages: z.array(MessageSchema), next_cursor: z.number().int().nullable().optional() });
export const MessagesSchema = z.object({ messages: z.array(MessageSchema) });

export const ChatSettingsViewSchema = z.object({ chat_id: id, muted_until: time.nullable(), archived: z.boolean(), pinned: z.boolean() });

export const ChatSummarySchema = z.object({
  chat_id: id,
  kind: z.enum(['direct', 'group']),
  title: z.string(),
  last_seq: z.number().int(),
  last_message: MessageSchema.nullable(),
  read_seq: z.number().int(),
  unread_count: z.number().int(),
  muted_until: time.nullable(),
  archived: z.boolean(),
  pinned: z.boolean(),
  encrypted: z.literal(true).optional().describe('an end-to-end encrypted chat (docs/e2ee.md)'),
});
export const ChatsSchema = z.object({ chats: z.array(ChatSummarySchema), next_cursor: z.string().optional() });

export const GroupViewSchema = z.object({
  group_id: id,
  chat_id: id,
  name: z.string(),
  members: z.array(z.object({ user_id: id, role: z.enum(['admin', 'member']) })),
  created_at: time,
  encrypted: z.literal(true).optional().describe('an end-to-end encrypted group (docs/e2ee.md)'),
});

export const ReceiptsSchema = z.object({
  message_id: id,
  chat_id: id,
  receipts: z.array(z.object({ user_id: id, delivered_at: time.nullable(), read_at: time.nullable() })),
});

export const PresenceSchema = z.object({ user_id: id, online: z.boolean(), last_seen: time.nullable() });

export const CreateMediaResponseSchema = z.object({
  media_id: id,
  upload_url: z.string(),
  upload_method: z.string(),
  upload_headers: z.record(z.string(), z.string()),
  expires_at: time,
});
export const MediaLinkSchema = z.object({ url: z.string(), expires_at: time });
export const VapidKeySchema = z.object({ vapid_public_key: z.string() });

// ---- People, Operators, Webhooks (PROTOCOL.md) ----
export const BlockedSchema = z.object({ user_ids: z.array(id) });
export const ReportCreatedSchema = z.object({ report_id: id });
export const AdminUserSchema = z.object({
  user_id: id,
  username: z.string(),
  display_name: z.string(),
  created_at: time,
  suspended: z.boolean(),
});
export const AdminUsersSchema = z.object({ users: z.array(AdminUserSchema), next_cursor: z.string().nullable().optional() });
export const ReportSchema = z.object({
  report_id: id,
  reporter_id: id,
  user_id: id,
  message_id: id.nullable(),
  reason: z.enum(['spam', 'abuse', 'other']),
  note: z.string().nullable(),
  created_at: time,
});
export const ReportsSchema = z.object({ reports: z.array(ReportSchema), next_cursor: z.string().nullable().optional() });
export const BotCreatedSchema = z.object({ user_id: id, token: z.string() });
export const WebhookEvent = z.enum(['message.created', 'message.updated', 'user.created', 'group.updated', 'report.created']);
export const WebhookSchema = z.object({ webhook_id: id, url: z.string(), events: z.array(WebhookEvent) });
export const WebhookCreatedSchema = WebhookSchema.extend({
  secret: z.string().describe('HMAC-SHA256 key of Switchboard-Signature; shown once'),
});
export const WebhooksSchema = z.object({ webhooks: z.array(WebhookSchema) });
/** Request bodies of calls other modules own, described here for the API description. */
export const PatchMeBodyDoc = z.object({
  display_name: z.string().min(1).max(64).optional(),
  about: z.string().optional(),
  avatar_media_id: id.nullable().optional(),
});
export const ReportBodyDoc = z.object({
  user_id: id,
  message_id: id.optional(),
  reason: z.enum(['spam', 'abuse', 'other']),
  note: z.string().optional(),
});
export const CreateBotBodyDoc = z.object({ username: z.string(), display_name: z.string().optional() });
export const CreateWebhookBodyDoc = z.object({ url: z.string(), events: z.array(WebhookEvent).optional() });
export const EventsResponseSchema = z.object({
  frames: z.array(z.record(z.string(), z.unknown())),
  /** Present once the stream ended (as a socket's close code): the next poll of it answers 404. */
  closed: z.object({ code: z.number().int(), reason: z.string() }).optional(),
});

// ---- server frames (PROTOCOL.md "Server to client") ----
const frame = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) => z.object({ type: z.literal(type), ...shape });

export const serverFrameSchemas = {
  new_message: frame('new_message', messageFields),
  message_update: frame('message_update', MessageUpdateSchema.shape),
  mls_commit: frame('mls_commit', {
    message_id: id,
    chat_id: id,
    seq: z.number().int(),
    sender_id: id,
    sender_device_id: id,
    client_msg_id: z.string(),
    created_at: time,
    epoch: z.number().int().describe('the epoch the commit was made in'),
    commit: z.string().describe('the MLSMessage, base64'),
  }),
  ack_sent: frame('ack_sent', { client_msg_id: z.string(), message_id: id, chat_id: id, seq: z.number().int(), created_at: time }),
  status_update: frame('status_update', {
    message_id: id,
    chat_id: id,
    seq: z.number().int(),
    status: z.enum(['delivered', 'read']),
    user_id: id,
    at: time,
    user_ids: z.array(id).optional(),
    delivered_count: z.number().int().optional(),
    read_count: z.number().int().optional(),
    member_count: z.number().int().optional(),
  }),
  read_sync: frame('read_sync', { chat_id: id, read_seq: z.number().int() }),
  typing: frame('typing', { chat_id: id, user_id: id, state: z.enum(['composing', 'paused']) }),
  presence: frame('presence', PresenceSchema.shape),
  group_update: frame('group_update', {
    group_id: id,
    chat_id: id,
    event: z.enum(['created', 'member_added', 'member_removed', 'renamed']),
    user_ids: z.array(id),
    name: z.string(),
  }),
  chat_settings: frame('chat_settings', ChatSettingsViewSchema.shape),
  sync_complete: frame('sync_complete', {}),
  pong: frame('pong', {}),
  stream: frame('stream', { stream_id: z.string() }).describe('GET /v1/events only: the stream this connection reads'),
  error: frame('error', {
    code: z.string(),
    message: z.string(),
    client_msg_id: z.string().optional(),
    retry_after_ms: z.number().int().optional(),
  }),
} as const;

// ---- MLS Delivery Service (docs/e2ee.md) ----
export const KeyPackageCountsSchema = z.object({ available: z.number().int(), last_resort: z.boolean() });
export const ClaimResultSchema = z.object({
  key_packages: z.array(z.object({ user_id: id, device_id: id, key_package: z.string(), last_resort: z.boolean() })),
  missing: z.array(z.object({ user_id: id, device_id: id })),
});
export const MlsChatStateSchema = z.object({
  chat_id: id,
  encrypted: z.boolean(),
  epoch: z.number().int(),
  group_info: z.string().nullable(),
  devices: z.array(z.object({ user_id: id, device_id: id })),
});
export const MlsCommitAcceptedSchema = z.object({
  message_id: id,
  chat_id: id,
  seq: z.number().int(),
  epoch: z.number().int().describe("the chat's epoch after this commit"),
  created_at: time,
});
export const MlsWelcomesSchema = z.object({
  welcomes: z.array(z.object({ welcome_id: id, chat_id: id, epoch: z.number().int(), welcome: z.string(), created_at: time })),
});
