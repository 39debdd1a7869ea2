import type { IncomingMessage } from 'node:http';
import { CreateMediaBody } from '@switchboard/protocol';
import type { Accounts } from '../core/accounts.js';
import { ApiError } from '../core/errors.js';
import type { Media } from '../core/media.js';
import { serveBytes } from '../engines/media-store/http-bytes.js';
import { LOCAL_FILES_PATH, LOCAL_UPLOAD_PATH } from '../engines/media-store/media-store.js';
import type { Limits } from '../core/limits.js';
import { readBody, sendJson, type Router } from './http-util.js';
import { requestAuthenticator } from './request-auth.js';
import { forwardedHttps } from './client-address.js';

/*
 * The media endpoints (PROTOCOL.md "Media"): POST /v1/media, GET /v1/media/{id}, plus
 * GET /v1/media/{id}/link (a short-lived URL, for clients that cannot send a token) and,
 * for a store whose URLs point at this server (embedded), the signed upload and
 * download URLs themselves.
 */

export interface MediaRouteDeps {
  accounts: Accounts;
  limits: Limits;
  media: Media;
  /** This server's public base URL (PUBLIC_URL); default: from the request's Host header. */
  publicUrl?: string;
  /** TRUST_PROXY: only then is X-Forwarded-Proto believed. */
  trustProxy?: boolean;
}

export function addMediaRoutes(router: Router, deps: MediaRouteDeps): void {
  const { media } = deps;
  const auth = requestAuthenticator(deps.accounts, deps.limits);
  const baseUrl = (req: IncomingMessage): string => {
    if (deps.publicUrl) return deps.publicUrl.replace(/\/+$/, '');
    const proto = forwardedHttps(req, deps.trustProxy ?? false) ? 'https' : 'http';
    return `${proto}://${req.headers.host ?? 'localhost'}`;
  };

  const get = async (req: IncomingMessage, res: Parameters<Parameters<Router['on']>[2]>[1], id: string): Promise<void> => {
    const device = await auth(req);
    const found = await media.fetch(device.userId, id, baseUrl(req));
    if (!found) throw new ApiError(404, 'not_found', 'no such media');
    if ('redirect' in found) {
      res
        .writeHead(302, { location: found.redirect, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-length': 0 })
        .end();
      return;
    }
    await serveBytes(req, res, { ...found, open: (range) => media.files.read(found.key, range) });
  };

  router
    .on('POST', '/v1/media', async (req, res) => {
      const device = await auth(req);
      const body = await readBody(req, CreateMediaBody);
      await deps.limits.mediaUpload(device.userId);
      sendJson(res, 201, await media.createUpload(device.userId, body, baseUrl(req)));
    })
    .on('GET', '/v1/media/:id', async (req, res, [id]) => get(req, res, id!))
    .on('HEAD', '/v1/media/:id', async (req, res, [id]) => get(req, res, id!))
    .on('GET', '/v1/media/:id/link', async (req, res, [id]) => {
      const device = await auth(req);
      const link = await media.link(device.userId, id!, baseUrl(req));
      if (!link) throw new ApiError(404, 'not_found', 'no such media');
      sendJson(res, 200, link);
    });

  const { files } = media;
  if (files.handle) {
    const own = async (req: IncomingMessage, res: Parameters<Parameters<Router['on']>[2]>[1], _p: string[], url: URL) => {
      if (!(await files.handle!(req, res, url))) throw new ApiError(404, 'not_found', 'no such endpoint');
    };
    router.on('PUT', `${LOCAL_UPLOAD_PATH}:key`, own).on('GET', `${LOCAL_FILES_PATH}:key`, own).on('HEAD', `${LOCAL_FILES_PATH}:key`, own);
  }
}
