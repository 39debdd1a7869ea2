import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestServer } from '@switchboard/server/testing';
import { relaySessions, spawnRelay } from './compare.js';
import { ACK_SENT, ERROR, FrameScanner, NEW_MESSAGE, OTHER, STATUS_UPDATE, SYNC_COMPLETE, UNKNOWN } from './frame-scan.js';
import { runPairs, type PairsOptions, type PairsReport } from './pairs.js';
import { dialectOf, inDialect } from './wire.js';

/*
 * The lean pairs load generator (issue 23) reads frames by byte search instead of parsing
 * them. These runs check that it still counts right against every kind of server it drives:
 * Switchboard (receipts and status updates), the bare ws relay and the Socket.IO relay (its
 * own wire format). Every message sent arrives once, is acknowledged once, and has a latency.
 * Against Switchboard also as the SDK's socket (?batch=1): arrays both ways, reads in place
 * of the delivery acks they cover.
 */

const opts = (over: Partial<PairsOptions> = {}): PairsOptions => ({
  pairs: 4,
  rates: [200],
  stepSeconds: 1,
  warmupRate: 0,
  warmupSeconds: 0,
  contentBytes: 16,
  gen: 'inline',
  generators: 1,
  readIntervalMs: 50,
  receipts: true,
  drainMs: 10_000,
  maxBacklogSeconds: 30,
  ...over,
});

function assertCounted(r: PairsReport): void {
  const t = r.totals;
  const batch = r.batch;
  assert.ok(t.sent >= 150, `sent ${t.sent}`);
  assert.equal(t.received, t.sent, 'every message arrived');
  assert.equal(t.acked, t.sent, 'every message acknowledged');
  assert.equal(t.duplicates, 0);
  assert.deepEqual(t.errors, {});
  assert.equal(t.closedEarly, 0);
  assert.equal(t.slowFrames, 0, 'every frame read by the byte scanner');
  assert.ok(t.drained);
  const step = r.steps.find((s) => s.label === '1')!;
  assert.equal(step.latency.count, t.sent, 'a latency for every message');
  assert.equal(step.ack.count, t.sent, 'an ack latency for every message');
  assert.ok(step.latency.p50 >= 0 && step.latency.max < 10_000, `latency ${step.latency.p50}..${step.latency.max} ms`);
  // Each message is acknowledged: in an ack_delivered, or by an ack_read (its window's ids went
  // with one, or, batched, its arrival sent one). Exactly once each: no duplicates arrived.
  if (!batch) assert.ok(t.ackDeliveredIds > 0, 'ack_delivered frames went out');
  assert.equal(t.ackDeliveredIds + t.ackFoldedIds, t.sent, `ack_delivered ids ${t.ackDeliveredIds} + folded ${t.ackFoldedIds}`);
  assert.ok(t.ackReadFrames > 0);
  assert.ok(r.generator.usPerMessage > 0, 'the generator measured its own CPU');
  // Receipts ride with sends where they can: never more writes than frames sent.
  assert.ok(t.socketWrites > 0 && t.socketWrites <= t.sent + t.ackDeliveredFrames + t.ackReadFrames, `writes ${t.socketWrites}`);
  assert.ok(t.socketReads > 0);
  const framesOut = t.sent + t.ackDeliveredFrames + t.ackReadFrames;
  if (batch) return;
  // One WebSocket message per frame on these sockets (no ?batch=1): every send and ack went out
  // (and a few heartbeat answers to Socket.IO's pings), every delivery and ack_sent came in.
  assert.ok(
    t.wsMessagesOut >= framesOut && t.wsMessagesOut <= framesOut + 100,
    `WebSocket messages out ${t.wsMessagesOut}, frames ${framesOut}`,
  );
  assert.ok(t.wsMessagesIn >= t.received + t.acked, `WebSocket messages in ${t.wsMessagesIn}`);
}

test('against Switchboard: every message counted once, receipts answered with status updates', { timeout: 60_000 }, async () => {
  const srv = await startTestServer({ rateLimits: false });
  try {
    const r = await runPairs({ baseUrl: srv.baseUrl, pid: process.pid, describe: 'test server', stop: async () => {} }, opts(), () => {});
    assertCounted(r);
    // Reads come within the server's status window, so delivered is folded into them (guarantee 6).
    assert.ok(r.totals.statusRead > 0, `status ${r.totals.statusDelivered}/${r.totals.statusRead}`);
  } finally {
    await srv.stop();
  }
});

test(
  'against Switchboard as the SDK (?batch=1): arrays split, every message acknowledged once, reads in place of acks',
  { timeout: 60_000 },
  async () => {
    const srv = await startTestServer({ rateLimits: false });
    try {
      // Bursts of 4: a socket's four sends leave as one array, and the server answers in arrays.
      const r = await runPairs(
        { baseUrl: srv.baseUrl, pid: process.pid, describe: 'test server', stop: async () => {} },
        opts({ burst: 4 }),
        () => {},
        { batch: true },
      );
      assert.equal(r.batch, true);
      assertCounted(r);
      const t = r.totals;
      // Each receiver gets a message every 40 ms, its read is due every 50: many arrivals send the read.
      assert.ok(t.ackFoldedIds > 0, 'reads went in place of ack_delivered');
      assert.ok(t.statusRead > 0, `status ${t.statusDelivered}/${t.statusRead}`);
      const framesOut = t.sent + t.ackDeliveredFrames + t.ackReadFrames;
      assert.ok(t.wsMessagesOut < framesOut, `arrays went out: ${t.wsMessagesOut} WebSocket messages for ${framesOut} frames`);
      assert.ok(t.wsMessagesOut <= Math.ceil(t.sent / 4) + t.ackDeliveredFrames + t.ackReadFrames + 16, `${t.wsMessagesOut} out`);
      const framesIn = t.received + t.acked + t.statusDelivered + t.statusRead;
      assert.ok(t.wsMessagesIn < framesIn, `arrays came in and were split: ${t.wsMessagesIn} WebSocket messages for ${framesIn} frames`);
    } finally {
      await srv.stop();
    }
  },
);

for (const [script, transport] of [
  ['ws-relay.js', 'ws'],
  ['socketio-relay.js', 'socket.io'],
] as const) {
  test(`against the ${transport} relay, in two worker threads: every message counted once`, { timeout: 60_000 }, async () => {
    const t = await spawnRelay(script, []);
    try {
      const port = Number(new URL(t.baseUrl).port);
      const r = await runPairs(t, opts({ gen: 'worker', generators: 2 }), () => {}, { sessions: relaySessions(() => port), transport });
      assertCounted(r);
    } finally {
      await t.stop();
    }
  });
}

test('bursts: a socket sends its K messages in one write; a polling generator counts every message once', { timeout: 60_000 }, async () => {
  const t = await spawnRelay('ws-relay.js', []);
  try {
    const port = Number(new URL(t.baseUrl).port);
    const r = await runPairs(t, opts({ burst: 4, spin: true, receipts: false }), () => {}, { sessions: relaySessions(() => port) });
    const x = r.totals;
    assert.ok(x.sent >= 150, `sent ${x.sent}`);
    assert.equal(x.received, x.sent);
    assert.equal(x.acked, x.sent);
    assert.equal(x.duplicates, 0);
    assert.deepEqual(x.errors, {});
    assert.equal(r.steps.find((s) => s.label === '1')!.latency.count, x.sent);
    // No receipts: every write is a burst of sends (the step's last one per socket may be short).
    assert.ok(x.socketWrites <= Math.ceil(x.sent / 4) + 8, `writes ${x.socketWrites} for ${x.sent} messages`);
  } finally {
    await t.stop();
  }
});

test('the frame scanner reads both dialects, and sends what it cannot read to the slow path', () => {
  for (const transport of ['ws', 'socket.io'] as const) {
    const d = dialectOf(transport);
    const sc = new FrameScanner(d);
    // As the servers write them; the generator's own templates (inDialect) agree where there is no backslash.
    const frame = (o: object) => {
      const json = JSON.stringify(o);
      const text = transport === 'ws' ? json : `42${JSON.stringify(['f', o])}`;
      if (!json.includes('\\')) assert.equal(d.pre + inDialect(d, json) + d.post, text);
      return { buf: Buffer.from(text), start: d.pre.length };
    };
    const m = frame({ type: 'new_message', message_id: 'm-1', chat_id: 'dm:a:b', seq: 1234, client_msg_id: 'run.2.77', content: 'x' });
    assert.equal(sc.type(m.buf, m.start), NEW_MESSAGE);
    assert.equal(sc.int(m.buf, sc.key('seq'), m.start), 1234);
    const s = sc.str(m.buf, sc.key('message_id'), m.start);
    assert.equal(m.buf.toString('latin1', s, sc.end), 'm-1');
    const c = sc.str(m.buf, sc.key('client_msg_id'), m.start);
    assert.equal(m.buf.toString('latin1', c, sc.end), 'run.2.77');
    assert.equal(sc.parse(m.buf, m.start).content, 'x');
    // A quoted key inside a string value is escaped, so it is never taken for a key.
    const tricky = frame({ type: 'new_message', content: '"seq":5', seq: 6 });
    assert.equal(sc.int(tricky.buf, sc.key('seq'), tricky.start), 6);
    assert.equal(sc.str(frame({ type: 'ack_sent', client_msg_id: null }).buf, sc.key('client_msg_id'), d.pre.length), -1);
    const types: [object, number][] = [
      [{ type: 'ack_sent' }, ACK_SENT],
      [{ type: 'status_update', status: 'read' }, STATUS_UPDATE],
      [{ type: 'sync_complete' }, SYNC_COMPLETE],
      [{ type: 'error', code: 'x' }, ERROR],
      [{ type: 'presence' }, OTHER],
      [{ type: 'new_messages' }, OTHER],
      [{ seq: 1, type: 'new_message' }, UNKNOWN],
    ];
    for (const [o, want] of types) {
      const f = frame(o);
      assert.equal(sc.type(f.buf, f.start), want, JSON.stringify(o));
    }
    assert.equal(sc.type(Buffer.from(`${d.pre}{ "type": "new_message"}`), d.pre.length), UNKNOWN);
  }
});
