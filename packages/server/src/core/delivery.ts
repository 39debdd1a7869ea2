import type { ServerFrame } from '@switchboard/protocol';
import { MEMBERS_TOPIC, userTopic, type Bus, type BusEvent } from '../engines/bus/bus.js';
import type { FanoutJob, FanoutQueue } from '../engines/fanout-queue/fanout-queue.js';
import { entryFrame, isMessage, type LogEntry } from '../engines/store/store.js';
import type { PushProvider } from '../push/push-provider.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';

/** Members published to per turn of the event loop in a large fan-out. */
const FANOUT_SLICE = 128;
/**
 * A message publish that fails is tried again this many times, the waits doubling from
 * PUBLISH_RETRY_MS (about 3 s in all): the publisher's connection can drop while every
 * subscriber's stays up, and then no node resyncs its sockets, so an online recipient
 * would not get the message until its next reconnect.
 */
const PUBLISH_RETRIES = 5;
const PUBLISH_RETRY_MS = 100;

export interface DeliveryDeps {
  bus: Bus;
  push: PushProvider;
  fanout: FanoutQueue;
  fanoutThreshold: number;
  /** Who is owed a message (the fan-out worker looks them up when it runs): see ChatAccess.recipients. */
  recipientsOf: (chatId: string, seq: number, membersVersion: number | undefined) => Promise<string[]>;
  metrics: Metrics;
  log: Logger;
}

/**
 * Gets events to users' devices: through the bus to whichever node holds their
 * sockets, the push side (which wakes each recipient device without an open socket),
 * and the fan-out queue for large groups.
 * Nothing here is needed for correctness of delivery: the store's cursors are, and
 * replay on connect makes good anything a live path missed.
 */
export class Delivery {
  constructor(private readonly deps: DeliveryDeps) {}

  /** Whether a message to this many members goes through the fan-out queue. */
  usesQueue(memberCount: number): boolean {
    return memberCount > this.deps.fanoutThreshold;
  }

  /** Makes this process a fan-out worker: it takes jobs from the queue and delivers them. */
  consumeFanout(): void {
    this.deps.fanout.start(async (job) => this.fanOut(job, await this.deps.recipientsOf(job.chatId, job.seq, job.membersVersion)));
  }

  /**
   * Delivers a committed message to every member's devices except the sending one. Never
   * rejects: live delivery is best effort. `memberIds` are the members at the commit
   * (membersVersion), which a fan-out worker elsewhere uses to find them again.
   */
  async message(message: LogEntry, memberIds: string[], opts: { redeliver?: boolean; membersVersion?: number } = {}): Promise<void> {
    await (
      await this.admit(message, memberIds, opts)
    ).done;
  }

  /**
   * Starts delivering a committed message; resolves once it is handed over: at once for
   * a small chat (published directly), once the fan-out queue accepted the job for a
   * large one. The sender's ack waits for this, so a full queue slows senders instead of
   * piling up their jobs. `done` settles when the direct publish finished. Never rejects:
   * a job the queue refuses (FanoutQueueFullError) reaches the members by replay.
   */
  async admit(
    message: LogEntry,
    memberIds: string[],
    opts: { redeliver?: boolean; membersVersion?: number } = {},
  ): Promise<{ done: Promise<void> }> {
    // A change (edit, delete, reaction) travels exactly like a message, as a message_update.
    const frame: ServerFrame = entryFrame(message);
    const job: FanoutJob = {
      chatId: message.chat_id,
      seq: message.seq,
      messageId: message.message_id,
      senderId: message.sender_id,
      senderDeviceId: message.sender_device_id,
      frame: JSON.stringify(frame),
      membersVersion: opts.membersVersion,
      ...(!isMessage(message) ? { change: true } : {}),
    };
    if (memberIds.length <= this.deps.fanoutThreshold || opts.redeliver) return { done: this.fanOut(job, memberIds, opts.redeliver) };
    try {
      await this.deps.fanout.enqueue(job);
    } catch (err) {
      this.deps.log.warn({ err, chat_id: job.chatId, seq: job.seq }, 'fan-out enqueue failed; members will get it by replay');
    }
    return { done: Promise.resolve() };
  }

  private async fanOut(job: FanoutJob, memberIds: string[], redeliver?: boolean): Promise<void> {
    const event: BusEvent = {
      kind: 'message',
      frame: job.frame,
      chatId: job.chatId,
      seq: job.seq,
      messageId: job.messageId,
      senderId: job.senderId,
      exceptDevice: job.senderDeviceId,
      redeliver,
      ...(job.change ? { change: true } : {}),
    };
    // Large groups go out in slices, yielding between them, so one fan-out cannot hold
    // the event loop (and every other socket) for its whole length.
    for (let from = 0; from < memberIds.length; from += FANOUT_SLICE) {
      if (from > 0) await new Promise((resolve) => setImmediate(resolve));
      await this.publishSlice(job, memberIds.slice(from, from + FANOUT_SLICE), event);
    }
  }

  private async publishSlice(job: FanoutJob, memberIds: string[], event: BusEvent): Promise<void> {
    // Push decides per device, later and without holding anything up; a redelivery is no new
    // message, and a change (edit, delete, reaction) wakes nobody: it reaches devices when they connect.
    if (event.kind === 'message' && !event.redeliver && !job.change) this.deps.push.messageCommitted({ ...job, userIds: memberIds });
    try {
      await this.deps.bus.publish(memberIds.map(userTopic), event);
    } catch (err) {
      this.deps.metrics.busPublishFailures.inc();
      this.deps.log.debug({ err, chat_id: job.chatId, seq: job.seq }, 'live delivery failed; trying again');
      // In the background: an outage holds up neither the fan-out worker nor the sender.
      void this.republish(job, memberIds, event);
    }
  }

  /** Tries a failed message publish again (see PUBLISH_RETRIES). Sockets drop what they already had, so a repeat is harmless. */
  private async republish(job: FanoutJob, memberIds: string[], event: BusEvent): Promise<void> {
    for (let attempt = 0; attempt < PUBLISH_RETRIES; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, PUBLISH_RETRY_MS * 2 ** attempt).unref());
      try {
        await this.deps.bus.publish(memberIds.map(userTopic), event);
        return;
      } catch {
        this.deps.metrics.busPublishFailures.inc();
      }
    }
    this.deps.log.debug({ chat_id: job.chatId, seq: job.seq }, 'live delivery failed; members will get it by replay');
  }

  /** Sends a frame to every online device of the given users (minus `exceptDevice`). */
  async toUsers(userIds: string[], frame: ServerFrame, opts: { exceptDevice?: string } = {}): Promise<void> {
    if (userIds.length === 0) return;
    try {
      await this.deps.bus.publish(userIds.map(userTopic), { kind: 'frame', frame: JSON.stringify(frame), ...opts });
    } catch (err) {
      // During a bus outage this fires for every event: count it, log it quietly.
      this.deps.metrics.busPublishFailures.inc();
      this.deps.log.debug({ err, type: frame.type }, 'bus publish failed');
    }
  }

  /**
   * Tells every node and fan-out worker that a chat's membership changed, so each drops
   * its copy. Redis writes the event to every subscriber before it answers, so it is in
   * each node's socket buffer before any client can hear of the change; a node whose bus
   * connection is down forgets every copy when it comes back (see main.ts).
   */
  async membershipChanged(chatId: string, removed?: string[]): Promise<void> {
    try {
      await this.deps.bus.publish(
        [MEMBERS_TOPIC],
        removed ? { kind: 'members-changed', chatId, removed } : { kind: 'members-changed', chatId },
      );
    } catch (err) {
      this.deps.metrics.busPublishFailures.inc();
      this.deps.log.warn({ err, chat_id: chatId }, 'membership change not broadcast; appends still check it');
    }
  }

  /** Closes a device's sockets wherever they are (logout). */
  async closeDevice(userId: string, deviceId: string, code: number, reason: string): Promise<void> {
    await this.deps.bus.publish([userTopic(userId)], { kind: 'close-device', deviceId, code, reason });
  }
}
