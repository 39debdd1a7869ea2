import type { IncomingMessage } from 'node:http';
import { ADMIN_PAGE_DEFAULT, ADMIN_PAGE_MAX, CreateBotBody, isStorableText, UNSTORABLE_TEXT_MESSAGE } from '@switchboard/protocol';
import { ApiError } from '../core/errors.js';
import type { Operators } from '../core/operators.js';
import { requireAdmin } from './admin-auth.js';
import { intParam, readBody, sendJson, type Router } from './http-util.js';

/** A text query parameter of an admin call ('' when absent), storable and at most `max` characters. */
function adminText(url: URL, name: string, max: number): string {
  const v = url.searchParams.get(name) ?? '';
  if (!isStorableText(v)) throw new ApiError(400, 'invalid_request', `${name}: ${UNSTORABLE_TEXT_MESSAGE}`);
  if (v.length > max) throw new ApiError(400, 'invalid_request', `${name} is over ${max} characters`);
  return v;
}

/**
 * The operator's API under /v1/admin/ (PROTOCOL.md "Operators"; webhooks live elsewhere).
 * Every call checks ADMIN_TOKEN first (admin-auth.ts): unset, the API does not exist (404).
 */
export function adminRoutes(router: Router, deps: { operators: Operators; adminToken: string | undefined }): void {
  const { operators } = deps;
  const admin = (req: IncomingMessage): void => requireAdmin(req, deps.adminToken);
  const page = (url: URL): number => intParam(url, 'limit', { min: 1, max: ADMIN_PAGE_MAX, def: ADMIN_PAGE_DEFAULT })!;
  router
    .on('GET', '/v1/admin/users', async (req, res, _p, url) => {
      admin(req);
      const prefix = adminText(url, 'prefix', 64);
      const after = adminText(url, 'after', 512) || undefined;
      sendJson(res, 200, await operators.users({ prefix, after, limit: page(url) }));
    })
    .on('POST', '/v1/admin/users/:id/suspend', async (req, res, [id]) => {
      admin(req);
      await operators.suspend(id!);
      sendJson(res, 204);
    })
    .on('POST', '/v1/admin/users/:id/unsuspend', async (req, res, [id]) => {
      admin(req);
      await operators.unsuspend(id!);
      sendJson(res, 204);
    })
    .on('DELETE', '/v1/admin/users/:id', async (req, res, [id]) => {
      admin(req);
      await operators.deleteUser(id!);
      sendJson(res, 204);
    })
    .on('DELETE', '/v1/admin/messages/:id', async (req, res, [id]) => {
      admin(req);
      await operators.deleteMessage(id!);
      sendJson(res, 204);
    })
    .on('GET', '/v1/admin/reports', async (req, res, _p, url) => {
      admin(req);
      const after = adminText(url, 'after', 512) || undefined;
      sendJson(res, 200, await operators.reports({ after, limit: page(url) }));
    })
    .on('POST', '/v1/admin/bots', async (req, res) => {
      admin(req);
      const body = await readBody(req, CreateBotBody);
      sendJson(res, 201, await operators.createBot(body));
    })
    .on('POST', '/v1/admin/bots/:id/token', async (req, res, [id]) => {
      admin(req);
      sendJson(res, 201, await operators.newBotToken(id!));
    });
}
