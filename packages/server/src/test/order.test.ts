import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, login, pollUntil, registerUser, suiteServer, type SuiteServer } from '../testing/harness.js';
import {
  assertGapFreeFrom,
  dedupe,
  fetchHistory,
  makeItems,
  newMessages,
  sendPipelined,
  waitForMessages,
  waitForSyncComplete,
  type Frame,
} from './delivery-support.js';
import { attachmentsAmongPlainSends, everyDeviceSendsAtOnce, membershipChurnUnderSends, resendsAmongNewSends } from './order-support.js';

/*
 * Guarantee 3, order: seq is assigned at commit, strictly increasing and gap-free within
 * a chat, and each device receives a chat's messages in seq order.
 */

describe('message order', () => {
  const { srv, open } = suiteServer({}, { synced: waitForSyncComplete });

  test('acknowledges 500 pipelined sends with strictly increasing, gap-free seqs and delivers them in seq order', async () => {
    const a = await registerUser(srv.baseUrl, 'orda');
    const b = await registerUser(srv.baseUrl, 'ordb');
    const chatId = directChatId(a.user_id, b.user_id);
    const sa = await open(a);
    const sb = await open(b);

    const items = makeItems(500, 'ordered');
    const acks = await sendPipelined(sa, chatId, items, { timeoutMs: 30_000 });
    const ids = new Set(items.map((it) => it.client_msg_id));
    const ackFrames = (sa.frames as Frame[]).filter((f) => f.type === 'ack_sent' && ids.has(f.client_msg_id));
    assert.equal(ackFrames.length, 500, 'one ack_sent per send');
    assertGapFreeFrom(
      ackFrames.map((f) => f.seq),
      1,
      'ack_sent seqs in arrival order',
    );
    assert.equal(new Set(ackFrames.map((f) => f.message_id)).size, 500, 'distinct message ids');

    await waitForMessages(
      sb,
      chatId,
      [...acks.values()].map((f) => f.message_id),
      15_000,
    );
    const received = dedupe(newMessages(sb, chatId));
    assertGapFreeFrom(
      received.map((f) => f.seq),
      1,
      'recipient new_message seqs in arrival order',
    );
    for (const f of received) {
      const ack = acks.get(f.client_msg_id);
      assert.ok(ack, `unexpected message ${JSON.stringify(f)}`);
      assert.equal(f.message_id, ack.message_id);
      assert.equal(f.seq, ack.seq);
    }
    // The sending device does not get its own messages back.
    assert.equal(newMessages(sa, chatId).length, 0, 'sending device received new_message for its own sends');

    const history = await fetchHistory(srv.baseUrl, b.token, chatId);
    assertGapFreeFrom(
      history.map((m) => m.seq),
      1,
      'history seqs',
    );
    assert.equal(history.length, 500);
  });

  test('orders two senders interleaving into one chat by seq, gap-free, on every receiving device', async () => {
    const a1 = await registerUser(srv.baseUrl, 'inta');
    const b1 = await registerUser(srv.baseUrl, 'intb');
    const a2 = await login(srv.baseUrl, a1.username, a1.password, 'a2');
    const b2 = await login(srv.baseUrl, b1.username, b1.password, 'b2');
    const chatId = directChatId(a1.user_id, b1.user_id);
    const [sa1, sa2, sb1, sb2] = await Promise.all([open(a1), open(a2), open(b1), open(b2)]);

    const fromA = makeItems(250, 'from a');
    const fromB = makeItems(250, 'from b');
    const [acksA, acksB] = await Promise.all([
      sendPipelined(sa1, chatId, fromA, { window: 25, timeoutMs: 30_000 }),
      sendPipelined(sb1, chatId, fromB, { window: 25, timeoutMs: 30_000 }),
    ]);
    const allAcks = [...acksA.values(), ...acksB.values()];
    const seqs = allAcks.map((f) => f.seq).sort((x, y) => x - y);
    assertGapFreeFrom(seqs, 1, 'seqs of both senders together');
    for (const acks of [acksA, acksB]) {
      const own = [...acks.values()].map((f) => f.seq);
      for (let i = 1; i < own.length; i++) assert.ok(own[i]! > own[i - 1]!, 'one sender’s acks arrive in increasing seq order');
    }

    const allIds = allAcks.map((f) => f.message_id);
    // a2 sees a1's messages (mirrored) and b1's; b2 likewise.
    for (const [name, sock] of [
      ['a2', sa2],
      ['b2', sb2],
    ] as const) {
      await waitForMessages(sock, chatId, allIds, 15_000, `all 500 messages on ${name}`);
      assertGapFreeFrom(
        dedupe(newMessages(sock, chatId)).map((f) => f.seq),
        1,
        `new_message seqs on ${name}`,
      );
    }
    // Each sender's device receives exactly the other sender's messages, in seq order.
    for (const [name, sock, others] of [
      ['a1', sa1, acksB],
      ['b1', sb1, acksA],
    ] as const) {
      await waitForMessages(
        sock,
        chatId,
        [...others.values()].map((f) => f.message_id),
        15_000,
        `the other sender's messages on ${name}`,
      );
      const got = dedupe(newMessages(sock, chatId)).map((f) => f.seq);
      const want = [...others.values()].map((f) => f.seq).sort((x, y) => x - y);
      assert.deepEqual(got, want, `new_message seqs on ${name}`);
    }
  });
});

/*
 * Guarantee 3 for one device (PROTOCOL.md): what a device sends to a chat takes seqs in
 * the order it sent it, and its ack_sent frames come in that order. Every device sends
 * everything at once without waiting for acks, while the others do the same and
 * acknowledge what they receive (the store then has cursor writes to make between the
 * appends), round after round: an ack that overtakes an earlier one shows up within a
 * round or two. The same checks run on a two-node cluster (order-cluster.test.ts).
 */
describe('one device’s sends keep their order', () => {
  const { srv, open } = suiteServer({ rateLimits: false }, { synced: waitForSyncComplete });
  const ROUNDS = 8;
  const PER_DEVICE = 200;

  test('four devices sending into one chat at once each get their acks in send order, with increasing seqs', async () => {
    const a1 = await registerUser(srv.baseUrl, 'pa');
    const b1 = await registerUser(srv.baseUrl, 'pb');
    const [a2, b2] = await Promise.all([
      login(srv.baseUrl, a1.username, a1.password, 'a2'),
      login(srv.baseUrl, b1.username, b1.password, 'b2'),
    ]);
    await everyDeviceSendsAtOnce(await Promise.all([a1, a2, b1, b2].map(open)), directChatId(a1.user_id, b1.user_id), ROUNDS, PER_DEVICE);
  });

  test('answers a device’s repeated sends among its new ones in the order it sent them', async () => {
    const a = await registerUser(srv.baseUrl, 'ra');
    const b = await registerUser(srv.baseUrl, 'rb');
    await resendsAmongNewSends(await open(a), await open(b), directChatId(a.user_id, b.user_id), ROUNDS);
  });

  test('a send with attachments keeps its place before the plain sends that follow it', async () => {
    const a = await registerUser(srv.baseUrl, 'ma');
    const b = await registerUser(srv.baseUrl, 'mb');
    await attachmentsAmongPlainSends(srv.baseUrl, a, await open(a), await open(b), directChatId(a.user_id, b.user_id));
  });

  test('a member’s acks keep their order while the group’s membership changes under its sends', () =>
    churnInNewGroup(srv.baseUrl, open, 'g', 'churn', ROUNDS));
});

describe('sends to a group that goes through the fan-out queue keep their order', () => {
  // fanoutThreshold 1: every group is "large": its sends are handed to the fan-out queue,
  // and one device's sends overlap (the next one's append does not wait for the previous
  // one's hand-over), so these check that acks, seqs and deliveries still follow send order.
  const metricsToken = 'order-test-metrics-token';
  const { srv, open } = suiteServer({ rateLimits: false, fanoutThreshold: 1, metricsToken }, { synced: waitForSyncComplete });
  const ROUNDS = 4;
  const PER_DEVICE = 150;

  test('three members and a second device send at once: acks in each device’s send order, every member gets every message in seq order', async () => {
    const [admin, m1, m2] = await Promise.all(['qa', 'q1', 'q2'].map((p) => registerUser(srv.baseUrl, p)));
    const admin2 = await login(srv.baseUrl, admin!.username, admin!.password, 'second');
    const created = await http(srv.baseUrl, 'POST', '/v1/groups', {
      token: admin!.token,
      body: { name: 'queued', member_ids: [m1!.user_id, m2!.user_id] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const chatId = created.body.chat_id as string;
    const socks = await Promise.all([admin!, admin2, m1!, m2!].map(open));
    await everyDeviceSendsAtOnce(socks, chatId, ROUNDS, PER_DEVICE);
    const total = ROUNDS * PER_DEVICE * socks.length;
    for (const [i, s] of socks.entries()) {
      // A device gets the others' messages (its own come as acks), each once, in seq order, none missing.
      const own = new Set((s.frames as Frame[]).filter((f) => f.type === 'ack_sent' && f.chat_id === chatId).map((f) => f.seq as number));
      await pollUntil(
        `device ${i} gets every other device's message`,
        async () => dedupe(newMessages(s, chatId)).length,
        (n) => n >= total - own.size,
        30_000,
      );
      const seqs = dedupe(newMessages(s, chatId)).map((f) => f.seq as number);
      const merged = [...seqs, ...own].sort((x, y) => x - y);
      assertGapFreeFrom(merged, 1, `device ${i}: its own acks and what it received`);
      for (let k = 1; k < seqs.length; k++) assert.ok(seqs[k]! > seqs[k - 1]!, `device ${i}: seq ${seqs[k]} arrived after ${seqs[k - 1]}`);
    }
    // In seq order from the start, not repaired by reading the store: one process hands a
    // chat's messages to delivery in commit order, so no socket ever saw a gap.
    const metrics = await fetch(`${srv.baseUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^switchboard_gap_fills_total 0$/m);
  });

  test('a device’s repeated sends among its new ones are answered in send order', async () => {
    const [a, b] = await Promise.all(['qra', 'qrb'].map((p) => registerUser(srv.baseUrl, p)));
    const created = await http(srv.baseUrl, 'POST', '/v1/groups', {
      token: a!.token,
      body: { name: 'queued repeats', member_ids: [b!.user_id] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await resendsAmongNewSends(await open(a!), await open(b!), created.body.chat_id, ROUNDS);
  });

  test('a member’s acks keep their order while the group’s membership changes under its sends', () =>
    churnInNewGroup(srv.baseUrl, open, 'qg', 'queued churn', ROUNDS));
});

/** A new group of an admin and one member: the member sends while the admin adds and removes three others. */
async function churnInNewGroup(baseUrl: string, open: SuiteServer['open'], prefix: string, name: string, rounds: number): Promise<void> {
  const [admin, a, ...extra] = await Promise.all(Array.from({ length: 5 }, (_, i) => registerUser(baseUrl, `${prefix}${i}`)));
  const created = await http(baseUrl, 'POST', '/v1/groups', { token: admin!.token, body: { name, member_ids: [a!.user_id] } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await membershipChurnUnderSends(
    baseUrl,
    admin!,
    created.body,
    extra.map((u) => u.user_id),
    await open(a!),
    rounds,
  );
}
