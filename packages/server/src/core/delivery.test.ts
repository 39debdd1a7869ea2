import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InProcessBus } from '../engines/bus/in-process-bus.js';
import { userTopic, type BusEvent } from '../engines/bus/bus.js';
import { InProcessFanoutQueue } from '../engines/fanout-queue/in-process-fanout-queue.js';
import type { PushProvider } from '../push/push-provider.js';
import { createLogger } from '../util/logger.js';
import { createMetrics } from '../util/metrics.js';
import { Delivery } from './delivery.js';
import type { LogEntry } from '../engines/store/store.js';

/*
 * Fan-out runs (delivery.ts): messages of a large group that come while an earlier one is
 * still being written join its run. Each member must still get the chat's messages in seq
 * order, exactly once, and a later message's first members must not wait for the earlier
 * message's last ones.
 */

const MEMBERS = 1000;
const MESSAGES = 12;

test('messages joining a fan-out in progress reach every member once, in seq order, and overlap the earlier ones', async () => {
  const bus = new InProcessBus();
  const members = Array.from({ length: MEMBERS }, (_, i) => `u${i}`);
  for (const m of members) await bus.subscribe(userTopic(m));
  const got = new Map<string, number[]>();
  const writes: number[] = []; // seq of every write, in the order they happened
  bus.onEvent((topic, event: BusEvent) => {
    if (event.kind !== 'message') return;
    let list = got.get(topic);
    if (!list) got.set(topic, (list = []));
    list.push(event.seq);
    writes.push(event.seq);
  });
  const push = { messageCommitted() {} } as unknown as PushProvider;
  const delivery = new Delivery({
    bus,
    push,
    fanout: new InProcessFanoutQueue(1000),
    fanoutThreshold: 100,
    recipientsOf: async () => members,
    metrics: createMetrics(),
    log: createLogger('silent'),
  });
  delivery.consumeFanout();
  const entry = (seq: number): LogEntry =>
    ({
      message_id: `m${seq}`,
      chat_id: 'g:1',
      seq,
      sender_id: 'sender',
      sender_device_id: 'd',
      client_msg_id: `c${seq}`,
      content: `#${seq}`,
      created_at: seq,
    }) as LogEntry;
  for (let seq = 1; seq <= MESSAGES; seq++) {
    await delivery.admit(entry(seq), members, { membersVersion: 1 });
    // A few turns apart: later messages arrive while earlier ones are mid-fan-out.
    for (let i = 0; i < seq % 3; i++) await new Promise((resolve) => setImmediate(resolve));
  }
  const deadline = Date.now() + 10_000;
  while (writes.length < MEMBERS * MESSAGES && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  const inOrder = Array.from({ length: MESSAGES }, (_, i) => i + 1);
  for (const m of members) assert.deepEqual(got.get(userTopic(m)), inOrder, `what ${m} got`);
  assert.equal(writes.length, MEMBERS * MESSAGES, 'each message once to each member');
  // Some message was first written before the one before it had reached everyone.
  const lastOf = (seq: number) => writes.lastIndexOf(seq);
  const firstOf = (seq: number) => writes.indexOf(seq);
  assert.ok(
    inOrder.slice(1).some((seq) => firstOf(seq) < lastOf(seq - 1)),
    'a later message started before the earlier one finished',
  );
});
