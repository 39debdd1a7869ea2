/*
 * The push-job seam: messages whose recipients' offline devices may need a push. A job
 * is written when a message is delivered and read by a push dispatcher, never on the
 * send path's critical section (enqueue does not wait for any push provider).
 *
 * Guarantees:
 * - Bounded: enqueue never grows memory without limit (embedded: a full queue drops
 *   the job and says so; cluster: a capped Redis stream).
 * - Cluster: every job is handled by one node of all those consuming; the jobs of a
 *   consumer that died are taken over by another (at least once). `claim` makes the
 *   push itself happen once per device and message even when a job runs twice.
 * Implementations: InProcessPushQueue (embedded), RedisStreamPushQueue (cluster).
 */

export interface PushJob {
  chatId: string;
  seq: number;
  messageId: string;
  senderId: string;
  senderDeviceId: string;
  /** Recipients (users) whose devices without an open socket get a push. */
  userIds: string[];
  /** The message's content, only when previews are on. */
  content?: string;
  /** An end-to-end encrypted message: its push never carries a preview or a name (docs/e2ee.md). */
  encrypted?: boolean;
  /** Users the message mentions: pushed even where they muted the chat. */
  mentions?: string[];
}

export interface PushQueue {
  /** Queues a job; resolves false when it was dropped (queue full). Never waits for a provider. */
  enqueue(job: PushJob): Promise<boolean>;
  /** Starts handing jobs to `handle`, a batch at a time, at most `concurrency` batches at once. */
  start(handle: (jobs: PushJob[]) => Promise<void>, concurrency: number): void;
  /**
   * Takes the right to push `messageId` to `deviceId` for `holdMs`; false when some
   * handler has it or has done it. `done` makes it permanent (for a day).
   */
  claim(messageId: string, deviceId: string, holdMs: number): Promise<boolean>;
  done(messageId: string, deviceId: string): Promise<void>;
  /** A value every node agrees on: the first `candidate` stored under `name` wins. */
  shared(name: string, candidate: string): Promise<string>;
  close(): Promise<void>;
}
