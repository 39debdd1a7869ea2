import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ApiError } from '../core/errors.js';
import type { WebhookDispatcher } from '../core/webhook-dispatcher.js';
import { WEBHOOK_EVENTS, type WebhookRecord, type WebhookStore } from '../engines/store/webhook-outbox.js';
import { requireAdmin } from './admin-auth.js';
import { readBody, sendJson, type Router } from './http-util.js';

export interface WebhookRouteDeps {
  store: WebhookStore;
  dispatcher: WebhookDispatcher;
  adminToken: string | undefined;
  now: () => number;
}

const MAX_URL_LENGTH = 2048;
/** The operator's choice (PROTOCOL.md "Webhooks"): any host, loopback included, but only http and https. */
const WebhookUrl = z
  .string()
  .max(MAX_URL_LENGTH)
  .refine((u) => {
    try {
      const url = new URL(u);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'url must be an http or https URL');

const CreateWebhookBody = z
  .object({
    url: WebhookUrl,
    events: z
      .array(z.enum(WEBHOOK_EVENTS))
      .min(1, 'events names at least one event (leave it out for all)')
      .max(WEBHOOK_EVENTS.length)
      .optional(),
  })
  .strict();

const view = (h: WebhookRecord) => ({ webhook_id: h.id, url: h.url, events: h.events, created_at: h.createdAt });

/** PROTOCOL.md "Operators": the webhook rows. */
export function webhookRoutes(router: Router, deps: WebhookRouteDeps): void {
  router
    .on('POST', '/v1/admin/webhooks', async (req, res) => {
      requireAdmin(req, deps.adminToken);
      const body = await readBody(req, CreateWebhookBody);
      const hook: WebhookRecord = {
        id: `wh_${randomBytes(12).toString('hex')}`,
        url: body.url,
        events: body.events ? WEBHOOK_EVENTS.filter((e) => body.events!.includes(e)) : [...WEBHOOK_EVENTS],
        // Shown once, here: the list leaves it out.
        secret: `whsec_${randomBytes(32).toString('hex')}`,
        createdAt: deps.now(),
      };
      await deps.store.create(hook);
      await deps.dispatcher.changed();
      sendJson(res, 201, { ...view(hook), secret: hook.secret });
    })
    .on('GET', '/v1/admin/webhooks', async (req, res) => {
      requireAdmin(req, deps.adminToken);
      sendJson(res, 200, { webhooks: (await deps.store.list()).map(view) });
    })
    .on('DELETE', '/v1/admin/webhooks/:id', async (req, res, [id]) => {
      requireAdmin(req, deps.adminToken);
      if (!(await deps.store.remove(id!))) throw new ApiError(404, 'not_found', 'no such webhook');
      await deps.dispatcher.changed();
      sendJson(res, 204);
    });
}
