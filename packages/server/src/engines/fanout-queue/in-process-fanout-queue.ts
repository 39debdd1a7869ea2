import { FanoutQueueFullError, type FanoutJob, type FanoutQueue, type FanoutWorker } from './fanout-queue.js';

/**
 * The embedded fan-out queue: one FIFO lane per chat (order per chat), lanes drained
 * concurrently, and bounds on memory: at most `capacity` jobs held, and at most
 * `maxWaiting` enqueue() calls waiting for room (each holds its encoded frame); past
 * that, enqueue() fails at once with FanoutQueueFullError instead of queueing. A burst
 * slows senders (their acks wait for room) instead of growing the heap.
 */
export class InProcessFanoutQueue implements FanoutQueue {
  private readonly lanes = new Map<string, FanoutJob[]>();
  private held = 0;
  private waitingForRoom: (() => void)[] = [];
  private worker: FanoutWorker | null = null;
  private idle: (() => void)[] = [];

  constructor(
    private readonly capacity: number,
    private readonly maxWaiting = capacity,
  ) {}

  start(worker: FanoutWorker): void {
    this.worker = worker;
    for (const chatId of this.lanes.keys()) void this.drain(chatId);
  }

  depth(): number {
    return this.held;
  }

  async enqueue(job: FanoutJob): Promise<void> {
    while (this.held >= this.capacity) {
      if (this.waitingForRoom.length >= this.maxWaiting) throw new FanoutQueueFullError();
      await new Promise<void>((resolve) => this.waitingForRoom.push(resolve));
    }
    this.held++;
    const lane = this.lanes.get(job.chatId);
    if (lane) {
      lane.push(job);
      return; // its drain loop is running and will reach this job in order
    }
    this.lanes.set(job.chatId, [job]);
    if (this.worker) void this.drain(job.chatId);
  }

  private async drain(chatId: string): Promise<void> {
    // Start on the next turn: the sender's ack_sent, written in this one, goes out first.
    await new Promise((resolve) => setImmediate(resolve));
    const lane = this.lanes.get(chatId);
    while (lane && lane.length > 0 && this.worker) {
      const job = lane[0]!;
      try {
        await this.worker(job);
      } catch {
        // The worker logs; the message is durable and reaches members by replay.
      }
      lane.shift();
      this.held--;
      this.waitingForRoom.shift()?.();
    }
    if (lane && lane.length === 0) this.lanes.delete(chatId);
    if (this.held === 0) for (const done of this.idle.splice(0)) done();
  }

  async close(): Promise<void> {
    if (this.held > 0 && this.worker) await new Promise<void>((resolve) => this.idle.push(resolve));
  }
}
