import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { CloseCode, directChatId } from '@switchboard/protocol';
import { http, registerUser, sleep, startServerProcess, suiteServer, tempDir, TestSocket, type TestUser } from '../testing/harness.js';
import { pollUntil } from '../testing/poll.js';

/*
 * Operational acceptance tests: health and readiness probes, Prometheus metrics,
 * graceful shutdown on SIGTERM (close code 4000 = reconnect), and slow consumers
 * (close code 4001, nothing lost).
 */

const timeout = (ms: number) => sleep(ms).then(() => -1);

// ---------- Prometheus text parsing ----------

interface Metrics {
  types: Map<string, string>;
  samples: { name: string; labels: string; value: number }[];
}

function parseMetrics(text: string): Metrics {
  const types = new Map<string, string>();
  const samples: Metrics['samples'] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(/\s+/);
      if (name && type) types.set(name, type);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    const value = Number(m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : m[3]);
    samples.push({ name: m[1]!, labels: m[2] ?? '', value });
  }
  return { types, samples };
}

function sum(metrics: Metrics, sample: string): number {
  return metrics.samples.filter((s) => s.name === sample).reduce((acc, s) => acc + s.value, 0);
}

/**
 * Finds a switchboard_ metric of the given type: the expected name if exported, else the
 * first switchboard_ metric of that type whose name matches the pattern.
 */
function findMetric(metrics: Metrics, expected: string, type: string, pattern: RegExp): string {
  if (metrics.types.get(expected) === type) return expected;
  for (const [name, t] of metrics.types) if (t === type && name.startsWith('switchboard_') && pattern.test(name)) return name;
  assert.fail(
    `no switchboard_ ${type} metric for ${expected} (${pattern}); exported: ${[...metrics.types].map(([n, t]) => `${n}:${t}`).join(', ')}`,
  );
}

/** /metrics on the public listener needs the bearer token (METRICS_TOKEN); the suites here set this one. */
const METRICS_TOKEN = 'ops-test-metrics-token';

async function scrape(baseUrl: string): Promise<Metrics> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return parseMetrics(await res.text());
}

describe('probes and metrics', () => {
  const { srv, open } = suiteServer({ metricsToken: METRICS_TOKEN });

  it('GET /healthz and GET /readyz answer 200 without auth', async () => {
    assert.equal((await fetch(`${srv.baseUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${srv.baseUrl}/readyz`)).status, 200);
  });

  it('GET /metrics is Prometheus text covering connections, messages sent and delivered, and send latency', async () => {
    const m0 = await scrape(srv.baseUrl);
    const connections = findMetric(m0, 'switchboard_connections', 'gauge', /conn|socket/);
    const sent = findMetric(m0, 'switchboard_messages_sent_total', 'counter', /messages?_sent|sent/);
    const delivered = findMetric(m0, 'switchboard_messages_delivered_total', 'counter', /deliver/);
    const latency = findMetric(m0, 'switchboard_send_latency_seconds', 'histogram', /send.*(latency|duration)|latency/);

    const alice = await registerUser(srv.baseUrl, 'met_a');
    const bob = await registerUser(srv.baseUrl, 'met_b');
    const sa = await open(alice);
    const sb = await open(bob);

    const m1 = await scrape(srv.baseUrl);
    assert.ok(
      sum(m1, connections) >= sum(m0, connections) + 2,
      `${connections} counts the 2 new sockets: ${sum(m0, connections)} -> ${sum(m1, connections)}`,
    );

    const dm = directChatId(alice.user_id, bob.user_id);
    for (let i = 0; i < 3; i++) {
      const ack = await sa.sendMessage(dm, `metric ${i}`);
      assert.equal(ack.type, 'ack_sent');
      const nm = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
      sb.send({ type: 'ack_delivered', message_id: nm.message_id });
    }

    const m2 = await pollUntil(
      'metrics reflect 3 sends and deliveries',
      () => scrape(srv.baseUrl),
      (m) =>
        sum(m, sent) >= sum(m1, sent) + 3 &&
        sum(m, delivered) >= sum(m1, delivered) + 3 &&
        sum(m, `${latency}_count`) >= sum(m1, `${latency}_count`) + 3,
    );
    assert.ok(
      m2.samples.some((s) => s.name === `${latency}_bucket` && s.labels.includes('le="+Inf"')),
      'latency histogram has buckets',
    );
    assert.ok(sum(m2, `${latency}_sum`) > 0, 'latency histogram sums observed time');

    sa.terminate();
    sb.terminate();
    await Promise.all([sa.closed, sb.closed]);
    await pollUntil(
      'connections drop after close',
      () => scrape(srv.baseUrl),
      (m) => sum(m, connections) <= sum(m1, connections) - 2,
    );
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM closes sockets with 4000 (reconnect), exits 0, and keeps acknowledged messages', async () => {
    const dataDir = tempDir('switchboard-ops-');
    try {
      const proc = await startServerProcess({ dataDir });
      let exited = false;
      try {
        const alice = await registerUser(proc.baseUrl, 'term_a');
        const bob = await registerUser(proc.baseUrl, 'term_b');
        const sa = await TestSocket.connectSynced(proc.wsUrl, alice.token);
        const sb = await TestSocket.connectSynced(proc.wsUrl, bob.token);
        const dm = directChatId(alice.user_id, bob.user_id);
        const ack = await sa.sendMessage(dm, 'before shutdown');
        assert.equal(ack.type, 'ack_sent');

        proc.proc.kill('SIGTERM');
        const [ca, cb] = await Promise.all([Promise.race([sa.closed, timeout(10_000)]), Promise.race([sb.closed, timeout(10_000)])]);
        assert.equal(ca, CloseCode.reconnect, 'alice socket closed with 4000');
        assert.equal(cb, CloseCode.reconnect, 'bob socket closed with 4000');
        const code = await Promise.race([proc.exited, timeout(15_000)]);
        exited = true;
        assert.equal(code, 0, 'process exits 0 after SIGTERM');

        // Restart on the same data: the acknowledged message is there.
        const again = await startServerProcess({ dataDir });
        try {
          const hist = await http(again.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(dm)}/messages`, { token: bob.token });
          assert.equal(hist.status, 200, JSON.stringify(hist.body));
          assert.deepEqual(
            hist.body.messages.map((m: any) => m.message_id),
            [ack.message_id],
          );
        } finally {
          await again.kill('SIGTERM');
        }
      } finally {
        if (!exited) await proc.kill('SIGKILL');
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('slow consumers', () => {
  // Megabytes from one device on purpose: a load test, so per-client limits are off (RATE_LIMITS=off).
  const { srv, open, connect } = suiteServer({ maxSocketBufferBytes: 64 * 1024, rateLimits: false, metricsToken: METRICS_TOKEN });

  it('closes a socket that stops reading with 4001 instead of buffering, and the device loses nothing', async () => {
    const alice: TestUser = await registerUser(srv.baseUrl, 'slow_a');
    const bob: TestUser = await registerUser(srv.baseUrl, 'slow_b');
    const sa = await open(alice);
    const sb = await open(bob);
    const dm = directChatId(alice.user_id, bob.user_id);

    // Bob's client stops reading from the TCP socket: the kernel buffers fill, then the
    // server's outbound buffer for this socket grows.
    const raw = (sb.ws as unknown as { _socket: Socket })._socket;
    raw.pause();

    // How the test learns, without reading Bob's socket, that the server has closed it: a
    // slow-consumer counter in /metrics if there is one, or Bob shown offline. The client must
    // resume reading soon after, since a server may (rightly) cut a peer that never reads the
    // close frame after a grace period, and then the client would see 1006 instead of 4001.
    const serverGaveUpOnBob = async (): Promise<boolean> => {
      const m = await scrape(srv.baseUrl);
      for (const [name, type] of m.types) {
        if (type === 'counter' && name.startsWith('switchboard_') && /slow/.test(name) && sum(m, name) > 0) return true;
      }
      const presence = await http(srv.baseUrl, 'GET', `/v1/users/${encodeURIComponent(bob.user_id)}/presence`, { token: alice.token });
      return presence.status === 200 && presence.body.online === false;
    };

    const body = 'm'.repeat(16 * 1024);
    const acked: { message_id: string; seq: number }[] = [];
    let n = 0;
    // Send 1.6 MB at a time until the server has given up on Bob's socket, up to 48 MB.
    for (let batch = 0; batch < 30; batch++) {
      const ids: string[] = [];
      for (let i = 0; i < 100; i++) {
        const id = `slow-${n++}`;
        ids.push(id);
        sa.send({ type: 'send_message', chat_id: dm, client_msg_id: id, content: `${n}:${body}` });
      }
      const wanted = new Set(ids);
      await pollUntil(
        'acks for a batch',
        async () =>
          sa.all('ack_sent').filter((f) => wanted.has(f.client_msg_id)).length +
          sa.all('error').filter((f) => wanted.has(f.client_msg_id ?? '')).length,
        (c) => c === ids.length,
        30_000,
      );
      const errors = sa.all('error');
      assert.equal(errors.length, 0, `sender got errors: ${JSON.stringify(errors.slice(0, 3))}`);
      if (await serverGaveUpOnBob()) break;
    }
    for (const f of sa.all('ack_sent')) acked.push({ message_id: f.message_id, seq: f.seq });
    assert.equal(acked.length, n);
    assert.equal(sa.closeCode, null, 'the sender, which reads, is not treated as slow');

    // Bob reads again: whatever was already in flight arrives, then the close frame.
    raw.resume();
    const code = await Promise.race([sb.closed, timeout(15_000)]);
    assert.notEqual(code, -1, 'the slow socket was never closed (server buffers without bound)');
    assert.equal(code, CloseCode.slowConsumer, `slow socket closed with ${code}, expected 4001`);
    assert.ok(sb.all('new_message').length < n, 'the slow socket did not get everything before being closed');

    // On reconnect, the device gets every message (it acknowledged none), in seq order, then sync_complete.
    const again = await connect(bob);
    const synced = await Promise.race([
      again.next('sync_complete', 30_000).then(
        () => 'synced',
        () => 'timeout',
      ),
      again.closed.then((c) => `closed ${c}`),
    ]);
    assert.equal(
      synced,
      'synced',
      `reconnected device did not get sync_complete (${synced}) after ${again.all('new_message').length} new_message frames, last seq ${again.all('new_message').at(-1)?.seq}, of ${n} sent`,
    );
    const got = again.all('new_message');
    const firstSeen = new Map<string, number>();
    got.forEach((f, i) => {
      if (!firstSeen.has(f.message_id)) firstSeen.set(f.message_id, i);
    });
    const missing = acked.filter((m) => !firstSeen.has(m.message_id));
    assert.equal(missing.length, 0, `${missing.length} of ${acked.length} messages never arrived after reconnect`);
    const order = [...acked].sort((x, y) => firstSeen.get(x.message_id)! - firstSeen.get(y.message_id)!).map((m) => m.seq);
    assert.deepEqual(
      order,
      [...order].sort((x, y) => x - y),
      'replayed in seq order',
    );
    assert.equal(again.closeCode, null, 'the replay itself respects the buffer cap (reconnected socket not closed)');
    again.send({ type: 'ping' });
    await again.next('pong');
  });
});
