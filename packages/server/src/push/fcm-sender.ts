import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PushPayload } from '@switchboard/protocol';
import type { PushTarget } from '../engines/store/push-targets.js';
import { signJwt } from './jwt.js';
import { asStrings } from './payload.js';
import { classifyStatus, retryAfterMs, type PushContext, type PushSender, type SendOutcome } from './outcome.js';

type FcmTarget = Extract<PushTarget, { provider: 'fcm' }>;

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const TIMEOUT_MS = 10_000;
/** A cached access token is replaced this long before Google says it expires. */
const EARLY_MS = 5 * 60_000;

interface ServiceAccount {
  project_id: string;
  client_email: string;
  private_key: string;
  token_uri: string;
}

class ConfigError extends Error {}

/**
 * FCM HTTP v1: an OAuth access token from the service account (an RS256 JWT assertion
 * posted to its token_uri), cached until shortly before it expires, then
 * POST {FCM_URL}/v1/projects/{project_id}/messages:send. fetch with redirect: 'error'
 * (a redirect is never followed) and a timeout on every request.
 */
export class FcmSender implements PushSender<FcmTarget> {
  private readonly account: ServiceAccount;
  private readonly key: KeyObject;
  private token: { value: string; until: number } | null = null;
  private fetching: Promise<string> | null = null;

  constructor(
    serviceAccountFile: string,
    private readonly url: string,
  ) {
    const json = JSON.parse(readFileSync(serviceAccountFile, 'utf8')) as Partial<ServiceAccount>;
    for (const field of ['project_id', 'client_email', 'private_key', 'token_uri'] as const) {
      if (typeof json[field] !== 'string' || json[field] === '') throw new Error(`FCM service account file: ${field} is missing`);
    }
    this.account = json as ServiceAccount;
    this.key = createPrivateKey(this.account.private_key);
  }

  private accessToken(): Promise<string> {
    if (this.token && Date.now() < this.token.until) return Promise.resolve(this.token.value);
    // Concurrent sends share one token request.
    this.fetching ??= this.fetchToken().finally(() => (this.fetching = null));
    return this.fetching;
  }

  private async fetchToken(): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const assertion = signJwt('RS256', this.key, {
      iss: this.account.client_email,
      scope: FCM_SCOPE,
      aud: this.account.token_uri,
      iat: now,
      exp: now + 3600,
    });
    const res = await fetch(this.account.token_uri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
      redirect: 'error',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await res.text();
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      throw new ConfigError(`FCM token endpoint refused the service account: ${res.status} ${text.slice(0, 200)}`);
    }
    if (!res.ok) throw new Error(`FCM token endpoint answered ${res.status}`);
    const body = JSON.parse(text) as { access_token?: string; expires_in?: number };
    if (!body.access_token) throw new ConfigError('FCM token endpoint answered without an access_token');
    const lifetimeMs = (body.expires_in ?? 3600) * 1000;
    this.token = { value: body.access_token, until: Date.now() + Math.max(lifetimeMs - EARLY_MS, lifetimeMs / 2) };
    return body.access_token;
  }

  async send(target: FcmTarget, payload: PushPayload, ctx: PushContext): Promise<SendOutcome> {
    let token: string;
    try {
      token = await this.accessToken();
    } catch (err) {
      return err instanceof ConfigError
        ? { kind: 'config', detail: err.message }
        : { kind: 'transient', detail: `FCM token: ${(err as Error).message}` };
    }
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.url.replace(/\/+$/, '')}/v1/projects/${encodeURIComponent(this.account.project_id)}/messages:send`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          message: { token: target.token, data: asStrings(payload), android: { priority: 'high', collapse_key: ctx.collapseKey } },
        }),
        redirect: 'error',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      text = await res.text();
    } catch (err) {
      return { kind: 'transient', detail: `FCM: ${(err as Error).message}` };
    }
    if (res.ok) return { kind: 'delivered' };
    const error = parseError(text);
    const detail = `FCM answered ${res.status} ${error.status ?? ''} ${error.code ?? ''}`.trim();
    if (res.status === 404 || error.status === 'NOT_FOUND' || error.status === 'UNREGISTERED' || error.code === 'UNREGISTERED') {
      return { kind: 'invalid', detail };
    }
    if (res.status === 401) {
      this.token = null; // revoked or expired early: the retry fetches a new one
      return { kind: 'transient', detail };
    }
    if (res.status === 403 && error.code !== 'SENDER_ID_MISMATCH') return { kind: 'config', detail };
    return classifyStatus(res.status, detail, retryAfterMs(res.headers.get('retry-after')));
  }
}

/** google.rpc.Status: `status`, and FCM's own errorCode in the details. */
function parseError(text: string): { status?: string; code?: string } {
  try {
    const e = (JSON.parse(text) as { error?: { status?: string; details?: { errorCode?: string }[] } }).error;
    return { status: e?.status, code: e?.details?.find((d) => d.errorCode)?.errorCode };
  } catch {
    return {};
  }
}
