import type { IncomingMessage } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../core/errors.js';
import { bearerToken } from './http-util.js';

/**
 * The operator's check for every call under /v1/admin/ (PROTOCOL.md "Operators"). Without
 * ADMIN_TOKEN the admin API does not exist (404, as for any unknown path); a wrong or
 * missing token is 401. The comparison is constant-time: both sides are hashed first, so
 * neither the token's content nor its length shows in the timing.
 */
export function requireAdmin(req: IncomingMessage, adminToken: string | undefined): void {
  if (!adminToken) throw new ApiError(404, 'not_found', 'no such endpoint');
  const given = createHash('sha256')
    .update(bearerToken(req) ?? '')
    .digest();
  const want = createHash('sha256').update(adminToken).digest();
  if (!timingSafeEqual(given, want)) throw new ApiError(401, 'unauthorized', 'an admin token is needed');
}
