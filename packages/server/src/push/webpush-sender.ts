import webpush from 'web-push';
import type { PushPayload } from '@switchboard/protocol';
import type { PushTarget } from '../engines/store/push-targets.js';
import { retryAfterMs, type PushContext, type PushSender, type SendOutcome } from './outcome.js';
import { redactEndpoint, type EndpointAllowList } from './endpoints.js';
import type { VapidKeys } from './vapid.js';

type WebPushTarget = Extract<PushTarget, { provider: 'webpush' }>;

/** How long the push service keeps an undelivered push (seconds): a day, then the app syncs anyway. */
const TTL_S = 24 * 3600;
const TIMEOUT_MS = 10_000;

/**
 * Web Push (RFC 8030). The `web-push` library builds the request: the payload encrypted
 * per RFC 8291 (aes128gcm) and the VAPID header per RFC 8292. It is sent with fetch, not
 * the library's own https.request: a timeout on the whole request, redirects never
 * followed (a 3xx is a refusal), keep-alive per push service, and a plain-http endpoint
 * works when the operator allowed one (a local test service). The endpoint is checked
 * against the allow-list when it is registered and again before every push: a target
 * stored before the operator narrowed WEBPUSH_ALLOWED_ENDPOINTS is never contacted, it is
 * answered `invalid` (so the dispatcher logs and deletes it). Logs name its origin only.
 */
export class WebPushSender implements PushSender<WebPushTarget> {
  constructor(
    private readonly vapid: VapidKeys,
    private readonly allowList: EndpointAllowList,
  ) {}

  async send(target: WebPushTarget, payload: PushPayload, ctx: PushContext): Promise<SendOutcome> {
    const where = redactEndpoint(target.endpoint);
    const refused = this.allowList.check(target.endpoint);
    if (refused) return { kind: 'invalid', detail: `${where}: not contacted, ${refused}` };
    let request: webpush.RequestDetails;
    try {
      request = webpush.generateRequestDetails(
        { endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } },
        JSON.stringify(payload),
        {
          vapidDetails: { subject: this.vapid.subject, publicKey: this.vapid.publicKey, privateKey: this.vapid.privateKey },
          contentEncoding: 'aes128gcm',
          TTL: TTL_S,
          urgency: 'high',
          topic: ctx.collapseKey,
        },
      );
    } catch (err) {
      return { kind: 'rejected', detail: `${where}: cannot build the push: ${(err as Error).message}` };
    }
    let res: Response;
    try {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(request.headers)) headers[k] = String(v);
      res = await fetch(request.endpoint, {
        method: 'POST',
        headers,
        body: request.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined); // drain, so the connection is reused
    } catch (err) {
      return { kind: 'transient', detail: `${where}: ${(err as Error).message}` };
    }
    const status = res.status;
    const detail = `${where} answered ${status}`;
    if (status >= 200 && status < 300) return { kind: 'delivered' };
    if (status === 404 || status === 410) return { kind: 'invalid', detail };
    if (status === 429 || status >= 500) return { kind: 'transient', detail, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
    return { kind: 'rejected', detail };
  }
}
