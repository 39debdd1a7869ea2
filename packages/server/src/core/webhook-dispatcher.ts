import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { Bus } from '../engines/bus/bus.js';
import { MEMBERS_TOPIC } from '../engines/bus/bus.js';
import type { OutboxRow, WebhookEventType, WebhookRecord, WebhookStore } from '../engines/store/webhook-outbox.js';
import type { Metrics } from '../util/metrics.js';

/** A delivery not answered 2xx within this long failed (PROTOCOL.md "Webhooks"). */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** In flight at once per webhook, and in all: a slow receiver holds only its own slots. */
const PER_WEBHOOK = 4;
const TOTAL = 64;
/** Other nodes re-read the list on the bus; this catches a missed broadcast. */
const REFRESH_MS = 30_000;

export interface WebhookSettings {
  retryBaseMs: number;
  retryMaxMs: number;
  retryHours: number;
  pollMs: number;
  /** A claimed row is this node's for this long: well past the timeout, so only a dead node's rows are taken over. */
  leaseMs: number;
}

/** The signature header's value: HMAC-SHA256 with the secret over `t + "." + body`. */
export function webhookSignature(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/**
 * Sends the outbox's events (engines/store/webhook-outbox.ts). Every node runs one: each
 * tick it claims, per webhook with free slots, the rows that are due; a claim is exclusive
 * (a lease), so each event goes out from one node at a time. A 2xx deletes the row;
 * anything else schedules it again, after retryBaseMs doubling up to retryMaxMs, until
 * retryHours after the event, when it is dropped (logged, counted).
 * It also keeps the store's recording set (which event types some webhook wants) current,
 * reading the list again when a node broadcasts a change.
 */
export class WebhookDispatcher {
  private hooks: WebhookRecord[] = [];
  private readonly inFlight = new Map<string, number>();
  private total = 0;
  private timer: NodeJS.Timeout | null = null;
  private refresher: NodeJS.Timeout | null = null;
  private ticking = false;
  private closed = false;
  private readonly sends = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      store: WebhookStore;
      bus: Bus;
      settings: WebhookSettings;
      metrics: Metrics;
      log: Logger;
      now: () => number;
    },
  ) {}

  async start(): Promise<void> {
    this.deps.bus.onEvent((topic, event) => {
      if (topic === MEMBERS_TOPIC && event.kind === 'webhooks-changed') void this.refresh();
    });
    this.deps.bus.onReconnect(() => void this.refresh());
    await this.refresh();
    this.timer = setInterval(() => void this.tick(), this.deps.settings.pollMs);
    this.timer.unref();
    this.refresher = setInterval(() => void this.refresh(), REFRESH_MS);
    this.refresher.unref();
  }

  /** Reads the webhook list again (after a change here or on another node). */
  async refresh(): Promise<void> {
    try {
      this.hooks = await this.deps.store.list();
      this.deps.store.setRecording(new Set<WebhookEventType>(this.hooks.flatMap((h) => h.events)));
    } catch (err) {
      this.deps.log.warn({ err }, 'reading the webhook list failed');
    }
  }

  /** Tells every node (this one included, via the bus) to read the list again. */
  async changed(): Promise<void> {
    await this.refresh();
    await this.deps.bus.publish([MEMBERS_TOPIC], { kind: 'webhooks-changed' }).catch(() => undefined);
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      for (const hook of this.hooks) {
        const free = Math.min(PER_WEBHOOK - (this.inFlight.get(hook.id) ?? 0), TOTAL - this.total);
        if (free <= 0) continue;
        const now = this.deps.now();
        const rows = await this.deps.store.claim(hook.id, now, now + this.deps.settings.leaseMs, free);
        for (const row of rows) this.track(this.send(hook, row));
      }
    } catch (err) {
      this.deps.log.warn({ err }, 'claiming webhook events failed');
    } finally {
      this.ticking = false;
    }
  }

  private track(p: Promise<void>): void {
    this.sends.add(p);
    void p.finally(() => this.sends.delete(p));
  }

  private async send(hook: WebhookRecord, row: OutboxRow): Promise<void> {
    this.inFlight.set(hook.id, (this.inFlight.get(hook.id) ?? 0) + 1);
    this.total++;
    try {
      const body = `{"id":${JSON.stringify(row.eventId)},"type":${JSON.stringify(row.type)},"created_at":${row.createdAt},"data":${row.data}}`;
      const t = Math.floor(this.deps.now() / 1000);
      let ok = false;
      let status: number | string;
      try {
        const res = await fetch(hook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'switchboard-event-id': row.eventId,
            'switchboard-signature': webhookSignature(hook.secret, t, body),
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
        });
        status = res.status;
        ok = res.status >= 200 && res.status < 300;
        await res.body?.cancel().catch(() => undefined);
      } catch (err) {
        status = (err as Error).name === 'TimeoutError' ? 'timeout' : String((err as Error).message);
      }
      if (ok) {
        this.deps.metrics.webhooksSent.inc();
        await this.deps.store.delivered(row.id);
        return;
      }
      this.deps.metrics.webhooksFailed.inc();
      const { retryBaseMs, retryMaxMs, retryHours } = this.deps.settings;
      const now = this.deps.now();
      if (now - row.createdAt >= retryHours * 3_600_000) {
        this.deps.metrics.webhooksDropped.inc();
        this.deps.log.warn(
          { webhook_id: hook.id, event_id: row.eventId, type: row.type, attempts: row.attempts + 1, status },
          'webhook event dropped',
        );
        await this.deps.store.delivered(row.id);
        return;
      }
      const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(row.attempts, 30));
      this.deps.log.debug({ webhook_id: hook.id, event_id: row.eventId, status, delay }, 'webhook delivery failed');
      await this.deps.store.retry(row.id, row.attempts + 1, now + delay);
    } catch (err) {
      // The outcome could not be stored: the lease runs out and the row is sent again (at least once).
      this.deps.log.warn({ err, webhook_id: hook.id, event_id: row.eventId }, 'webhook bookkeeping failed');
    } finally {
      this.inFlight.set(hook.id, (this.inFlight.get(hook.id) ?? 1) - 1);
      this.total--;
    }
  }

  /** Stops claiming; waits for the deliveries under way (each ends within the timeout). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.refresher) clearInterval(this.refresher);
    await Promise.allSettled([...this.sends]);
  }
}
