import type { IncomingMessage } from 'node:http';
import type { Accounts } from '../core/accounts.js';
import type { WsTickets } from '../core/ws-tickets.js';
import type { DeviceRecord } from '../engines/store/store.js';
import { bearerToken } from './http-util.js';

/**
 * Who opens a socket (PROTOCOL.md "The socket"): the `Authorization: Bearer` header, else
 * `?ticket=` (single use: redeeming it uses it up), else `?access_token=`. The first one
 * present decides; a bad one is not rescued by another. Null: HTTP 401.
 */
export async function socketDevice(req: IncomingMessage, accounts: Accounts, tickets: WsTickets): Promise<DeviceRecord | null> {
  const bearer = bearerToken(req);
  if (bearer !== undefined) return accounts.authenticate(bearer);
  const params = new URL(req.url ?? '/', 'http://x').searchParams;
  const ticket = params.get('ticket');
  if (ticket === null) return accounts.authenticate(params.get('access_token') ?? undefined);
  const device = await tickets.redeem(ticket);
  if (device) accounts.touch(device.id);
  return device;
}
