import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { directChatId, type SessionView } from '@switchboard/protocol';
import { sleep, type ServerProcess } from '@switchboard/server/testing';
import {
  clusterServicesMissing,
  freshPgSchema,
  startBalancer,
  startNode,
  startRedis,
  testPrefix,
  type TestRedis,
} from '@switchboard/server/testing/cluster';
import { SwitchboardClient, type AckSent } from '@switchboard/client';

/*
 * The SDK on a three-node cluster behind a load balancer, under steady traffic:
 * SIGKILL one node, and restart Redis. Nothing acknowledged may be lost, every
 * recipient device gets every acknowledged message, and the dead node's clients are
 * connected again (to live nodes) within 10 s.
 */
const missing = await clusterServicesMissing();

interface Peer {
  client: SwitchboardClient;
  session: SessionView;
  partner: number;
  acked: AckSent[];
  received: Set<string>;
}

describe('cluster failover with the SDK', { skip: missing ?? false }, () => {
  let redis: TestRedis;
  let pgSchema: { url: string; drop: () => Promise<void> };
  const nodes: ServerProcess[] = [];
  let balancer: { url: string; close(): void };
  const peers: Peer[] = [];
  const PAIRS = 100;

  before(async () => {
    redis = await startRedis();
    pgSchema = await freshPgSchema();
    const prefix = testPrefix();
    const env = { PASSWORD_HASH_KIB: '64' };
    nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: pgSchema.url, prefix, env }));
    nodes.push(...(await Promise.all([1, 2].map(() => startNode({ redisUrl: redis.url, databaseUrl: pgSchema.url, prefix, env })))));
    balancer = await startBalancer(() => nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null).map((n) => n.port));
    const tag = Math.random().toString(36).slice(2, 8);
    for (let i = 0; i < PAIRS * 2; i++) {
      const username = `fo${tag}_${i}`;
      await SwitchboardClient.register(balancer.url, { username, password: 'correct horse' });
    }
    for (let i = 0; i < PAIRS * 2; i++) {
      const session = await SwitchboardClient.login(balancer.url, { username: `fo${tag}_${i}`, password: 'correct horse' });
      // Spread the clients over the three nodes whatever the registry's load figures say.
      session.ws_url = nodes[i % 3]!.wsUrl;
      const client = SwitchboardClient.fromSession(balancer.url, session, {
        WebSocket: WebSocket as never,
        backoff: { baseMs: 100, capMs: 1000 },
      });
      const peer: Peer = { client, session, partner: i % 2 === 0 ? i + 1 : i - 1, acked: [], received: new Set() };
      client.on('message', (m) => peer.received.add(m.message_id));
      peers.push(peer);
    }
    await Promise.all(peers.map((p) => p.client.connect()));
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.client.close()));
    balancer?.close();
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await redis?.stop();
    await pgSchema?.drop();
  });

  /** Every client sends to its partner every `everyMs` until `stop` resolves; acks are recorded. */
  function traffic(everyMs: number): { stop: () => Promise<void> } {
    let running = true;
    const sends: Promise<void>[] = [];
    const loops = peers.map(async (p, i) => {
      await sleep(Math.floor((i / peers.length) * everyMs)); // spread the clients over the period
      let n = 0;
      while (running) {
        const chat = directChatId(p.session.user_id, peers[p.partner]!.session.user_id);
        sends.push(p.client.send(chat, `m${n++}`).then((ack) => void p.acked.push(ack)));
        await sleep(everyMs);
      }
    });
    return {
      stop: async () => {
        running = false;
        await Promise.all(loops);
        await Promise.all(sends); // the SDK resends until each is acknowledged
      },
    };
  }

  /** Waits until every partner holds every message acknowledged to its sender. */
  async function assertAllDelivered(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let missingCount = 0;
      for (const p of peers) for (const ack of p.acked) if (!peers[p.partner]!.received.has(ack.message_id)) missingCount++;
      if (missingCount === 0) return peers.reduce((n, p) => n + p.acked.length, 0);
      if (Date.now() > deadline) assert.fail(`${missingCount} acknowledged messages never reached their recipient`);
      await sleep(100);
    }
  }

  test('SIGKILL of one node under traffic: nothing acknowledged is lost and its clients are back within 10 s', async () => {
    const victim = nodes[1]!;
    const victimPeers = peers.filter((p) => p.client.wsUrl === victim.wsUrl);
    assert.ok(victimPeers.length > 50, 'a third of the clients sit on the victim');
    const load = traffic(300);
    await sleep(1500);
    const killedAt = Date.now();
    const backAt = new Map<Peer, number>();
    for (const p of victimPeers) p.client.once('sync_complete', () => backAt.set(p, Date.now()));
    await victim.kill('SIGKILL');
    await sleep(3000);
    await load.stop();
    const deadline = killedAt + 10_000;
    while (backAt.size < victimPeers.length && Date.now() < deadline) await sleep(50);
    const slowest = Math.max(...[...backAt.values()].map((t) => t - killedAt));
    console.log(`# ${backAt.size}/${victimPeers.length} clients of the killed node reconnected; slowest after ${slowest} ms`);
    assert.equal(backAt.size, victimPeers.length, 'every client of the dead node reconnected within 10 s');
    for (const p of victimPeers) assert.notEqual(p.client.wsUrl, victim.wsUrl, 'it moved to a live node');
    const total = await assertAllDelivered(15_000);
    console.log(`# ${total} acknowledged messages, every one delivered`);
  });

  test('a Redis restart under traffic loses nothing acknowledged', async () => {
    for (const p of peers) p.acked.length = 0;
    const load = traffic(300);
    await sleep(1000);
    await redis.stop();
    await sleep(1500); // sends go on committing to PostgreSQL meanwhile
    await redis.start();
    await sleep(2000);
    await load.stop();
    const total = await assertAllDelivered(20_000);
    console.log(`# ${total} acknowledged across the Redis restart, every one delivered`);
  });
});
