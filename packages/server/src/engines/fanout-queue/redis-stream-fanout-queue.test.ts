import { redisUnavailable, testRedisUrl } from '../../testing/services.js';
import { runFanoutQueueContract } from './fanout-queue.contract.js';
import { redisStreamContractSetup } from './redis-stream-contract-setup.js';

const unavailable = await redisUnavailable();

if (unavailable) {
  const { test } = await import('node:test');
  test('redis stream fan-out queue', { skip: unavailable }, () => {});
} else {
  runFanoutQueueContract('redis stream', { backpressure: false }, redisStreamContractSetup(testRedisUrl));
}
