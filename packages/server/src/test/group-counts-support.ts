import assert from 'node:assert/strict';
import { http, registerUser, TestSocket, type TestUser } from '../testing/harness.js';
import { roundTrip, waitForMessages, waitForSyncComplete, type Frame } from './delivery-support.js';

/*
 * Guarantee 6's group counts: a group status_update carries delivered_count, read_count and
 * member_count (the message's recipients: every member but the sender who was a member when
 * it was sent), in a small group (a frame per member) and in a large one (past the fan-out
 * threshold: messages go through the fan-out queue and members share frames). The same
 * checks run on one embedded server and on cluster nodes, with the devices spread over them.
 */

/** Where a test opens sockets and calls HTTP: one server, or several nodes of one cluster. */
export interface Nodes {
  urls(): { baseUrl: string; wsUrl: string }[];
  track(s: TestSocket): void;
}

/** The groups of these checks: a small one at or below it, a large one above it. */
export const COUNTS_FANOUT_THRESHOLD = 3;

async function openOn(nodes: Nodes, i: number, u: TestUser): Promise<TestSocket> {
  const list = nodes.urls();
  const s = await TestSocket.connect(list[i % list.length]!.wsUrl, u.token);
  nodes.track(s);
  await waitForSyncComplete(s);
  return s;
}

async function makeGroup(baseUrl: string, creator: TestUser, members: TestUser[]): Promise<{ chat_id: string; group_id: string }> {
  const res = await http(baseUrl, 'POST', '/v1/groups', {
    token: creator.token,
    body: { name: 'Counts', member_ids: members.map((m) => m.user_id) },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

type Counts = { delivered_count: number; read_count: number; member_count: number };
const countsOf = (f: Frame): Counts => ({ delivered_count: f.delivered_count, read_count: f.read_count, member_count: f.member_count });

/** Waits for a status_update about `messageId` at the sender whose counts are `want`. */
function counted(sock: TestSocket, messageId: string, want: Counts, label: string): Promise<Frame> {
  return sock.waitFor(
    (f) =>
      f.type === 'status_update' &&
      f.message_id === messageId &&
      f.delivered_count === want.delivered_count &&
      f.read_count === want.read_count &&
      f.member_count === want.member_count,
    5000,
    `${label}: ${JSON.stringify(want)}`,
  ) as Promise<Frame>;
}

/** A small group (3 recipients): every status_update counts the message's recipients as they are. */
export async function smallGroupCounts(nodes: Nodes): Promise<void> {
  const base = nodes.urls()[0]!.baseUrl;
  const [a, b, c, d] = await Promise.all([0, 1, 2, 3].map(() => registerUser(base, 'gcs')));
  const chatId = (await makeGroup(base, a!, [b!, c!, d!])).chat_id;
  const [sa, sb, sc, sd] = await Promise.all([a!, b!, c!, d!].map((u, i) => openOn(nodes, i, u)));
  const m1 = await sa!.sendMessage(chatId, 'one');
  const m2 = await sa!.sendMessage(chatId, 'two');
  assert.equal(m2.type, 'ack_sent');
  for (const s of [sb!, sc!, sd!]) await waitForMessages(s, chatId, [m1.message_id, m2.message_id]);

  sb!.send({ type: 'ack_delivered', message_id: m2.message_id });
  const f1 = await counted(sa!, m2.message_id, { delivered_count: 1, read_count: 0, member_count: 3 }, 'b has m2');
  assert.equal(f1.user_id, b!.user_id);
  assert.equal(f1.status, 'delivered');

  // c reads m2: read implies delivered, so both counts move.
  sc!.send({ type: 'ack_read', chat_id: chatId, last_read_message_id: m2.message_id });
  const f2 = await counted(sa!, m2.message_id, { delivered_count: 2, read_count: 1, member_count: 3 }, 'c read m2');
  assert.equal(f2.chat_id, chatId);

  // d acknowledges only m1: that frame names m1, which everybody has by now.
  sd!.send({ type: 'ack_delivered', message_id: m1.message_id });
  const f3 = await counted(sa!, m1.message_id, { delivered_count: 3, read_count: 1, member_count: 3 }, 'd has m1');
  assert.equal(f3.user_id, d!.user_id);

  // Every frame of a group carries all three counts, never more than the recipients.
  await roundTrip(sa!);
  const frames = (sa!.all('status_update') as Frame[]).filter((f) => f.chat_id === chatId);
  assert.ok(frames.length >= 3);
  for (const f of frames) {
    assert.equal(f.member_count, 3, JSON.stringify(f));
    assert.ok(f.delivered_count >= f.read_count && f.delivered_count <= 3, JSON.stringify(f));
  }

  // A message of another member counts a's acks; the member count leaves out its sender only.
  const m3 = await sb!.sendMessage(chatId, 'from b');
  await waitForMessages(sa!, chatId, [m3.message_id]);
  sa!.send({ type: 'ack_read', chat_id: chatId, last_read_message_id: m3.message_id });
  await counted(sb!, m3.message_id, { delivered_count: 1, read_count: 1, member_count: 3 }, 'a read m3');
}

/**
 * A large group (5 recipients, past the fan-out threshold): messages go through the fan-out
 * queue, members that acknowledge together share one frame, and the counts still count
 * every recipient. A member added later is no recipient of earlier messages.
 */
export async function largeGroupCounts(nodes: Nodes): Promise<void> {
  const base = nodes.urls()[0]!.baseUrl;
  const users = await Promise.all(Array.from({ length: 6 }, () => registerUser(base, 'gcl')));
  const [a, ...rest] = users as [TestUser, ...TestUser[]];
  assert.ok(rest.length > COUNTS_FANOUT_THRESHOLD, 'the group is past the fan-out threshold');
  const { chat_id: chatId, group_id: groupId } = await makeGroup(base, a, rest);
  const socks = await Promise.all(users.map((u, i) => openOn(nodes, i, u)));
  const [sa, ...others] = socks as [TestSocket, ...TestSocket[]];
  const m = await sa.sendMessage(chatId, 'to many');
  assert.equal(m.type, 'ack_sent');
  for (const s of others) await waitForMessages(s, chatId, [m.message_id]);

  // Three members acknowledge at once: the sender hears "3 of 5".
  for (const s of others.slice(0, 3)) s.send({ type: 'ack_delivered', message_id: m.message_id });
  const f1 = await counted(sa, m.message_id, { delivered_count: 3, read_count: 0, member_count: 5 }, 'three have it');
  assert.ok(Array.isArray(f1.user_ids) && f1.user_ids.length >= 1, 'a shared frame names its members');

  // Two read it: read implies delivered, so 5 of 5 have it and 2 read it.
  for (const s of others.slice(3)) s.send({ type: 'ack_read', chat_id: chatId, last_read_message_id: m.message_id });
  const f2 = await counted(sa, m.message_id, { delivered_count: 5, read_count: 2, member_count: 5 }, 'all have it, two read');
  assert.ok(f2.user_ids.every((id: string) => rest.some((u) => u.user_id === id)));

  // A newcomer is a recipient of later messages only.
  const late = await registerUser(base, 'gcl');
  const add = await http(base, 'POST', `/v1/groups/${groupId}/members`, { token: a.token, body: { user_ids: [late.user_id] } });
  assert.equal(add.status, 200, JSON.stringify(add.body));
  const sl = await openOn(nodes, 1, late);
  const m2 = await sa.sendMessage(chatId, 'after the newcomer');
  await waitForMessages(sl, chatId, [m2.message_id]);
  sl.send({ type: 'ack_read', chat_id: chatId, last_read_message_id: m2.message_id });
  await counted(sa, m2.message_id, { delivered_count: 1, read_count: 1, member_count: 6 }, 'the newcomer read m2');
  // The first message still counts its own five recipients.
  others[0]!.send({ type: 'ack_read', chat_id: chatId, last_read_message_id: m.message_id });
  const f3 = await counted(sa, m.message_id, { delivered_count: 5, read_count: 3, member_count: 5 }, 'a third read m');
  assert.deepEqual(countsOf(f3), { delivered_count: 5, read_count: 3, member_count: 5 });
}
