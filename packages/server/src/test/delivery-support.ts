import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Message } from '@switchboard/protocol';
import { http, sleep, type TestSocket } from '../testing/harness.js';
import { waitUntil } from '../testing/poll.js';

/*
 * Helpers shared by the delivery acceptance tests (durable ack, idempotency, order,
 * offline backlog, redelivery, devices, receipts). They look at the frames a TestSocket
 * recorded (TestSocket.waitFor, not its nextWhere cursor).
 */

export type Frame = Record<string, any> & { type: string };

export function clientMsgId(): string {
  return randomUUID();
}

export { waitUntil } from '../testing/poll.js';

/** Waits for the first sync_complete recorded at or after index `from`; returns its index. */
export async function waitForSyncComplete(sock: TestSocket, timeoutMs = 10_000, from = 0): Promise<number> {
  const f = await sock.waitFor((x) => x.type === 'sync_complete', timeoutMs, 'sync_complete', from);
  return sock.frames.indexOf(f, from);
}

/** new_message frames of one chat recorded in [from, to). */
export function newMessages(sock: TestSocket, chatId: string, from = 0, to = Infinity): Frame[] {
  return (sock.frames as Frame[]).slice(from, to).filter((f) => f.type === 'new_message' && f.chat_id === chatId);
}

/** First occurrence of each message_id, in arrival order (clients drop duplicates by message_id). */
export function dedupe(frames: Frame[]): Frame[] {
  const seen = new Set<string>();
  const out: Frame[] = [];
  for (const f of frames) {
    if (seen.has(f.message_id)) continue;
    seen.add(f.message_id);
    out.push(f);
  }
  return out;
}

/** Asserts that seqs are exactly first, first+1, ..., first+n-1 (in this order). */
export function assertGapFreeFrom(seqs: number[], first: number, what: string): void {
  for (let i = 0; i < seqs.length; i++) {
    if (seqs[i] !== first + i) {
      assert.fail(
        `${what}: expected seq ${first + i} at position ${i}, got ${seqs[i]} (around: ${JSON.stringify(seqs.slice(Math.max(0, i - 3), i + 4))})`,
      );
    }
  }
}

/** Waits until a socket has received (distinct) new_message frames for all these message ids. */
export async function waitForMessages(
  sock: TestSocket,
  chatId: string,
  messageIds: Iterable<string>,
  timeoutMs = 10_000,
  label = 'new_message frames',
): Promise<void> {
  const want = new Set(messageIds);
  await waitUntil(
    () => {
      const got = new Set(newMessages(sock, chatId).map((f) => f.message_id as string));
      for (const id of want) if (!got.has(id)) return false;
      return true;
    },
    timeoutMs,
    label,
    () => {
      const got = new Set(newMessages(sock, chatId).map((f) => f.message_id as string));
      return `${[...want].filter((id) => !got.has(id)).length} of ${want.size} missing`;
    },
  );
}

export interface SendItem {
  client_msg_id: string;
  content: string;
}

/**
 * Sends many messages on one socket, keeping up to `window` unacknowledged at a time, and
 * returns the ack_sent frames by client_msg_id. A rate_limited error is answered by
 * resending the same client_msg_id after retry_after_ms (safe: sends are idempotent);
 * any other error fails.
 */
export async function sendPipelined(
  sock: TestSocket,
  chatId: string,
  items: SendItem[],
  opts: { window?: number; timeoutMs?: number } = {},
): Promise<Map<string, Frame>> {
  const window = opts.window ?? items.length;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const byId = new Map(items.map((it) => [it.client_msg_id, it]));
  const acks = new Map<string, Frame>();
  const inFlight = new Set<string>();
  let next = 0;
  let scanned = 0;
  const deadline = Date.now() + timeoutMs;
  const retries: { id: string; at: number }[] = [];
  const send = (it: SendItem): void => {
    inFlight.add(it.client_msg_id);
    sock.send({ type: 'send_message', chat_id: chatId, client_msg_id: it.client_msg_id, content: it.content });
  };
  while (acks.size < items.length) {
    const frames = sock.frames as Frame[];
    for (; scanned < frames.length; scanned++) {
      const f = frames[scanned]!;
      if (typeof f.client_msg_id !== 'string' || !byId.has(f.client_msg_id)) continue;
      if (f.type === 'ack_sent') {
        if (!acks.has(f.client_msg_id)) acks.set(f.client_msg_id, f);
        inFlight.delete(f.client_msg_id);
      } else if (f.type === 'error') {
        if (f.code === 'rate_limited') {
          retries.push({ id: f.client_msg_id, at: Date.now() + Number(f.retry_after_ms ?? 100) });
        } else {
          assert.fail(`send ${f.client_msg_id} failed: ${JSON.stringify(f)}`);
        }
      }
    }
    const now = Date.now();
    for (let i = retries.length - 1; i >= 0; i--) {
      const r = retries[i]!;
      if (r.at <= now) {
        retries.splice(i, 1);
        if (!acks.has(r.id)) send(byId.get(r.id)!);
      }
    }
    while (next < items.length && inFlight.size < window) send(items[next++]!);
    if (acks.size >= items.length) break;
    if (sock.closeCode !== null) assert.fail(`socket closed with ${sock.closeCode} after ${acks.size} of ${items.length} acks`);
    if (now > deadline) assert.fail(`timed out after ${timeoutMs} ms: ${acks.size} of ${items.length} acks`);
    await sleep(2);
  }
  return acks;
}

export function makeItems(n: number, prefix: string): SendItem[] {
  return Array.from({ length: n }, (_, i) => ({ client_msg_id: clientMsgId(), content: `${prefix} ${i}` }));
}

/** The whole history of a chat, paging forward with after=. */
export async function fetchHistory(baseUrl: string, token: string, chatId: string): Promise<Message[]> {
  const all: Message[] = [];
  let after = 0;
  for (let page = 0; page < 10_000; page++) {
    const res = await http(baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chatId)}/messages?after=${after}&limit=200`, { token });
    assert.equal(res.status, 200, `history page after=${after}: ${res.status} ${JSON.stringify(res.body)}`);
    const msgs = res.body.messages as Message[];
    assert.ok(Array.isArray(msgs), `history page has messages: ${JSON.stringify(res.body)}`);
    if (msgs.length === 0) return all;
    for (const m of msgs) assert.ok(m.seq > after, `history after=${after} returned seq ${m.seq}`);
    all.push(...msgs);
    after = msgs[msgs.length - 1]!.seq;
  }
  throw new Error('history did not end');
}

/** Asserts that no frame matching pred arrives within ms (counting frames already recorded from `from`). */
export async function assertNoFrameWithin(
  sock: TestSocket,
  pred: (f: Frame) => boolean,
  ms: number,
  label: string,
  from = 0,
): Promise<void> {
  await sleep(ms);
  const i = sock.indexOf(pred, from);
  assert.equal(i, -1, `unexpected ${label}: ${i >= 0 ? JSON.stringify(sock.frames[i]) : ''}`);
}

/**
 * Makes sure the server has handled every frame this socket sent so far: sends a ping and
 * waits for its pong (frames on one socket are handled in order).
 */
export async function roundTrip(sock: TestSocket, timeoutMs = 5000): Promise<void> {
  const from = sock.frames.length;
  sock.send({ type: 'ping' });
  await sock.waitFor((f) => f.type === 'pong', timeoutMs, 'pong', from);
}
