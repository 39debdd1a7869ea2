import type { PushPayload } from '@switchboard/protocol';
import type { PushJob, PushQueue } from '../engines/push-queue/push-queue.js';
import type { PushProviderName, PushTargetRecord } from '../engines/store/push-targets.js';
import type { Store } from '../engines/store/store.js';
import type { Logger } from '../util/logger.js';
import type { PushMetrics } from './metrics.js';
import type { PushTargetOwners } from './target-owners.js';
import type { SendOutcome, PushSender } from './outcome.js';
import { chatCollapseKey, pushPayload, PREVIEW_CHARS } from './payload.js';
import type { CommittedMessage, PushProvider } from './push-provider.js';

export interface PushDispatcherDeps {
  store: Store;
  queue: PushQueue;
  /** Which of these devices have an open socket somewhere (core/device-presence.ts). */
  isOnline: (deviceIds: string[]) => Promise<boolean[]>;
  senders: Partial<Record<PushProviderName, PushSender<any>>>;
  /** Why a provider has no sender (for the log), when it has none. */
  unavailable?: Partial<Record<PushProviderName, string>>;
  preview: boolean;
  metrics: PushMetrics;
  /** The pre-existing wake-up counter (util/metrics.ts): one per device push. */
  wakeups?: { inc(): void };
  log: Logger;
  limits?: Partial<PushLimits>;
  /** Which users have push targets at all; absent: every message becomes a job. */
  owners?: PushTargetOwners;
}

export interface PushLimits {
  /** Provider requests in flight at once on this node. */
  concurrency: number;
  /** Job batches handled at once (each waits for its pushes). */
  batches: number;
  /** Attempts per push, the first included. */
  attempts: number;
  /** First retry delay; doubles each time (Retry-After wins when longer). */
  backoffMs: number;
  /** Longest wait before one retry. */
  maxDelayMs: number;
  /**
   * Time a push may take, retries included; a retry that would end past it is given up.
   * Under claimHoldMs, which is under the cluster queue's reclaim time: a live node
   * finishes (or gives up) before anyone else could take its job over.
   */
  deadlineMs: number;
  claimHoldMs: number;
}

const DEFAULT_LIMITS: PushLimits = {
  concurrency: 32,
  batches: 4,
  attempts: 5,
  backoffMs: 500,
  maxDelayMs: 10_000,
  deadlineMs: 30_000,
  claimHoldMs: 45_000,
};

/**
 * Wakes devices without an open socket. Delivery tells it of every committed message
 * (messageCommitted: one queue write, never waiting); a handler takes jobs off the queue
 * in batches, finds the recipients' push targets (one store read per batch), drops the
 * devices online anywhere (one presence read), and pushes each remaining device once
 * (claimed in the queue, so a job taken over from a dead node does not push twice).
 * Outcomes: delivered; invalid → the target is deleted; transient → retried with
 * exponential backoff honouring Retry-After, within attempts and a deadline; rejected
 * or config → not retried (config errors logged once per kind). At most `concurrency`
 * provider requests are in flight, so a hanging provider holds a bounded amount.
 */
export class PushDispatcher implements PushProvider {
  private readonly limits: PushLimits;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly loggedConfig = new Set<string>();
  private closed = false;
  private stop!: () => void;
  /** Resolves on close(): cuts retry waits short. */
  private readonly stopped = new Promise<void>((resolve) => (this.stop = resolve));

  constructor(private readonly deps: PushDispatcherDeps) {
    this.limits = { ...DEFAULT_LIMITS, ...deps.limits };
  }

  messageCommitted(m: CommittedMessage, userIds: string[]): void {
    const recipients = userIds.filter((id) => id !== m.senderId);
    if (recipients.length === 0 || this.closed) return;
    const owners = this.deps.owners;
    if (!owners) return this.enqueue(m, recipients);
    // Only users with a push target make a job: most messages cost no queue write at all,
    // and when every answer is cached, not even a promise.
    const known = owners.cachedWithTargets(recipients);
    if (known) {
      if (known.length > 0) this.enqueue(m, known);
      return;
    }
    owners.withTargets(recipients).then(
      (userIds) => {
        if (userIds.length > 0) this.enqueue(m, userIds);
      },
      (err: unknown) => {
        this.deps.log.warn({ err, chat_id: m.chatId }, 'push target owners unknown; queueing for every recipient');
        this.enqueue(m, recipients);
      },
    );
  }

  private enqueue(m: CommittedMessage, userIds: string[]): void {
    const job: PushJob = {
      chatId: m.chatId,
      seq: m.seq,
      messageId: m.messageId,
      senderId: m.senderId,
      senderDeviceId: m.senderDeviceId,
      userIds,
    };
    // An encrypted message's frame carries ciphertext and no text: nothing to preview, no name either.
    if (m.frame.includes('"ciphertext":')) job.encrypted = true;
    else if (this.deps.preview)
      job.content = String((JSON.parse(m.frame) as { content?: unknown }).content ?? '').slice(0, PREVIEW_CHARS * 2);
    // Parsed only when the frame names mentions (most do not): a mention wakes even a muted chat.
    if (m.frame.includes('"mentions":')) {
      const mentions = (JSON.parse(m.frame) as { mentions?: unknown }).mentions;
      if (Array.isArray(mentions)) job.mentions = mentions.filter((id): id is string => typeof id === 'string' && userIds.includes(id));
    }
    this.deps.queue.enqueue(job).then(
      (queued) => {
        if (!queued) this.deps.metrics.jobsDropped.inc();
      },
      (err) => {
        this.deps.metrics.jobsDropped.inc();
        this.deps.log.warn({ err, chat_id: m.chatId }, 'push job not queued; devices get the message when they connect');
      },
    );
  }

  /** Makes this process handle push jobs. */
  start(): void {
    this.deps.queue.start((jobs) => this.handle(jobs), this.limits.batches);
  }

  /** One batch of jobs: which devices to wake, then each push with its retries. */
  async handle(batch: PushJob[]): Promise<void> {
    const jobs = await this.withoutMuted(batch);
    const users = [...new Set(jobs.flatMap((j) => j.userIds))];
    const byUser = new Map<string, PushTargetRecord[]>();
    for (const t of await this.deps.store.pushTargets(users)) {
      const list = byUser.get(t.userId) ?? [];
      list.push(t);
      byUser.set(t.userId, list);
    }
    const pushes: { job: PushJob; rec: PushTargetRecord }[] = [];
    for (const job of jobs) {
      for (const userId of job.userIds)
        for (const rec of byUser.get(userId) ?? []) if (rec.deviceId !== job.senderDeviceId) pushes.push({ job, rec });
    }
    if (pushes.length === 0) return;
    const devices = [...new Set(pushes.map((p) => p.rec.deviceId))];
    const online = await this.deps.isOnline(devices);
    const offline = new Set(devices.filter((_, i) => !online[i]));
    const names = new Map<string, Promise<string>>();
    const unread = new Map<string, Promise<number>>();
    await Promise.all(
      pushes
        .filter((p) => offline.has(p.rec.deviceId))
        .map(async ({ job, rec }) => {
          let preview: { senderName: string; content: string } | undefined;
          if (this.deps.preview && !job.encrypted) {
            if (!names.has(job.senderId)) names.set(job.senderId, this.senderName(job.senderId));
            preview = { senderName: await names.get(job.senderId)!, content: job.content ?? '' };
          }
          const badge = () => {
            if (!unread.has(rec.userId)) unread.set(rec.userId, this.unreadCount(rec.userId));
            return unread.get(rec.userId)!;
          };
          await this.push(job, rec, pushPayload(job, preview), badge);
        }),
    );
  }

  /**
   * The jobs without the users who muted their chat (muted_until in the future), unless the
   * message mentions them (PROTOCOL.md "Chat settings"): one store read per job, off the
   * sender's path. Should the read fail, the push goes out (a wake too many, not one lost).
   */
  private async withoutMuted(jobs: PushJob[]): Promise<PushJob[]> {
    const now = Date.now();
    return Promise.all(
      jobs.map(async (job) => {
        const muted = await this.deps.store.mutedMembers(job.chatId, job.userIds, now).catch((err: unknown) => {
          this.deps.log.warn({ err, chat_id: job.chatId }, 'mute settings unknown; pushing as if unmuted');
          return [];
        });
        if (muted.length === 0) return job;
        const skip = new Set(muted.filter((id) => !job.mentions?.includes(id)));
        return { ...job, userIds: job.userIds.filter((id) => !skip.has(id)) };
      }),
    );
  }

  private async senderName(userId: string): Promise<string> {
    const user = await this.deps.store.getUser(userId);
    return user?.displayName ?? user?.username ?? '';
  }

  private async unreadCount(userId: string): Promise<number> {
    return (await this.deps.store.listChats(userId)).reduce((n, row) => n + row.unreadCount, 0);
  }

  private async push(job: PushJob, rec: PushTargetRecord, payload: PushPayload, badge: () => Promise<number>): Promise<void> {
    const provider = rec.target.provider;
    const sender = this.deps.senders[provider];
    const { metrics, log, queue } = this.deps;
    if (!sender) {
      metrics.sends.inc({ provider, outcome: 'config' });
      this.logConfigOnce(provider, this.deps.unavailable?.[provider] ?? `${provider} is not configured`);
      return;
    }
    try {
      if (!(await queue.claim(job.messageId, rec.deviceId, this.limits.claimHoldMs))) return;
    } catch (err) {
      log.warn({ err, provider }, 'push claim failed; not pushed');
      return;
    }
    this.deps.wakeups?.inc();
    const deadline = Date.now() + this.limits.deadlineMs;
    const ctx = { collapseKey: chatCollapseKey(job.chatId), badge: sender.needsBadge ? badge : undefined };
    for (let attempt = 1; ; attempt++) {
      const outcome: SendOutcome = await this.withSlot(() => sender.send(rec.target, payload, ctx)).catch((err: Error) => ({
        kind: 'transient' as const,
        detail: err.message,
      }));
      // A dead target is deleted before it is counted: a count seen means it is gone.
      if (outcome.kind === 'invalid') {
        log.info({ provider, device_id: rec.deviceId, detail: outcome.detail }, 'push target is gone or no longer allowed: removed');
        await this.deps.store
          .deletePushTarget(rec.deviceId, rec.target)
          .catch((err) => log.warn({ err }, 'removing a dead push target failed'));
      }
      metrics.sends.inc({ provider, outcome: outcome.kind });
      if (outcome.kind === 'transient') {
        const delay = Math.min(this.limits.maxDelayMs, Math.max(this.limits.backoffMs * 2 ** (attempt - 1), outcome.retryAfterMs ?? 0));
        if (attempt < this.limits.attempts && Date.now() + delay < deadline && !this.closed) {
          log.debug({ provider, detail: outcome.detail, attempt, delay_ms: delay }, 'push failed for now; retrying');
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([new Promise((r) => (timer = setTimeout(r, delay))), this.stopped]);
          clearTimeout(timer);
          if (!this.closed) continue;
        }
        metrics.gaveUp.inc({ provider });
        log.warn({ provider, detail: outcome.detail, attempts: attempt }, 'push given up');
      } else if (outcome.kind === 'config') {
        this.logConfigOnce(provider, outcome.detail);
      } else if (outcome.kind === 'rejected') {
        log.warn({ provider, detail: outcome.detail }, 'push refused');
      }
      break;
    }
    await queue.done(job.messageId, rec.deviceId).catch(() => {}); // the claim then expires: at worst a second push
  }

  private logConfigOnce(provider: string, detail: string): void {
    const key = `${provider}:${detail}`;
    if (this.loggedConfig.has(key)) return;
    this.loggedConfig.add(key);
    this.deps.log.error({ provider, detail }, 'push provider misconfigured (logged once; counted in switchboard_push_sends_total)');
  }

  private async withSlot<T>(run: () => Promise<T>): Promise<T> {
    while (this.inFlight >= this.limits.concurrency) await new Promise<void>((r) => this.waiting.push(r));
    this.inFlight++;
    try {
      return await run();
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }

  /** No new jobs, no more retries; pushes in flight end within their timeouts. */
  async close(): Promise<void> {
    this.closed = true;
    this.stop();
    for (const s of Object.values(this.deps.senders)) s?.close?.();
  }
}
