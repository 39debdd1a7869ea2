import type { IncomingMessage } from 'node:http';
import {
  USER_PREFIX_MIN,
  USER_SEARCH_LIMIT_DEFAULT,
  USER_SEARCH_LIMIT_MAX,
  UNSTORABLE_TEXT_MESSAGE,
  UpdateProfileBody,
  isStorableText,
} from '@switchboard/protocol';
import { ApiError } from '../core/errors.js';
import type { Limits } from '../core/limits.js';
import type { People } from '../core/people.js';
import type { DeviceRecord } from '../engines/store/store.js';
import { intParam, readBody, sendJson, type Router } from './http-util.js';

export interface PeopleRoutesDeps {
  people: People;
  limits: Limits;
  auth: (req: IncomingMessage) => Promise<DeviceRecord>;
}

/**
 * GET /v1/users?prefix=TEXT&limit=N (PROTOCOL.md "People"), answered from the GET /v1/users
 * route when `prefix` is given: usernames starting with TEXT (lower-cased, as usernames
 * are), at least USER_PREFIX_MIN characters, in username order; rate-limited per device.
 */
export async function searchUsers(
  deps: PeopleRoutesDeps,
  device: DeviceRecord,
  rawPrefix: string,
  url: URL,
): Promise<{ users: unknown[] }> {
  if (!isStorableText(rawPrefix)) throw new ApiError(400, 'invalid_request', `prefix: ${UNSTORABLE_TEXT_MESSAGE}`);
  const prefix = rawPrefix.toLowerCase();
  if ([...prefix].length < USER_PREFIX_MIN)
    throw new ApiError(400, 'invalid_request', `prefix must be at least ${USER_PREFIX_MIN} characters`);
  if (prefix.length > 64) throw new ApiError(400, 'invalid_request', 'prefix is over 64 characters');
  const limit = intParam(url, 'limit', { min: 1, max: USER_SEARCH_LIMIT_MAX, def: USER_SEARCH_LIMIT_DEFAULT })!;
  await deps.limits.userSearch(device.id);
  return { users: await deps.people.search(prefix, limit) };
}

/** Profiles, contacts and blocks (PROTOCOL.md "People"); the prefix search is searchUsers above. */
export function peopleRoutes(router: Router, deps: PeopleRoutesDeps): void {
  const { people, limits, auth } = deps;
  router
    .on('PATCH', '/v1/users/me', async (req, res) => {
      const device = await auth(req);
      const body = await readBody(req, UpdateProfileBody);
      sendJson(res, 200, await people.updateProfile(device.userId, body));
    })
    .on('GET', '/v1/users/me/contacts', async (req, res) => {
      const device = await auth(req);
      sendJson(res, 200, { users: await people.contacts(device.userId) });
    })
    .on('PUT', '/v1/users/me/contacts/:id', async (req, res, [id]) => {
      const device = await auth(req);
      await limits.membershipChange(device.userId);
      await people.addContact(device.userId, id!);
      sendJson(res, 204);
    })
    .on('DELETE', '/v1/users/me/contacts/:id', async (req, res, [id]) => {
      const device = await auth(req);
      await limits.membershipChange(device.userId);
      await people.removeContact(device.userId, id!);
      sendJson(res, 204);
    })
    .on('GET', '/v1/users/me/blocked', async (req, res) => {
      const device = await auth(req);
      sendJson(res, 200, { user_ids: await people.blocked(device.userId) });
    })
    .on('PUT', '/v1/users/me/blocked/:id', async (req, res, [id]) => {
      const device = await auth(req);
      await limits.membershipChange(device.userId);
      await people.block(device.userId, id!);
      sendJson(res, 204);
    })
    .on('DELETE', '/v1/users/me/blocked/:id', async (req, res, [id]) => {
      const device = await auth(req);
      await limits.membershipChange(device.userId);
      await people.unblock(device.userId, id!);
      sendJson(res, 204);
    });
}
