import { runFanoutQueueContract } from './fanout-queue.contract.js';
import { InProcessFanoutQueue } from './in-process-fanout-queue.js';

// One process: both consumers are the same queue, every chat is its own lane.
runFanoutQueueContract('in-process', { backpressure: true }, async (options) => {
  const queue = new InProcessFanoutQueue(options?.capacity ?? 1000);
  return { a: queue, b: queue, independent: () => true, cleanup: () => queue.close() };
});
