import { Counter, type Registry } from 'prom-client';

/** Push metrics, in the server's registry (util/metrics.ts holds the rest). */
export function createPushMetrics(registry: Registry) {
  return {
    /** One per attempt: provider = webpush|apns|fcm, outcome = delivered|invalid|transient|rejected|config. */
    sends: new Counter({
      name: 'switchboard_push_sends_total',
      help: 'Push attempts by provider and outcome (invalid: target removed; transient: retried)',
      labelNames: ['provider', 'outcome'],
      registers: [registry],
    }),
    gaveUp: new Counter({
      name: 'switchboard_push_gave_up_total',
      help: 'Pushes abandoned after their retries (the device still gets the message when it connects)',
      labelNames: ['provider'],
      registers: [registry],
    }),
    jobsDropped: new Counter({
      name: 'switchboard_push_jobs_dropped_total',
      help: 'Push jobs not queued (queue full or unreachable)',
      registers: [registry],
    }),
  };
}
export type PushMetrics = ReturnType<typeof createPushMetrics>;
