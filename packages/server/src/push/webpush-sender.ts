import { Agent } from 'node:https';
import webpush from 'web-push';
import type { PushPayload } from '@switchboard/protocol';
import type { PushTarget } from '../engines/store/push-targets.js';
import { retryAfterMs, type PushContext, type PushSender, type SendOutcome } from './outcome.js';
import { redactEndpoint } from './endpoints.js';
import type { VapidKeys } from './vapid.js';

type WebPushTarget = Extract<PushTarget, { provider: 'webpush' }>;

/** How long the push service keeps an undelivered push (seconds): a day, then the app syncs anyway. */
const TTL_S = 24 * 3600;
const TIMEOUT_MS = 10_000;

/**
 * Web Push (RFC 8030) through the `web-push` library: payload encrypted per RFC 8291
 * (aes128gcm), VAPID per RFC 8292. The library uses https.request, which follows no
 * redirects; the endpoint was checked against the allow-list when it was registered.
 */
export class WebPushSender implements PushSender<WebPushTarget> {
  // Keep-alive: a push service is one host for many subscriptions.
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });

  constructor(private readonly vapid: VapidKeys) {}

  async send(target: WebPushTarget, payload: PushPayload, ctx: PushContext): Promise<SendOutcome> {
    const where = redactEndpoint(target.endpoint);
    try {
      await withDeadline(
        webpush.sendNotification(
          { endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } },
          JSON.stringify(payload),
          {
            vapidDetails: { subject: this.vapid.subject, publicKey: this.vapid.publicKey, privateKey: this.vapid.privateKey },
            contentEncoding: 'aes128gcm',
            TTL: TTL_S,
            urgency: 'high',
            topic: ctx.collapseKey,
            timeout: TIMEOUT_MS,
            agent: this.agent,
          },
        ),
        TIMEOUT_MS + 5_000,
      );
      return { kind: 'delivered' };
    } catch (err) {
      if (err instanceof webpush.WebPushError) {
        const status = err.statusCode;
        const detail = `${where} answered ${status}`;
        if (status === 404 || status === 410) return { kind: 'invalid', detail };
        if (status === 429 || status >= 500) return { kind: 'transient', detail, retryAfterMs: retryAfterMs(err.headers['retry-after']) };
        return { kind: 'rejected', detail };
      }
      return { kind: 'transient', detail: `${where}: ${(err as Error).message}` };
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Rejects once `ms` pass (the library's timeout is per socket read, not for the whole request). */
export function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
