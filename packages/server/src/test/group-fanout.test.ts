import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { after, describe, test } from 'node:test';
import {
  http,
  registerUser,
  seedUsers,
  sleep,
  startServerProcess,
  startTestServer,
  tempDir,
  TestSocket,
  type ServerProcess,
  type TestUser,
} from '../testing/harness.js';
import { makeItems, sendPipelined, waitUntil, type Frame } from './delivery-support.js';

/*
 * Large groups: a 1,024-member group reaches its online members through the fan-out
 * queue, the sender's ack_sent does not wait for that fan-out, and a fan-out cut short
 * by SIGKILL is made good by replay (every acknowledged message reaches every member).
 *
 * The timing part runs against a server child process so that the 200 client sockets of
 * this process do not share an event loop with the server.
 */

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function connectAll(wsUrl: string, users: TestUser[], batch = 50): Promise<TestSocket[]> {
  const out: TestSocket[] = [];
  for (let i = 0; i < users.length; i += batch) {
    out.push(...(await Promise.all(users.slice(i, i + batch).map((u) => TestSocket.connectSynced(wsUrl, u.token, 20_000)))));
  }
  return out;
}

describe('group fan-out', () => {
  const procs: ServerProcess[] = [];
  const sockets: TestSocket[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const s of sockets) s.terminate();
    for (const p of procs) await p.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('a 1,024-member group: 200 online members all receive, and the ack does not wait for the fan-out', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    // Seed the accounts and create the groups through a server in this process, then serve them from a child process.
    const seedSrv = await startTestServer({ dataDir });
    let seeded: TestUser[];
    let big: { chat_id: string; members: unknown[] };
    let small: { chat_id: string };
    try {
      seeded = await seedUsers(seedSrv, 1024, 'fan');
      const creator = seeded[0]!;
      const res = await http(seedSrv.baseUrl, 'POST', '/v1/groups', {
        token: creator.token,
        body: { name: 'Everyone', member_ids: seeded.slice(1).map((u) => u.user_id) },
      });
      assert.equal(res.status, 201, `create 1,024-member group: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      big = res.body;
      assert.equal(big.members.length, 1024);
      const res2 = await http(seedSrv.baseUrl, 'POST', '/v1/groups', {
        token: creator.token,
        body: { name: 'Pair', member_ids: [seeded[1]!.user_id] },
      });
      assert.equal(res2.status, 201, JSON.stringify(res2.body));
      small = res2.body;
    } finally {
      await seedSrv.stop();
    }

    const proc = await startServerProcess({ dataDir });
    procs.push(proc);
    const creator = seeded[0]!;
    const online = seeded.slice(1, 201);
    const sender = await TestSocket.connectSynced(proc.wsUrl, creator.token);
    sockets.push(sender);
    const members = await connectAll(proc.wsUrl, online);
    sockets.push(...members);

    // Arrival times of each message at the online members (and at the small group's peer, members[0]).
    const arrivals = new Map<string, number[]>();
    for (const s of members) {
      s.ws.on('message', (data) => {
        const f = JSON.parse(data.toString()) as Frame;
        if (f.type !== 'new_message') return;
        let list = arrivals.get(f.message_id);
        if (!list) arrivals.set(f.message_id, (list = []));
        list.push(performance.now());
      });
    }
    const receivedBy = (messageId: string) => arrivals.get(messageId)?.length ?? 0;

    // Every one of the 200 online members receives a message to the big group, exactly as sent.
    const first = await sender.sendMessage(big.chat_id, 'hello everyone');
    assert.equal(first.type, 'ack_sent', JSON.stringify(first));
    await waitUntil(
      () => receivedBy(first.message_id) >= 200,
      20_000,
      'the message at all 200 online members',
      () => `${receivedBy(first.message_id)} of 200`,
    );
    for (const s of members) {
      const got: Frame[] = s.all('new_message').filter((f) => f.message_id === first.message_id);
      assert.ok(got.length >= 1, 'every online member got it');
      assert.equal(got[0]!.content, 'hello everyone');
      assert.equal(got[0]!.sender_id, creator.user_id);
      assert.equal(got[0]!.seq, first.seq);
    }
    assert.equal(sender.all('new_message').filter((f) => f.message_id === first.message_id).length, 0, 'not echoed to the sending device');

    // Ack latency: small group vs big group, interleaved, each send starting from an idle server
    // (the previous big send's fan-out has reached all 200 online members). A large body makes the
    // fan-out itself expensive (200 socket writes of it), so an ack that waited for it would show.
    const body = 'x'.repeat(60_000);
    const smallMs: number[] = [];
    const bigMs: number[] = [];
    const fanoutMs: number[] = [];
    const firstArrivalMs: number[] = [];
    const rounds = 9;
    for (let i = 0; i < rounds + 1; i++) {
      let t = performance.now();
      const a1 = await sender.sendMessage(small.chat_id, `${body} small ${i}`);
      const smallTook = performance.now() - t;
      assert.equal(a1.type, 'ack_sent', JSON.stringify(a1).slice(0, 200));
      await waitUntil(() => receivedBy(a1.message_id) >= 1, 10_000, 'small-group message at its peer');
      await sleep(20);

      t = performance.now();
      const a2 = await sender.sendMessage(big.chat_id, `${body} big ${i}`);
      const bigTook = performance.now() - t;
      assert.equal(a2.type, 'ack_sent', JSON.stringify(a2).slice(0, 200));
      await waitUntil(
        () => receivedBy(a2.message_id) >= 200,
        20_000,
        'big-group message at all 200 online members',
        () => `${receivedBy(a2.message_id)} of 200`,
      );
      const fanTook = Math.max(...arrivals.get(a2.message_id)!) - t;
      const firstTook = Math.min(...arrivals.get(a2.message_id)!) - t;
      await sleep(20);
      if (i === 0) continue; // warm-up round
      smallMs.push(smallTook);
      bigMs.push(bigTook);
      fanoutMs.push(fanTook);
      firstArrivalMs.push(firstTook);
    }
    const smallMed = median(smallMs);
    const bigMed = median(bigMs);
    const fanMed = median(fanoutMs);
    const limit = 3 * smallMed + 20;
    console.log(
      `# ack median: 2-member group ${smallMed.toFixed(1)} ms, 1,024-member group ${bigMed.toFixed(1)} ms (limit ${limit.toFixed(1)} ms); ` +
        `fan-out to 200 online members: first arrival ${median(firstArrivalMs).toFixed(1)} ms, last ${fanMed.toFixed(1)} ms (medians)\n` +
        `#   small: ${smallMs.map((x) => x.toFixed(1)).join(' ')}\n#   big:   ${bigMs.map((x) => x.toFixed(1)).join(' ')}\n#   fan:   ${fanoutMs.map((x) => x.toFixed(1)).join(' ')}`,
    );
    assert.ok(
      bigMed < limit,
      `the 1,024-member group's ack median ${bigMed.toFixed(1)} ms should not be much above the 2-member group's ${smallMed.toFixed(1)} ms (limit ${limit.toFixed(1)} ms)`,
    );
  });

  test('SIGKILL right after the acks of a burst: every acknowledged group message still reaches every member', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    // FANOUT_THRESHOLD=0: every group message goes through the fan-out queue.
    let proc = await startServerProcess({ dataDir, env: { FANOUT_THRESHOLD: '0' } });
    procs.push(proc);
    const creator = await registerUser(proc.baseUrl, 'fk');
    const others = await Promise.all(Array.from({ length: 8 }, () => registerUser(proc.baseUrl, 'fkm')));
    const res = await http(proc.baseUrl, 'POST', '/v1/groups', {
      token: creator.token,
      body: { name: 'Crash', member_ids: others.map((u) => u.user_id) },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const chatId = res.body.chat_id as string;

    // Half the members are online and acknowledge what they get (so their cursors move); half are offline.
    const onlineUsers = others.slice(0, 4);
    const offlineUsers = others.slice(4);
    const sender = await TestSocket.connectSynced(proc.wsUrl, creator.token);
    const live = await connectAll(proc.wsUrl, onlineUsers);
    sockets.push(sender, ...live);
    for (const s of live) {
      s.ws.on('message', (data) => {
        const f = JSON.parse(data.toString()) as Frame;
        if (f.type === 'new_message' && s.ws.readyState === s.ws.OPEN) s.send({ type: 'ack_delivered', message_id: f.message_id });
      });
    }

    const items = makeItems(300, 'crash burst');
    const acks = await sendPipelined(sender, chatId, items, { timeoutMs: 30_000 });
    await proc.kill('SIGKILL');
    const acked = new Map([...acks.values()].map((a) => [a.message_id as string, a]));
    assert.equal(acked.size, 300);
    const beforeKill = live.map(
      (s) =>
        new Set(
          s
            .all('new_message')
            .filter((f) => f.chat_id === chatId)
            .map((f) => f.message_id as string),
        ),
    );
    console.log(`# before SIGKILL the online members had ${beforeKill.map((s) => s.size).join(', ')} of 300`);
    for (const s of [sender, ...live]) s.terminate();

    proc = await startServerProcess({ dataDir, env: { FANOUT_THRESHOLD: '0' } });
    procs.push(proc);
    const again = await connectAll(proc.wsUrl, others);
    sockets.push(...again);
    for (let i = 0; i < others.length; i++) {
      const s = again[i]!;
      const got = s.all('new_message').filter((f) => f.chat_id === chatId);
      const seqs = got.map((f) => f.seq as number);
      for (let j = 1; j < seqs.length; j++)
        assert.ok(seqs[j]! > seqs[j - 1]!, `replay in seq order at member ${i}: ${seqs.slice(Math.max(0, j - 3), j + 2)}`);
      const have = new Set([...(i < onlineUsers.length ? beforeKill[i]! : []), ...got.map((f) => f.message_id as string)]);
      const missing = [...acked.keys()].filter((id) => !have.has(id));
      assert.deepEqual(
        missing.map((id) => acked.get(id)!.seq),
        [],
        `acknowledged messages missing at ${i < onlineUsers.length ? 'online' : 'offline'} member ${i}`,
      );
    }
    // And the store has them all, in order, without gaps.
    const hist = await http(proc.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chatId)}/messages?after=0&limit=200`, {
      token: offlineUsers[0]!.token,
    });
    assert.equal(hist.status, 200);
    assert.deepEqual(
      hist.body.messages.map((m: Frame) => m.seq),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
  });
});
