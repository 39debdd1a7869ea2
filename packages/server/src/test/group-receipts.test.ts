import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { http, login, sleep, suiteServer, TestSocket, type TestUser } from '../testing/harness.js';
import { fetchHistory, makeItems, roundTrip, sendPipelined, waitForMessages, type Frame } from './delivery-support.js';

/*
 * Receipts in groups: one receipt per recipient (every member but the sender), a
 * status_update per member to the sender's devices, coalesced in bursts, and the
 * history status of one's own messages counts only when every recipient got/read it.
 */

type Receipt = { user_id: string; delivered_at: number | null; read_at: number | null };

describe('group receipts', () => {
  const { srv, open, users } = suiteServer();
  async function createGroup(creator: TestUser, members: TestUser[]): Promise<{ group_id: string; chat_id: string }> {
    const res = await http(srv.baseUrl, 'POST', '/v1/groups', {
      token: creator.token,
      body: { name: 'Receipts', member_ids: members.map((m) => m.user_id) },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  }
  async function receipts(u: TestUser, messageId: string): Promise<Map<string, Receipt>> {
    const res = await http(srv.baseUrl, 'GET', `/v1/messages/${encodeURIComponent(messageId)}/receipts`, { token: u.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.message_id, messageId);
    const list = res.body.receipts as Receipt[];
    const map = new Map(list.map((r) => [r.user_id, r]));
    assert.equal(map.size, list.length, `one receipt per user: ${JSON.stringify(list)}`);
    return map;
  }
  async function statuses(u: TestUser, chatId: string): Promise<(string | undefined)[]> {
    return (await fetchHistory(srv.baseUrl, u.token, chatId))
      .filter((m) => m.sender_id === u.user_id)
      .map((m) => (m as { status?: string }).status);
  }
  const statusFrames = (s: TestSocket, chatId: string, userId: string, status: string, from = 0) =>
    (s.frames as Frame[])
      .slice(from)
      .filter((f) => f.type === 'status_update' && f.chat_id === chatId && f.user_id === userId && f.status === status);

  test('per-member receipts, a status_update per member, and history status only when every recipient got or read it', async () => {
    const [a, b, c, d, outsider] = await users(5, 'grc');
    const a2 = await login(srv.baseUrl, a!.username, a!.password, 'a2');
    const g = await createGroup(a!, [b!, c!, d!]);
    const [sa, sa2, sb, sc, sd] = await Promise.all([open(a!), open(a2), open(b!), open(c!), open(d!)]);
    const m1 = await sa!.sendMessage(g.chat_id, 'first');
    const m2 = await sa!.sendMessage(g.chat_id, 'second');
    assert.equal(m2.type, 'ack_sent');
    for (const s of [sb!, sc!, sd!]) await waitForMessages(s, g.chat_id, [m1.message_id, m2.message_id]);

    // One receipt per recipient: every member but the sender, nothing yet.
    {
      const r = await receipts(a!, m2.message_id);
      assert.deepEqual([...r.keys()].sort(), [b!.user_id, c!.user_id, d!.user_id].sort());
      for (const x of r.values()) assert.deepEqual({ d: x.delivered_at, r: x.read_at }, { d: null, r: null });
      // Other members may look too; outsiders learn nothing.
      assert.equal((await receipts(b!, m2.message_id)).size, 3);
      const res = await http(srv.baseUrl, 'GET', `/v1/messages/${m2.message_id}/receipts`, { token: outsider!.token });
      assert.ok(res.status === 404 || res.status === 403, `outsider: ${res.status}`);
    }
    assert.deepEqual(await statuses(a!, g.chat_id), ['sent', 'sent']);

    // b's device holds both: a's devices hear "delivered" for b (the latest covered message), once.
    const t0 = Date.now();
    sb!.send({ type: 'ack_delivered', message_ids: [m1.message_id, m2.message_id] });
    for (const s of [sa!, sa2!]) {
      const f = await s.waitFor(
        (x) => x.type === 'status_update' && x.user_id === b!.user_id && x.status === 'delivered',
        3000,
        'delivered from b',
      );
      assert.equal(f.message_id, m2.message_id);
      assert.equal(f.chat_id, g.chat_id);
      assert.equal(f.seq, m2.seq);
      assert.equal(typeof f.at, 'number');
    }
    {
      const r = await receipts(a!, m1.message_id);
      const rb = r.get(b!.user_id)!;
      assert.equal(typeof rb.delivered_at, 'number', 'the cursor covers the earlier message too');
      assert.ok(rb.delivered_at! >= t0 - 1000 && rb.delivered_at! <= Date.now() + 1000);
      assert.equal(rb.read_at, null);
      assert.equal(r.get(c!.user_id)!.delivered_at, null);
      assert.equal(r.get(d!.user_id)!.delivered_at, null);
    }
    assert.deepEqual(await statuses(a!, g.chat_id), ['sent', 'sent'], 'one of three recipients is not "delivered"');

    // c reads m2 (which also counts as delivered); d gets m1 only.
    sc!.send({ type: 'ack_read', chat_id: g.chat_id, last_read_message_id: m2.message_id });
    sd!.send({ type: 'ack_delivered', message_id: m1.message_id });
    {
      const read = await sa!.waitFor(
        (x) => x.type === 'status_update' && x.user_id === c!.user_id && x.status === 'read',
        3000,
        'read from c',
      );
      assert.equal(read.message_id, m2.message_id);
      const dl = await sa!.waitFor(
        (x) => x.type === 'status_update' && x.user_id === d!.user_id && x.status === 'delivered',
        3000,
        'delivered from d',
      );
      assert.equal(dl.message_id, m1.message_id);
      await sa!.waitFor(
        (x) => x.type === 'status_update' && x.user_id === c!.user_id && x.status === 'delivered',
        3000,
        'delivered from c (implied by read)',
      );
    }
    {
      const r1 = await receipts(a!, m1.message_id);
      const r2 = await receipts(a!, m2.message_id);
      assert.equal(typeof r2.get(c!.user_id)!.read_at, 'number');
      assert.equal(typeof r2.get(c!.user_id)!.delivered_at, 'number');
      assert.equal(typeof r1.get(d!.user_id)!.delivered_at, 'number');
      assert.equal(r2.get(d!.user_id)!.delivered_at, null, 'd has not acknowledged m2');
      assert.equal(r2.get(b!.user_id)!.read_at, null);
    }
    assert.deepEqual(await statuses(a!, g.chat_id), ['delivered', 'sent'], 'm1 is delivered to all three, m2 not to d');

    // Everybody reads everything: read only now.
    sb!.send({ type: 'ack_read', chat_id: g.chat_id, last_read_message_id: m2.message_id });
    await roundTrip(sb!);
    assert.deepEqual(await statuses(a!, g.chat_id), ['delivered', 'sent'], 'd still lacks m2');
    sd!.send({ type: 'ack_read', chat_id: g.chat_id, last_read_message_id: m2.message_id });
    await roundTrip(sd!);
    assert.deepEqual(await statuses(a!, g.chat_id), ['read', 'read']);
    {
      const r = await receipts(a!, m2.message_id);
      for (const [uid, x] of r) {
        assert.equal(typeof x.delivered_at, 'number', `delivered_at of ${uid}`);
        assert.equal(typeof x.read_at, 'number', `read_at of ${uid}`);
        assert.ok(x.read_at! >= x.delivered_at!, `read_at not before delivered_at for ${uid}`);
      }
    }
    // Receipts for a message from another member list everyone but that sender (a included).
    const m3 = await sb!.sendMessage(g.chat_id, 'from b');
    assert.deepEqual([...(await receipts(c!, m3.message_id)).keys()].sort(), [a!.user_id, c!.user_id, d!.user_id].sort());
    // Status updates go to the sender only: b did not get any about a's messages.
    assert.equal(sb!.all('status_update').filter((f) => f.message_id === m1.message_id || f.message_id === m2.message_id).length, 0);
  });

  test('a member acknowledging a burst of 20 one by one costs the sender a few status_updates, not 20', async () => {
    const [a, b, c] = await users(3, 'gco');
    const g = await createGroup(a!, [b!, c!]);
    const [sa, sb, sc] = await Promise.all([open(a!), open(b!), open(c!)]);
    const acks = [...(await sendPipelined(sa!, g.chat_id, makeItems(20, 'burst'))).values()].sort((x, y) => x.seq - y.seq);
    const ids = acks.map((x) => x.message_id as string);
    const last = acks[acks.length - 1]!;
    await waitForMessages(sb!, g.chat_id, ids);
    await waitForMessages(sc!, g.chat_id, ids);
    const from = sa!.frames.length;

    // b: 20 ack_delivered frames back to back, then 20 ack_read frames back to back.
    for (const id of ids) sb!.send({ type: 'ack_delivered', message_id: id });
    for (const id of ids) sb!.send({ type: 'ack_read', chat_id: g.chat_id, last_read_message_id: id });
    // c: all at once in one frame.
    sc!.send({ type: 'ack_delivered', message_ids: ids });
    await roundTrip(sb!);
    await roundTrip(sc!);

    const lastFor = (userId: string, status: string) => (f: Frame) =>
      f.type === 'status_update' && f.user_id === userId && f.status === status && f.message_id === last.message_id;
    await sa!.waitFor(lastFor(b!.user_id, 'delivered'), 3000, 'delivered for the last message from b', from);
    await sa!.waitFor(lastFor(b!.user_id, 'read'), 3000, 'read for the last message from b', from);
    await sa!.waitFor(lastFor(c!.user_id, 'delivered'), 3000, 'delivered for the last message from c', from);
    await sleep(700); // past a few coalescing windows: count everything that came

    const bDelivered = statusFrames(sa!, g.chat_id, b!.user_id, 'delivered', from);
    const bRead = statusFrames(sa!, g.chat_id, b!.user_id, 'read', from);
    const cDelivered = statusFrames(sa!, g.chat_id, c!.user_id, 'delivered', from);
    console.log(
      `# status_update frames for 20 messages: b delivered ${bDelivered.length}, b read ${bRead.length}, c delivered ${cDelivered.length}`,
    );
    assert.ok(
      bDelivered.length >= 1 && bDelivered.length <= 4,
      `b's 20 ack_delivered: ${bDelivered.length} status_update frames (seqs ${bDelivered.map((f) => f.seq)})`,
    );
    assert.ok(
      bRead.length >= 1 && bRead.length <= 4,
      `b's 20 ack_read: ${bRead.length} status_update frames (seqs ${bRead.map((f) => f.seq)})`,
    );
    assert.ok(cDelivered.length >= 1 && cDelivered.length <= 2, `c's one ack of 20: ${cDelivered.length} status_update frames`);
    // Each frame names a message of a's in the burst, in increasing order, the last one the latest.
    for (const list of [bDelivered, bRead, cDelivered]) {
      const seqs = list.map((f) => f.seq as number);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `status_update seqs increase: ${seqs}`);
      assert.equal(list[list.length - 1]!.message_id, last.message_id);
    }
    assert.deepEqual(new Set((await statuses(a!, g.chat_id)).slice(-1)), new Set(['delivered']), 'b read, c only delivered');
  });

  test('status_updates name the latest message of each sender covered by the member’s ack', async () => {
    const [a, b, c] = await users(3, 'gms');
    const g = await createGroup(a!, [b!, c!]);
    const [sa, sb, sc] = await Promise.all([open(a!), open(b!), open(c!)]);
    const a1 = await sa!.sendMessage(g.chat_id, 'a one');
    const b1 = await sb!.sendMessage(g.chat_id, 'b one');
    const a2 = await sa!.sendMessage(g.chat_id, 'a two');
    const b2 = await sb!.sendMessage(g.chat_id, 'b two');
    await waitForMessages(sc!, g.chat_id, [a1.message_id, b1.message_id, a2.message_id, b2.message_id]);
    sc!.send({ type: 'ack_read', chat_id: g.chat_id, last_read_message_id: b2.message_id });
    const toA = await sa!.waitFor((f) => f.type === 'status_update' && f.user_id === c!.user_id && f.status === 'read', 3000, 'read at a');
    const toB = await sb!.waitFor((f) => f.type === 'status_update' && f.user_id === c!.user_id && f.status === 'read', 3000, 'read at b');
    assert.equal(toA.message_id, a2.message_id, 'a hears of its own latest message');
    assert.equal(toB.message_id, b2.message_id, 'b hears of its own latest message');
    await sleep(400);
    assert.ok(
      !sa!.all('status_update').some((f) => f.message_id === b1.message_id || f.message_id === b2.message_id),
      'a gets no status_update for b’s messages',
    );
  });

  test('a member added later is not a recipient of earlier messages and does not hold back their status', async () => {
    const [a, b, late] = await users(3, 'gla');
    const g = await createGroup(a!, [b!]);
    const [sa, sb] = await Promise.all([open(a!), open(b!)]);
    const m1 = await sa!.sendMessage(g.chat_id, 'before the newcomer');
    await waitForMessages(sb!, g.chat_id, [m1.message_id]);
    const add = await http(srv.baseUrl, 'POST', `/v1/groups/${g.group_id}/members`, {
      token: a!.token,
      body: { user_ids: [late!.user_id] },
    });
    assert.equal(add.status, 200);
    sb!.send({ type: 'ack_read', chat_id: g.chat_id, last_read_message_id: m1.message_id });
    await roundTrip(sb!);
    assert.deepEqual([...(await receipts(a!, m1.message_id)).keys()], [b!.user_id]);
    assert.deepEqual(await statuses(a!, g.chat_id), ['read']);
    const m2 = await sa!.sendMessage(g.chat_id, 'after the newcomer');
    assert.deepEqual([...(await receipts(a!, m2.message_id)).keys()].sort(), [b!.user_id, late!.user_id].sort());
    assert.deepEqual(await statuses(a!, g.chat_id), ['read', 'sent']);
  });
});
