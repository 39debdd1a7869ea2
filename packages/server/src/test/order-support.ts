import assert from 'node:assert/strict';
import { http, sleep, type TestSocket, type TestUser } from '../testing/harness.js';
import { assertGapFreeFrom, clientMsgId, waitUntil, type Frame } from './delivery-support.js';
import { upload } from './media-support.js';

/*
 * Guarantee 3 for one device's sends (PROTOCOL.md): what a device sends to a chat takes
 * seqs in the order it sent it, and its ack_sent frames come in that order. These helpers
 * send many frames on a socket at once, without waiting for any answer, and check the
 * answers against the order the frames went out in.
 */

export type SendFrame = {
  type: 'send_message';
  chat_id: string;
  client_msg_id: string;
  content: string;
  attachments?: { media_id: string }[];
};

export function plainSends(chatId: string, n: number, label: string): SendFrame[] {
  return Array.from({ length: n }, (_, i) => ({
    type: 'send_message',
    chat_id: chatId,
    client_msg_id: clientMsgId(),
    content: `${label} ${i}`,
  }));
}

/**
 * Sends every frame without waiting for any answer and waits for one answer (ack_sent or
 * error) per frame; answers them in arrival order. `burst`: frames go out this many at a
 * time, a millisecond apart, so that sends keep arriving while earlier ones commit.
 */
export async function sendAllAtOnce(
  sock: TestSocket,
  frames: SendFrame[],
  opts: { burst?: number; timeoutMs?: number } = {},
): Promise<Frame[]> {
  const { burst = frames.length, timeoutMs = 60_000 } = opts;
  const ids = new Set(frames.map((f) => f.client_msg_id));
  const from = sock.frames.length;
  const answers = () =>
    (sock.frames as Frame[]).slice(from).filter((f) => (f.type === 'ack_sent' || f.type === 'error') && ids.has(f.client_msg_id));
  for (let i = 0; i < frames.length; i += burst) {
    if (i > 0) await sleep(1);
    for (const f of frames.slice(i, i + burst)) sock.send(f);
  }
  await waitUntil(
    () => answers().length >= frames.length,
    timeoutMs,
    'an answer to every send',
    () => `${answers().length} of ${frames.length} answers`,
  );
  return answers();
}

/**
 * Asserts that the answers are acks that came in the order the frames were sent, and
 * that every send that made a new message took a higher seq than the one before it. A
 * repeated client_msg_id answers the seq its first send took (`earlier`: acks of sends
 * made before these frames).
 */
export function assertAckedInSendOrder(frames: SendFrame[], answers: Frame[], what: string, earlier = new Map<string, Frame>()): void {
  for (const a of answers) assert.equal(a.type, 'ack_sent', `${what}: ${JSON.stringify(a)}`);
  const sent = frames.map((f) => f.client_msg_id);
  const got = answers.map((a) => a.client_msg_id as string);
  const at = got.findIndex((id, i) => id !== sent[i]);
  assert.equal(at, -1, `${what}: answer ${at} is for send ${sent.indexOf(got[at]!)}, not send ${at}`);
  const first = new Map(earlier);
  let last = 0;
  for (const a of answers) {
    const before = first.get(a.client_msg_id);
    if (before) {
      assert.equal(a.seq, before.seq, `${what}: a repeated send answers its first seq`);
      assert.equal(a.message_id, before.message_id, `${what}: a repeated send answers its first message_id`);
      continue;
    }
    first.set(a.client_msg_id, a);
    assert.ok(a.seq > last, `${what}: seq ${a.seq} after ${last}: a later send took a lower seq`);
    last = a.seq;
  }
}

/**
 * Acknowledges (ack_delivered) what the socket receives, every few milliseconds, as a
 * client does: under load the store then has cursor writes to make between the appends.
 * Answers a function that stops it.
 */
export function ackDeliveredAsReceived(sock: TestSocket, everyMs = 5): () => void {
  let seen = sock.frames.length;
  const timer = setInterval(() => {
    const ids = (sock.frames as Frame[])
      .slice(seen)
      .filter((f) => f.type === 'new_message')
      .map((f) => f.message_id as string);
    seen = sock.frames.length;
    if (ids.length > 0 && sock.closeCode === null) sock.send({ type: 'ack_delivered', message_ids: ids });
  }, everyMs);
  return () => clearInterval(timer);
}

/** Every socket sends `perDevice` messages at once, `rounds` times; each device's acks must follow its send order. */
export async function everyDeviceSendsAtOnce(socks: TestSocket[], chatId: string, rounds: number, perDevice: number): Promise<void> {
  const stops = socks.map((s) => ackDeliveredAsReceived(s));
  try {
    let total = 0;
    for (let round = 0; round < rounds; round++) {
      const frames = socks.map((_, i) => plainSends(chatId, perDevice, `round ${round} device ${i}`));
      const answers = await Promise.all(socks.map((s, i) => sendAllAtOnce(s, frames[i]!, { burst: 10 })));
      answers.forEach((got, i) => assertAckedInSendOrder(frames[i]!, got, `round ${round}, device ${i}`));
      const seqs = answers
        .flat()
        .map((f) => f.seq as number)
        .sort((x, y) => x - y);
      assertGapFreeFrom(seqs, total + 1, `round ${round}: the seqs of every device together`);
      total += seqs.length;
    }
  } finally {
    for (const stop of stops) stop();
  }
}

/**
 * A device sends new messages with repeats of messages it sent before between them (a
 * client resending what it is unsure of), all at once, while the other user sends too:
 * a repeat's ack (answered from the store, no delivery to wait for) must not overtake
 * the ack of the new message sent before it.
 */
export async function resendsAmongNewSends(sa: TestSocket, sb: TestSocket, chatId: string, rounds: number): Promise<void> {
  const stops = [sa, sb].map((s) => ackDeliveredAsReceived(s));
  try {
    const first = plainSends(chatId, 100, 'first');
    const firstAnswers = await sendAllAtOnce(sa, first);
    assertAckedInSendOrder(first, firstAnswers, 'the first sends');
    const earlier = new Map(firstAnswers.map((f) => [f.client_msg_id as string, f]));
    for (let round = 0; round < rounds; round++) {
      const mixed = plainSends(chatId, 100, `round ${round}`).flatMap((f, i) => [f, first[(round * 17 + i) % first.length]!]);
      const [answers] = await Promise.all([sendAllAtOnce(sa, mixed), sendAllAtOnce(sb, plainSends(chatId, 100, `other ${round}`))]);
      assertAckedInSendOrder(mixed, answers, `round ${round}`, earlier);
      for (const f of answers) if (!earlier.has(f.client_msg_id)) earlier.set(f.client_msg_id, f);
    }
  } finally {
    for (const stop of stops) stop();
  }
}

/**
 * Sends with attachments (whose media is checked, read and marked before the append)
 * between plain sends, all at once: a plain send must not take a seq before the send
 * with attachments that went before it.
 */
export async function attachmentsAmongPlainSends(
  baseUrl: string,
  a: TestUser,
  sa: TestSocket,
  sb: TestSocket,
  chatId: string,
): Promise<void> {
  const stops = [sa, sb].map((s) => ackDeliveredAsReceived(s));
  try {
    for (let round = 0; round < 3; round++) {
      const media = await Promise.all(
        Array.from({ length: 10 }, (_, i) => upload(baseUrl, a, Buffer.from(`file ${round} ${i} `.repeat(50)), 'application/octet-stream')),
      );
      const frames: SendFrame[] = plainSends(chatId, 40, `round ${round}`).map((f, i) =>
        i % 4 === 0 ? { ...f, content: '', attachments: [{ media_id: media[i / 4]! }] } : f,
      );
      const [answers] = await Promise.all([sendAllAtOnce(sa, frames), sendAllAtOnce(sb, plainSends(chatId, 40, `other ${round}`))]);
      assertAckedInSendOrder(frames, answers, `round ${round}`);
    }
  } finally {
    for (const stop of stops) stop();
  }
}

/**
 * One member sends into a group all at once, round after round, while its admin adds and
 * removes a member over and over (a change every 40 ms or so): sends checked against the membership before a change
 * are stored under the new one, and their recipients looked up again before their ack.
 * Their acks must still come in send order.
 */
export async function membershipChurnUnderSends(
  baseUrl: string,
  admin: TestUser,
  group: { group_id: string; chat_id: string },
  extraIds: string[],
  sa: TestSocket,
  rounds: number,
): Promise<void> {
  const stop = ackDeliveredAsReceived(sa);
  let sending = true;
  let changes = 0;
  const churn = (async () => {
    for (let i = 0; sending; i++) {
      const id = extraIds[i % extraIds.length]!;
      const path = `/v1/groups/${encodeURIComponent(group.group_id)}/members`;
      const added = await http(baseUrl, 'POST', path, { token: admin.token, body: { user_ids: [id] } });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      // Paced: changes a few milliseconds apart from another node can keep a send's
      // membership check stale for every round the store retries it (then it fails).
      await sleep(40);
      const removed = await http(baseUrl, 'DELETE', `${path}/${encodeURIComponent(id)}`, { token: admin.token });
      assert.equal(removed.status, 204, JSON.stringify(removed.body));
      changes += 2;
      await sleep(40);
    }
  })();
  try {
    for (let round = 0; round < rounds; round++) {
      const frames = plainSends(group.chat_id, 200, `round ${round}`);
      assertAckedInSendOrder(frames, await sendAllAtOnce(sa, frames, { burst: 10 }), `round ${round}`);
    }
  } finally {
    sending = false;
    stop();
    await churn;
  }
  assert.ok(changes > 0, 'the membership changed while the device sent');
}
