import type { ServerFrame } from '@switchboard/protocol';
import { MEMBERS_TOPIC, userTopic, type Bus, type BusEvent } from '../engines/bus/bus.js';
import type { FanoutJob, FanoutQueue } from '../engines/fanout-queue/fanout-queue.js';
import { entryFrame, isMessage, type LogEntry } from '../engines/store/store.js';
import type { PushProvider } from '../push/push-provider.js';
import { KeyedChain } from '../util/keyed-chain.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';

/** Members published to at a time in a large fan-out (a message joining a run starts at a slice). */
const FANOUT_SLICE = 128;
/**
 * A large fan-out gives the event loop back once its slices have taken this long (ms):
 * often enough that other sockets are not held up for long, rarely enough that the
 * acks its first members send right away are not read between every two slices, which
 * would put the last members' writes behind all of them.
 */
const FANOUT_TURN_MS = 4;
/**
 * Messages of one chat in its fan-out run at once (see Run): past this the fan-out worker
 * waits for one to finish, so a backlog stays in the bounded fan-out queue (and slows
 * senders) instead of growing here.
 */
const MAX_RUN_JOBS = 32;
/**
 * A message publish that fails is tried again this many times, the waits doubling from
 * PUBLISH_RETRY_MS (about 3 s in all): the publisher's connection can drop while every
 * subscriber's stays up, and then no node resyncs its sockets, so an online recipient
 * would not get the message until its next reconnect.
 */
const PUBLISH_RETRIES = 5;
const PUBLISH_RETRY_MS = 100;

/** One message of a fan-out run: its event, how many members it still has to reach, who waits for it. */
interface RunJob {
  job: FanoutJob;
  event: BusEvent;
  left: number;
  done: () => void;
}

/**
 * A chat's fan-out in progress. It walks the members in slices, round and round, and
 * writes each slice every message that has joined it so far, oldest first; a message
 * that joins goes out from the slice the run has reached and is done once it came round
 * to that slice again. So a member gets a chat's messages in seq order (any member the run
 * reaches next gets every earlier message first, or already had it), the next message's
 * first members do not wait for the previous message's last ones, and the messages that
 * meet in a slice reach each socket in one write (one syscall per socket, not per message).
 */
interface Run {
  memberIds: string[];
  /** Where the next slice starts. */
  pos: number;
  jobs: RunJob[];
  /** Fan-out workers waiting for room (MAX_RUN_JOBS). */
  roomWaiters: (() => void)[];
}

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
  /** Fan-outs in progress by chat: the running one first, then any whose members differ (they start after it). */
  private readonly runs = new Map<string, Run[]>();
  /** Per chat, fan-out jobs being admitted: the next one waits for the one before (see queued). */
  private readonly admitting = new KeyedChain();
  /** Per chat, committed entries' hand-overs to delivery (see inOrder). */
  private readonly handovers = new KeyedChain();

  constructor(private readonly deps: DeliveryDeps) {}

  /**
   * Runs `handOver` (the admit of a committed entry, with whatever it must wait for first:
   * a membership re-read, room in the fan-out queue) once the chat's previous hand-over
   * finished. Callers call this as soon as their commit resolves, before any await of
   * their own, so a chat's entries reach delivery in commit order even while one device's
   * sends overlap or another's wait: members then never see a later seq first, which
   * each of their sockets would have to repair with a read of the store (a gap fill).
   */
  inOrder<T>(chatId: string, handOver: () => Promise<T>): Promise<T> {
    return this.handovers.run(chatId, handOver);
  }

  /** Whether a message to this many members goes through the fan-out queue. */
  usesQueue(memberCount: number): boolean {
    return memberCount > this.deps.fanoutThreshold;
  }

  /** Makes this process a fan-out worker: it takes jobs from the queue and delivers them. */
  consumeFanout(): void {
    this.deps.fanout.start((job) => this.queued(job));
  }

  /**
   * A job from the fan-out queue: joins its chat's run (in the queue's order: the next job
   * of the chat is admitted only after this one joined) and returns once it has joined and
   * the run has room, so that the queue hands over the next message while this one is
   * still being written. Never rejects.
   */
  private queued(job: FanoutJob): Promise<void> {
    return this.admitting
      .run(job.chatId, async () => {
        const memberIds = await this.deps.recipientsOf(job.chatId, job.seq, job.membersVersion);
        void this.fanOut(job, memberIds);
        await this.room(job.chatId);
      })
      .catch((err: unknown) => {
        this.deps.log.warn({ err, chat_id: job.chatId, seq: job.seq }, 'fan-out failed; members will get it by replay');
      });
  }

  /** Resolves once the chat's running fan-out holds fewer than MAX_RUN_JOBS messages. */
  private room(chatId: string): Promise<void> | void {
    const run = this.runs.get(chatId)?.at(-1);
    if (!run || run.jobs.length < MAX_RUN_JOBS) return;
    return new Promise((resolve) => run.roomWaiters.push(resolve));
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

  /**
   * Writes a message to the members' devices: at once for a chat that fits in one slice
   * and has no run going, else through the chat's run. Resolves once every member's slice
   * was published. Joins synchronously, so calls for one chat keep their order.
   */
  private fanOut(job: FanoutJob, memberIds: string[], redeliver?: boolean): Promise<void> {
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
    let runs = this.runs.get(job.chatId);
    if (!runs && memberIds.length <= FANOUT_SLICE) return this.publishSlice(job, memberIds, memberIds.map(userTopic), event);
    return new Promise<void>((done) => {
      const entry: RunJob = { job, event, left: memberIds.length, done };
      const last = runs?.at(-1);
      if (last && sameMembers(last.memberIds, memberIds)) {
        last.jobs.push(entry);
        return;
      }
      const run: Run = { memberIds, pos: 0, jobs: [entry], roomWaiters: [] };
      if (runs) {
        runs.push(run); // after the running one: its members differ (a change of membership)
        return;
      }
      this.runs.set(job.chatId, (runs = [run]));
      void this.drive(job.chatId, runs);
    });
  }

  /** Runs a chat's fan-outs one after another until none is left. */
  private async drive(chatId: string, runs: Run[]): Promise<void> {
    // Large groups go out in slices, yielding every FANOUT_TURN_MS, so one fan-out cannot
    // hold the event loop (and every other socket) for its whole length.
    let turnStarted = performance.now();
    for (let run = runs[0]; run; run = runs[0]) {
      const n = run.memberIds.length;
      while (run.jobs.length > 0) {
        if (performance.now() - turnStarted >= FANOUT_TURN_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          turnStarted = performance.now();
        }
        const from = run.pos;
        const to = Math.min(from + FANOUT_SLICE, n);
        const slice = run.memberIds.slice(from, to);
        const topics = slice.map(userTopic);
        const active = run.jobs.slice();
        if (this.deps.bus.inline) {
          // Handed to the sockets synchronously, in order: the messages of this slice leave each socket in one write.
          await Promise.all(active.map((j) => this.publishSlice(j.job, slice, topics, j.event)));
        } else {
          for (const j of active) await this.publishSlice(j.job, slice, topics, j.event);
        }
        run.pos = to >= n ? 0 : to;
        for (const j of active) if ((j.left -= slice.length) <= 0) j.done();
        run.jobs = run.jobs.filter((j) => j.left > 0);
        while (run.roomWaiters.length > 0 && run.jobs.length < MAX_RUN_JOBS) run.roomWaiters.shift()!();
      }
      for (const wake of run.roomWaiters.splice(0)) wake();
      runs.shift();
    }
    this.runs.delete(chatId);
  }

  private async publishSlice(job: FanoutJob, memberIds: string[], topics: string[], event: BusEvent): Promise<void> {
    // Push decides per device, later and without holding anything up; a redelivery is no new
    // message, and a change (edit, delete, reaction) wakes nobody: it reaches devices when they connect.
    if (event.kind === 'message' && !event.redeliver && !job.change) this.deps.push.messageCommitted(job, memberIds);
    try {
      await this.deps.bus.publish(topics, event);
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
  async toUsers(userIds: string[], frame: ServerFrame, opts: { exceptDevice?: string; rideMs?: number } = {}): Promise<void> {
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

/** Whether two member lists are the same (the members cache gives the same ids in the same order). */
function sameMembers(a: string[], b: string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
