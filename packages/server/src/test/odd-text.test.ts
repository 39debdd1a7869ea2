import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, registerUser, sleep, suiteServer, TestSocket, type ServerProcess, type TestUser } from '../testing/harness.js';
import { clusterServicesMissing, freshPgSchema, startNode, startRedis, testPrefix, type TestRedis } from '../testing/cluster.js';

/*
 * Odd text: NUL (U+0000, which PostgreSQL `text` cannot hold) and lone UTF-16 surrogates
 * (which cannot be encoded as UTF-8) in anything a client sends to be stored or looked up.
 * Embedded (SQLite) and cluster (PostgreSQL + Redis) mode give the same answer: the
 * socket refuses with `invalid_frame` (carrying the send's client_msg_id) and stays open;
 * HTTP refuses with `400 invalid_request`. Never a 500 or an `internal` error, and never
 * a failed or stalled write for anyone else. Valid surrogate pairs (emoji) and other
 * control characters (tab, newline) are stored and returned exactly.
 *
 * Lone surrogates go on the wire as JSON escape text ("\ud800"), which is also what
 * JSON.stringify writes for them.
 */

interface Node {
  baseUrl: string;
  wsUrl: string;
}
/** Where the cases run: users talk to node `a` and read from node `b` (the same server when embedded). */
interface Target {
  a: Node;
  b: Node;
}

const HIGH = '\ud83d';
const LOW = '\ude00';
const EMOJI = HIGH + LOW; // 😀

function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid % 10000}_${Math.floor(Math.random() * 1e9)}`.slice(0, 32);
}

/** Every ack_sent or error a socket has received for these client_msg_ids, once each has one. */
async function outcomes(sock: TestSocket, ids: string[], timeoutMs = 20_000): Promise<Map<string, Record<string, any>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = new Map<string, Record<string, any>>();
    for (const f of sock.frames) {
      if ((f.type === 'ack_sent' || f.type === 'error') && typeof f.client_msg_id === 'string' && !got.has(f.client_msg_id))
        got.set(f.client_msg_id, f);
    }
    const missing = ids.filter((id) => !got.has(id));
    if (missing.length === 0) return got;
    if (Date.now() > deadline)
      assert.fail(`no answer within ${timeoutMs} ms for ${missing.length} of ${ids.length} sends (first: ${missing[0]})`);
    await sleep(20);
  }
}

async function history(node: Node, user: TestUser, chatId: string): Promise<Record<string, any>[]> {
  const out: Record<string, any>[] = [];
  let after = 0;
  for (;;) {
    const res = await http(node.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chatId)}/messages?after=${after}&limit=200`, {
      token: user.token,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    out.push(...res.body.messages);
    if (res.body.next_cursor === null) return out;
    after = res.body.next_cursor;
  }
}

function assertInvalidRequest(res: { status: number; body: any }, label: string): void {
  assert.equal(res.status, 400, `${label}: ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body?.error, 'invalid_request', `${label}: ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body?.message, 'string', `${label}: has a message`);
}

/** The cases, registered in the enclosing describe; `target` resolves once its servers are up. */
function oddTextCases(target: () => Promise<Target>): void {
  let t: Target;
  let alice: TestUser;
  let bob: TestUser;
  let sa: TestSocket; // alice on node a
  let sb: TestSocket; // bob on node b
  let dm: string;
  const sockets: TestSocket[] = [];
  const open = async (node: Node, u: TestUser) => {
    const s = await TestSocket.connectSynced(node.wsUrl, u.token);
    sockets.push(s);
    return s;
  };

  before(async () => {
    t = await target();
    [alice, bob] = await Promise.all([registerUser(t.a.baseUrl, 'odd_a'), registerUser(t.a.baseUrl, 'odd_b')]);
    dm = directChatId(alice.user_id, bob.user_id);
    [sa, sb] = await Promise.all([open(t.a, alice), open(t.b, bob)]);
  });
  after(() => {
    for (const s of sockets) s.terminate();
  });

  /** Sends a raw frame text; expects invalid_frame with this client_msg_id, then a pong. */
  async function refusedSend(raw: string, clientMsgId: string, label: string): Promise<void> {
    sa.send(raw);
    const err = await sa.nextWhere((f) => f.type === 'error' && f.client_msg_id === clientMsgId, 10_000, `error for ${label}`);
    assert.equal(err.code, 'invalid_frame', `${label}: ${JSON.stringify(err)}`);
    assert.match(err.message, /NUL|surrogate/, `${label}: the message names the rule`);
    await stillOpen(sa, label);
  }

  async function stillOpen(sock: TestSocket, label: string): Promise<void> {
    assert.equal(sock.closeCode, null, `${label}: socket was closed`);
    sock.send({ type: 'ping' });
    await sock.next('pong', 10_000).catch((e: Error) => assert.fail(`${label}: no pong after the bad frame (${e.message})`));
  }

  it('refuses NUL in content with invalid_frame and the client_msg_id', async () => {
    await refusedSend(
      JSON.stringify({ type: 'send_message', chat_id: dm, client_msg_id: 'nul-1', content: 'before\u0000after' }),
      'nul-1',
      'NUL inside',
    );
    await refusedSend(
      `{"type":"send_message","chat_id":${JSON.stringify(dm)},"client_msg_id":"nul-2","content":"\\u0000"}`,
      'nul-2',
      'only NUL',
    );
  });

  it('refuses a lone high surrogate in content', async () => {
    assert.equal(JSON.stringify(`x${HIGH}`), '"x\\ud83d"', 'JSON.stringify writes the escape text');
    await refusedSend(
      `{"type":"send_message","chat_id":${JSON.stringify(dm)},"client_msg_id":"high-1","content":"x\\ud800y"}`,
      'high-1',
      'high in the middle',
    );
    await refusedSend(
      JSON.stringify({ type: 'send_message', chat_id: dm, client_msg_id: 'high-2', content: `ends with ${HIGH}` }),
      'high-2',
      'high at the end',
    );
    await refusedSend(
      JSON.stringify({ type: 'send_message', chat_id: dm, client_msg_id: 'high-3', content: `${HIGH}${HIGH}${LOW}` }),
      'high-3',
      'high before a pair',
    );
  });

  it('refuses a lone low surrogate in content', async () => {
    await refusedSend(
      `{"type":"send_message","chat_id":${JSON.stringify(dm)},"client_msg_id":"low-1","content":"\\udc00 at the start"}`,
      'low-1',
      'low at the start',
    );
    await refusedSend(
      JSON.stringify({ type: 'send_message', chat_id: dm, client_msg_id: 'low-2', content: `${LOW}${HIGH}` }),
      'low-2',
      'a pair in the wrong order',
    );
  });

  it('refuses NUL and lone surrogates in ids of other frames with invalid_frame, never internal', async () => {
    const frames = [
      `{"type":"send_message","chat_id":"dm:\\u0000:x","client_msg_id":"badchat-1","content":"hi"}`,
      `{"type":"send_message","chat_id":"g:\\udfff","client_msg_id":"badchat-2","content":"hi"}`,
      `{"type":"typing","chat_id":"g:\\u0000","state":"composing"}`,
      `{"type":"ack_read","chat_id":${JSON.stringify(dm)},"last_read_message_id":"m\\u0000"}`,
      `{"type":"ack_delivered","message_ids":["\\ud800"]}`,
      `{"type":"presence_subscribe","user_ids":["u\\u0000"]}`,
    ];
    for (const raw of frames) {
      sa.send(raw);
      const err = await sa.next('error', 10_000);
      assert.equal(err.code, 'invalid_frame', `${raw}: ${JSON.stringify(err)}`);
      await stillOpen(sa, raw);
    }
    assert.equal(sa.all('error').find((f) => f.client_msg_id === 'badchat-1')?.code, 'invalid_frame');
  });

  it('stores and returns a valid surrogate pair (and tabs, newlines) exactly, live and in history', async () => {
    const content = `smile ${EMOJI}\tand\nnew line \u0001 ${'\ud83d\udc4d'}`;
    const ack = await sa.sendMessage(dm, content, 'emoji-1');
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    // The same, written with escapes by hand.
    sa.send(`{"type":"send_message","chat_id":${JSON.stringify(dm)},"client_msg_id":"emoji-2","content":"\\ud83d\\ude00"}`);
    const ack2 = await sa.nextWhere(
      (f) => f.client_msg_id === 'emoji-2' && (f.type === 'ack_sent' || f.type === 'error'),
      10_000,
      'ack for emoji-2',
    );
    assert.equal(ack2.type, 'ack_sent', JSON.stringify(ack2));

    const live = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id, 10_000, 'emoji live on b');
    assert.equal(live.content, content);
    const live2 = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack2.message_id, 10_000, 'emoji-2 live on b');
    assert.equal(live2.content, EMOJI);

    const msgs = await history(t.b, bob, dm);
    assert.equal(msgs.find((m) => m.message_id === ack.message_id)?.content, content);
    assert.equal(msgs.find((m) => m.message_id === ack2.message_id)?.content, EMOJI);
    // Nothing refused above was stored.
    assert.deepEqual(
      msgs.map((m) => m.client_msg_id),
      ['emoji-1', 'emoji-2'],
    );
  });

  it('refuses NUL or a lone surrogate in display_name at registration with 400, and stores a valid one exactly', async () => {
    const password = 'correct horse battery';
    assertInvalidRequest(
      await http(t.a.baseUrl, 'POST', '/v1/users', { body: { username: uniqueName('oddnul'), password, display_name: 'Ali\u0000ce' } }),
      'NUL display_name',
    );
    assertInvalidRequest(
      await http(t.a.baseUrl, 'POST', '/v1/users', {
        rawBody: `{"username":"${uniqueName('oddsur')}","password":"${password}","display_name":"Ali\\ud800ce"}`,
      }),
      'lone surrogate display_name',
    );
    assertInvalidRequest(
      await http(t.a.baseUrl, 'POST', '/v1/users', { body: { username: `odd\u0000${process.pid}`, password } }),
      'NUL username',
    );

    const username = uniqueName('oddok');
    const reg = await http(t.a.baseUrl, 'POST', '/v1/users', { body: { username, password, display_name: `Zoë ${EMOJI}\tx` } });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    assert.equal(reg.body.display_name, `Zoë ${EMOJI}\tx`);
    const seen = await http(t.b.baseUrl, 'GET', `/v1/users/${reg.body.user_id}`, { token: alice.token });
    assert.equal(seen.body.display_name, `Zoë ${EMOJI}\tx`);
  });

  it('refuses NUL in device_name and username at login with 400', async () => {
    assertInvalidRequest(
      await http(t.a.baseUrl, 'POST', '/v1/sessions', {
        body: { username: alice.username, password: alice.password, device_name: 'phone\u0000' },
      }),
      'NUL device_name',
    );
    assertInvalidRequest(
      await http(t.a.baseUrl, 'POST', '/v1/sessions', { body: { username: `${alice.username}\u0000`, password: alice.password } }),
      'NUL username at login',
    );
    assertInvalidRequest(
      await http(t.a.baseUrl, 'POST', '/v1/sessions', { rawBody: `{"username":"a\\udc00","password":"x"}` }),
      'lone surrogate username at login',
    );
  });

  it('refuses NUL or a lone surrogate in a group name (create and rename) with 400', async () => {
    assertInvalidRequest(
      await http(t.a.baseUrl, 'POST', '/v1/groups', { token: alice.token, body: { name: 'team\u0000', member_ids: [bob.user_id] } }),
      'NUL group name',
    );
    assertInvalidRequest(
      await http(t.a.baseUrl, 'POST', '/v1/groups', { token: alice.token, body: { name: `team ${LOW}`, member_ids: [bob.user_id] } }),
      'lone surrogate group name',
    );
    assertInvalidRequest(
      await http(t.a.baseUrl, 'POST', '/v1/groups', { token: alice.token, body: { name: 'team', member_ids: ['u\u0000'] } }),
      'NUL member id',
    );
    const g = await http(t.a.baseUrl, 'POST', '/v1/groups', {
      token: alice.token,
      body: { name: `team ${EMOJI}`, member_ids: [bob.user_id] },
    });
    assert.equal(g.status, 201, JSON.stringify(g.body));
    assert.equal(g.body.name, `team ${EMOJI}`);
    assertInvalidRequest(
      await http(t.a.baseUrl, 'PATCH', `/v1/groups/${g.body.group_id}`, { token: alice.token, body: { name: '\u0000' } }),
      'NUL rename',
    );
    assertInvalidRequest(
      await http(t.a.baseUrl, 'POST', `/v1/groups/${g.body.group_id}/members`, { token: alice.token, body: { user_ids: ['\ud800'] } }),
      'lone surrogate user id',
    );
    const seen = await http(t.b.baseUrl, 'GET', `/v1/groups/${g.body.group_id}`, { token: bob.token });
    assert.equal(seen.body.name, `team ${EMOJI}`, 'the name is unchanged');
  });

  it('refuses NUL in search q, in other text query parameters and in path ids with 400', async () => {
    assertInvalidRequest(await http(t.a.baseUrl, 'GET', '/v1/search?q=smile%00', { token: alice.token }), 'NUL in q');
    assertInvalidRequest(await http(t.a.baseUrl, 'GET', '/v1/search?q=%00', { token: alice.token }), 'q only NUL');
    assertInvalidRequest(
      await http(t.a.baseUrl, 'GET', `/v1/search?q=smile&chat_id=${encodeURIComponent(dm)}%00`, { token: alice.token }),
      'NUL in chat_id',
    );
    assertInvalidRequest(await http(t.a.baseUrl, 'GET', '/v1/users?username=ab%00c', { token: alice.token }), 'NUL in username lookup');
    assertInvalidRequest(
      await http(t.a.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(dm)}%00/messages`, { token: alice.token }),
      'NUL in chat id path',
    );
    assertInvalidRequest(await http(t.a.baseUrl, 'GET', '/v1/users/%00', { token: alice.token }), 'NUL in user id path');
    // A broken UTF-8 escape cannot carry a lone surrogate: it reads as U+FFFD or is refused, never a 500.
    const broken = await http(t.a.baseUrl, 'GET', '/v1/search?q=%ED%A0%80', { token: alice.token });
    assert.ok(broken.status === 200 || broken.status === 400, `${broken.status} ${JSON.stringify(broken.body)}`);
    assertInvalidRequest(await http(t.a.baseUrl, 'GET', '/v1/groups/%ED%A0%80', { token: alice.token }), 'broken escape in a path id');
    // The valid emoji message is found.
    const found = await http(t.b.baseUrl, 'GET', '/v1/search?q=smile', { token: bob.token });
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.ok(
      found.body.messages.some((m: any) => m.content.startsWith(`smile ${EMOJI}`)),
      JSON.stringify(found.body),
    );
  });

  it("while one client sends bad text, other clients' concurrent valid sends are all acked and stored", async () => {
    const [carol, dave, mallory] = await Promise.all(['odd_c', 'odd_d', 'odd_m'].map((p) => registerUser(t.a.baseUrl, p)));
    const g = await http(t.a.baseUrl, 'POST', '/v1/groups', {
      token: carol!.token,
      body: { name: 'busy', member_ids: [dave!.user_id, mallory!.user_id] },
    });
    assert.equal(g.status, 201, JSON.stringify(g.body));
    const chat: string = g.body.chat_id;
    const [sc, sd, sm] = await Promise.all([open(t.a, carol!), open(t.b, dave!), open(t.a, mallory!)]);

    const PER_SENDER = 40;
    const badKinds = ['\u0000', `x${HIGH}`, `${LOW}x`, `a\u0000${EMOJI}`, `${EMOJI}${HIGH}`];
    const good = new Map<TestSocket, string[]>([
      [sc!, []],
      [sd!, []],
      [sm!, []],
    ]);
    const bad: string[] = [];
    const expected = new Map<string, string>(); // client_msg_id -> content
    // Everything is put on the wire at once, interleaved, so that valid and bad sends share write batches.
    for (let i = 0; i < PER_SENDER; i++) {
      for (const [sock, prefix] of [
        [sc!, 'c'],
        [sd!, 'd'],
      ] as const) {
        const id = `${prefix}-ok-${i}`;
        const content = `${prefix} ${i} ${EMOJI}`;
        sock.send({ type: 'send_message', chat_id: chat, client_msg_id: id, content });
        good.get(sock)!.push(id);
        expected.set(id, content);
      }
      for (let k = 0; k < 2; k++) {
        const id = `m-bad-${i}-${k}`;
        sm!.send({ type: 'send_message', chat_id: chat, client_msg_id: id, content: `${i} ${badKinds[(i + k) % badKinds.length]}` });
        bad.push(id);
      }
      if (i % 4 === 0) {
        const id = `m-ok-${i}`;
        sm!.send({ type: 'send_message', chat_id: chat, client_msg_id: id, content: `mallory ${i}\t${EMOJI}` });
        good.get(sm!)!.push(id);
        expected.set(id, `mallory ${i}\t${EMOJI}`);
      }
    }

    const seqs: number[] = [];
    for (const [sock, ids] of good) {
      const got = await outcomes(sock, ids);
      for (const id of ids) {
        const f = got.get(id)!;
        assert.equal(f.type, 'ack_sent', `${id}: ${JSON.stringify(f)}`);
        seqs.push(f.seq);
      }
    }
    assert.equal(new Set(seqs).size, seqs.length, 'every acked send has its own seq');
    const gotBad = await outcomes(sm!, bad);
    for (const id of bad) {
      const f = gotBad.get(id)!;
      assert.equal(f.type, 'error', `${id}: ${JSON.stringify(f)}`);
      assert.equal(f.code, 'invalid_frame', `${id}: ${JSON.stringify(f)}`);
    }
    assert.equal(sm!.all('error').filter((f) => f.code !== 'invalid_frame').length, 0, 'no internal errors');
    await stillOpen(sm!, 'mallory after the burst');

    // Stored exactly: every valid send, nothing else.
    const msgs = await history(t.b, dave!, chat);
    assert.equal(msgs.length, expected.size, `history has ${msgs.length} of ${expected.size}`);
    for (const m of msgs) assert.equal(m.content, expected.get(m.client_msg_id), `${m.client_msg_id}`);
    // And the members got them live.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && sd!.all('new_message').filter((f) => f.chat_id === chat).length < expected.size - PER_SENDER)
      await sleep(50);
    assert.equal(
      sd!.all('new_message').filter((f) => f.chat_id === chat).length,
      expected.size - PER_SENDER,
      "dave got every other member's message",
    );
  });

  it('is still healthy and serving', async () => {
    for (const node of new Set([t.a, t.b])) {
      const res = await fetch(`${node.baseUrl}/healthz`);
      assert.equal(res.status, 200);
    }
    const ack = await sa.sendMessage(dm, 'still fine');
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
  });
}

describe('odd text: embedded (SQLite)', () => {
  const { ready } = suiteServer();
  oddTextCases(async () => {
    const srv = await ready();
    const node = { baseUrl: srv.baseUrl, wsUrl: srv.wsUrl };
    return { a: node, b: node };
  });
});

const missing = await clusterServicesMissing();

describe('odd text: cluster (PostgreSQL + Redis), two nodes', { skip: missing ?? false }, () => {
  let redis: TestRedis | undefined;
  let pgSchema: { url: string; drop: () => Promise<void> } | undefined;
  const nodes: ServerProcess[] = [];
  let started: Promise<Target> | undefined;

  const start = (): Promise<Target> =>
    (started ??= (async () => {
      redis = await startRedis();
      pgSchema = await freshPgSchema();
      const prefix = testPrefix();
      // The first node migrates the schema; the second starts after it.
      nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: pgSchema.url, prefix }));
      nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: pgSchema.url, prefix }));
      const [a, b] = nodes as [ServerProcess, ServerProcess];
      return { a: { baseUrl: a.baseUrl, wsUrl: a.wsUrl }, b: { baseUrl: b.baseUrl, wsUrl: b.wsUrl } };
    })());

  after(async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await redis?.stop();
    await pgSchema?.drop();
  });

  oddTextCases(start);
});
