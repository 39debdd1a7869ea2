import type { IncomingMessage } from 'node:http';
import { hashToken } from '../core/passwords.js';
import type { WsTickets } from '../core/ws-tickets.js';
import type { DeviceRecord } from '../engines/store/store.js';
import { bearerToken, sendJson, type Router } from './http-util.js';

/** POST /v1/ws-tickets (PROTOCOL.md "The socket"): a single-use ticket for `GET /v1/ws?ticket=`. */
export function wsTicketRoutes(router: Router, auth: (req: IncomingMessage) => Promise<DeviceRecord>, tickets: WsTickets): void {
  router.on('POST', '/v1/ws-tickets', async (req, res) => {
    await auth(req); // the bearer header only, and the device's request bucket
    // Bound to the token, not the device: a ticket of a session ended since fails (core/ws-tickets.ts).
    sendJson(res, 201, await tickets.mint(hashToken(bearerToken(req)!)));
  });
}
