import { z } from 'zod';
import * as p from '@switchboard/protocol';
import type { Router } from './http-util.js';

/*
 * The API description (PROTOCOL.md "API description"): GET /v1/openapi.json, an OpenAPI 3.1
 * document of every HTTP call, and GET /v1/frames.schema.json, a JSON Schema of every socket
 * frame. Request bodies and client frames come from the very zod schemas that validate them
 * (z.toJSONSchema, input side: optional fields are optional, unknown fields allowed); answers
 * from packages/protocol/src/responses.ts. The operation table below is written by hand: the
 * router knows paths, not meanings. test/openapi.test.ts fails for any route the running
 * server registers that is not described here, naming it.
 */

type Auth = 'none' | 'bearer' | 'admin' | 'bearer-or-ticket';

interface Param {
  name: string;
  schema: Record<string, unknown>;
  description?: string;
  required?: boolean;
}

interface Op {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete' | 'head';
  path: string;
  tag: string;
  summary: string;
  auth: Auth;
  body?: z.ZodType | z.ZodType[];
  /** A body that is not JSON (bytes). */
  rawBody?: string;
  query?: Param[];
  ok: { status: number; schema?: z.ZodType; description: string; contentType?: string };
  /** Error statuses answered with the Error body, beyond those every call of its kind has. */
  errors?: number[];
}

const int = (min?: number, max?: number) => ({
  type: 'integer',
  ...(min === undefined ? {} : { minimum: min }),
  ...(max === undefined ? {} : { maximum: max }),
});
const str = { type: 'string' };

const OPS: Op[] = [
  // ---- operations ----
  {
    method: 'get',
    path: '/healthz',
    tag: 'operations',
    summary: 'Liveness: 200 while the process runs',
    auth: 'none',
    ok: { status: 200, description: '{status:"ok"}' },
  },
  {
    method: 'get',
    path: '/readyz',
    tag: 'operations',
    summary: 'Readiness: 200 while accepting traffic, 503 while draining',
    auth: 'none',
    ok: { status: 200, description: '{ready:true}' },
    errors: [503],
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'operations',
    summary: 'Prometheus metrics (Bearer METRICS_TOKEN; 404 without it or when none is configured)',
    auth: 'bearer',
    ok: { status: 200, description: 'Prometheus text format', contentType: 'text/plain' },
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    tag: 'operations',
    summary: 'This document',
    auth: 'none',
    ok: { status: 200, description: 'OpenAPI 3.1' },
  },
  {
    method: 'get',
    path: '/v1/frames.schema.json',
    tag: 'operations',
    summary: 'JSON Schema of every socket frame, client to server and server to client',
    auth: 'none',
    ok: { status: 200, description: 'JSON Schema (draft 2020-12); $defs "client.TYPE" and "server.TYPE"' },
  },
  // ---- accounts and sessions ----
  {
    method: 'post',
    path: '/v1/users',
    tag: 'accounts',
    summary: 'Register with username and password (403 forbidden when PASSWORD_LOGIN=off)',
    auth: 'none',
    body: p.CreateUserBody,
    ok: { status: 201, schema: p.UserViewSchema, description: 'the new user' },
    errors: [400, 403, 409, 429],
  },
  {
    method: 'post',
    path: '/v1/sessions',
    tag: 'accounts',
    summary: 'Log in (a new device): with username and password, or with an assertion (a JWT your app signed)',
    auth: 'none',
    body: [p.CreateSessionBody, p.AssertionSessionBody],
    ok: { status: 201, schema: p.SessionViewSchema, description: 'the session' },
    errors: [400, 401, 403, 429],
  },
  {
    method: 'get',
    path: '/v1/sessions/current',
    tag: 'accounts',
    summary: 'Where this device should connect now',
    auth: 'bearer',
    ok: { status: 200, schema: p.CurrentSessionSchema, description: 'the session' },
  },
  {
    method: 'delete',
    path: '/v1/sessions/current',
    tag: 'accounts',
    summary: "Log out: the token stops working, the device's sockets close",
    auth: 'bearer',
    ok: { status: 204, description: 'logged out' },
  },
  {
    method: 'get',
    path: '/v1/users/me',
    tag: 'accounts',
    summary: 'The caller',
    auth: 'bearer',
    ok: { status: 200, schema: p.UserViewSchema, description: 'the user' },
    errors: [404],
  },
  {
    method: 'patch',
    path: '/v1/users/me',
    tag: 'people',
    summary: "Change the caller's profile (avatar_media_id: an image the caller uploaded)",
    auth: 'bearer',
    body: p.PatchMeBodyDoc,
    ok: { status: 200, schema: p.UserViewSchema, description: 'the user' },
    errors: [400],
  },
  {
    method: 'get',
    path: '/v1/users',
    tag: 'accounts',
    summary: 'Find users: by exact username, or by username prefix (at least 3 characters)',
    auth: 'bearer',
    query: [
      { name: 'username', schema: str, description: 'exact match: 0 or 1 entries' },
      { name: 'prefix', schema: { type: 'string', minLength: 3 }, description: 'usernames starting with it' },
      { name: 'limit', schema: int(1, 20), description: 'with prefix: at most this many (default 10)' },
    ],
    ok: { status: 200, schema: p.UsersSchema, description: 'matching users' },
    errors: [400],
  },
  {
    method: 'get',
    path: '/v1/users/{user_id}',
    tag: 'accounts',
    summary: 'A user',
    auth: 'bearer',
    ok: { status: 200, schema: p.UserViewSchema, description: 'the user' },
    errors: [404],
  },
  {
    method: 'get',
    path: '/v1/users/{user_id}/presence',
    tag: 'chats',
    summary: "A user's presence",
    auth: 'bearer',
    ok: { status: 200, schema: p.PresenceSchema, description: 'presence' },
    errors: [404],
  },
  {
    method: 'get',
    path: '/v1/devices',
    tag: 'accounts',
    summary: "The caller's live devices",
    auth: 'bearer',
    ok: { status: 200, schema: p.DevicesSchema, description: 'devices' },
  },
  {
    method: 'delete',
    path: '/v1/devices/{device_id}',
    tag: 'accounts',
    summary: "End one of the caller's sessions (its sockets close with 4100)",
    auth: 'bearer',
    ok: { status: 204, description: 'ended' },
    errors: [404],
  },
  {
    method: 'post',
    path: '/v1/ws-tickets',
    tag: 'socket',
    summary: 'A single-use socket ticket, valid 30 s, for GET /v1/ws?ticket=',
    auth: 'bearer',
    ok: { status: 201, schema: p.WsTicketSchema, description: 'the ticket' },
  },
  {
    method: 'get',
    path: '/v1/ws',
    tag: 'socket',
    summary: 'Upgrades to the WebSocket (frames: GET /v1/frames.schema.json); without Upgrade: 426',
    auth: 'bearer-or-ticket',
    query: [
      { name: 'ticket', schema: str, description: 'a ticket from POST /v1/ws-tickets (browsers)' },
      { name: 'access_token', schema: str, description: 'the bearer token (prefer the header or a ticket)' },
      { name: 'batch', schema: { type: 'string', enum: ['1'] }, description: 'frames may come as JSON arrays' },
    ],
    ok: { status: 101, description: 'Switching Protocols' },
    errors: [426],
  },
  // ---- people ----
  {
    method: 'get',
    path: '/v1/users/me/contacts',
    tag: 'people',
    summary: "The caller's contacts",
    auth: 'bearer',
    ok: { status: 200, schema: p.UsersSchema, description: 'contacts' },
  },
  {
    method: 'put',
    path: '/v1/users/me/contacts/{user_id}',
    tag: 'people',
    summary: 'Add a contact',
    auth: 'bearer',
    ok: { status: 204, description: 'added' },
    errors: [404],
  },
  {
    method: 'delete',
    path: '/v1/users/me/contacts/{user_id}',
    tag: 'people',
    summary: 'Remove a contact',
    auth: 'bearer',
    ok: { status: 204, description: 'removed' },
  },
  {
    method: 'get',
    path: '/v1/users/me/blocked',
    tag: 'people',
    summary: 'Users the caller blocked',
    auth: 'bearer',
    ok: { status: 200, schema: p.BlockedSchema, description: 'blocked user ids' },
  },
  {
    method: 'put',
    path: '/v1/users/me/blocked/{user_id}',
    tag: 'people',
    summary: 'Block a user',
    auth: 'bearer',
    ok: { status: 204, description: 'blocked' },
    errors: [404],
  },
  {
    method: 'delete',
    path: '/v1/users/me/blocked/{user_id}',
    tag: 'people',
    summary: 'Unblock a user',
    auth: 'bearer',
    ok: { status: 204, description: 'unblocked' },
  },
  {
    method: 'post',
    path: '/v1/reports',
    tag: 'people',
    summary: 'Report a user one shares a chat with, or a message one can see',
    auth: 'bearer',
    body: p.ReportBodyDoc,
    ok: { status: 201, schema: p.ReportCreatedSchema, description: 'the report' },
    errors: [400, 404],
  },
  // ---- end-to-end encryption (docs/e2ee.md) ----
  {
    method: 'post',
    path: '/v1/mls/key-packages',
    tag: 'e2ee',
    summary: "Upload the calling device's one-use key packages and/or its last-resort one",
    auth: 'bearer',
    body: p.UploadKeyPackagesBody,
    ok: { status: 201, schema: p.KeyPackageCountsSchema, description: 'the counts after the upload' },
    errors: [400, 413, 422],
  },
  {
    method: 'get',
    path: '/v1/mls/key-packages',
    tag: 'e2ee',
    summary: "The calling device's key package counts (to top up)",
    auth: 'bearer',
    ok: { status: 200, schema: p.KeyPackageCountsSchema, description: 'counts' },
  },
  {
    method: 'post',
    path: '/v1/mls/key-packages/claim',
    tag: 'e2ee',
    summary: 'One key package per live device of each named user (one-use ones are consumed)',
    auth: 'bearer',
    body: p.ClaimKeyPackagesBody,
    ok: { status: 200, schema: p.ClaimResultSchema, description: 'key packages, and devices that have none' },
    errors: [400],
  },
  {
    method: 'get',
    path: '/v1/mls/welcomes',
    tag: 'e2ee',
    summary: 'Welcomes stored for the calling device, not yet acknowledged',
    auth: 'bearer',
    ok: { status: 200, schema: p.MlsWelcomesSchema, description: 'welcomes, oldest first' },
  },
  {
    method: 'delete',
    path: '/v1/mls/welcomes/{welcome_id}',
    tag: 'e2ee',
    summary: 'Acknowledge (drop) a welcome',
    auth: 'bearer',
    ok: { status: 204, description: 'acknowledged' },
    errors: [404],
  },
  {
    method: 'get',
    path: '/v1/chats/{chat_id}/mls',
    tag: 'e2ee',
    summary: "A chat's encryption state: epoch, latest group info, member devices",
    auth: 'bearer',
    ok: { status: 200, schema: p.MlsChatStateSchema, description: 'the state' },
    errors: [403, 404],
  },
  {
    method: 'post',
    path: '/v1/chats/{chat_id}/mls/commits',
    tag: 'e2ee',
    summary: "An MLS commit for the chat's current epoch (one accepted per epoch), with the new group info and welcomes",
    auth: 'bearer',
    body: p.MlsCommitBody,
    ok: { status: 201, schema: p.MlsCommitAcceptedSchema, description: 'accepted: its seq and the new epoch' },
    errors: [400, 403, 404, 409, 413, 422],
  },
  // ---- chats ----
  {
    method: 'get',
    path: '/v1/chats',
    tag: 'chats',
    summary: "The caller's chats, pinned first, then most recent first",
    auth: 'bearer',
    query: [
      { name: 'limit', schema: int(1, 1000), description: 'page size (default 500)' },
      { name: 'cursor', schema: str, description: 'next_cursor of the previous page' },
    ],
    ok: { status: 200, schema: p.ChatsSchema, description: 'chats' },
    errors: [400],
  },
  {
    method: 'get',
    path: '/v1/chats/{chat_id}/messages',
    tag: 'chats',
    summary: 'History, ascending seq',
    auth: 'bearer',
    query: [
      { name: 'after', schema: int(0), description: 'pages forward from this seq' },
      { name: 'before', schema: int(0), description: 'the latest `limit` before this seq' },
      { name: 'limit', schema: int(1, p.HISTORY_LIMIT_MAX), description: `default ${p.HISTORY_LIMIT_DEFAULT}` },
    ],
    ok: { status: 200, schema: p.HistorySchema, description: 'messages' },
    errors: [400, 403],
  },
  {
    method: 'patch',
    path: '/v1/chats/{chat_id}/settings',
    tag: 'chats',
    summary: "The caller's settings of a chat (other devices get chat_settings)",
    auth: 'bearer',
    body: p.ChatSettingsBody,
    ok: { status: 200, schema: p.ChatSettingsViewSchema, description: 'the settings' },
    errors: [400, 403, 422],
  },
  {
    method: 'get',
    path: '/v1/messages/{message_id}/receipts',
    tag: 'chats',
    summary: 'Per recipient: delivered and read times',
    auth: 'bearer',
    ok: { status: 200, schema: p.ReceiptsSchema, description: 'receipts' },
    errors: [404],
  },
  {
    method: 'get',
    path: '/v1/search',
    tag: 'chats',
    summary: "Full-text search in the caller's chats",
    auth: 'bearer',
    query: [
      { name: 'q', schema: { type: 'string', maxLength: 1000 }, required: true },
      { name: 'chat_id', schema: str },
      { name: 'limit', schema: int(1), description: 'default 20, capped at 100' },
    ],
    ok: { status: 200, schema: p.MessagesSchema, description: 'messages, newest first' },
    errors: [400],
  },
  // ---- groups ----
  {
    method: 'post',
    path: '/v1/groups',
    tag: 'groups',
    summary: 'Create a group; the creator is its admin',
    auth: 'bearer',
    body: p.CreateGroupBody,
    ok: { status: 201, schema: p.GroupViewSchema, description: 'the group' },
    errors: [400, 404, 422, 429],
  },
  {
    method: 'get',
    path: '/v1/groups/{group_id}',
    tag: 'groups',
    summary: 'A group (404 for non-members)',
    auth: 'bearer',
    ok: { status: 200, schema: p.GroupViewSchema, description: 'the group' },
    errors: [404],
  },
  {
    method: 'patch',
    path: '/v1/groups/{group_id}',
    tag: 'groups',
    summary: 'Rename (admins only)',
    auth: 'bearer',
    body: p.RenameGroupBody,
    ok: { status: 200, schema: p.GroupViewSchema, description: 'the group' },
    errors: [400, 403, 404, 429],
  },
  {
    method: 'post',
    path: '/v1/groups/{group_id}/members',
    tag: 'groups',
    summary: 'Add members (admins only)',
    auth: 'bearer',
    body: p.AddMembersBody,
    ok: { status: 200, schema: p.GroupViewSchema, description: 'the group' },
    errors: [400, 403, 404, 422, 429],
  },
  {
    method: 'delete',
    path: '/v1/groups/{group_id}/members/{user_id}',
    tag: 'groups',
    summary: 'Remove a member (admins), or leave (oneself)',
    auth: 'bearer',
    ok: { status: 204, description: 'removed' },
    errors: [403, 404, 429],
  },
  // ---- media ----
  {
    method: 'post',
    path: '/v1/media',
    tag: 'media',
    summary: 'Start an upload: then send the bytes to upload_url',
    auth: 'bearer',
    body: p.CreateMediaBody,
    ok: { status: 201, schema: p.CreateMediaResponseSchema, description: 'where to upload' },
    errors: [400, 413, 429],
  },
  {
    method: 'get',
    path: '/v1/media/{media_id}',
    tag: 'media',
    summary: 'The bytes, or 302 to a short-lived URL serving them (Range honoured)',
    auth: 'bearer',
    ok: { status: 200, description: 'the bytes', contentType: '*/*' },
    errors: [404],
  },
  {
    method: 'head',
    path: '/v1/media/{media_id}',
    tag: 'media',
    summary: 'The headers of GET /v1/media/{media_id}',
    auth: 'bearer',
    ok: { status: 200, description: 'headers only' },
    errors: [404],
  },
  {
    method: 'get',
    path: '/v1/media/{media_id}/link',
    tag: 'media',
    summary: 'A short-lived URL serving the media without a token',
    auth: 'bearer',
    ok: { status: 200, schema: p.MediaLinkSchema, description: 'the link' },
    errors: [404],
  },
  {
    method: 'put',
    path: '/v1/media-upload/{key}',
    tag: 'media',
    summary: 'Embedded store: the signed upload URL (query: size, expires, sig); exactly `size` bytes',
    auth: 'none',
    rawBody: 'application/octet-stream',
    ok: { status: 201, description: 'stored' },
    errors: [400, 403, 409, 413],
  },
  {
    method: 'get',
    path: '/v1/media-files/{key}',
    tag: 'media',
    summary: 'Embedded store: a signed download URL (query: expires, sig)',
    auth: 'none',
    ok: { status: 200, description: 'the bytes', contentType: '*/*' },
    errors: [403, 404],
  },
  {
    method: 'head',
    path: '/v1/media-files/{key}',
    tag: 'media',
    summary: 'The headers of a signed download URL',
    auth: 'none',
    ok: { status: 200, description: 'headers only' },
    errors: [403, 404],
  },
  // ---- push ----
  {
    method: 'put',
    path: '/v1/devices/current/push',
    tag: 'push',
    summary: "Set the device's push target",
    auth: 'bearer',
    body: p.PushTargetBody,
    ok: { status: 204, description: 'set' },
    errors: [400],
  },
  {
    method: 'delete',
    path: '/v1/devices/current/push',
    tag: 'push',
    summary: "Remove the device's push target",
    auth: 'bearer',
    ok: { status: 204, description: 'removed' },
  },
  {
    method: 'get',
    path: '/v1/push/webpush',
    tag: 'push',
    summary: "The server's VAPID public key",
    auth: 'none',
    ok: { status: 200, schema: p.VapidKeySchema, description: 'the key' },
  },
  // ---- without WebSockets (PROTOCOL.md "Without WebSockets"; gateway/event-streams.ts) ----
  {
    method: 'get',
    path: '/v1/events',
    tag: 'socket',
    summary:
      'The socket over plain HTTP. Accept: text/event-stream streams Server-Sent Events (first {type:"stream", stream_id}, then every frame the socket would carry, one data: line each; a comment line at least every 15 s; the end is an `event: close` with {code, reason}). Accept: application/json long-polls: without stream_id it opens a stream and answers at once; with it, it answers as soon as there is a frame, or {frames:[]} after 25 s (`closed` once the stream ended). A stream not polled or connected for 60 s is closed.',
    auth: 'bearer-or-ticket',
    query: [{ name: 'stream_id', schema: str, description: 'long polling: the stream to read' }],
    ok: { status: 200, schema: p.EventsResponseSchema, description: 'frames (long polling), or an event stream' },
    errors: [400, 404, 406, 429, 503],
  },
  {
    method: 'post',
    path: '/v1/events/{stream_id}',
    tag: 'socket',
    summary: 'Client frames for a stream: one frame or an array of at most 100 (as on the socket); their answers come on the stream',
    auth: 'bearer-or-ticket',
    body: [z.object({ type: z.string() }).describe('a client frame'), z.array(z.object({ type: z.string() }))],
    ok: { status: 202, description: 'accepted' },
    errors: [404, 413],
  },
  // ---- operators (Authorization: Bearer ADMIN_TOKEN; every call 404 when ADMIN_TOKEN is unset) ----
  {
    method: 'get',
    path: '/v1/admin/users',
    tag: 'operators',
    summary: 'List users',
    auth: 'admin',
    query: [
      { name: 'prefix', schema: str },
      { name: 'after', schema: str, description: 'next_cursor of the previous page' },
      { name: 'limit', schema: int(1) },
    ],
    ok: { status: 200, schema: p.AdminUsersSchema, description: 'users' },
    errors: [400],
  },
  {
    method: 'post',
    path: '/v1/admin/users/{user_id}/suspend',
    tag: 'operators',
    summary: 'Suspend a user: sockets close with 4100, tokens stop working, logins answer 403 suspended',
    auth: 'admin',
    ok: { status: 204, description: 'suspended' },
  },
  {
    method: 'post',
    path: '/v1/admin/users/{user_id}/unsuspend',
    tag: 'operators',
    summary: 'Lift a suspension',
    auth: 'admin',
    ok: { status: 204, description: 'unsuspended' },
  },
  {
    method: 'delete',
    path: '/v1/admin/users/{user_id}',
    tag: 'operators',
    summary: 'Delete an account; its messages are erased as by delete for everyone',
    auth: 'admin',
    ok: { status: 204, description: 'deleted' },
  },
  {
    method: 'delete',
    path: '/v1/admin/messages/{message_id}',
    tag: 'operators',
    summary: 'Erase a message as by delete for everyone',
    auth: 'admin',
    ok: { status: 204, description: 'erased' },
  },
  {
    method: 'get',
    path: '/v1/admin/reports',
    tag: 'operators',
    summary: 'Reports, oldest first',
    auth: 'admin',
    query: [
      { name: 'after', schema: str },
      { name: 'limit', schema: int(1) },
    ],
    ok: { status: 200, schema: p.ReportsSchema, description: 'reports' },
    errors: [400],
  },
  {
    method: 'post',
    path: '/v1/admin/bots',
    tag: 'operators',
    summary: 'Create a bot user and a token that does not expire',
    auth: 'admin',
    body: p.CreateBotBodyDoc,
    ok: { status: 201, schema: p.BotCreatedSchema, description: 'the bot' },
    errors: [400, 409],
  },
  {
    method: 'post',
    path: '/v1/admin/bots/{user_id}/token',
    tag: 'operators',
    summary: "A new token for a bot (after a suspension, or to replace a leaked one); the bot's old token stops working",
    auth: 'admin',
    ok: { status: 201, schema: p.BotCreatedSchema, description: 'the bot and its new token' },
    errors: [403, 404],
  },
  // ---- webhooks ----
  {
    method: 'post',
    path: '/v1/admin/webhooks',
    tag: 'webhooks',
    summary: 'Register a webhook (all events unless `events` names some); the secret is shown once',
    auth: 'admin',
    body: p.CreateWebhookBodyDoc,
    ok: { status: 201, schema: p.WebhookCreatedSchema, description: 'the webhook' },
    errors: [400],
  },
  {
    method: 'get',
    path: '/v1/admin/webhooks',
    tag: 'webhooks',
    summary: 'Registered webhooks (no secrets)',
    auth: 'admin',
    ok: { status: 200, schema: p.WebhooksSchema, description: 'webhooks' },
  },
  {
    method: 'delete',
    path: '/v1/admin/webhooks/{webhook_id}',
    tag: 'webhooks',
    summary: 'Remove a webhook',
    auth: 'admin',
    ok: { status: 204, description: 'removed' },
  },
];

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized (or invalid_credentials for a login)',
  403: 'forbidden, not_a_member or suspended',
  404: 'not_found',
  406: 'invalid_request: an Accept the call does not serve',
  409: 'username_taken (or already done)',
  413: 'too_large',
  422: 'group_too_large, too_many_pinned',
  426: 'an upgrade is needed',
  429: 'rate_limited, with retry_after_ms and a Retry-After header',
  503: 'draining',
};

/** A zod schema as a JSON Schema (2020-12, the dialect of OpenAPI 3.1), describing what a client may send. */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _s, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}

const errorRef = { $ref: '#/components/schemas/Error' };
const json = (schema: Record<string, unknown>) => ({ 'application/json': { schema } });

function operation(op: Op): Record<string, unknown> {
  const params = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: str }));
  const query = (op.query ?? []).map((q) => ({
    name: q.name,
    in: 'query',
    required: q.required ?? false,
    schema: q.schema,
    ...(q.description ? { description: q.description } : {}),
  }));
  const responses: Record<string, unknown> = {};
  const ok: Record<string, unknown> = { description: op.ok.description };
  if (op.ok.schema) ok.content = json(jsonSchemaOf(op.ok.schema));
  else if (op.ok.contentType) ok.content = { [op.ok.contentType]: { schema: {} } };
  responses[String(op.ok.status)] = ok;
  const errors = new Set(op.errors ?? []);
  if (op.auth !== 'none') errors.add(401);
  if (op.auth === 'admin') errors.add(404);
  if (op.auth === 'bearer' || op.auth === 'bearer-or-ticket') errors.add(429);
  for (const status of [...errors].sort()) {
    responses[String(status)] = { description: ERROR_TEXT[status] ?? 'error', content: json(errorRef) };
  }
  const out: Record<string, unknown> = {
    tags: [op.tag],
    summary: op.summary,
    operationId: `${op.method}${op.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
    parameters: [...params, ...query],
    responses,
  };
  if (op.auth === 'none') out.security = [];
  else if (op.auth === 'admin') out.security = [{ adminBearer: [] }];
  else if (op.auth === 'bearer-or-ticket') out.security = [{ bearer: [] }, { ticket: [] }];
  else out.security = [{ bearer: [] }];
  if (op.body) {
    const bodies = Array.isArray(op.body) ? op.body : [op.body];
    const schema = bodies.length === 1 ? jsonSchemaOf(bodies[0]!) : { oneOf: bodies.map(jsonSchemaOf) };
    out.requestBody = { required: true, content: json(schema) };
  } else if (op.rawBody) {
    out.requestBody = { required: true, content: { [op.rawBody]: { schema: { type: 'string', contentMediaType: op.rawBody } } } };
  }
  return out;
}

/** The OpenAPI 3.1 document. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPS) (paths[op.path] ??= {})[op.method] = operation(op);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Switchboard',
      version: '1',
      description:
        'The HTTP API of a Switchboard server (wire protocol version 1). Messages travel over the WebSocket at GET /v1/ws; its frames are described by GET /v1/frames.schema.json. Every error body is {error, message?}; clients switch on `error`.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    tags: ['accounts', 'people', 'chats', 'groups', 'e2ee', 'media', 'push', 'socket', 'operators', 'webhooks', 'operations'].map(
      (name) => ({
        name,
      }),
    ),
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: { Error: jsonSchemaOf(p.ErrorBodySchema) },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'the token from POST /v1/sessions' },
        adminBearer: { type: 'http', scheme: 'bearer', description: "the server's ADMIN_TOKEN (calls under /v1/admin/)" },
        ticket: { type: 'apiKey', in: 'query', name: 'ticket', description: 'a single-use ticket from POST /v1/ws-tickets' },
      },
    },
  };
}

/** The socket frames as JSON Schema: $defs "client.TYPE" (from the schemas that parse them) and "server.TYPE". */
export function framesSchema(): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  for (const [type, schema] of Object.entries(p.clientFrameSchemas)) defs[`client.${type}`] = jsonSchemaOf(schema as z.ZodType);
  for (const [type, schema] of Object.entries(p.serverFrameSchemas)) defs[`server.${type}`] = jsonSchemaOf(schema);
  const refs = (side: string) =>
    Object.keys(defs)
      .filter((k) => k.startsWith(`${side}.`))
      .map((k) => ({ $ref: `#/$defs/${k}` }));
  defs.ClientFrame = { oneOf: refs('client') };
  defs.ServerFrame = { oneOf: refs('server') };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Switchboard socket frames (protocol version 1)',
    description:
      'Each WebSocket text message is one frame (a JSON object with a `type`), or with ?batch=1 a JSON array of them. ClientFrame: what a client sends; ServerFrame: what the server sends.',
    anyOf: [{ $ref: '#/$defs/ClientFrame' }, { $ref: '#/$defs/ServerFrame' }],
    $defs: defs,
  };
}

/** The method and path of every described operation (for the test that compares them with the router's). */
export function describedRoutes(): { method: string; path: string }[] {
  return OPS.map((o) => ({ method: o.method.toUpperCase(), path: o.path }));
}

/** GET /v1/openapi.json and GET /v1/frames.schema.json, built once, on first request. */
export function apiDescriptionRoutes(router: Router): void {
  let doc: string | undefined;
  let frames: string | undefined;
  const send = (res: Parameters<Parameters<Router['on']>[2]>[1], text: string): void => {
    res
      .writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        'access-control-allow-origin': '*',
      })
      .end(text);
  };
  router
    .on('GET', '/v1/openapi.json', async (_req, res) => send(res, (doc ??= JSON.stringify(openApiDocument()))))
    .on('GET', '/v1/frames.schema.json', async (_req, res) => send(res, (frames ??= JSON.stringify(framesSchema()))));
}
