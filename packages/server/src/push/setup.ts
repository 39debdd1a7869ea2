import type { ServerConfig } from '../config.js';
import type { PushQueue } from '../engines/push-queue/push-queue.js';
import type { PushProviderName } from '../engines/store/push-targets.js';
import type { Store } from '../engines/store/store.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import { ApnsSender, apnsSettings } from './apns-sender.js';
import { PushDispatcher } from './dispatcher.js';
import { EndpointAllowList } from './endpoints.js';
import { FcmSender } from './fcm-sender.js';
import { createPushMetrics } from './metrics.js';
import type { PushSender } from './outcome.js';
import { PushRegistration } from './registration.js';
import { loadVapidKeys } from './vapid.js';
import { WebPushSender } from './webpush-sender.js';
import type { PushTargetOwners } from './target-owners.js';

export interface Push {
  dispatcher: PushDispatcher;
  registration: PushRegistration;
}

/**
 * Builds the push side from the configuration: VAPID keys, the providers that are
 * configured (APNs needs a key, FCM a service account; a broken one stops the start
 * with a clear error), the registration rules and the dispatcher.
 */
export async function createPush(opts: {
  config: ServerConfig;
  mode: 'embedded' | 'cluster';
  store: Store;
  queue: PushQueue;
  isOnline: (deviceIds: string[]) => Promise<boolean[]>;
  metrics: Metrics;
  log: Logger;
  /** Which users have push targets (shared with the bus wiring that keeps it fresh). */
  owners: PushTargetOwners;
  /** Tells every node a user registered a target, before the registration answers. */
  announce: (userId: string) => Promise<void>;
}): Promise<Push> {
  const { config, log } = opts;
  const vapid = await loadVapidKeys({
    publicKey: config.vapidPublicKey,
    privateKey: config.vapidPrivateKey,
    subject: config.vapidSubject,
    dataDir: config.dataDir,
    mode: opts.mode,
    shared: (name, candidate) => opts.queue.shared(name, candidate),
  });
  // One list for registration and sending: a target stored under a wider list is not pushed to.
  const allowList = new EndpointAllowList(config.webpushAllowedEndpoints);
  const senders: Partial<Record<PushProviderName, PushSender<any>>> = { webpush: new WebPushSender(vapid, allowList) };
  const unavailable: { apns?: string; fcm?: string } = {};

  const apns = apnsSettings(config);
  if (apns === null) unavailable.apns = 'APNs is not configured on this server (APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC)';
  else if ('missing' in apns) throw new Error(`APNS_KEY_FILE is set but ${apns.missing} is not`);
  else {
    try {
      senders.apns = new ApnsSender(apns);
    } catch (err) {
      throw new Error(`APNs key ${apns.keyFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (!config.fcmServiceAccountFile) unavailable.fcm = 'FCM is not configured on this server (FCM_SERVICE_ACCOUNT_FILE)';
  else {
    try {
      senders.fcm = new FcmSender(config.fcmServiceAccountFile, config.fcmUrl);
    } catch (err) {
      throw new Error(`FCM service account ${config.fcmServiceAccountFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  log.info({ providers: Object.keys(senders), preview: config.pushPreview }, 'push ready');

  const dispatcher = new PushDispatcher({
    store: opts.store,
    queue: opts.queue,
    isOnline: opts.isOnline,
    senders,
    unavailable,
    preview: config.pushPreview,
    metrics: createPushMetrics(opts.metrics.registry),
    wakeups: opts.metrics.pushWakeups,
    log,
    owners: opts.owners,
    // A push (retries included) ends well before its job could be taken over by another node.
    limits: { deadlineMs: Math.min(30_000, config.pushReclaimMs / 2), claimHoldMs: Math.min(45_000, (config.pushReclaimMs * 3) / 4) },
  });
  const registration = new PushRegistration({
    store: opts.store,
    allowList,
    unavailable,
    vapidPublicKey: vapid.publicKey,
    announce: opts.announce,
  });
  return { dispatcher, registration };
}
