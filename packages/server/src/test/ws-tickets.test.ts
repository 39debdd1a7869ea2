import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CloseCode, directChatId } from '@switchboard/protocol';
import { http, login, registerUser, sleep, suiteServer, TestSocket } from '../testing/harness.js';
import { assertRefused, mintTicket, ticketUrl, upgradeAnswer } from './ws-ticket-support.js';

/*
 * Socket tickets, embedded mode (PROTOCOL.md "The socket"): POST /v1/ws-tickets mints a
 * single-use ticket valid 30 s; GET /v1/ws?ticket= opens the socket as the device whose
 * token minted it, so no token travels in the URL. A bad, used or expired ticket, or one
 * whose device was revoked since: HTTP 401 before the upgrade. The cluster suite
 * (ws-tickets-cluster.test.ts) redeems tickets on another node.
 */

describe('socket tickets', () => {
  const { srv, track } = suiteServer();

  test('POST /v1/ws-tickets needs a bearer token', async () => {
    assert.equal((await http(srv.baseUrl, 'POST', '/v1/ws-tickets')).status, 401);
    assert.equal((await http(srv.baseUrl, 'POST', '/v1/ws-tickets', { token: 'not-a-token' })).status, 401);
    const u = await registerUser(srv.baseUrl, 'tkq');
    // The query-string token is for the socket only: minting needs the header.
    const res = await fetch(`${srv.baseUrl}/v1/ws-tickets?access_token=${encodeURIComponent(u.token)}`, { method: 'POST' });
    assert.equal(res.status, 401);
  });

  test('a ticket opens the socket as the device that minted it, once', async () => {
    const [alice, bob] = await Promise.all([registerUser(srv.baseUrl, 'tka'), registerUser(srv.baseUrl, 'tkb')]);
    const phone = await login(srv.baseUrl, alice.username, alice.password, 'phone');
    const ticket = await mintTicket(srv.baseUrl, phone);
    const sa = track(await TestSocket.connectUrl(ticketUrl(srv.wsUrl, ticket)));
    await sa.next('sync_complete');
    const sb = track(await TestSocket.connectSynced(srv.wsUrl, bob.token));
    const ack = await sa.sendMessage(directChatId(alice.user_id, bob.user_id), 'sent on a ticket');
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    const got = await sb.waitFor((f) => f.type === 'new_message' && f.message_id === ack.message_id);
    assert.equal(got.sender_id, alice.user_id);
    assert.equal(got.sender_device_id, phone.device_id, 'the socket is the minting device');

    await assertRefused(ticketUrl(srv.wsUrl, ticket), 'the ticket used a second time');
    const plain = await http(srv.baseUrl, 'GET', `/v1/ws?ticket=${encodeURIComponent(ticket)}`);
    assert.equal(plain.status, 401, 'a plain GET with the used ticket');
    // Each ticket is its own: a new one works while the first socket stays open.
    const again = track(await TestSocket.connectUrl(ticketUrl(srv.wsUrl, await mintTicket(srv.baseUrl, phone))));
    await again.next('sync_complete');
  });

  test('bad tickets are refused with 401 before the upgrade; a bad ticket is not rescued by a good access_token', async () => {
    const u = await registerUser(srv.baseUrl, 'tkx');
    const good = await mintTicket(srv.baseUrl, u);
    for (const [what, url] of [
      ['unknown ticket', ticketUrl(srv.wsUrl, 'bm90IGEgdGlja2V0IGF0IGFsbCwganVzdCBzb21lIGJ5dGVz')],
      ['empty ticket', `${srv.wsUrl}?ticket=`],
      ['oversized ticket', ticketUrl(srv.wsUrl, 'x'.repeat(5000))],
      ['the token as a ticket', ticketUrl(srv.wsUrl, u.token)],
      ['a tampered ticket', ticketUrl(srv.wsUrl, `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`)],
      ['bad ticket with a good access_token', `${ticketUrl(srv.wsUrl, 'nope')}&access_token=${encodeURIComponent(u.token)}`],
    ] as const) {
      await assertRefused(url, what);
    }
    // None of that used the good ticket up; the server serves on.
    const sock = track(await TestSocket.connectUrl(ticketUrl(srv.wsUrl, good)));
    await sock.next('sync_complete');
    // ?access_token= still works (PROTOCOL.md), and so does the header.
    assert.equal((await upgradeAnswer(`${srv.wsUrl}?access_token=${encodeURIComponent(u.token)}`)).status, 101);
    assert.equal((await upgradeAnswer(srv.wsUrl, { authorization: `Bearer ${u.token}` })).status, 101);
  });

  test("a revoked or logged-out device's unused ticket opens nothing", async () => {
    const laptop = await registerUser(srv.baseUrl, 'tkr');
    const phone = await login(srv.baseUrl, laptop.username, laptop.password, 'phone');
    const tablet = await login(srv.baseUrl, laptop.username, laptop.password, 'tablet');
    const phoneTicket = await mintTicket(srv.baseUrl, phone);
    const tabletTicket = await mintTicket(srv.baseUrl, tablet);
    const laptopTicket = await mintTicket(srv.baseUrl, laptop);
    // A socket already open on a ticket is closed by the revocation like any other.
    const open = track(await TestSocket.connectUrl(ticketUrl(srv.wsUrl, await mintTicket(srv.baseUrl, phone))));
    await open.next('sync_complete');

    const del = await http(srv.baseUrl, 'DELETE', `/v1/devices/${encodeURIComponent(phone.device_id)}`, { token: laptop.token });
    assert.equal(del.status, 204);
    assert.equal(await open.closed, CloseCode.sessionRevoked);
    assert.equal((await http(srv.baseUrl, 'DELETE', '/v1/sessions/current', { token: tablet.token })).status, 204);

    await assertRefused(ticketUrl(srv.wsUrl, phoneTicket), 'ticket of a revoked device');
    await assertRefused(ticketUrl(srv.wsUrl, tabletTicket), 'ticket of a logged-out device');
    const still = track(await TestSocket.connectUrl(ticketUrl(srv.wsUrl, laptopTicket)));
    await still.next('sync_complete');
  });
});

describe('socket tickets: expiry', () => {
  const TTL_MS = 400;
  const { srv, track } = suiteServer({ wsTicketTtlMs: TTL_MS });

  test('a ticket not used within its validity is refused with 401', async () => {
    const u = await registerUser(srv.baseUrl, 'tke');
    const stale = await mintTicket(srv.baseUrl, u, TTL_MS);
    const fresh = await mintTicket(srv.baseUrl, u, TTL_MS);
    const sock = track(await TestSocket.connectUrl(ticketUrl(srv.wsUrl, fresh)));
    await sock.next('sync_complete');
    await sleep(TTL_MS * 3);
    await assertRefused(ticketUrl(srv.wsUrl, stale), 'an expired ticket');
  });
});
