import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { http, registerUser, TestSocket, type TestUser } from '../testing/harness.js';

export const ADMIN_TOKEN = 'webhook-test-admin-token-0123456789abcdef';
/** Small delays so retries happen within a test (WEBHOOK_RETRY_BASE_MS is meant for this). */
export const FAST_WEBHOOKS = {
  WEBHOOK_POLL_MS: '50',
  WEBHOOK_RETRY_BASE_MS: '100',
  WEBHOOK_RETRY_MAX_MS: '500',
  WEBHOOK_LEASE_MS: '2000',
  ADMIN_TOKEN,
};

export interface Delivery {
  id: string;
  type: string;
  created_at: number;
  data: any;
  /** The signature checked against the secret, here, as a receiver would. */
  signed: boolean;
  eventIdHeader: string | undefined;
  contentType: string | undefined;
  /** Which server port it came from is unknown to a receiver; the test counts by id. */
}

/**
 * A webhook receiver on a loopback port: it answers `status()` (500 while failing) and
 * keeps every delivery it answered 2xx, checking each signature as PROTOCOL.md describes.
 */
export class Receiver {
  readonly accepted: Delivery[] = [];
  attempts = 0;
  refused = 0;
  secret = '';
  failing = false;
  private server!: Server;
  url = '';

  static async start(): Promise<Receiver> {
    const r = new Receiver();
    r.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        r.attempts++;
        if (r.failing) {
          r.refused++;
          res.writeHead(500).end('down');
          return;
        }
        const body = Buffer.concat(chunks).toString('utf8');
        const event = JSON.parse(body) as { id: string; type: string; created_at: number; data: unknown };
        r.accepted.push({
          ...event,
          signed: verify(r.secret, String(req.headers['switchboard-signature'] ?? ''), body),
          eventIdHeader: req.headers['switchboard-event-id'] as string | undefined,
          contentType: req.headers['content-type'],
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', () => resolve()));
    r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}/hook`;
    return r;
  }

  /** Accepted deliveries, one per event id (receivers drop repeats by id). */
  unique(): Map<string, Delivery> {
    return new Map(this.accepted.map((d) => [d.id, d]));
  }

  of(type: string): Delivery[] {
    return [...this.unique().values()].filter((d) => d.type === type);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The check a receiver makes: v1 = HMAC-SHA256(secret, t + "." + body). */
export function verify(secret: string, header: string, body: string): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]));
  if (!parts.t || !parts.v1) return false;
  const want = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest();
  const got = Buffer.from(parts.v1, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

export async function addWebhook(baseUrl: string, receiver: Receiver, events?: string[]): Promise<string> {
  const res = await http(baseUrl, 'POST', '/v1/admin/webhooks', { token: ADMIN_TOKEN, body: { url: receiver.url, events } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.match(res.body.secret, /^whsec_[0-9a-f]{64}$/);
  receiver.secret = res.body.secret as string;
  return res.body.webhook_id as string;
}

/** Sends in a chat and answers the ack. */
export async function send(s: TestSocket, chatId: string, content: string) {
  const ack = await s.sendMessage(chatId, content);
  assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
  return ack;
}

export async function edit(s: TestSocket, chatId: string, messageId: string, content: string) {
  const clientMsgId = `e-${Math.random().toString(36).slice(2)}`;
  s.send({ type: 'edit_message', chat_id: chatId, client_msg_id: clientMsgId, message_id: messageId, content });
  const ack = await s.nextWhere((f) => (f.type === 'ack_sent' || f.type === 'error') && f.client_msg_id === clientMsgId, 10_000);
  assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
}

export async function createGroup(baseUrl: string, owner: TestUser, members: TestUser[], name: string) {
  const res = await http(baseUrl, 'POST', '/v1/groups', { token: owner.token, body: { name, member_ids: members.map((m) => m.user_id) } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { group_id: string; chat_id: string };
}

/**
 * Undelivered events lose an erased message's text: with the receiver down, a message is
 * sent, quoted by a reply, edited, reacted to and deleted; once the receiver is back, no
 * delivered event carries its text (nor the reply's preview of it) or its mentions.
 */
export async function erasedLeaveTheOutbox(
  nodes: { a: { baseUrl: string; wsUrl: string }; b: { baseUrl: string; wsUrl: string } },
  receiver: Receiver,
  waitForDeliveries: (done: () => boolean) => Promise<void>,
  settleMs: number,
): Promise<void> {
  const { a, b } = nodes;
  receiver.failing = true;
  const hookId = await addWebhook(a.baseUrl, receiver, ['message.created', 'message.updated']);
  if (settleMs > 0) await new Promise((resolve) => setTimeout(resolve, settleMs));
  const x = await registerUser(a.baseUrl, 'wex');
  const y = await registerUser(b.baseUrl, 'wey');
  const group = await createGroup(a.baseUrl, x, [y], 'erasure');
  const sx = await TestSocket.connectSynced(a.wsUrl, x.token);
  const sy = await TestSocket.connectSynced(b.wsUrl, y.token);
  const secret = 'the launch code is 0000';
  try {
    sx.send({ type: 'send_message', chat_id: group.chat_id, client_msg_id: 'we-1', content: secret, mentions: [y.user_id] });
    const ack = await sx.nextWhere((f) => f.client_msg_id === 'we-1', 10_000, 'ack');
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    const id = ack.message_id as string;
    sy.send({ type: 'send_message', chat_id: group.chat_id, client_msg_id: 'we-2', content: 'noted', reply_to: id });
    const reply = await sy.nextWhere((f) => f.client_msg_id === 'we-2', 10_000, 'reply ack');
    assert.equal(reply.type, 'ack_sent', JSON.stringify(reply));
    await edit(sx, group.chat_id, id, `${secret}, really`);
    sy.send({ type: 'react', chat_id: group.chat_id, client_msg_id: 'we-3', message_id: id, emoji: '!' });
    assert.equal((await sy.nextWhere((f) => f.client_msg_id === 'we-3', 10_000, 'react ack')).type, 'ack_sent');
    sx.send({ type: 'delete_message', chat_id: group.chat_id, client_msg_id: 'we-4', message_id: id });
    assert.equal((await sx.nextWhere((f) => f.client_msg_id === 'we-4', 10_000, 'delete ack')).type, 'ack_sent');
    receiver.failing = false;
    // Two messages created; an edit, a reaction and a delete of the first.
    const mine = () => [...receiver.unique().values()].filter((d) => d.data?.chat_id === group.chat_id);
    await waitForDeliveries(() => mine().length >= 5);
    const delivered = mine();
    assert.equal(delivered.length, 5, JSON.stringify(delivered.map((d) => d.type)));
    for (const d of delivered) {
      const body = JSON.stringify(d.data);
      assert.ok(!body.includes('launch code'), `${d.type} still carries the erased text: ${body}`);
      if (d.data.message_id === id) {
        assert.equal(d.data.deleted, true, d.type);
        assert.equal(d.data.content, '');
        assert.equal(d.data.mentions, undefined, 'mentions are erased');
      }
    }
    const quoting = delivered.find((d) => d.data.message_id === reply.message_id)!;
    assert.equal(quoting.data.reply_to.message_id, id);
    assert.equal(quoting.data.reply_to.preview, '', "the reply's preview of the erased message is empty");
    assert.equal(quoting.data.content, 'noted', 'the reply itself is untouched');
  } finally {
    sx.terminate();
    sy.terminate();
    receiver.failing = false;
    await http(a.baseUrl, 'DELETE', `/v1/admin/webhooks/${hookId}`, { token: ADMIN_TOKEN });
  }
}
