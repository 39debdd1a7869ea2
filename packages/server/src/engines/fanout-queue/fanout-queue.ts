import type { BusEvent } from '../bus/bus.js';

/*
 * The fan-out queue seam: delivery of one message to a large group's members, taken
 * off the sender's path. Jobs of one chat are handed to the worker in order; jobs of
 * different chats may run in parallel. The message itself is already durable, so a
 * job lost with its process is made good by replay from the members' cursors.
 * Implementations: InProcessFanoutQueue (embedded); a Redis stream queue for clusters.
 */
export interface FanoutJob {
  chatId: string;
  seq: number;
  messageId: string;
  senderId: string;
  memberIds: string[];
  event: BusEvent;
}

export type FanoutWorker = (job: FanoutJob) => Promise<void>;

export interface FanoutQueue {
  /** Resolves once the job is accepted; waits while the queue is full (backpressure). */
  enqueue(job: FanoutJob): Promise<void>;
  start(worker: FanoutWorker): void;
  /** Jobs accepted and not yet finished. */
  depth(): number;
  /** Stops taking jobs and waits for the accepted ones to finish. */
  close(): Promise<void>;
}
