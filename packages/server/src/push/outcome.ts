import type { PushTarget } from '../engines/store/push-targets.js';
import type { PushPayload } from '@switchboard/protocol';

/** What one attempt at a push came to; the dispatcher acts on the kind. */
export type SendOutcome =
  | { kind: 'delivered' }
  /** The provider says the target is gone: delete it. */
  | { kind: 'invalid'; detail: string }
  /** Try again later (connection error, 429, 5xx), no sooner than retryAfterMs. */
  | { kind: 'transient'; detail: string; retryAfterMs?: number }
  /** This push was refused for a reason of its own; the target stays. */
  | { kind: 'rejected'; detail: string }
  /** Our credentials or settings are wrong: nothing will work until an operator fixes them. */
  | { kind: 'config'; detail: string };

export interface PushContext {
  /** Per chat, ≤ 32 URL-safe characters: pushes of one chat collapse into one notification. */
  collapseKey: string;
  /** The recipient's unread count (APNs badge), when the sender wants it. */
  badge?: () => Promise<number>;
}

export interface PushSender<T extends PushTarget = PushTarget> {
  readonly needsBadge?: boolean;
  send(target: T, payload: PushPayload, ctx: PushContext): Promise<SendOutcome>;
  close?(): void;
}

/** Retry-After in ms: delta-seconds or an HTTP date (RFC 9110); undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined | null, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The usual reading of an HTTP status for a push service. */
export function classifyStatus(status: number, detail: string, retryAfter?: number): SendOutcome {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  if (status === 429 || status >= 500) return { kind: 'transient', detail, retryAfterMs: retryAfter };
  return { kind: 'rejected', detail };
}
