import type { IncomingMessage } from 'node:http';
import { CreateReportBody } from '@switchboard/protocol';
import type { Reports } from '../core/reports.js';
import type { DeviceRecord } from '../engines/store/store.js';
import { readBody, sendJson, type Router } from './http-util.js';

/** POST /v1/reports (PROTOCOL.md "People"): reports for the operator (GET /v1/admin/reports). */
export function reportRoutes(router: Router, deps: { reports: Reports; auth: (req: IncomingMessage) => Promise<DeviceRecord> }): void {
  router.on('POST', '/v1/reports', async (req, res) => {
    const device = await deps.auth(req);
    const body = await readBody(req, CreateReportBody);
    sendJson(res, 201, await deps.reports.create(device.userId, body));
  });
}
