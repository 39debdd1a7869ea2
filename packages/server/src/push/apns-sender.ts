import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PushPayload } from '@switchboard/protocol';
import type { PushTarget } from '../engines/store/push-targets.js';
import { signJwt } from './jwt.js';
import { retryAfterMs, type PushContext, type PushSender, type SendOutcome } from './outcome.js';

type ApnsTarget = Extract<PushTarget, { provider: 'apns' }>;

export const APNS_PRODUCTION = 'https://api.push.apple.com';
export const APNS_SANDBOX = 'https://api.sandbox.push.apple.com';

/** Apple refuses provider tokens older than an hour and too-frequent new ones: renew every 50 minutes. */
const TOKEN_REFRESH_MS = 50 * 60_000;
const TIMEOUT_MS = 10_000;
/** A push not delivered within a day is dropped by APNs: the app will have synced by then anyway. */
const EXPIRATION_S = 24 * 3600;

export interface ApnsSettings {
  keyFile: string;
  keyId: string;
  teamId: string;
  topic: string;
  /** Overrides the endpoint for every target (APNS_URL). */
  url?: string;
}

/** APNs is configured only with a key, its id, the team and the topic; anything missing is named. */
export function apnsSettings(c: {
  apnsKeyFile?: string;
  apnsKeyId?: string;
  apnsTeamId?: string;
  apnsTopic?: string;
  apnsUrl?: string;
}): ApnsSettings | { missing: string } | null {
  if (!c.apnsKeyFile) return null;
  const missing = [
    ['APNS_KEY_ID', c.apnsKeyId],
    ['APNS_TEAM_ID', c.apnsTeamId],
    ['APNS_TOPIC', c.apnsTopic],
  ]
    .filter(([, v]) => !v)
    .map(([k]) => k);
  if (missing.length > 0) return { missing: missing.join(', ') };
  return { keyFile: c.apnsKeyFile, keyId: c.apnsKeyId!, teamId: c.apnsTeamId!, topic: c.apnsTopic!, url: c.apnsUrl };
}

/**
 * APNs over HTTP/2 (node:http2) with token-based authentication: an ES256 JWT (kid = key
 * id, iss = team id) signed with the .p8 key, reused until it is 50 minutes old. One
 * HTTP/2 session per APNs host, opened on demand and reopened after it closes.
 */
export class ApnsSender implements PushSender<ApnsTarget> {
  readonly needsBadge = true;
  private readonly key: KeyObject;
  private token: { jwt: string; at: number } | null = null;
  private readonly sessions = new Map<string, ClientHttp2Session>();

  constructor(private readonly s: ApnsSettings) {
    // Read at start: a missing or broken key is a start-up error, not one per push.
    this.key = createPrivateKey(readFileSync(s.keyFile, 'utf8'));
  }

  private providerToken(force = false): string {
    const now = Date.now();
    if (force || !this.token || now - this.token.at >= TOKEN_REFRESH_MS) {
      this.token = { jwt: signJwt('ES256', this.key, { iss: this.s.teamId, iat: Math.floor(now / 1000) }, { kid: this.s.keyId }), at: now };
    }
    return this.token.jwt;
  }

  private session(origin: string): ClientHttp2Session {
    const open = this.sessions.get(origin);
    if (open && !open.closed && !open.destroyed) return open;
    const session = connect(origin);
    session.on('error', () => {}); // surfaces on the requests
    const forget = () => {
      if (this.sessions.get(origin) === session) this.sessions.delete(origin);
    };
    session.on('close', forget);
    session.on('goaway', forget);
    session.unref(); // an idle session must not keep the process alive
    this.sessions.set(origin, session);
    return session;
  }

  async send(target: ApnsTarget, payload: PushPayload, ctx: PushContext): Promise<SendOutcome> {
    const origin = this.s.url ?? (target.environment === 'sandbox' ? APNS_SANDBOX : APNS_PRODUCTION);
    const badge = ctx.badge ? await ctx.badge() : undefined;
    const alert =
      payload.sender_name !== undefined ? { title: payload.sender_name, body: payload.preview ?? '' } : { title: 'New message' };
    const body = JSON.stringify({ aps: { alert, 'mutable-content': 1, ...(badge === undefined ? {} : { badge }) }, ...payload });
    const { status, headers, text } = await this.post(origin, target.token, body, ctx.collapseKey).catch((err: Error) => ({
      status: 0,
      headers: {} as Record<string, string | string[] | undefined>,
      text: err.message,
    }));
    if (status === 0) return { kind: 'transient', detail: `APNs: ${text}` };
    if (status === 200) return { kind: 'delivered' };
    let reason = '';
    try {
      reason = String((JSON.parse(text) as { reason?: string }).reason ?? '');
    } catch {}
    const detail = `APNs answered ${status} ${reason}`.trim();
    if (status === 410 || (status === 400 && (reason === 'BadDeviceToken' || reason === 'Unregistered')))
      return { kind: 'invalid', detail };
    if (status === 403 && reason === 'ExpiredProviderToken') {
      this.providerToken(true);
      return { kind: 'transient', detail };
    }
    if (status === 429 || status >= 500) return { kind: 'transient', detail, retryAfterMs: retryAfterMs(headers['retry-after']) };
    if (status === 403 || ['BadTopic', 'MissingTopic', 'TopicDisallowed', 'DeviceTokenNotForTopic'].includes(reason)) {
      return { kind: 'config', detail };
    }
    return { kind: 'rejected', detail };
  }

  private post(
    origin: string,
    token: string,
    body: string,
    collapseId: string,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
    return new Promise((resolve, reject) => {
      const req = this.session(origin).request({
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: `/3/device/${token}`,
        authorization: `bearer ${this.providerToken()}`,
        'apns-topic': this.s.topic,
        'apns-push-type': 'alert',
        'apns-priority': '10',
        'apns-collapse-id': collapseId,
        'apns-expiration': String(Math.floor(Date.now() / 1000) + EXPIRATION_S),
        'content-type': 'application/json',
      });
      req.setTimeout(TIMEOUT_MS, () => req.close(constants.NGHTTP2_CANCEL));
      let status = 0;
      let headers: Record<string, string | string[] | undefined> = {};
      const chunks: Buffer[] = [];
      req.on('response', (h) => {
        status = Number(h[constants.HTTP2_HEADER_STATUS]);
        headers = h;
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () =>
        status ? resolve({ status, headers, text: Buffer.concat(chunks).toString('utf8') }) : reject(new Error('no response')),
      );
      req.on('close', () => {
        if (!status) reject(new Error('stream closed without a response (timeout or connection lost)'));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }
}
