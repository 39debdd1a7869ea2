import type { IncomingMessage } from 'node:http';
import { ClaimKeyPackagesBody, MLS_BODY_BYTES, MlsCommitBody, UploadKeyPackagesBody } from '@switchboard/protocol';
import type { E2ee } from '../core/e2ee.js';
import type { DeviceRecord } from '../engines/store/store.js';
import { readBody, sendJson, type Router } from './http-util.js';

export interface MlsRoutesDeps {
  e2ee: E2ee;
  auth: (req: IncomingMessage) => Promise<DeviceRecord>;
}

const sender = (d: DeviceRecord) => ({ userId: d.userId, deviceId: d.id });

/** The MLS Delivery Service's calls (docs/e2ee.md): key packages, chat state, commits, welcomes. */
export function mlsRoutes(router: Router, { e2ee, auth }: MlsRoutesDeps): void {
  router
    .on('POST', '/v1/mls/key-packages', async (req, res) => {
      const device = await auth(req);
      const body = await readBody(req, UploadKeyPackagesBody, MLS_BODY_BYTES);
      sendJson(res, 201, await e2ee.uploadKeyPackages(sender(device), body));
    })
    .on('GET', '/v1/mls/key-packages', async (req, res) => {
      const device = await auth(req);
      sendJson(res, 200, await e2ee.keyPackageCounts(sender(device)));
    })
    .on('POST', '/v1/mls/key-packages/claim', async (req, res) => {
      const device = await auth(req);
      const body = await readBody(req, ClaimKeyPackagesBody);
      sendJson(res, 200, await e2ee.claim(sender(device), body.user_ids));
    })
    .on('GET', '/v1/mls/welcomes', async (req, res) => {
      const device = await auth(req);
      sendJson(res, 200, { welcomes: await e2ee.welcomes(sender(device)) });
    })
    .on('DELETE', '/v1/mls/welcomes/:id', async (req, res, [id]) => {
      const device = await auth(req);
      await e2ee.ackWelcome(sender(device), id!);
      sendJson(res, 204);
    })
    .on('GET', '/v1/chats/:id/mls', async (req, res, [chatId]) => {
      const device = await auth(req);
      sendJson(res, 200, await e2ee.chatState(device.userId, chatId!));
    })
    .on('POST', '/v1/chats/:id/mls/commits', async (req, res, [chatId]) => {
      const device = await auth(req);
      const body = await readBody(req, MlsCommitBody, MLS_BODY_BYTES);
      sendJson(res, 201, await e2ee.commit(sender(device), chatId!, body));
    });
}
