import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics, one registry per server instance (tests run several in one process). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchboard_process_' });
  return {
    registry,
    connections: new Gauge({ name: 'switchboard_connections', help: 'Open WebSocket connections', registers: [registry] }),
    messagesSent: new Counter({
      name: 'switchboard_messages_sent_total',
      help: 'Messages committed and acknowledged',
      registers: [registry],
    }),
    messagesDelivered: new Counter({
      name: 'switchboard_messages_delivered_total',
      help: 'new_message frames written to sockets (live and replay)',
      registers: [registry],
    }),
    gapFills: new Counter({
      name: 'switchboard_gap_fills_total',
      help: 'Live messages that reached a socket above a gap in their chat, the gap read from the store first (events crossing between nodes)',
      registers: [registry],
    }),
    sendLatency: new Histogram({
      name: 'switchboard_send_latency_seconds',
      help: 'From a send_message frame arriving to its ack_sent (includes the durable commit)',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
      registers: [registry],
    }),
    pushWakeups: new Counter({
      name: 'switchboard_push_wakeups_total',
      help: 'Push wake-ups for users with no device online',
      registers: [registry],
    }),
    slowConsumerCloses: new Counter({
      name: 'switchboard_slow_consumer_closes_total',
      help: 'Sockets closed because their outbound buffer passed the cap',
      registers: [registry],
    }),
    busPublishFailures: new Counter({
      name: 'switchboard_bus_publish_failures_total',
      help: 'Bus publishes that failed (Redis unreachable); devices catch up by replay',
      registers: [registry],
    }),
    frameErrors: new Counter({
      name: 'switchboard_frame_errors_total',
      help: 'error frames sent',
      labelNames: ['code'],
      registers: [registry],
    }),
    webhooksSent: new Counter({ name: 'switchboard_webhooks_sent_total', help: 'Webhook events delivered (2xx)', registers: [registry] }),
    webhooksFailed: new Counter({
      name: 'switchboard_webhooks_failed_total',
      help: 'Webhook attempts that failed (not 2xx, timeout, unreachable); retried later',
      registers: [registry],
    }),
    webhooksDropped: new Counter({
      name: 'switchboard_webhooks_dropped_total',
      help: 'Webhook events given up after retrying for WEBHOOK_RETRY_HOURS',
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
