import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  AddMembersBody,
  AssertionSessionBody,
  ChatSettingsBody,
  CloseCode,
  CreateGroupBody,
  CreateSessionBody,
  CreateUserBody,
  HISTORY_LIMIT_MAX,
  isStorableText,
  RenameGroupBody,
  UNSTORABLE_TEXT_MESSAGE,
} from '@switchboard/protocol';
import { userView, type Accounts } from '../core/accounts.js';
import { CHATS_PAGE_MAX, type Chats } from '../core/chats.js';
import type { ChatSettings } from '../core/chat-settings.js';
import type { Delivery } from '../core/delivery.js';
import { ApiError, DomainError } from '../core/errors.js';
import { httpStatusOf, unexpectedError } from './error-map.js';
import type { Groups } from '../core/groups.js';
import type { Limits } from '../core/limits.js';
import type { Presence } from '../core/presence.js';
import type { Search } from '../core/search.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import { clientAddress, forwardedHttps } from './client-address.js';
import { deviceRoutes } from './devices-api.js';
import { metricsAuthorized } from './ops-listeners.js';
import { Router, intParam, readBody, sendJson, validBody } from './http-util.js';
import type { ExternalAuth } from '../core/external-auth.js';
import { z } from 'zod';
import type { PushRegistration } from '../push/registration.js';
import { pushRoutes } from './push-routes.js';
import { peopleRoutes, searchUsers } from './people-routes.js';
import type { People } from '../core/people.js';
import { requestAuthenticator } from './request-auth.js';
import type { WsTickets } from '../core/ws-tickets.js';
import { socketDevice } from './socket-auth.js';
import { wsTicketRoutes } from './ws-ticket-routes.js';
import { adminRoutes } from './admin-routes.js';
import type { Operators } from '../core/operators.js';
import { reportRoutes } from './report-routes.js';
import type { Reports } from '../core/reports.js';
import { webhookRoutes, type WebhookRouteDeps } from './webhook-routes.js';
import { mlsRoutes } from './mls-routes.js';
import type { E2ee } from '../core/e2ee.js';

export interface HttpApiDeps {
  accounts: Accounts;
  chats: Chats;
  chatSettings: ChatSettings;
  delivery: Delivery;
  presence: Presence;
  groups: Groups;
  search: Search;
  limits: Limits;
  /** Socket tickets: POST /v1/ws-tickets, and GET /v1/ws?ticket= answered like the upgrade. */
  tickets: WsTickets;
  /** TRUST_PROXY: client addresses come from X-Forwarded-For. */
  trustProxy: boolean;
  metrics: Metrics;
  log: Logger;
  publicWsUrl?: string;
  /** The ws URL of the least-loaded live node, or null to use this node's. */
  pickWsUrl: () => Promise<string | null>;
  isReady: () => boolean;
  /** Push target registration (push-routes.ts); absent: no push routes. */
  push?: PushRegistration;
  /** Profiles, prefix search, contacts and blocks (people-routes.ts). */
  people?: { people: People; limits: Limits };
  /** Opens GET /metrics here (bearer); unset: 404, as if the endpoint did not exist. */
  metricsToken?: string;
  /** The operator's API (admin-routes.ts), opened by ADMIN_TOKEN. */
  operators?: Operators;
  adminToken?: string;
  /** POST /v1/reports (report-routes.ts). */
  reports?: Reports;
  /** AUTH_JWT_SECRET / AUTH_JWKS_URL: POST /v1/sessions also takes an assertion; unset: every assertion is refused. */
  externalAuth?: ExternalAuth;
  /** PASSWORD_LOGIN=off: POST /v1/users and password logins answer 403 forbidden. Default true. */
  passwordLogin?: boolean;
  /** The admin webhook calls (webhook-routes.ts). */
  webhooks?: WebhookRouteDeps;
  /** The MLS Delivery Service (mls-routes.ts, docs/e2ee.md). */
  e2ee?: E2ee;
}

const PASSWORD_LOGIN_OFF = 'username/password sign-in is off on this server: sign in from the app (assertion)';

/** The most results one search answers (larger limits are capped to it). */
const SEARCH_LIMIT_MAX = 100;

/**
 * A text query parameter (null when absent). Like body strings it must be storable text:
 * a NUL (%00) is refused with 400 rather than reaching a store that cannot hold it.
 * (URLSearchParams already decodes broken UTF-8 escapes to U+FFFD, so no lone surrogate gets here.)
 */
function textParam(url: URL, name: string): string | null {
  const v = url.searchParams.get(name);
  if (v !== null && !isStorableText(v)) throw new ApiError(400, 'invalid_request', `${name}: ${UNSTORABLE_TEXT_MESSAGE}`);
  return v;
}

/** The REST side of the gateway (PROTOCOL.md "Accounts and sessions", "Chats"), plus ops endpoints. */
export function createHttpApi(deps: HttpApiDeps) {
  const { accounts, chats, presence, groups, search, limits } = deps;
  const router = new Router();

  const auth = requestAuthenticator(accounts, limits);

  const wsUrlFor = async (req: IncomingMessage): Promise<string> => {
    const picked = await deps.pickWsUrl().catch(() => null);
    if (picked) return picked;
    if (deps.publicWsUrl) return deps.publicWsUrl;
    const proto = forwardedHttps(req, deps.trustProxy) ? 'wss' : 'ws';
    return `${proto}://${req.headers.host ?? 'localhost'}/v1/ws`;
  };

  router
    .on('GET', '/healthz', async (_req, res) => sendJson(res, 200, { status: 'ok' }))
    .on('GET', '/readyz', async (_req, res) => sendJson(res, deps.isReady() ? 200 : 503, { ready: deps.isReady() }))
    .on('GET', '/metrics', async (req, res) => {
      if (!metricsAuthorized(req, deps.metricsToken)) throw new ApiError(404, 'not_found', 'no such endpoint');
      const text = await deps.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType }).end(text);
    })
    .on('GET', '/v1/ws', async (req, res) => {
      // A plain GET (no Upgrade) of the socket's path: the same 401 as the upgrade for a bad
      // token or ticket, and for a good one 426, naming the upgrade it needs (RFC 9110 15.5.22).
      if (!(await socketDevice(req, accounts, deps.tickets))) {
        throw new ApiError(401, 'unauthorized', 'a valid bearer token or socket ticket is required');
      }
      res.setHeader('upgrade', 'websocket');
      sendJson(res, 426, { error: 'invalid_request', message: 'GET /v1/ws upgrades to a WebSocket: send Upgrade: websocket' });
    })
    .on('POST', '/v1/users', async (req, res) => {
      if (deps.passwordLogin === false) throw new ApiError(403, 'forbidden', PASSWORD_LOGIN_OFF);
      const body = await readBody(req, CreateUserBody);
      await limits.register(clientAddress(req, deps.trustProxy));
      sendJson(res, 201, userView(await accounts.register(body)));
    })
    .on('POST', '/v1/sessions', async (req, res) => {
      const raw = await readBody(req, z.unknown());
      const address = clientAddress(req, deps.trustProxy);
      let session: Awaited<ReturnType<Accounts['login']>>;
      if (typeof raw === 'object' && raw !== null && 'assertion' in raw) {
        // Signing in from the host app (PROTOCOL.md): a token it signed instead of a password.
        const body = validBody(raw, AssertionSessionBody);
        const external = deps.externalAuth;
        session = await limits.assertionLogin(address, async () => {
          if (!external)
            throw new DomainError('invalid_credentials', 'this server takes no assertions (AUTH_JWT_SECRET / AUTH_JWKS_URL unset)');
          return accounts.loginExternal(await external.verify(body.assertion), body.device_name);
        });
      } else {
        const body = validBody(raw, CreateSessionBody);
        if (deps.passwordLogin === false) throw new ApiError(403, 'forbidden', PASSWORD_LOGIN_OFF);
        session = await limits.login(address, body.username, () => accounts.login(body));
      }
      const { token, user, device, revoked } = session;
      // Sessions this login ended (past MAX_DEVICES_PER_USER, or idle): their sockets close as on DELETE /v1/devices.
      for (const id of revoked) {
        await deps.delivery
          .closeDevice(user.id, id, CloseCode.sessionRevoked, 'session ended: too many devices')
          .catch((err) => deps.log.warn({ err, device_id: id }, 'closing an ended session failed'));
      }
      sendJson(res, 201, { token, user_id: user.id, device_id: device.id, ws_url: await wsUrlFor(req) });
    })
    .on('GET', '/v1/sessions/current', async (req, res) => {
      // Lets a client with a token ask where to connect now (its node may have gone).
      const device = await auth(req);
      sendJson(res, 200, { user_id: device.userId, device_id: device.id, ws_url: await wsUrlFor(req) });
    })
    .on('DELETE', '/v1/sessions/current', async (req, res) => {
      const device = await auth(req);
      await accounts.logout(device);
      await deps.delivery.closeDevice(device.userId, device.id, CloseCode.sessionRevoked, 'logged out');
      sendJson(res, 204);
    })
    .on('GET', '/v1/users/me', async (req, res) => {
      const device = await auth(req);
      const user = await accounts.user(device.userId);
      if (!user) throw new ApiError(404, 'not_found');
      sendJson(res, 200, userView(user));
    })
    .on('GET', '/v1/users', async (req, res, _p, url) => {
      const device = await auth(req);
      const prefix = url.searchParams.get('prefix');
      if (prefix !== null && deps.people) return sendJson(res, 200, await searchUsers({ ...deps.people, auth }, device, prefix, url));
      const username = textParam(url, 'username');
      if (!username) throw new ApiError(400, 'invalid_request', 'username is required');
      const user = await accounts.userByUsername(username);
      sendJson(res, 200, { users: user ? [userView(user)] : [] });
    })
    .on('GET', '/v1/users/:id/presence', async (req, res, [id]) => {
      const device = await auth(req);
      if (!(await accounts.user(id!))) throw new ApiError(404, 'not_found');
      if (!(await presence.mayWatch(device.userId, id!))) {
        sendJson(res, 200, { user_id: id, online: false, last_seen: null });
        return;
      }
      const { type: _t, ...view } = await presence.frameFor(id!);
      sendJson(res, 200, view);
    })
    .on('GET', '/v1/users/:id', async (req, res, [id]) => {
      await auth(req);
      const user = await accounts.user(id!);
      if (!user) throw new ApiError(404, 'not_found');
      sendJson(res, 200, userView(user));
    })
    .on('GET', '/v1/chats', async (req, res, _p, url) => {
      const device = await auth(req);
      const limit = intParam(url, 'limit', { min: 1, max: CHATS_PAGE_MAX });
      const cursor = textParam(url, 'cursor') || undefined;
      sendJson(res, 200, await chats.list(device.userId, { limit, cursor }));
    })
    .on('GET', '/v1/chats/:id/messages', async (req, res, [chatId], url) => {
      const device = await auth(req);
      const max = Number.MAX_SAFE_INTEGER;
      const q = {
        after: intParam(url, 'after', { min: 0, max }),
        before: intParam(url, 'before', { min: 0, max }),
        limit: intParam(url, 'limit', { min: 1, max: HISTORY_LIMIT_MAX }),
      };
      sendJson(res, 200, await chats.history(device.userId, chatId!, q));
    })
    .on('PATCH', '/v1/chats/:id/settings', async (req, res, [chatId]) => {
      const device = await auth(req);
      const body = await readBody(req, ChatSettingsBody);
      sendJson(res, 200, await deps.chatSettings.update(device.userId, device.id, chatId!, body));
    })
    .on('GET', '/v1/messages/:id/receipts', async (req, res, [id]) => {
      const device = await auth(req);
      sendJson(res, 200, await chats.receipts(device.userId, id!));
    })
    .on('POST', '/v1/groups', async (req, res) => {
      const device = await auth(req);
      const body = await readBody(req, CreateGroupBody);
      await limits.groupCreation(device.userId);
      sendJson(res, 201, await groups.create(device.userId, body));
    })
    .on('GET', '/v1/groups/:id', async (req, res, [id]) => {
      const device = await auth(req);
      sendJson(res, 200, await groups.get(device.userId, id!));
    })
    .on('PATCH', '/v1/groups/:id', async (req, res, [id]) => {
      const device = await auth(req);
      const body = await readBody(req, RenameGroupBody);
      await limits.membershipChange(device.userId);
      sendJson(res, 200, await groups.rename(device.userId, id!, body.name));
    })
    .on('POST', '/v1/groups/:id/members', async (req, res, [id]) => {
      const device = await auth(req);
      const body = await readBody(req, AddMembersBody);
      await limits.membershipChange(device.userId);
      sendJson(res, 200, await groups.addMembers(device.userId, id!, body.user_ids));
    })
    .on('DELETE', '/v1/groups/:id/members/:user', async (req, res, [id, userId]) => {
      const device = await auth(req);
      await limits.membershipChange(device.userId);
      await groups.removeMember(device.userId, id!, userId!);
      sendJson(res, 204);
    })
    .on('GET', '/v1/search', async (req, res, _p, url) => {
      const device = await auth(req);
      const text = textParam(url, 'q') ?? '';
      if (text.length > 1000) throw new ApiError(400, 'invalid_request', 'q is over 1000 characters');
      const chatId = textParam(url, 'chat_id') || undefined;
      // PROTOCOL.md gives search no maximum: a larger limit is capped at 100, not refused.
      const limit = Math.min(SEARCH_LIMIT_MAX, intParam(url, 'limit', { min: 1, max: Number.MAX_SAFE_INTEGER, def: 20 })!);
      sendJson(res, 200, { messages: await search.search(device.userId, { text, chatId, limit }) });
    });
  if (deps.push) pushRoutes(router, auth, deps.push);

  deviceRoutes(router, { accounts, delivery: deps.delivery, auth });
  wsTicketRoutes(router, auth, deps.tickets);
  if (deps.operators) adminRoutes(router, { operators: deps.operators, adminToken: deps.adminToken });
  if (deps.reports) reportRoutes(router, { reports: deps.reports, auth });
  if (deps.people) peopleRoutes(router, { ...deps.people, auth });
  if (deps.webhooks) webhookRoutes(router, deps.webhooks);
  if (deps.e2ee) mlsRoutes(router, { e2ee: deps.e2ee, limits, auth });

  return {
    router,
    async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      try {
        const url = new URL(req.url ?? '/', 'http://localhost');
        const found = router.match(req.method ?? 'GET', url.pathname);
        if (found === null) throw new ApiError(404, 'not_found', 'no such endpoint');
        if (found === 'method') throw new ApiError(405, 'invalid_request', 'method not allowed');
        // Path ids are looked up in the store: %00 in one is refused like a NUL in a body.
        if (!found.params.every(isStorableText)) throw new ApiError(400, 'invalid_request', `path: ${UNSTORABLE_TEXT_MESSAGE}`);
        await found.handler(req, res, found.params, url);
      } catch (err) {
        if (res.headersSent) return;
        if (err instanceof DomainError) {
          // Every limit (PROTOCOL.md "Limits"): the body's retry_after_ms, and Retry-After in whole seconds.
          const retry = err.code === 'rate_limited' ? err.extra?.retry_after_ms : undefined;
          if (typeof retry === 'number') res.setHeader('retry-after', String(Math.max(1, Math.ceil(retry / 1000))));
          sendJson(res, httpStatusOf(err), { error: err.code, message: err.message, ...err.extra });
        } else if (err instanceof URIError) {
          sendJson(res, 400, { error: 'invalid_request', message: 'malformed URL' });
        } else {
          // The path only: a signed media URL's query is a credential.
          deps.log.error({ err, path: (req.url ?? '').split('?')[0] }, 'request failed');
          const { message, extra } = unexpectedError(err);
          if (extra) res.setHeader('retry-after', String(Math.ceil(Number(extra.retry_after_ms) / 1000)));
          sendJson(res, extra ? 503 : 500, { error: 'internal', message, ...extra });
        }
      }
    },
  };
}
