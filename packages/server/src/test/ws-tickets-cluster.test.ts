import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, login, registerUser, sleep, TestSocket, type ServerProcess } from '../testing/harness.js';
import { clusterServicesMissing } from '../testing/services.js';
import { clusterSuite } from '../testing/cluster.js';
import { assertRefused, mintTicket, ticketUrl } from './ws-ticket-support.js';

/*
 * Socket tickets across a cluster: two server processes on one Redis and one PostgreSQL.
 * A ticket minted on node A opens a socket on node B, once in the whole cluster (Redis
 * GETDEL); it expires there as on one node; a device revoked through one node cannot use
 * a ticket on the other.
 */
const missing = await clusterServicesMissing();
const TTL_MS = 2000;

describe('cluster: socket tickets across nodes', { skip: missing ?? false }, () => {
  const { nodes } = clusterSuite(2, { env: { WS_TICKET_TTL_MS: String(TTL_MS) } });

  test('a ticket minted on node A opens a socket on node B as its device, and is then used up on every node', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const [alice, bob] = await Promise.all([registerUser(a.baseUrl, 'ctka'), registerUser(a.baseUrl, 'ctkb')]);
    const ticket = await mintTicket(a.baseUrl, alice, TTL_MS);
    const sa = await TestSocket.connectUrl(ticketUrl(b.wsUrl, ticket));
    const sb = await TestSocket.connectSynced(a.wsUrl, bob.token);
    try {
      await sa.next('sync_complete');
      const ack = await sa.sendMessage(directChatId(alice.user_id, bob.user_id), 'over a ticket from the other node');
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      const got = await sb.waitFor((f) => f.type === 'new_message' && f.message_id === ack.message_id);
      assert.equal(got.sender_device_id, alice.device_id);
      await assertRefused(ticketUrl(a.wsUrl, ticket), 'reused on node A');
      await assertRefused(ticketUrl(b.wsUrl, ticket), 'reused on node B');
    } finally {
      sa.terminate();
      sb.terminate();
    }
  });

  test('one ticket tried on both nodes at once opens exactly one socket', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const u = await registerUser(a.baseUrl, 'ctkr');
    const ticket = await mintTicket(b.baseUrl, u, TTL_MS);
    const tries = await Promise.allSettled([a, b, a, b].map((n) => TestSocket.connectUrl(ticketUrl(n.wsUrl, ticket))));
    const opened = tries.filter((t) => t.status === 'fulfilled');
    for (const t of opened) t.value.terminate();
    assert.equal(opened.length, 1, JSON.stringify(tries.map((t) => (t.status === 'rejected' ? String(t.reason) : 'open'))));
    for (const t of tries) if (t.status === 'rejected') assert.match(String(t.reason), /upgrade refused: 401/);
  });

  test('an expired ticket, and the ticket of a device revoked through the other node, are refused with 401', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const laptop = await registerUser(a.baseUrl, 'ctkx');
    const phone = await login(b.baseUrl, laptop.username, laptop.password, 'phone');
    const phoneTicket = await mintTicket(b.baseUrl, phone, TTL_MS);
    const del = await http(a.baseUrl, 'DELETE', `/v1/devices/${encodeURIComponent(phone.device_id)}`, { token: laptop.token });
    assert.equal(del.status, 204);
    await assertRefused(ticketUrl(b.wsUrl, phoneTicket), 'ticket of a device revoked through node A');

    const stale = await mintTicket(a.baseUrl, laptop, TTL_MS);
    await sleep(TTL_MS + 1000);
    await assertRefused(ticketUrl(b.wsUrl, stale), 'an expired ticket');
    await assertRefused(ticketUrl(b.wsUrl, 'bm90IGEgdGlja2V0IGF0IGFsbCwganVzdCBzb21lIGJ5dGVz'), 'an unknown ticket');
    // The laptop itself is fine: a fresh ticket from node B works on node A.
    const ok = await TestSocket.connectUrl(ticketUrl(a.wsUrl, await mintTicket(b.baseUrl, laptop, TTL_MS)));
    try {
      await ok.next('sync_complete');
    } finally {
      ok.terminate();
    }
  });
});
