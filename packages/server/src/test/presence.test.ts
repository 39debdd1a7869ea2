import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, login, seedUsers, sleep, suiteServer, TestSocket, type TestUser } from '../testing/harness.js';
import { assertNoFrameWithin, roundTrip, type Frame } from './delivery-support.js';

/*
 * Presence (guarantee 7): online while any device has a live socket; a clean close is
 * offline at once with last_seen; a socket that stops answering is cut off after the
 * presence timeout; only users one shares a chat with are visible.
 *
 * The server runs with presenceTimeoutMs 1500 and pingIntervalMs 500.
 */

const PRESENCE_TIMEOUT_MS = 1500;
const PING_INTERVAL_MS = 500;

describe('presence', () => {
  const { srv, open, users } = suiteServer({ presenceTimeoutMs: PRESENCE_TIMEOUT_MS, pingIntervalMs: PING_INTERVAL_MS });
  /** Makes a and b share a direct chat. */
  async function befriend(a: TestUser, b: TestUser): Promise<void> {
    const s = await TestSocket.connect(srv.wsUrl, a.token);
    const ack = await s.sendMessage(directChatId(a.user_id, b.user_id), 'hi');
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    await s.close();
  }
  async function getPresence(viewer: TestUser, userId: string) {
    return http(srv.baseUrl, 'GET', `/v1/users/${encodeURIComponent(userId)}/presence`, { token: viewer.token });
  }
  const presenceOf = (userId: string, online?: boolean) => (f: Frame) =>
    f.type === 'presence' && f.user_id === userId && (online === undefined || f.online === online);

  test('subscribe answers at once; online on connect; offline with last_seen at once on a clean close of the last device', async () => {
    const [a, b] = await users(2, 'pra');
    await befriend(a!, b!);
    // b's befriending socket came and went: b has a last_seen already. Wait for that to settle.
    await sleep(100);
    const watcher = await open(a!);

    watcher.send({ type: 'presence_subscribe', user_ids: [b!.user_id] });
    const initial = await watcher.waitFor(presenceOf(b!.user_id), 2000, 'immediate presence frame');
    assert.equal(initial.online, false);
    assert.ok(initial.last_seen === null || typeof initial.last_seen === 'number', JSON.stringify(initial));

    // b connects: online.
    let from = watcher.frames.length;
    const b1 = await open(b!);
    const on = await watcher.waitFor(presenceOf(b!.user_id), 2000, 'online frame', from);
    assert.equal(on.online, true, JSON.stringify(on));
    {
      const res = await getPresence(a!, b!.user_id);
      assert.equal(res.status, 200);
      assert.equal(res.body.user_id, b!.user_id);
      assert.equal(res.body.online, true);
    }

    // A second device changes nothing; closing one of two leaves b online.
    const b2user = await login(srv.baseUrl, b!.username, b!.password, 'b2');
    from = watcher.frames.length;
    const b2 = await open(b2user);
    await b1.close();
    await assertNoFrameWithin(watcher, presenceOf(b!.user_id), 300, 'presence change while b still has a device online', from);
    assert.equal((await getPresence(a!, b!.user_id)).body.online, true);

    // The last device closes cleanly: offline at once, with last_seen.
    from = watcher.frames.length;
    const closedAt = Date.now();
    await b2.close();
    const off = await watcher.waitFor(presenceOf(b!.user_id), 1000, 'offline frame right after a clean close', from);
    const tookMs = Date.now() - closedAt;
    assert.equal(off.online, false);
    assert.equal(typeof off.last_seen, 'number', JSON.stringify(off));
    assert.ok(
      off.last_seen >= closedAt - 50 && off.last_seen <= Date.now() + 50,
      `last_seen ${off.last_seen} is the close time (${closedAt})`,
    );
    assert.ok(tookMs < PRESENCE_TIMEOUT_MS, `a clean close is seen at once, not after the timeout (${tookMs} ms)`);
    {
      const res = await getPresence(a!, b!.user_id);
      assert.deepEqual(res.body, { user_id: b!.user_id, online: false, last_seen: off.last_seen });
    }
    // A new subscription answers the same at once.
    const watcher2 = await open(a!);
    watcher2.send({ type: 'presence_subscribe', user_ids: [b!.user_id] });
    const again = await watcher2.waitFor(presenceOf(b!.user_id), 2000, 'presence frame on a second subscribe');
    assert.deepEqual({ online: again.online, last_seen: again.last_seen }, { online: false, last_seen: off.last_seen });

    // Unsubscribed: no more frames.
    watcher2.send({ type: 'presence_unsubscribe', user_ids: [b!.user_id] });
    await roundTrip(watcher2);
    from = watcher2.frames.length;
    const from1 = watcher.frames.length;
    const b3 = await open(b!);
    await watcher.waitFor(presenceOf(b!.user_id, true), 2000, 'online again at the still-subscribed socket', from1);
    await assertNoFrameWithin(watcher2, presenceOf(b!.user_id), 300, 'presence frame after unsubscribe', from);
    await b3.close();
  });

  test('a socket that stops answering is cut off and seen offline within the presence timeout; one that answers pings stays online', async () => {
    const [watcherUser, silent, idle] = await users(3, 'prs');
    const g = await http(srv.baseUrl, 'POST', '/v1/groups', {
      token: watcherUser!.token,
      body: { name: 'Presence', member_ids: [silent!.user_id, idle!.user_id] },
    });
    assert.equal(g.status, 201);
    const watcher = await open(watcherUser!);
    const silentSock = await open(silent!);
    const idleSock = await open(idle!);
    watcher.send({ type: 'presence_subscribe', user_ids: [silent!.user_id, idle!.user_id] });
    await watcher.waitFor(presenceOf(silent!.user_id, true), 2000, 'silent user online');
    await watcher.waitFor(presenceOf(idle!.user_id, true), 2000, 'idle user online');
    await sleep(PING_INTERVAL_MS * 2); // both have answered pings for a while

    // Stop reading the silent socket: the ws client can no longer see (or answer) pings.
    const from = watcher.frames.length;
    const droppedAt = Date.now();
    (silentSock.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const off = await watcher.waitFor(presenceOf(silent!.user_id, false), PRESENCE_TIMEOUT_MS + 2500, 'offline after a silent drop', from);
    const took = Date.now() - droppedAt;
    console.log(`# silent drop seen offline after ${took} ms (presence timeout ${PRESENCE_TIMEOUT_MS} ms)`);
    assert.ok(
      took <= PRESENCE_TIMEOUT_MS + 1000,
      `silent drop detected after ${took} ms; expected within ${PRESENCE_TIMEOUT_MS} ms + 1000 ms`,
    );
    assert.ok(took >= PRESENCE_TIMEOUT_MS - PING_INTERVAL_MS * 2, `not declared offline before the timeout could pass (${took} ms)`);
    assert.equal(typeof off.last_seen, 'number');
    assert.ok(off.last_seen >= droppedAt - PRESENCE_TIMEOUT_MS && off.last_seen <= Date.now(), `last_seen ${off.last_seen}`);
    assert.equal((await getPresence(watcherUser!, silent!.user_id)).body.online, false);

    // The idle socket sent no frame all along but answered the server's pings: still online,
    // even now that more than the timeout has passed since it last sent anything.
    assert.equal(watcher.frames.slice(from).filter(presenceOf(idle!.user_id)).length, 0, 'no presence change for the idle user');
    assert.equal((await getPresence(watcherUser!, idle!.user_id)).body.online, true);
    assert.equal(idleSock.closeCode, null, 'the idle socket was not closed');
    idleSock.send({ type: 'ping' });
    await idleSock.waitFor((f) => f.type === 'pong', 2000, 'pong on the idle socket');
    silentSock.terminate();
  });

  test('users one shares no chat with look offline with no last_seen, whatever their state', async () => {
    const [a, stranger, friend] = await users(3, 'prn');
    await befriend(a!, friend!);
    const strangerSock = await open(stranger!);
    const watcher = await open(a!);
    watcher.send({ type: 'presence_subscribe', user_ids: [stranger!.user_id, friend!.user_id] });
    const s1 = await watcher.waitFor(presenceOf(stranger!.user_id), 2000, 'presence of a stranger');
    assert.deepEqual({ online: s1.online, last_seen: s1.last_seen }, { online: false, last_seen: null });
    {
      const res = await getPresence(a!, stranger!.user_id);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { user_id: stranger!.user_id, online: false, last_seen: null });
    }
    // The stranger going offline (getting a last_seen) is not told either.
    const from = watcher.frames.length;
    await strangerSock.close();
    await assertNoFrameWithin(watcher, presenceOf(stranger!.user_id), 300, 'presence change of a stranger', from);
    assert.deepEqual((await getPresence(a!, stranger!.user_id)).body, { user_id: stranger!.user_id, online: false, last_seen: null });
    // Oneself is fine; unknown users are 404.
    {
      const res = await getPresence(a!, a!.user_id);
      assert.equal(res.status, 200);
      assert.equal(res.body.online, true);
    }
    assert.equal((await getPresence(a!, '999999999999999999')).status, 404);
    assert.equal((await http(srv.baseUrl, 'GET', `/v1/users/${friend!.user_id}/presence`)).status, 401);
  });

  test('at most 1,000 watched users per socket: more is an error frame', async () => {
    const [w] = await users(1, 'prm');
    const seeded = await seedUsers(srv, 1001, 'pw');
    const ids = seeded.map((u) => u.user_id);
    const g = await http(srv.baseUrl, 'POST', '/v1/groups', { token: w!.token, body: { name: 'Many', member_ids: ids } });
    assert.equal(g.status, 201, JSON.stringify(g.body).slice(0, 200));
    const sock = await open(w!);

    sock.send({ type: 'presence_subscribe', user_ids: ids });
    const err = await sock.waitFor((f) => f.type === 'error', 3000, 'error for 1,001 ids');
    console.log(`# 1,001 ids: error ${err.code}: ${err.message}`);
    assert.equal(typeof err.code, 'string');
    await roundTrip(sock);

    // Exactly 1,000 is fine: a frame for each at once.
    const from = sock.frames.length;
    sock.send({ type: 'presence_subscribe', user_ids: ids.slice(0, 1000) });
    await roundTrip(sock, 10_000);
    await sleep(50);
    const frames = sock.frames.slice(from).filter((f) => f.type === 'presence');
    assert.equal(new Set(frames.map((f) => f.user_id)).size, 1000, 'a presence frame for each of 1,000 ids');
    assert.equal(sock.frames.slice(from).filter((f) => f.type === 'error').length, 0);

    // One more on top of the 1,000 is refused; after an unsubscribe there is room.
    let mark = sock.frames.length;
    sock.send({ type: 'presence_subscribe', user_ids: [ids[1000]!] });
    const err2 = await sock.waitFor((f) => f.type === 'error', 3000, 'error for the 1,001st watched user', mark);
    assert.equal(typeof err2.code, 'string');
    assert.equal(sock.frames.slice(mark).filter(presenceOf(ids[1000]!)).length, 0);
    sock.send({ type: 'presence_unsubscribe', user_ids: [ids[0]!] });
    mark = sock.frames.length;
    sock.send({ type: 'presence_subscribe', user_ids: [ids[1000]!] });
    await sock.waitFor(presenceOf(ids[1000]!), 3000, 'presence after making room', mark);
    assert.equal(sock.frames.slice(mark).filter((f) => f.type === 'error').length, 0);
    assert.equal(sock.closeCode, null, 'the socket stays open');
  });
});
