import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { CloseCode, directChatId } from '@switchboard/protocol';
import { http, login, registerUser, sleep, suiteServer, TestSocket, type TestUser } from '../testing/harness.js';

/*
 * Acceptance tests for accounts and sessions over HTTP (PROTOCOL.md, "Accounts and
 * sessions"), the bearer-token rule for every other call, logout, and socket auth.
 */

const { srv, open, connect, track } = suiteServer();
let nameCounter = 0;

function uniqueName(prefix = 'acct'): string {
  return `${prefix}_${process.pid}_${++nameCounter}_${Math.floor(Math.random() * 1e5)}`.slice(0, 32);
}

function assertUserView(body: any, expected: { user_id?: string; username: string; display_name?: string }): void {
  assert.equal(typeof body, 'object');
  assert.ok(body !== null);
  assert.equal(typeof body.user_id, 'string');
  assert.ok(body.user_id.length > 0, 'user_id is a non-empty string');
  if (expected.user_id !== undefined) assert.equal(body.user_id, expected.user_id);
  assert.equal(body.username, expected.username);
  assert.equal(typeof body.display_name, 'string');
  if (expected.display_name !== undefined) assert.equal(body.display_name, expected.display_name);
  for (const secret of ['password', 'password_hash', 'hash', 'salt']) {
    assert.equal(body[secret], undefined, `user view must not expose ${secret}`);
  }
}

function assertInvalidRequest(res: { status: number; body: any }, what: string): void {
  assert.equal(res.status, 400, `${what}: expected 400, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body?.error, 'invalid_request', `${what}: error code`);
  assert.equal(typeof res.body?.message, 'string', `${what}: message is a string`);
  assert.ok(res.body.message.length > 0, `${what}: message is not empty`);
}

/** Attempts a websocket upgrade and reports the HTTP status if it was refused, or 101 if it opened. */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

describe('POST /v1/users', () => {
  it('creates a user and answers 201 {user_id, username, display_name}', async () => {
    const username = uniqueName('alice');
    const res = await http(srv.baseUrl, 'POST', '/v1/users', {
      body: { username, password: 'correct horse battery', display_name: 'Alice Liddell' },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assertUserView(res.body, { username, display_name: 'Alice Liddell' });
  });

  it('gives distinct users distinct ids', async () => {
    const a = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username: uniqueName(), password: 'password123' } });
    const b = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username: uniqueName(), password: 'password123' } });
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    assert.notEqual(a.body.user_id, b.body.user_id);
  });

  it('defaults display_name to the username when it is not given', async () => {
    const username = uniqueName('bob');
    const res = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username, password: 'correct horse battery' } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assertUserView(res.body, { username, display_name: username });
    // null is what JSON encoders write for "none": the same as leaving the field out.
    const other = uniqueName('bob');
    const res2 = await http(srv.baseUrl, 'POST', '/v1/users', {
      body: { username: other, password: 'correct horse battery', display_name: null },
    });
    assert.equal(res2.status, 201, JSON.stringify(res2.body));
    assertUserView(res2.body, { username: other, display_name: other });
  });

  it('accepts the boundaries: 3 and 32 character usernames of a-z 0-9 _ . and 8 / 256 character passwords', async () => {
    const short = `${String.fromCharCode(97 + (process.pid % 26))}${nameCounter++ % 10}.`;
    // A 3-char name might collide with an earlier run only within this fresh data dir, so it is unique here.
    const r1 = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username: short, password: '12345678' } });
    assert.equal(r1.status, 201, `3-char username: ${JSON.stringify(r1.body)}`);
    assert.equal(r1.body.username, short);

    const long = `a_b.9${uniqueName('z')}`.padEnd(32, 'x').slice(0, 32);
    assert.equal(long.length, 32);
    const r2 = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username: long, password: 'p'.repeat(256) } });
    assert.equal(r2.status, 201, `32-char username, 256-char password: ${JSON.stringify(r2.body)}`);
    assert.equal(r2.body.username, long);

    // Both can log in with exactly those passwords.
    const s1 = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username: short, password: '12345678' } });
    assert.equal(s1.status, 201);
    const s2 = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username: long, password: 'p'.repeat(256) } });
    assert.equal(s2.status, 201);
  });

  it('answers 409 username_taken for a name already in use', async () => {
    const username = uniqueName('dup');
    const first = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username, password: 'password123' } });
    assert.equal(first.status, 201);
    const second = await http(srv.baseUrl, 'POST', '/v1/users', {
      body: { username, password: 'another password', display_name: 'Other' },
    });
    assert.equal(second.status, 409, JSON.stringify(second.body));
    assert.equal(second.body?.error, 'username_taken');
    // The original account is untouched: its password still works, the new one does not.
    const ok = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username, password: 'password123' } });
    assert.equal(ok.status, 201);
    const bad = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username, password: 'another password' } });
    assert.equal(bad.status, 401);
  });

  const badUsernames: [string, unknown][] = [
    ['too short (2)', 'ab'],
    ['empty', ''],
    ['too long (33)', 'a'.repeat(33)],
    ['uppercase', 'Alice_upper'],
    ['hyphen', 'bad-name'],
    ['space', 'bad name'],
    ['at sign', 'bad@name'],
    ['non-ascii', 'naïve_user'],
    ['slash', 'a/b/c'],
    ['number instead of string', 12345],
    ['null', null],
  ];
  for (const [label, username] of badUsernames) {
    it(`answers 400 invalid_request for a bad username: ${label}`, async () => {
      const res = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username, password: 'password123' } });
      assertInvalidRequest(res, `username ${label}`);
    });
  }

  it('counts password length in characters: 8 and 256 emoji are accepted, 4 emoji (8 code units) are too short', async () => {
    const emoji = '\u{1F511}'; // one character, two UTF-16 code units
    for (const password of [emoji.repeat(8), emoji.repeat(256)]) {
      const username = uniqueName('pwe');
      const res = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username, password } });
      assert.equal(res.status, 201, `${password.length / 2} emoji: ${JSON.stringify(res.body)}`);
      const s = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username, password } });
      assert.equal(s.status, 201, JSON.stringify(s.body));
    }
    assertInvalidRequest(
      await http(srv.baseUrl, 'POST', '/v1/users', { body: { username: uniqueName('pwe'), password: emoji.repeat(4) } }),
      '4 emoji',
    );
    assertInvalidRequest(
      await http(srv.baseUrl, 'POST', '/v1/users', { body: { username: uniqueName('pwe'), password: emoji.repeat(257) } }),
      '257 emoji',
    );
  });

  const badPasswords: [string, unknown][] = [
    ['too short (7)', '1234567'],
    ['empty', ''],
    ['too long (257)', 'p'.repeat(257)],
    ['number', 12345678],
  ];
  for (const [label, password] of badPasswords) {
    it(`answers 400 invalid_request for a bad password: ${label}`, async () => {
      const res = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username: uniqueName('pw'), password } });
      assertInvalidRequest(res, `password ${label}`);
    });
  }

  it('answers 400 invalid_request for missing fields', async () => {
    assertInvalidRequest(await http(srv.baseUrl, 'POST', '/v1/users', { body: { password: 'password123' } }), 'missing username');
    assertInvalidRequest(await http(srv.baseUrl, 'POST', '/v1/users', { body: { username: uniqueName() } }), 'missing password');
    assertInvalidRequest(await http(srv.baseUrl, 'POST', '/v1/users', { body: {} }), 'empty object');
    assertInvalidRequest(await http(srv.baseUrl, 'POST', '/v1/users', {}), 'no body');
  });

  it('answers 400 invalid_request for a body that is not JSON or not an object', async () => {
    assertInvalidRequest(await http(srv.baseUrl, 'POST', '/v1/users', { rawBody: '{"username": "abc", ' }), 'truncated JSON');
    assertInvalidRequest(await http(srv.baseUrl, 'POST', '/v1/users', { rawBody: 'username=abc&password=password123' }), 'form encoded');
    assertInvalidRequest(await http(srv.baseUrl, 'POST', '/v1/users', { rawBody: '[]' }), 'JSON array');
    assertInvalidRequest(await http(srv.baseUrl, 'POST', '/v1/users', { rawBody: '["abc","password123"]' }), 'JSON array of strings');
    assertInvalidRequest(await http(srv.baseUrl, 'POST', '/v1/users', { rawBody: '"abc"' }), 'JSON string');
    assertInvalidRequest(await http(srv.baseUrl, 'POST', '/v1/users', { rawBody: '42' }), 'JSON number');
    assertInvalidRequest(await http(srv.baseUrl, 'POST', '/v1/users', { rawBody: 'null' }), 'JSON null');
  });

  it('rejects a bad display_name type with 400 invalid_request', async () => {
    assertInvalidRequest(
      await http(srv.baseUrl, 'POST', '/v1/users', { body: { username: uniqueName(), password: 'password123', display_name: 42 } }),
      'numeric display_name',
    );
  });

  it('ignores unknown fields in the request', async () => {
    const username = uniqueName('extra');
    const res = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username, password: 'password123', favourite_colour: 'teal' } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assertUserView(res.body, { username });
  });

  it('server keeps working after all those bad requests', async () => {
    const u = await registerUser(srv.baseUrl, 'after');
    const me = await http(srv.baseUrl, 'GET', '/v1/users/me', { token: u.token });
    assert.equal(me.status, 200);
  });
});

describe('POST /v1/sessions', () => {
  let username: string;
  let userId: string;
  const password = 'sessions password';

  before(async () => {
    username = uniqueName('sess');
    const res = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username, password } });
    assert.equal(res.status, 201);
    userId = res.body.user_id;
  });

  it('answers 201 {token, user_id, device_id, ws_url} with a ws:// URL ending in /v1/ws', async () => {
    const res = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username, password, device_name: 'laptop' } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(typeof res.body.token, 'string');
    assert.ok(res.body.token.length >= 16, 'token looks like a real secret');
    assert.equal(res.body.user_id, userId);
    assert.equal(typeof res.body.device_id, 'string');
    assert.ok(res.body.device_id.length > 0);
    assert.equal(typeof res.body.ws_url, 'string');
    assert.match(res.body.ws_url, /^ws:\/\/[^/]+.*\/v1\/ws$/);
    // The ws_url actually works with the token.
    const sock = track(await TestSocket.connectSynced(res.body.ws_url, res.body.token));
    sock.send({ type: 'ping' });
    await sock.next('pong');
  });

  it('works without device_name', async () => {
    const res = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username, password } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.user_id, userId);
    const withNull = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username, password, device_name: null } });
    assert.equal(withNull.status, 201, JSON.stringify(withNull.body));
  });

  it('answers 401 invalid_credentials for a wrong password', async () => {
    const res = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username, password: 'wrong password!' } });
    assert.equal(res.status, 401, JSON.stringify(res.body));
    assert.equal(res.body?.error, 'invalid_credentials');
    assert.equal(res.body?.token, undefined);
  });

  it('answers 401 invalid_credentials for an unknown user (same answer as a wrong password)', async () => {
    const res = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username: uniqueName('nobody'), password: 'whatever123' } });
    assert.equal(res.status, 401, JSON.stringify(res.body));
    assert.equal(res.body?.error, 'invalid_credentials');
  });

  it('answers 401 invalid_credentials, not 400, for a username or password no account can have', async () => {
    // Over-long names and passwords cannot match an account: a wrong login, like any other.
    for (const body of [
      { username: 'n'.repeat(100), password: 'whatever123' },
      { username, password: 'p'.repeat(300) },
    ]) {
      const res = await http(srv.baseUrl, 'POST', '/v1/sessions', { body });
      assert.equal(res.status, 401, JSON.stringify(res.body));
      assert.equal(res.body?.error, 'invalid_credentials');
    }
  });

  it('gives each login its own device_id and token, all usable at once', async () => {
    const a = await login(srv.baseUrl, username, password, 'phone');
    const b = await login(srv.baseUrl, username, password, 'phone');
    assert.notEqual(a.device_id, b.device_id);
    assert.notEqual(a.token, b.token);
    for (const dev of [a, b]) {
      const me = await http(srv.baseUrl, 'GET', '/v1/users/me', { token: dev.token });
      assert.equal(me.status, 200);
      assert.equal(me.body.user_id, userId);
    }
  });
});

describe('GET /v1/users', () => {
  let alice: TestUser;
  let bob: TestUser;
  let aliceName: string;
  let bobName: string;

  before(async () => {
    aliceName = uniqueName('ualice');
    bobName = uniqueName('ubob');
    const ra = await http(srv.baseUrl, 'POST', '/v1/users', {
      body: { username: aliceName, password: 'password123', display_name: 'Alice A.' },
    });
    const rb = await http(srv.baseUrl, 'POST', '/v1/users', {
      body: { username: bobName, password: 'password123', display_name: 'Bob B.' },
    });
    assert.equal(ra.status, 201);
    assert.equal(rb.status, 201);
    alice = { ...(await login(srv.baseUrl, aliceName, 'password123')), username: aliceName, password: 'password123' };
    bob = { ...(await login(srv.baseUrl, bobName, 'password123')), username: bobName, password: 'password123' };
  });

  it('GET /v1/users/me answers the caller', async () => {
    const res = await http(srv.baseUrl, 'GET', '/v1/users/me', { token: alice.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assertUserView(res.body, { user_id: alice.user_id, username: aliceName, display_name: 'Alice A.' });
  });

  it('GET /v1/users/{user_id} answers another user', async () => {
    const res = await http(srv.baseUrl, 'GET', `/v1/users/${encodeURIComponent(bob.user_id)}`, { token: alice.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assertUserView(res.body, { user_id: bob.user_id, username: bobName, display_name: 'Bob B.' });
  });

  it('GET /v1/users/{user_id} answers 404 not_found for an unknown id', async () => {
    const res = await http(srv.baseUrl, 'GET', '/v1/users/no_such_user_123', { token: alice.token });
    assert.equal(res.status, 404, JSON.stringify(res.body));
    assert.equal(res.body?.error, 'not_found');
  });

  it('GET /v1/users?username= is an exact match with 0 or 1 entries', async () => {
    const hit = await http(srv.baseUrl, 'GET', `/v1/users?username=${encodeURIComponent(bobName)}`, { token: alice.token });
    assert.equal(hit.status, 200, JSON.stringify(hit.body));
    assert.ok(Array.isArray(hit.body.users));
    assert.equal(hit.body.users.length, 1);
    assertUserView(hit.body.users[0], { user_id: bob.user_id, username: bobName, display_name: 'Bob B.' });

    const miss = await http(srv.baseUrl, 'GET', `/v1/users?username=${encodeURIComponent(uniqueName('ghost'))}`, { token: alice.token });
    assert.equal(miss.status, 200);
    assert.deepEqual(miss.body.users, []);

    // A prefix is not a match.
    const prefix = await http(srv.baseUrl, 'GET', `/v1/users?username=${encodeURIComponent(bobName.slice(0, -1))}`, { token: alice.token });
    assert.equal(prefix.status, 200);
    assert.deepEqual(prefix.body.users, []);
  });
});

describe('authentication of every other call', () => {
  let user: TestUser;
  let other: TestUser;

  before(async () => {
    user = await registerUser(srv.baseUrl, 'auth');
    other = await registerUser(srv.baseUrl, 'auth2');
  });

  function calls(): [string, string, unknown?][] {
    const dm = directChatId(user.user_id, other.user_id);
    return [
      ['GET', '/v1/users/me'],
      ['GET', `/v1/users/${encodeURIComponent(other.user_id)}`],
      ['GET', `/v1/users?username=${encodeURIComponent(other.username)}`],
      ['GET', `/v1/users/${encodeURIComponent(other.user_id)}/presence`],
      ['DELETE', '/v1/sessions/current'],
      ['GET', '/v1/chats'],
      ['GET', `/v1/chats/${encodeURIComponent(dm)}/messages`],
      ['GET', '/v1/messages/some_message_id/receipts'],
      ['GET', '/v1/search?q=hello'],
      ['POST', '/v1/groups', { name: 'g', member_ids: [other.user_id] }],
      ['GET', '/v1/groups/some_group'],
      ['POST', '/v1/groups/some_group/members', { user_ids: [other.user_id] }],
      ['DELETE', `/v1/groups/some_group/members/${encodeURIComponent(other.user_id)}`],
    ];
  }

  it('answers 401 with error "unauthorized" without a token', async () => {
    const wrong: string[] = [];
    for (const [method, path, body] of calls()) {
      const res = await http(srv.baseUrl, method, path, { body });
      if (res.status !== 401 || res.body?.error !== 'unauthorized')
        wrong.push(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    assert.deepEqual(wrong, [], 'calls that did not answer 401 unauthorized');
  });

  it('answers 401 with error "unauthorized" with a made-up or tampered token', async () => {
    const last = user.token.slice(-1);
    const tampered = user.token.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    for (const token of ['not-a-real-token', tampered]) {
      const wrong: string[] = [];
      for (const [method, path, body] of calls()) {
        const res = await http(srv.baseUrl, method, path, { token, body });
        if (res.status !== 401 || res.body?.error !== 'unauthorized')
          wrong.push(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
      }
      assert.deepEqual(wrong, [], `calls that did not answer 401 unauthorized with token ${token.slice(0, 8)}…`);
    }
  });

  it('answers 401 for a token not given as a Bearer credential', async () => {
    for (const authorization of [`Basic ${Buffer.from('a:b').toString('base64')}`, user.token, 'Bearer', 'Bearer ']) {
      const res = await fetch(`${srv.baseUrl}/v1/users/me`, { headers: { authorization } });
      assert.equal(res.status, 401, `Authorization: ${authorization.slice(0, 12)}`);
      assert.equal(((await res.json()) as { error?: string }).error, 'unauthorized');
    }
  });

  it('the real token still works after all that', async () => {
    const res = await http(srv.baseUrl, 'GET', '/v1/users/me', { token: user.token });
    assert.equal(res.status, 200);
    assert.equal(res.body.user_id, user.user_id);
  });
});

describe('the socket handshake', () => {
  let user: TestUser;

  before(async () => {
    user = await registerUser(srv.baseUrl, 'wsauth');
  });

  it('refuses a bad token with HTTP 401 before the upgrade', async () => {
    assert.equal(await upgradeStatus(srv.wsUrl, { authorization: 'Bearer not-a-token' }), 401);
    assert.equal(await upgradeStatus(`${srv.wsUrl}?access_token=not-a-token`), 401);
  });

  it('refuses a missing token with HTTP 401 before the upgrade', async () => {
    assert.equal(await upgradeStatus(srv.wsUrl), 401);
  });

  it('answers a plain GET /v1/ws (no upgrade) like the upgrade: 401 without a valid token, else 426', async () => {
    const wsPath = `${srv.baseUrl}/v1/ws`;
    for (const init of [{}, { headers: { authorization: 'Bearer not-a-token' } }]) {
      const res = await fetch(wsPath, init);
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { error: string }).error, 'unauthorized');
    }
    assert.equal((await fetch(`${wsPath}?access_token=not-a-token`)).status, 401);
    const ok = await fetch(wsPath, { headers: { authorization: `Bearer ${user.token}` } });
    assert.equal(ok.status, 426);
    assert.equal(ok.headers.get('upgrade'), 'websocket');
    await ok.body?.cancel();
    assert.equal((await fetch(`${wsPath}?access_token=${encodeURIComponent(user.token)}`)).status, 426);
  });

  it('accepts the Authorization header', async () => {
    assert.equal(await upgradeStatus(srv.wsUrl, { authorization: `Bearer ${user.token}` }), 101);
    const sock = await open(user);
    sock.send({ type: 'ping' });
    await sock.next('pong');
  });

  it('accepts ?access_token= (browsers)', async () => {
    const sock = await connect(user, { query: true });
    await sock.next('sync_complete', 10_000);
    sock.send({ type: 'ping' });
    await sock.next('pong');
  });
});

describe('DELETE /v1/sessions/current', () => {
  it("answers 204, kills the token at once, closes that device's sockets and leaves other devices alone", async () => {
    const first = await registerUser(srv.baseUrl, 'logout');
    const second = await login(srv.baseUrl, first.username, first.password, 'second');
    const friend = await registerUser(srv.baseUrl, 'friend');

    const s1 = await open(first);
    const s1q = await connect(first, { query: true });
    await s1q.next('sync_complete', 10_000);
    const s2 = await open(second);
    const sf = await open(friend);

    const res = await fetch(`${srv.baseUrl}/v1/sessions/current`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${first.token}` },
    });
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '', '204 has no body');

    // At once: the very next request with that token is refused.
    const me = await http(srv.baseUrl, 'GET', '/v1/users/me', { token: first.token });
    assert.equal(me.status, 401);
    assert.equal(me.body?.error, 'unauthorized');

    // Both of that device's sockets are closed, with the "session revoked, do not reconnect" code.
    const timeout = (ms: number) => sleep(ms).then(() => -1);
    const c1 = await Promise.race([s1.closed, timeout(5000)]);
    const c1q = await Promise.race([s1q.closed, timeout(5000)]);
    assert.notEqual(c1, -1, 'socket (header auth) of the logged-out device was not closed');
    assert.notEqual(c1q, -1, 'socket (query auth) of the logged-out device was not closed');
    assert.equal(c1, CloseCode.sessionRevoked);
    assert.equal(c1q, CloseCode.sessionRevoked);

    // The token can no longer open a socket.
    assert.equal(await upgradeStatus(srv.wsUrl, { authorization: `Bearer ${first.token}` }), 401);
    // Logging out twice with the same token is just unauthorized.
    const again = await http(srv.baseUrl, 'DELETE', '/v1/sessions/current', { token: first.token });
    assert.equal(again.status, 401);

    // The other device of the same user is unaffected: HTTP, ping, and delivery all work.
    assert.equal(s2.closeCode, null);
    const me2 = await http(srv.baseUrl, 'GET', '/v1/users/me', { token: second.token });
    assert.equal(me2.status, 200);
    assert.equal(me2.body.user_id, first.user_id);
    s2.send({ type: 'ping' });
    await s2.next('pong');
    const chat = directChatId(first.user_id, friend.user_id);
    const ack = await sf.sendMessage(chat, 'still there?');
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    const got = await s2.nextWhere(
      (f) => f.type === 'new_message' && f.message_id === ack.message_id,
      5000,
      'new_message on the other device',
    );
    assert.equal(got.content, 'still there?');
    // And it can send too.
    const ack2 = await s2.sendMessage(chat, 'yes');
    assert.equal(ack2.type, 'ack_sent', JSON.stringify(ack2));
    await sf.nextWhere((f) => f.type === 'new_message' && f.message_id === ack2.message_id, 5000, 'reply');
    assert.equal(s2.closeCode, null);
  });
});
