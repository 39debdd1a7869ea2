/*
 * The fan-out queue seam: delivery of one message to a large group's members, taken
 * off the sender's path. Jobs of one chat are handed to the worker in order; jobs of
 * different chats may run in parallel. The message itself is already durable, so a
 * job lost with its process is made good by replay from the members' cursors.
 * Implementations: InProcessFanoutQueue (embedded); RedisStreamFanoutQueue for clusters.
 */
export interface FanoutJob {
  chatId: string;
  seq: number;
  messageId: string;
  senderId: string;
  senderDeviceId: string;
  /** The encoded new_message (or message_update) frame. The worker looks up the members itself (jobs stay small). */
  frame: string;
  /** An edit, delete or reaction (message_update): delivered like a message, but wakes nobody by push. */
  change?: boolean;
  /** The chat's membership version at the commit: the worker reads the members again if it knows an older one. */
  membersVersion?: number;
}

export type FanoutWorker = (job: FanoutJob) => Promise<void>;

/** enqueue() refused a job: the queue is full and so many senders already wait that one more may not. */
export class FanoutQueueFullError extends Error {
  constructor() {
    super('fan-out queue full');
  }
}

export interface FanoutQueue {
  /** Resolves once the job is accepted; waits while the queue is full (backpressure). */
  enqueue(job: FanoutJob): Promise<void>;
  /** Starts handing jobs to the worker (embedded: this process's; cluster: a consumer in a group). */
  start(worker: FanoutWorker): void;
  /** Jobs accepted and not yet finished, as far as this process knows. */
  depth(): number;
  /** Stops taking jobs and waits for the accepted ones to finish. */
  close(): Promise<void>;
}
