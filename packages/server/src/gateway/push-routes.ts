import type { IncomingMessage } from 'node:http';
import { PushTargetBody } from '@switchboard/protocol';
import type { DeviceRecord } from '../engines/store/store.js';
import type { PushRegistration } from '../push/registration.js';
import { readBody, sendJson, type Router } from './http-util.js';

/** PROTOCOL.md "Push notifications": register and remove this device's target; the VAPID key. */
export function pushRoutes(router: Router, auth: (req: IncomingMessage) => Promise<DeviceRecord>, push: PushRegistration): void {
  router
    .on('PUT', '/v1/devices/current/push', async (req, res) => {
      const device = await auth(req);
      await push.register(device, await readBody(req, PushTargetBody));
      sendJson(res, 204);
    })
    .on('DELETE', '/v1/devices/current/push', async (req, res) => {
      await push.unregister(await auth(req));
      sendJson(res, 204);
    })
    .on('GET', '/v1/push/webpush', async (_req, res) => sendJson(res, 200, { vapid_public_key: push.vapidPublicKey }));
}
