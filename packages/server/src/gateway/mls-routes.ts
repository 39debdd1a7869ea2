import type { IncomingMessage } from 'node:http';
import { ClaimKeyPackagesBody, MLS_BODY_BYTES, MlsCommitBody, UploadKeyPackagesBody, type MlsCommitInput } from '@switchboard/protocol';
import type { E2ee } from '../core/e2ee.js';
import type { Limits } from '../core/limits.js';
import type { DeviceRecord } from '../engines/store/store.js';
import { readBody, sendJson, type Router } from './http-util.js';

export interface MlsRoutesDeps {
  e2ee: E2ee;
  /** The Delivery Service's buckets (docs/e2ee.md "Limits"): claims, key package uploads, commits and their bytes. */
  limits: Limits;
  auth: (req: IncomingMessage) => Promise<DeviceRecord>;
}

const sender = (d: DeviceRecord) => ({ userId: d.userId, deviceId: d.id });

/** What a commit makes the server store: the commit, the group info and every welcome (base64 characters). */
const handshakeChars = (b: MlsCommitInput) =>
  b.commit.length + b.group_info.length + (b.welcomes ?? []).reduce((n, w) => n + w.welcome.length, 0);

/** The MLS Delivery Service's calls (docs/e2ee.md): key packages, chat state, commits, welcomes. */
export function mlsRoutes(router: Router, { e2ee, limits, auth }: MlsRoutesDeps): void {
  router
    .on('POST', '/v1/mls/key-packages', async (req, res) => {
      const device = await auth(req);
      // Counted per request, so before the body (up to 16 MiB) is read.
      await limits.mlsKeyPackageUpload(device.userId);
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
      await limits.mlsClaim(device.userId, body.user_ids);
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
      await limits.mlsCommitStart(device.userId);
      const body = await readBody(req, MlsCommitBody, MLS_BODY_BYTES);
      await limits.mlsCommit(device.userId, handshakeChars(body));
      sendJson(res, 201, await e2ee.commit(sender(device), chatId!, body));
    });
}
