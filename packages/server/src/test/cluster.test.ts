import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { spawn, type ChildProcess } from 'node:child_process';
import { cliEntry, http, registerUser, seedUsers, sleep, TestSocket, type ServerProcess, type TestUser } from '../testing/harness.js';
import { PostgresStore } from '../engines/store/postgres-store.js';
import { clusterServicesMissing, freshPgSchema, startRedis, type TestRedis } from '../testing/services.js';
import { startBalancer, startNode, testPrefix } from '../testing/cluster.js';
import { crossNodeMessage } from '../testing/cross-node.js';

/*
 * Three real server processes on one Redis and one PostgreSQL: every cross-node path
 * (messages, receipts, read_sync, typing, presence, group updates, logout) works when
 * the parties sit on different nodes, and service discovery hands out live nodes.
 */
const missing = await clusterServicesMissing();

describe('cluster: three nodes', { skip: missing ?? false }, () => {
  let redis: TestRedis;
  let pgSchema: { url: string; drop: () => Promise<void> };
  const nodes: ServerProcess[] = [];

  before(async () => {
    redis = await startRedis();
    pgSchema = await freshPgSchema();
    const prefix = testPrefix();
    // The first node migrates the schema; the others start together after it.
    nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: pgSchema.url, prefix }));
    nodes.push(...(await Promise.all([1, 2].map(() => startNode({ redisUrl: redis.url, databaseUrl: pgSchema.url, prefix })))));
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await redis?.stop();
    await pgSchema?.drop();
  });

  test('a message sent on node A reaches the recipient devices on nodes B and C, and ticks come back', async () => {
    const c = nodes[2]!;
    const { alice, bob, chat, ack, sa, sb, sc } = await crossNodeMessage(nodes, '');

    sc.send({ type: 'ack_read', chat_id: chat, last_read_message_id: ack.message_id });
    const sync = await sb.nextWhere((f) => f.type === 'read_sync');
    assert.equal(sync.read_seq, ack.seq);
    const read = await sa.nextWhere((f) => f.type === 'status_update' && f.status === 'read');
    assert.equal(read.message_id, ack.message_id);

    sa.send({ type: 'typing', chat_id: chat, state: 'composing' });
    const typingOnC = await sc.nextWhere((f) => f.type === 'typing');
    assert.deepEqual([typingOnC.user_id, typingOnC.state], [alice.user_id, 'composing']);

    // Presence across nodes: alice (node A) watches bob, whose sockets are on B and C.
    sa.send({ type: 'presence_subscribe', user_ids: [bob.user_id] });
    assert.equal((await sa.nextWhere((f) => f.type === 'presence')).online, true);
    await sb.close();
    await sleep(300);
    assert.equal(sa.all('presence').length, 1, 'still online: another device is connected');
    await sc.close();
    const offline = await sa.nextWhere((f) => f.type === 'presence' && f.online === false);
    assert.equal(typeof offline.last_seen, 'number');
    const viaHttp = await http(c.baseUrl, 'GET', `/v1/users/${bob.user_id}/presence`, { token: alice.token });
    assert.equal(viaHttp.body.online, false);
    await sa.close();
  });

  test('group updates and logout reach sockets on other nodes', async () => {
    const [a, b, c] = nodes as [ServerProcess, ServerProcess, ServerProcess];
    const owner = await registerUser(a.baseUrl, 'owner');
    const member = await registerUser(b.baseUrl, 'member');
    const sm = await TestSocket.connectSynced(c.wsUrl, member.token);
    const created = await http(a.baseUrl, 'POST', '/v1/groups', {
      token: owner.token,
      body: { name: 'ops', member_ids: [member.user_id] },
    });
    assert.equal(created.status, 201);
    const update = await sm.nextWhere((f) => f.type === 'group_update');
    assert.deepEqual([update.event, update.group_id], ['created', created.body.group_id]);

    const so = await TestSocket.connectSynced(b.wsUrl, owner.token);
    const ack = await so.sendMessage(created.body.chat_id, 'group hello');
    assert.equal((await sm.nextWhere((f) => f.type === 'new_message')).message_id, ack.message_id);

    // Logging out over node A closes that device's socket on node C.
    const out = await http(a.baseUrl, 'DELETE', '/v1/sessions/current', { token: member.token });
    assert.equal(out.status, 204);
    assert.equal(await sm.closed, 4100);
    await so.close();
  });

  test('a 1,024-member group spread over the three nodes gets every message, in order', async () => {
    // Users straight into the shared PostgreSQL (registering 1,024 over HTTP is slow).
    const store = await PostgresStore.open(pgSchema.url);
    const users = await seedUsers(store, 1024, 'big');
    await store.close();
    const [creator, ...members] = users as [TestUser, ...TestUser[]];
    const group = await http(nodes[0]!.baseUrl, 'POST', '/v1/groups', {
      token: creator.token,
      body: { name: 'everyone', member_ids: members.map((m) => m.user_id) },
    });
    assert.equal(group.status, 201, JSON.stringify(group.body).slice(0, 200));
    assert.equal(group.body.members.length, 1024);

    // Every member online, a third on each node, connected 64 at a time.
    const sockets: TestSocket[] = [];
    for (let i = 0; i < members.length; i += 64) {
      const batch = members.slice(i, i + 64).map((m, j) => TestSocket.connectSynced(nodes[(i + j) % 3]!.wsUrl, m.token, 20_000));
      sockets.push(...(await Promise.all(batch)));
    }
    const sender = await TestSocket.connectSynced(nodes[1]!.wsUrl, creator.token);
    const acks = [];
    for (let i = 0; i < 3; i++) {
      const ack = await sender.sendMessage(group.body.chat_id, `to all ${i}`);
      assert.equal(ack.type, 'ack_sent');
      acks.push(ack);
    }
    const want = acks.map((a) => a.message_id);
    const deadline = Date.now() + 30_000;
    const have = (s: TestSocket) =>
      s
        .all('new_message')
        .filter((f) => f.chat_id === group.body.chat_id)
        .map((f) => f.message_id);
    while (Date.now() < deadline && !sockets.every((s) => want.every((id) => have(s).includes(id)))) await sleep(100);
    const short = sockets.filter((s) => !want.every((id) => have(s).includes(id))).length;
    assert.equal(short, 0, `${short} of ${sockets.length} members are missing a message`);
    for (const s of sockets) {
      const seqs = s
        .all('new_message')
        .filter((f) => f.chat_id === group.body.chat_id)
        .map((f) => f.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        'in seq order on every member',
      );
    }
    for (const s of [...sockets, sender]) s.terminate();
  });

  test('sessions hand out the least-loaded live node', async () => {
    const u = await registerUser(nodes[0]!.baseUrl, 'disco');
    const urls = new Set(nodes.map((n) => n.wsUrl));
    const res = await http(nodes[1]!.baseUrl, 'GET', '/v1/sessions/current', { token: u.token });
    assert.ok(urls.has(res.body.ws_url), `${res.body.ws_url} is one of the nodes`);
    // Load node 0 with sockets: new sessions go elsewhere.
    const socks = await Promise.all(Array.from({ length: 5 }, () => TestSocket.connectSynced(nodes[0]!.wsUrl, u.token)));
    await sleep(2500); // one registry heartbeat
    const again = await http(nodes[0]!.baseUrl, 'GET', '/v1/sessions/current', { token: u.token });
    assert.notEqual(again.body.ws_url, nodes[0]!.wsUrl);
    await Promise.all(socks.map((s) => s.close()));
  });
});

describe('cluster: a node listening on every address, without PUBLIC_WS_URL', { skip: missing ?? false }, () => {
  let redis: TestRedis;
  let pgSchema: { url: string; drop: () => Promise<void> };
  let node: ServerProcess;

  before(async () => {
    redis = await startRedis();
    pgSchema = await freshPgSchema();
    // As an operator (or an acceptance test) starts it: HOST 0.0.0.0 and no PUBLIC_WS_URL.
    node = await startNode({
      redisUrl: redis.url,
      databaseUrl: pgSchema.url,
      prefix: testPrefix(),
      env: { HOST: '0.0.0.0', PUBLIC_WS_URL: '' },
    });
  });

  after(async () => {
    await node?.kill('SIGKILL');
    await redis?.stop();
    await pgSchema?.drop();
  });

  test('hands out itself at the address the client reached it at, not at a guessed host name', async () => {
    const u = await registerUser(node.baseUrl, 'wild');
    // registerUser logged in through POST /v1/sessions: the same answer as GET /v1/sessions/current.
    const current = await http(node.baseUrl, 'GET', '/v1/sessions/current', { token: u.token });
    assert.equal(current.body.ws_url, node.wsUrl);
    const login = await http(node.baseUrl, 'POST', '/v1/sessions', { body: { username: u.username, password: u.password } });
    assert.equal(login.status, 201);
    assert.equal(login.body.ws_url, node.wsUrl);
    const sock = await TestSocket.connectSynced(login.body.ws_url, login.body.token);
    await sock.close();
  });
});

describe('cluster: PostgreSQL goes away', { skip: missing ?? false }, () => {
  let redis: TestRedis;
  let pgSchema: { url: string; drop: () => Promise<void> };
  let node: ServerProcess;
  let pgDown = false;
  let proxy: Awaited<ReturnType<typeof startBalancer>>;

  before(async () => {
    redis = await startRedis();
    pgSchema = await freshPgSchema();
    // The node reaches PostgreSQL through a proxy the test can cut.
    const pgPort = Number(new URL(pgSchema.url).port || 5432);
    proxy = await startBalancer(() => (pgDown ? [] : [pgPort]));
    const viaProxy = new URL(pgSchema.url);
    viaProxy.port = String(proxy.port);
    node = await startNode({ redisUrl: redis.url, databaseUrl: viaProxy.toString(), prefix: testPrefix() });
  });

  after(async () => {
    await node?.kill('SIGKILL');
    proxy?.close();
    await redis?.stop();
    await pgSchema?.drop();
  });

  test('sends fail with a retryable internal error and are not acknowledged; once it is back they commit, nothing half-written', async () => {
    const alice = await registerUser(node.baseUrl, 'pgdown_a');
    const bob = await registerUser(node.baseUrl, 'pgdown_b');
    const chat = directChatId(alice.user_id, bob.user_id);
    const sa = await TestSocket.connectSynced(node.wsUrl, alice.token);
    const before = await sa.sendMessage(chat, 'before the outage');
    assert.equal(before.type, 'ack_sent');

    pgDown = true;
    proxy.cut();
    const during = await sa.sendMessage(chat, 'during the outage', 'outage-1');
    assert.equal(during.type, 'error', JSON.stringify(during));
    assert.equal(during.code, 'internal');
    assert.equal(during.client_msg_id, 'outage-1');
    // Said to be worth retrying: the store is unreachable, nothing was stored.
    assert.equal(during.retry_after_ms, 1000);
    assert.match(String(during.message), /unavailable/);
    const listing = await fetch(`${node.baseUrl}/v1/chats`, { headers: { authorization: `Bearer ${alice.token}` } });
    const listed = (await listing.json()) as { error: string; retry_after_ms: number };
    assert.equal(listing.status, 503, JSON.stringify(listed));
    assert.equal(listed.error, 'internal');
    assert.equal(listed.retry_after_ms, 1000);
    assert.equal(listing.headers.get('retry-after'), '1');
    assert.equal(sa.all('ack_sent').filter((f) => f.client_msg_id === 'outage-1').length, 0, 'never acknowledged');

    pgDown = false;
    let retried: Awaited<ReturnType<TestSocket['sendMessage']>> | null = null;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      retried = await sa.sendMessage(chat, 'during the outage', 'outage-1');
      if (retried.type === 'ack_sent') break;
      await sleep(200);
    }
    assert.equal(retried?.type, 'ack_sent', 'the resend commits once PostgreSQL is back');
    assert.equal(retried!.seq, before.seq + 1, 'the failed attempt left no seq behind');
    const history = await http(node.baseUrl, 'GET', `/v1/chats/${chat}/messages`, { token: bob.token });
    assert.deepEqual(
      history.body.messages.map((m: { content: string }) => m.content),
      ['before the outage', 'during the outage'],
    );
    await sa.close();
  });
});

describe('cluster: fan-out by a separate `switchboard worker`', { skip: missing ?? false }, () => {
  let redis: TestRedis;
  let pgSchema: { url: string; drop: () => Promise<void> };
  const nodes: ServerProcess[] = [];
  let worker: ChildProcess | null = null;

  before(async () => {
    redis = await startRedis();
    pgSchema = await freshPgSchema();
    const prefix = testPrefix();
    // Every group goes through the queue, and no node consumes it: only the worker does.
    const env = { FANOUT_THRESHOLD: '1', FANOUT_WORKER: '0' };
    nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: pgSchema.url, prefix, env }));
    nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: pgSchema.url, prefix, env }));
    worker = spawn(process.execPath, [cliEntry, 'worker'], {
      env: { ...process.env, REDIS_URL: redis.url, DATABASE_URL: pgSchema.url, REDIS_PREFIX: prefix, LOG_LEVEL: 'error' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  });

  after(async () => {
    worker?.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await redis?.stop();
    await pgSchema?.drop();
  });

  test('group messages reach members on both nodes through the worker, in order', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const owner = await registerUser(a.baseUrl, 'wk_owner');
    const m1 = await registerUser(a.baseUrl, 'wk_m1');
    const m2 = await registerUser(b.baseUrl, 'wk_m2');
    const group = await http(a.baseUrl, 'POST', '/v1/groups', {
      token: owner.token,
      body: { name: 'w', member_ids: [m1.user_id, m2.user_id] },
    });
    const s1 = await TestSocket.connectSynced(a.wsUrl, m1.token);
    const s2 = await TestSocket.connectSynced(b.wsUrl, m2.token);
    const so = await TestSocket.connectSynced(b.wsUrl, owner.token);
    const acks = [];
    for (let i = 0; i < 5; i++) acks.push(await so.sendMessage(group.body.chat_id, `via worker ${i}`));
    for (const s of [s1, s2]) {
      for (const ack of acks) {
        const got = await s.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id, 15_000);
        assert.equal(got.seq, ack.seq);
      }
      const seqs = s.all('new_message').map((f) => f.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        'in seq order',
      );
    }
    await Promise.all([s1.close(), s2.close(), so.close()]);
  });
});
