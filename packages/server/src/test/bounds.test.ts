import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { directChatId } from '@switchboard/protocol';
import { http, registerUser, seedUsers, startTestServer, suiteServer, TestSocket, type TestUser } from '../testing/harness.js';
import { pollUntil } from '../testing/poll.js';
import { assertNoFrameWithin, clientMsgId, dedupe, sendPipelined, waitForSyncComplete, type Frame } from './delivery-support.js';

/*
 * Issue 9 (bounds): what one client can make the server hold, and what it can see.
 * Every test talks to a real server over real sockets.
 */

const METRICS_TOKEN = 'bounds-test-metrics-token';

async function metricValue(baseUrl: string, name: string): Promise<number> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(res.status, 200);
  const line = (await res.text()).split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(/\s+/).at(-1)) : 0;
}

/** 100,000 control characters: stored as 100,000 characters, 600 KB as JSON. */
const CONTROL_CONTENT = '\u0001'.repeat(100_000);

/** Sends `n` messages of `content` from `sock` into `chatId` (pipelined), answering their acks in seq order. */
async function fill(sock: TestSocket, chatId: string, n: number, content: string): Promise<Frame[]> {
  const items = Array.from({ length: n }, () => ({ client_msg_id: clientMsgId(), content }));
  const acks = await sendPipelined(sock, chatId, items, { window: 16, timeoutMs: 120_000 });
  return [...acks.values()].sort((a, b) => a.seq - b.seq);
}

/** A raw socket that stops reading as soon as it is open (the kernel buffers fill, then the server's). */
async function connectNonReading(wsUrl: string, token: string): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => {
      ws.pause();
      resolve();
    });
    ws.once('error', reject);
  });
  return { ws, closed };
}

describe('file modes', () => {
  test('the data folder is created 0700 and the database files 0600', { skip: process.platform === 'win32' }, async () => {
    const srv = await startTestServer({ dataDir: path.join((await import('node:os')).tmpdir(), `sb-modes-${process.pid}-${Date.now()}`) });
    try {
      const u = await registerUser(srv.baseUrl, 'modes');
      assert.ok(u.token);
      assert.equal(statSync(srv.dataDir).mode & 0o777, 0o700, 'data folder');
      for (const name of ['switchboard.db', 'switchboard.db-wal', 'switchboard.db-shm']) {
        assert.equal(statSync(path.join(srv.dataDir, name)).mode & 0o777, 0o600, name);
      }
    } finally {
      await srv.stop();
      (await import('node:fs')).rmSync(srv.dataDir, { recursive: true, force: true });
    }
  });
});

describe('metrics exposure', () => {
  test('/metrics on the public listener answers 404 without the bearer token; the internal listener serves it', async () => {
    const srv = await startTestServer({ metricsToken: METRICS_TOKEN, metricsPort: 0 });
    try {
      assert.equal((await fetch(`${srv.baseUrl}/metrics`)).status, 404);
      const wrong = await fetch(`${srv.baseUrl}/metrics`, { headers: { authorization: 'Bearer not-the-metrics-token!!' } });
      assert.equal(wrong.status, 404);
      const user = await registerUser(srv.baseUrl, 'metr');
      const asUser = await fetch(`${srv.baseUrl}/metrics`, { headers: { authorization: `Bearer ${user.token}` } });
      assert.equal(asUser.status, 404, 'a user session token is not the metrics token');
      const right = await fetch(`${srv.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      assert.equal(right.status, 200);
      assert.match(await right.text(), /switchboard_connections/);
      const port = srv.server.metricsPort;
      assert.ok(port, 'internal listener started');
      const internal = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(internal.status, 200);
      assert.match(await internal.text(), /switchboard_connections/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/v1/chats`)).status, 404, 'the internal listener serves nothing else');
    } finally {
      await srv.stop();
    }
  });

  test('without METRICS_TOKEN, /metrics is not served on the public listener at all', async () => {
    const srv = await startTestServer();
    try {
      assert.equal((await fetch(`${srv.baseUrl}/metrics`)).status, 404);
      assert.equal((await fetch(`${srv.baseUrl}/metrics`, { headers: { authorization: 'Bearer ' } })).status, 404);
    } finally {
      await srv.stop();
    }
  });
});

describe('receipts follow joined_seq', () => {
  const { srv, open } = suiteServer({}, { synced: waitForSyncComplete });

  test('a member added later sees no receipts of messages from before it joined', async () => {
    const [admin, early, late] = await Promise.all(['rja', 'rje', 'rjl'].map((p) => registerUser(srv.baseUrl, p)));
    const group = await http(srv.baseUrl, 'POST', '/v1/groups', { token: admin!.token, body: { name: 'g', member_ids: [early!.user_id] } });
    assert.equal(group.status, 201);
    const sa = await open(admin!);
    const before = await sa.sendMessage(group.body.chat_id, 'before the late member joined');
    assert.equal(before.type, 'ack_sent');
    const added = await http(srv.baseUrl, 'POST', `/v1/groups/${group.body.group_id}/members`, {
      token: admin!.token,
      body: { user_ids: [late!.user_id] },
    });
    assert.equal(added.status, 200);
    const after = await sa.sendMessage(group.body.chat_id, 'after');
    const receiptsOf = (u: TestUser, id: string) => http(srv.baseUrl, 'GET', `/v1/messages/${id}/receipts`, { token: u.token });
    assert.equal((await receiptsOf(early!, before.message_id)).status, 200, 'an early member sees them');
    assert.equal((await receiptsOf(late!, before.message_id)).status, 404, 'hidden like the message itself');
    const visible = await receiptsOf(late!, after.message_id);
    assert.equal(visible.status, 200);
    assert.deepEqual(visible.body.receipts.map((r: { user_id: string }) => r.user_id).sort(), [early!.user_id, late!.user_id].sort());
  });
});

describe('a socket that does not read', () => {
  const { srv, open } = suiteServer({ stalledSocketTimeoutMs: 1500, metricsToken: METRICS_TOKEN }, { synced: waitForSyncComplete });

  test('is closed (4001) within the stall bound during replay, and a reading reconnect gets everything', async () => {
    const [alice, bob] = await Promise.all([registerUser(srv.baseUrl, 'nra'), registerUser(srv.baseUrl, 'nrb')]);
    const dm = directChatId(alice.user_id, bob.user_id);
    const sa = await open(alice);
    // 50 x 600 KB of JSON: far more than the kernel's socket buffers hold.
    const acks = await fill(sa, dm, 50, CONTROL_CONTENT);
    const closesBefore = await metricValue(srv.baseUrl, 'switchboard_slow_consumer_closes_total');
    const started = Date.now();
    const stalled = await connectNonReading(srv.wsUrl, bob.token);
    await pollUntil(
      'the server closes the non-reading socket',
      () => metricValue(srv.baseUrl, 'switchboard_slow_consumer_closes_total'),
      (n) => n > closesBefore,
      15_000,
    );
    const tookMs = Date.now() - started;
    assert.ok(tookMs < 10_000, `closed after ${tookMs} ms`);
    // The server cuts the connection a moment after its close frame: reading again, the client sees it end.
    stalled.ws.resume();
    const code = await stalled.closed;
    assert.ok(code === 4001 || code === 1006, `close code ${code}`);

    // Nothing was acknowledged, so a device that reads gets the whole backlog in order.
    const sb = await TestSocket.connect(srv.wsUrl, bob.token);
    await waitForSyncComplete(sb, 60_000);
    const got = dedupe(sb.frames.filter((f) => f.type === 'new_message' && f.chat_id === dm) as Frame[]);
    assert.deepEqual(
      got.map((f) => f.seq),
      acks.map((a) => a.seq),
    );
    sb.terminate();
  });
});

describe('live messages held during a replay', () => {
  // Limits off: a 1,500-message burst from one device is the load this test needs.
  const { srv, open } = suiteServer({ stalledSocketTimeoutMs: 60_000, rateLimits: false }, { synced: waitForSyncComplete });

  test('past the bound are dropped and read back from the store: the device still gets every message once, in order', async () => {
    const [alice, bob, carol] = await Promise.all(['hla', 'hlb', 'hlc'].map((p) => registerUser(srv.baseUrl, p)));
    const big = directChatId(alice!.user_id, bob!.user_id);
    const busy = directChatId(carol!.user_id, bob!.user_id);
    const [sa, sc] = await Promise.all([open(alice!), open(carol!)]);
    const backlog = await fill(sa, big, 40, CONTROL_CONTENT);
    // Bob connects and stops reading: his replay stalls on the backlog while carol sends.
    const slow = await connectNonReading(srv.wsUrl, bob!.token);
    const frames: Frame[] = [];
    slow.ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Frame));
    const live = await fill(sc, busy, 1500, 'live while bob replays');
    slow.ws.resume();
    await pollUntil(
      'bob has every message',
      async () => frames.length,
      () => frames.some((f) => f.type === 'sync_complete') && dedupe(frames.filter((f) => f.chat_id === busy)).length >= live.length,
      60_000,
    );
    const busySeqs = frames.filter((f) => f.type === 'new_message' && f.chat_id === busy).map((f) => f.seq as number);
    assert.deepEqual(
      busySeqs,
      live.map((a) => a.seq),
      'each live message once, in seq order',
    );
    const bigSeqs = frames.filter((f) => f.type === 'new_message' && f.chat_id === big).map((f) => f.seq as number);
    assert.deepEqual(
      bigSeqs,
      backlog.map((a) => a.seq),
    );
    slow.ws.terminate();
  });
});

describe('responses bounded in bytes', () => {
  const { srv, open } = suiteServer({}, { synced: waitForSyncComplete });

  async function page(u: TestUser, chatId: string, q: string) {
    const res = await fetch(`${srv.baseUrl}/v1/chats/${encodeURIComponent(chatId)}/messages?${q}`, {
      headers: { authorization: `Bearer ${u.token}` },
    });
    const text = await res.text();
    assert.equal(res.status, 200, text.slice(0, 200));
    return { bytes: Buffer.byteLength(text), body: JSON.parse(text) as { messages: Frame[]; next_cursor: number | null } };
  }

  test('a history page of control-character messages stops at the byte budget with a next_cursor that resumes it', async () => {
    const [alice, bob] = await Promise.all([registerUser(srv.baseUrl, 'hba'), registerUser(srv.baseUrl, 'hbb')]);
    const dm = directChatId(alice.user_id, bob.user_id);
    const sa = await open(alice);
    const acks = await fill(sa, dm, 20, CONTROL_CONTENT); // 12 MB of JSON in all
    const want = acks.map((a) => a.seq);

    // Backward (the latest first), as a client opening the chat does.
    const seen: number[] = [];
    let q = 'limit=200';
    for (let i = 0; i < 20; i++) {
      const { bytes, body } = await page(bob, dm, q);
      assert.ok(bytes < 5 * 1024 * 1024, `page of ${bytes} bytes`);
      assert.ok(body.messages.length > 0 && body.messages.length < 20, `${body.messages.length} messages in a page`);
      for (const m of body.messages) assert.equal(m.content, CONTROL_CONTENT);
      seen.unshift(...body.messages.map((m) => m.seq as number));
      if (body.next_cursor === null) break;
      assert.equal(body.next_cursor, body.messages[0]!.seq);
      q = `limit=200&before=${body.next_cursor}`;
    }
    assert.deepEqual(seen, want, 'backward pages cover the chat once, in order');

    // Forward, as a client catching up does.
    const forward: number[] = [];
    q = 'limit=200&after=0';
    for (let i = 0; i < 20; i++) {
      const { bytes, body } = await page(bob, dm, q);
      assert.ok(bytes < 5 * 1024 * 1024, `page of ${bytes} bytes`);
      forward.push(...body.messages.map((m) => m.seq as number));
      if (body.next_cursor === null) break;
      assert.equal(body.next_cursor, body.messages.at(-1)!.seq);
      q = `limit=200&after=${body.next_cursor}`;
    }
    assert.deepEqual(forward, want, 'forward pages cover the chat once, in order');
  });

  test('GET /v1/chats pages with ?limit= and ?cursor=, most recent first; by default everything in one page', async () => {
    const owner = await registerUser(srv.baseUrl, 'cpo');
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const g = await http(srv.baseUrl, 'POST', '/v1/groups', { token: owner.token, body: { name: `g${i}`, member_ids: [] } });
      assert.equal(g.status, 201);
      ids.push(g.body.chat_id);
    }
    const all = await http(srv.baseUrl, 'GET', '/v1/chats', { token: owner.token });
    assert.equal(all.status, 200);
    assert.equal(all.body.chats.length, 7);
    assert.equal(all.body.next_cursor, undefined, 'no next_cursor on the last page');
    const order = all.body.chats.map((c: { chat_id: string }) => c.chat_id);
    assert.deepEqual([...order].sort(), [...ids].sort());

    const paged: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 10; i++) {
      const res: { status: number; body: { chats: { chat_id: string }[]; next_cursor?: string } } = await http(
        srv.baseUrl,
        'GET',
        `/v1/chats?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        { token: owner.token },
      );
      assert.equal(res.status, 200);
      assert.ok(res.body.chats.length <= 3);
      paged.push(...res.body.chats.map((c) => c.chat_id));
      cursor = res.body.next_cursor ?? null;
      if (cursor === null) break;
    }
    assert.deepEqual(paged, order, 'the pages together are the one-page list');
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/chats?cursor=bm9wZQ', { token: owner.token })).status, 400);
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/chats?limit=0', { token: owner.token })).status, 400);
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/chats?limit=1001', { token: owner.token })).status, 400);
  });
});

describe('presence follows membership', () => {
  const { srv, open } = suiteServer({}, { synced: waitForSyncComplete });

  test('a burst of presence_subscribe frames cannot watch more than 1,000 users', async () => {
    const watcher = await registerUser(srv.baseUrl, 'pbw');
    const others = await seedUsers(srv, 1100, 'pb');
    // Two groups (a group holds at most 1,024): the watcher shares a chat with all 1,100.
    for (const part of [others.slice(0, 550), others.slice(550)]) {
      const g = await http(srv.baseUrl, 'POST', '/v1/groups', {
        token: watcher.token,
        body: { name: 'many', member_ids: part.map((u) => u.user_id) },
      });
      assert.equal(g.status, 201);
    }
    const sock = await open(watcher);
    const from = sock.frames.length;
    for (let i = 0; i < 4; i++) {
      sock.send({ type: 'presence_subscribe', user_ids: others.slice(i * 275, (i + 1) * 275).map((u) => u.user_id) });
    }
    await pollUntil(
      'answers to the burst',
      async () => sock.frames.slice(from),
      (fs) => fs.filter((f) => f.type === 'presence').length + fs.filter((f) => f.type === 'error').length * 275 >= 1100,
      30_000,
    );
    const frames = sock.frames.slice(from);
    const errors = frames.filter((f) => f.type === 'error');
    assert.equal(errors.length, 1, 'the frame that would pass 1,000 is refused');
    assert.equal(errors[0]!.code, 'invalid_frame');
    assert.equal(new Set(frames.filter((f) => f.type === 'presence').map((f) => f.user_id)).size, 825);
    sock.send({ type: 'ping' });
    await sock.next('pong');
  });

  test('a watcher who no longer shares a chat with the watched user stops getting its presence', async () => {
    const [alice, bob] = await Promise.all([registerUser(srv.baseUrl, 'pla'), registerUser(srv.baseUrl, 'plb')]);
    const g = await http(srv.baseUrl, 'POST', '/v1/groups', { token: alice.token, body: { name: 'shared', member_ids: [bob.user_id] } });
    assert.equal(g.status, 201);
    const sa = await open(alice);
    sa.send({ type: 'presence_subscribe', user_ids: [bob.user_id] });
    const first = await sa.nextWhere((f) => f.type === 'presence' && f.user_id === bob.user_id);
    assert.equal(first.online, false);
    const sb = await open(bob);
    await sa.nextWhere((f) => f.type === 'presence' && f.user_id === bob.user_id && f.online === true);
    sb.terminate();
    await sa.nextWhere((f) => f.type === 'presence' && f.user_id === bob.user_id && f.online === false && f.last_seen !== null);

    // Bob leaves the only chat they share: alice is told he looks offline, with no last_seen...
    assert.equal(
      (await http(srv.baseUrl, 'DELETE', `/v1/groups/${g.body.group_id}/members/${bob.user_id}`, { token: bob.token })).status,
      204,
    );
    await sa.nextWhere((f) => f.type === 'presence' && f.user_id === bob.user_id && f.online === false && f.last_seen === null);
    // ...and hears nothing of him afterwards.
    const mark = sa.frames.length;
    const again = await open(bob);
    await assertNoFrameWithin(
      sa,
      (f) => f.type === 'presence' && f.user_id === bob.user_id,
      600,
      'presence of a user no longer shared',
      mark,
    );
    again.terminate();
    const rest = await http(srv.baseUrl, 'GET', `/v1/users/${bob.user_id}/presence`, { token: alice.token });
    assert.deepEqual(rest.body, { user_id: bob.user_id, online: false, last_seen: null });
  });
});

describe('fan-out backpressure', () => {
  // Every group goes through a one-job queue: sends wait for it, and nothing is lost.
  const { srv, open } = suiteServer({ fanoutThreshold: 1, fanoutQueueCapacity: 1 }, { synced: waitForSyncComplete });

  test('senders bursting into a full fan-out queue get every ack, later, and members every message in order', async () => {
    const [admin, m1, m2] = await Promise.all(['fba', 'fb1', 'fb2'].map((p) => registerUser(srv.baseUrl, p)));
    const g = await http(srv.baseUrl, 'POST', '/v1/groups', {
      token: admin!.token,
      body: { name: 'fan', member_ids: [m1!.user_id, m2!.user_id] },
    });
    assert.equal(g.status, 201);
    const [sa, s1, s2] = await Promise.all([open(admin!), open(m1!), open(m2!)]);
    const items = Array.from({ length: 600 }, (_, i) => ({ client_msg_id: clientMsgId(), content: `burst ${i}` }));
    const acks = [...(await sendPipelined(sa, g.body.chat_id, items, { timeoutMs: 60_000 })).values()].sort((a, b) => a.seq - b.seq);
    assert.equal(acks.length, 600);
    for (const s of [s1, s2]) {
      await pollUntil(
        'members get the burst',
        async () => s.frames.filter((f) => f.type === 'new_message').length,
        (n) => n >= 600,
        30_000,
      );
      assert.deepEqual(
        s.frames.filter((f) => f.type === 'new_message').map((f) => f.seq),
        acks.map((a) => a.seq),
      );
    }
  });
});

describe('deep nesting (found by the fuzzer)', () => {
  const { srv, open } = suiteServer({}, { synced: waitForSyncComplete });

  test('a frame or body nesting past 32 levels is refused before it is parsed; the socket stays open', async () => {
    const u = await registerUser(srv.baseUrl, 'deep');
    const sock = await open(u);
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    sock.send(`{"type":"presence_subscribe","user_ids":${deep}}`);
    const err = await sock.next('error');
    assert.equal(err.code, 'invalid_frame');
    assert.match(err.message, /nests deeper/);
    sock.send({ type: 'ping' });
    await sock.next('pong');
    const res = await http(srv.baseUrl, 'POST', '/v1/groups', { token: u.token, rawBody: `{"name":"x","member_ids":${deep}}` });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_request');
  });
});

describe('frames whose type cannot be turned into a string (found by the fuzzer)', () => {
  const { srv, open } = suiteServer({}, { synced: waitForSyncComplete });

  test('{"type":{"toString":1}} gets an invalid_frame error and the server and socket carry on', async () => {
    const u = await registerUser(srv.baseUrl, 'tostr');
    const sock = await open(u);
    for (const text of ['{"type":{"toString":1}}', '{"type":{"toString":1,"valueOf":2}}', '{"type":["a",{"toString":null}]}']) {
      sock.send(text);
      const err = await sock.next('error');
      assert.equal(err.code, 'invalid_frame');
    }
    sock.send({ type: 'ping' });
    await sock.next('pong');
    assert.equal((await fetch(`${srv.baseUrl}/healthz`)).status, 200);
  });
});
