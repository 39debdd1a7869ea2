import type { IncomingMessage } from 'node:http';
import { CloseCode } from '@switchboard/protocol';
import type { Accounts } from '../core/accounts.js';
import type { Delivery } from '../core/delivery.js';
import type { DeviceRecord } from '../engines/store/store.js';
import { sendJson, type Router } from './http-util.js';

/**
 * GET /v1/devices and DELETE /v1/devices/{id} (PROTOCOL.md "Accounts and sessions"): a
 * user's live sessions, and ending one. The revoked device's sockets are closed (4100)
 * through the bus, so on whichever node they are.
 */
export function deviceRoutes(
  router: Router,
  deps: { accounts: Accounts; delivery: Delivery; auth: (req: IncomingMessage) => Promise<DeviceRecord> },
): void {
  const { accounts, delivery, auth } = deps;
  router
    .on('GET', '/v1/devices', async (req, res) => {
      const device = await auth(req);
      sendJson(res, 200, { devices: await accounts.devices(device.userId, device.id) });
    })
    .on('DELETE', '/v1/devices/:id', async (req, res, [deviceId]) => {
      const device = await auth(req);
      await accounts.revokeDevice(device.userId, deviceId!);
      await delivery.closeDevice(device.userId, deviceId!, CloseCode.sessionRevoked, 'session revoked');
      sendJson(res, 204);
    });
}
