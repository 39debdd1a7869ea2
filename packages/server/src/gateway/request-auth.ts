import type { IncomingMessage } from 'node:http';
import type { Accounts } from '../core/accounts.js';
import { ApiError } from '../core/errors.js';
import type { Limits } from '../core/limits.js';
import type { DeviceRecord } from '../engines/store/store.js';
import { bearerToken } from './http-util.js';

/** How every authenticated endpoint finds its device: the bearer token, then the device's request bucket. */
export function requestAuthenticator(accounts: Accounts, limits: Limits): (req: IncomingMessage) => Promise<DeviceRecord> {
  return async (req) => {
    const device = await accounts.authenticate(bearerToken(req));
    if (!device) throw new ApiError(401, 'unauthorized', 'a valid bearer token is required');
    limits.request(device.id);
    return device;
  };
}
